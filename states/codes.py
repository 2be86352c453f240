"""Human codes: the case code (NH-2026-000123) and the citizen's tracking code."""

import secrets

from sqlalchemy import select
from sqlmodel import Session, col

from models import CaseCounter
from states.locks import lock_key

# No 0/O, 1/I/L: the code is read out over the phone.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def next_case_code(session: Session, prefix: str, year: int) -> str:
    lock_key(session, f"case-counter:{prefix}:{year}")
    counter = session.execute(
        select(CaseCounter).where(col(CaseCounter.prefix) == prefix, col(CaseCounter.year) == year)
        .with_for_update()
    ).scalar_one_or_none()
    if counter is None:
        counter = CaseCounter(prefix=prefix, year=year, last_number=0)
    counter.last_number += 1
    session.add(counter)
    session.flush()
    return f"{prefix}-{year}-{counter.last_number:06d}"


def new_tracking_code() -> str:
    """60 bits of randomness, grouped for reading: 'K7QM-4RZP-9CXT'."""
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"
