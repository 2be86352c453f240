"""Loading a case row to change it: one place for the row lock, used by every command."""

from sqlalchemy import select
from sqlmodel import Session, col

from models import Case
from states.access import require_case_write
from states.actors import Actor
from states.errors import NotFound
from states.permissions import authorize


def load_case_for_update(session: Session, code: str) -> Case:
    """The case, locked for this transaction on PostgreSQL (SQLite's writer is already alone)."""
    case: Case | None = session.execute(
        select(Case).where(col(Case.code) == code).with_for_update()
    ).scalar_one_or_none()
    if case is None:
        raise NotFound("case", code)
    return case


def case_to_change(session: Session, actor: Actor, code: str, action: str) -> Case:
    """The locked case, once the role may do `action` at all (checked before the lookup, so a
    refusal reveals nothing) and this actor may change this case."""
    authorize(actor, action)
    case = load_case_for_update(session, code)
    require_case_write(session, actor, case, action)
    return case
