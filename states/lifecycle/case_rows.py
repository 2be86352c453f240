"""Loading a case row to change it (one place for the row lock, used by every command), and
the facts of a case's first report that routing and alerts go by."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session, col

from models import Case, Report
from states.access.permissions import authorize
from states.access.scope import require_case_write
from states.identity.actors import Actor
from states.kernel.errors import NotFound


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


@dataclass(frozen=True)
class FirstReport:
    """What a case's first report says about who to tell: the 111 reference (for the hotline's
    status updates) and the school it names (for school violence and the ladder's `school`)."""

    hotline_ref: str | None = None
    school_agency_id: int | None = None


def first_report(session: Session, case_id: int | None) -> FirstReport:
    found = session.execute(
        select(col(Report.hotline_ref), col(Report.school_agency_id)).where(col(Report.case_id) == case_id)
        .order_by(col(Report.id)).limit(1)).first()
    return FirstReport(found[0], found[1]) if found is not None else FirstReport()
