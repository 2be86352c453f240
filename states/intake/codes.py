"""Human codes: the case code (NH-2026-000123) and the citizen's tracking code."""

import secrets
from typing import NamedTuple

from sqlalchemy import Table, bindparam
from sqlmodel import Session

from models import CaseCounter
from models.dialect import upsert
from models.statements import Query

# No 0/O, 1/I/L: the code is read out over the phone.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


_COUNTER: Table = CaseCounter.__table__  # type: ignore[attr-defined]


class _Number(NamedTuple):
    last_number: int


_NEXT_NUMBER = Query(upsert(_COUNTER, ["prefix", "year"],
                            values={"prefix": bindparam("prefix"), "year": bindparam("year"), "last_number": 1},
                            set_={"last_number": _COUNTER.c.last_number + 1},
                            returning=[_COUNTER.c.last_number]), _Number)


def next_number(session: Session, prefix: str, year: int) -> int:
    """One upsert: the first number of a year inserts the counter, later ones increment it. The
    row stays locked to the end of the transaction, so numbers have no gaps and no twins."""
    return _NEXT_NUMBER.one(session, {"prefix": prefix, "year": year}).last_number


def next_case_code(session: Session, prefix: str, year: int) -> str:
    return f"{prefix}-{year}-{next_number(session, prefix, year):06d}"


def new_tracking_code() -> str:
    """60 bits of randomness, grouped for reading: 'K7QM-4RZP-9CXT'."""
    number = secrets.randbelow(len(_ALPHABET) ** 12)  # one read of the system's randomness
    raw = ""
    for _ in range(12):
        number, digit = divmod(number, len(_ALPHABET))
        raw += _ALPHABET[digit]
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"
