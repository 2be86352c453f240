"""Serialising writers on one key.

On SQLite every write transaction already holds the database's write lock (BEGIN IMMEDIATE).
On PostgreSQL we take a transaction-scoped advisory lock, so two requests with the same
idempotency key, or for the same child, queue instead of both inserting."""

import hashlib

from sqlalchemy import text
from sqlmodel import Session


def lock_key(session: Session, key: str) -> None:
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return
    as_int = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": as_int})
