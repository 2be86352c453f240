"""When is a new report about a child who already has an open case?

The rule prefers a missed match (a second case, which a worker closes as `duplicate`) over a
false one (two children's files merged, which leaks one child's data into another's). Names
are compared after normalisation (NFC, case-folded, single spaces).

- The new report gives name and birth date: it matches a child with the same name and the
  same birth date, anywhere in the commune; or a child with the same name in the same thôn
  whose birth date was never recorded.
- The new report gives a name but no birth date: same name and same thôn.
- No name: never matched.

Only cases that are not closed are linked; a report about a child whose case is closed opens a
new case (the worker can reopen the old one instead). The keys are HMACs, so the index holds
no name in clear."""

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, or_, select
from sqlmodel import Session, col

from models import Case, Child
from models.enums import CaseState
from states.text import normalise_name


@dataclass(frozen=True)
class ChildKeys:
    by_birth: str | None
    by_place: str


def _mac(secret: bytes, material: str) -> str:
    return hmac.new(secret, material.encode(), hashlib.sha256).hexdigest()


def child_keys(secret: bytes, full_name: str | None, birth_date: date | None,
               place_code: str) -> ChildKeys | None:
    if not full_name:
        return None
    name = normalise_name(full_name)
    return ChildKeys(
        by_birth=_mac(secret, f"{name}|dob:{birth_date.isoformat()}") if birth_date else None,
        by_place=_mac(secret, f"{name}|place:{place_code}"),
    )


def find_open_case(session: Session, keys: ChildKeys | None) -> Case | None:
    if keys is None:
        return None
    same_place_no_birth = and_(col(Child.place_key) == keys.by_place, col(Child.birth_date).is_(None))
    if keys.by_birth is not None:
        who = or_(col(Child.birth_key) == keys.by_birth, same_place_no_birth)
    else:
        who = col(Child.place_key) == keys.by_place
    return session.execute(
        select(Case).join(Child, col(Child.id) == col(Case.child_id))
        .where(who, col(Case.state) != CaseState.CLOSED)
        .order_by(col(Case.id)).limit(1)
    ).scalar_one_or_none()
