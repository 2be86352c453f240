"""Loading a case row to change it: one place for the row lock, used by every command."""

from sqlalchemy import select
from sqlmodel import Session, col

from models import Case
from states.errors import NotFound


def load_case_for_update(session: Session, code: str) -> Case:
    """The case, locked for this transaction on PostgreSQL (SQLite's writer is already alone)."""
    case: Case | None = session.execute(
        select(Case).where(col(Case.code) == code).with_for_update()
    ).scalar_one_or_none()
    if case is None:
        raise NotFound("case", code)
    return case
