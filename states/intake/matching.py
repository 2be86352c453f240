"""When is a new report about a child who already has an open case? And the blind indexes
that answer it (and search) without a name, a birth date or a phone number in clear.

The rule prefers a missed match (a second case, which a worker closes as `duplicate`) over a
false one (two children's files merged, which leaks one child's data into another's). Names
are compared after normalisation (NFC, case-folded, single spaces); diacritics are kept, since
"Thư", "Thu" and "Thủ" are different Vietnamese names.

- The new report gives name and birth date: it matches a child with the same name and the
  same birth date, anywhere in the commune; or a child with the same name in the same thôn
  whose birth date was never recorded.
- The new report gives a name but no birth date: same name and same thôn.
- No name: never matched.

Only cases that are not closed are linked; a report about a child whose case is closed opens a
new case (the worker can reopen the old one instead).

Every index value is `<index key id>.<HMAC-SHA256 hex>` under the index key
(`KIPTHOI_CRYPTO__INDEX_KEY`, handed in as `policy.match_secret`). The key id prefix tells
`kipthoi keys rotate` which values were computed under an older index key, so it can recompute
them; lookups use the current key only."""

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any, NamedTuple

import phonenumbers
from sqlalchemy import and_, bindparam, or_, select
from sqlmodel import Session, col

from models import Case, Child
from models.enums import CaseState
from models.statements import Query
from states.kernel.text import normalise_name


@lru_cache(maxsize=8)
def index_key_id(key: bytes) -> str:
    """A short public name of an index key (not enough to guess the key from)."""
    return hmac.new(key, b"kipthoi index key id", hashlib.sha256).hexdigest()[:8]


def blind_index(key: bytes, material: str) -> str:
    return f"{index_key_id(key)}.{hmac.new(key, material.encode(), hashlib.sha256).hexdigest()}"


def name_index(key: bytes, full_name: str) -> str:
    return blind_index(key, f"name|{normalise_name(full_name)}")


def normalise_phone(phone: str) -> str | None:
    """E.164, as intake stores it (states/intake/report_data.py); None if it is no phone number."""
    try:
        parsed = phonenumbers.parse(phone, "VN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def phone_index(key: bytes, phone: str) -> str | None:
    e164 = normalise_phone(phone)
    return None if e164 is None else blind_index(key, f"phone|{e164}")


@dataclass(frozen=True)
class ChildKeys:
    by_birth: str | None
    by_place: str
    by_name: str


def child_keys(secret: bytes, full_name: str | None, birth_date: date | None,
               place_code: str) -> ChildKeys | None:
    if not full_name:
        return None
    name = normalise_name(full_name)
    return ChildKeys(
        by_birth=blind_index(secret, f"{name}|dob:{birth_date.isoformat()}") if birth_date else None,
        by_place=blind_index(secret, f"{name}|place:{place_code}"),
        by_name=blind_index(secret, f"name|{name}"),
    )


# Built once, executed with parameters: this runs inside every intake's write transaction.
_BY_BIRTH: Any = bindparam("by_birth")
_BY_PLACE: Any = bindparam("by_place")
_CASES_OF_CHILD = select(col(Case.id), col(Case.state), col(Case.child_id)).join(
    Child, col(Child.id) == col(Case.child_id)).order_by(col(Case.id))


class CaseRef(NamedTuple):
    id: int
    state: str
    child_id: int


_SAME_CHILD_WITH_BIRTH = Query(_CASES_OF_CHILD.where(
    or_(col(Child.birth_key) == _BY_BIRTH, and_(col(Child.place_key) == _BY_PLACE, col(Child.birth_date).is_(None)))),
    CaseRef)
_SAME_CHILD_NO_BIRTH = Query(_CASES_OF_CHILD.where(col(Child.place_key) == _BY_PLACE), CaseRef)


def child_cases(session: Session, keys: ChildKeys | None) -> tuple[CaseRef | None, CaseRef | None]:
    """The open case about the same child (the oldest, if ever several), and else the newest
    closed one, in one query: a child has few cases, and this runs in every intake.

    A new case about a child whose case was closed belongs to the same child, so the child's
    record, export and retention see the whole history. Anonymised children have no keys left,
    so they are never matched."""
    if keys is None:
        return None, None
    if keys.by_birth is not None:
        cases = _SAME_CHILD_WITH_BIRTH.all(session, {"by_birth": keys.by_birth, "by_place": keys.by_place})
    else:
        cases = _SAME_CHILD_NO_BIRTH.all(session, {"by_place": keys.by_place})
    open_case = next((c for c in cases if c.state != CaseState.CLOSED), None)
    closed = next((c for c in reversed(cases) if c.state == CaseState.CLOSED), None)
    return open_case, None if open_case is not None else closed
