"""Serialising writers on one key.

On SQLite every write transaction already holds the database's write lock (BEGIN IMMEDIATE).
On PostgreSQL we take a transaction-scoped advisory lock, so two requests with the same
idempotency key, or for the same child, queue instead of both inserting."""

import hashlib

from sqlalchemy import text
from sqlmodel import Session


def lock_keys(session: Session, *keys: str) -> None:
    """Take every key's lock, in one round trip. In ascending order of lock id, so that two
    transactions wanting overlapping keys queue instead of deadlocking."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql" or not keys:
        return
    ids = sorted({int.from_bytes(hashlib.blake2b(k.encode(), digest_size=8).digest(), "big", signed=True)
                  for k in keys})
    # One row, evaluated left to right.
    calls = ", ".join(f"pg_advisory_xact_lock(:k{i})" for i in range(len(ids)))
    session.execute(text(f"SELECT {calls}"), {f"k{i}": v for i, v in enumerate(ids)})
