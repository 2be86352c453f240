"""Human codes: the case code (NH-2026-000123) and the citizen's tracking code."""

import secrets
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from models import CaseCounter
from models.statements import Statement, connection

# No 0/O, 1/I/L: the code is read out over the phone.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


_COUNTER = CaseCounter.__table__  # type: ignore[attr-defined]


def _counter_upsert(insert: Any) -> Any:
    return (insert(_COUNTER).values(prefix=bindparam("prefix"), year=bindparam("year"), last_number=1)
            .on_conflict_do_update(index_elements=["prefix", "year"],
                                   set_={"last_number": _COUNTER.c.last_number + 1})
            .returning(_COUNTER.c.last_number))


_UPSERTS = {"postgresql": Statement(_counter_upsert(pg_insert)), "sqlite": Statement(_counter_upsert(sqlite_insert))}


def next_case_code(session: Session, prefix: str, year: int) -> str:
    """One upsert: the first case of a year inserts the counter, later ones increment it. The
    row stays locked to the end of the transaction, so numbers have no gaps and no twins."""
    number = _UPSERTS[connection(session).dialect.name].run(session, {"prefix": prefix, "year": year}).fetchone()[0]
    return f"{prefix}-{year}-{number:06d}"


def new_tracking_code() -> str:
    """60 bits of randomness, grouped for reading: 'K7QM-4RZP-9CXT'."""
    number = secrets.randbelow(len(_ALPHABET) ** 12)  # one read of the system's randomness
    raw = ""
    for _ in range(12):
        number, digit = divmod(number, len(_ALPHABET))
        raw += _ALPHABET[digit]
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"
