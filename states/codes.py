"""Human codes: the case code (NH-2026-000123) and the citizen's tracking code."""

import secrets

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from models import CaseCounter

# No 0/O, 1/I/L: the code is read out over the phone.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


_COUNTER = CaseCounter.__table__  # type: ignore[attr-defined]


def next_case_code(session: Session, prefix: str, year: int) -> str:
    """One upsert: the first case of a year inserts the counter, later ones increment it. The
    row stays locked to the end of the transaction, so numbers have no gaps and no twins."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (insert(_COUNTER).values(prefix=prefix, year=year, last_number=1)
            .on_conflict_do_update(index_elements=["prefix", "year"],
                                   set_={"last_number": _COUNTER.c.last_number + 1})
            .returning(_COUNTER.c.last_number))
    number = session.execute(stmt).scalar_one()
    return f"{prefix}-{year}-{number:06d}"


def new_tracking_code() -> str:
    """60 bits of randomness, grouped for reading: 'K7QM-4RZP-9CXT'."""
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"
