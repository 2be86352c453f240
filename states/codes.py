"""Human codes: the case code (NH-2026-000123) and the citizen's tracking code."""

import secrets

from sqlmodel import Session

from models import CaseCounter
from states.locks import lock_key

# No 0/O, 1/I/L: the code is read out over the phone.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


_COUNTER = CaseCounter.__table__  # type: ignore[attr-defined]


def next_case_code(session: Session, prefix: str, year: int) -> str:
    """One UPDATE … RETURNING (the row stays locked to the end of the transaction); the first
    case of a year inserts the row, under the advisory lock on PostgreSQL."""
    lock_key(session, f"case-counter:{prefix}:{year}")
    number = session.execute(
        _COUNTER.update().where(_COUNTER.c.prefix == prefix, _COUNTER.c.year == year)
        .values(last_number=_COUNTER.c.last_number + 1).returning(_COUNTER.c.last_number)
    ).scalar_one_or_none()
    if number is None:
        number = 1
        session.execute(_COUNTER.insert(), {"prefix": prefix, "year": year, "last_number": number})
    return f"{prefix}-{year}-{number:06d}"


def new_tracking_code() -> str:
    """60 bits of randomness, grouped for reading: 'K7QM-4RZP-9CXT'."""
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"
