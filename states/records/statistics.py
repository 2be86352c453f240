"""Statistics for the commune's reports (Thông tư 13/2021 indicator 0101 and the plan's own
indicators): counts only, never a case's content, so the auditor may read them.

Counts by channel, form of abuse, sex, state, closure reason; and for each legal time limit how
many were met in time, met late, and are open past their limit.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy import case as sql_case
from sqlmodel import Session, col

from models import Case, CaseAbuseForm, Child, Deadline, Report
from states.access.permissions import authorize
from states.identity.actors import Actor


def _counts(session: Session, column: Any, *where: Any, join: Any = None) -> dict[str, int]:
    query = select(column, func.count()).group_by(column)
    if join is not None:
        query = query.join(*join)
    return {str(k): int(n) for k, n in session.execute(query.where(*where)).all() if k is not None}


def summary(session: Session, actor: Actor, now: datetime, received_from: datetime | None = None,
            received_to: datetime | None = None) -> dict[str, Any]:
    authorize(actor, "stats.read")
    in_period = [col(Case.received_at) >= received_from] if received_from else []
    in_period += [col(Case.received_at) < received_to] if received_to else []
    report_period = [col(Report.received_at) >= received_from] if received_from else []
    report_period += [col(Report.received_at) < received_to] if received_to else []
    met_in_time = func.sum(sql_case((and_(col(Deadline.status) == "met",
                                          col(Deadline.closed_at) <= col(Deadline.due_at)), 1), else_=0))
    met_late = func.sum(sql_case((and_(col(Deadline.status) == "met",
                                       col(Deadline.closed_at) > col(Deadline.due_at)), 1), else_=0))
    open_overdue = func.sum(sql_case((and_(col(Deadline.status) == "open",
                                           col(Deadline.due_at) < now), 1), else_=0))
    limits = {
        kind: {"met_in_time": int(a or 0), "met_late": int(b or 0), "open_overdue": int(c or 0)}
        for kind, a, b, c in session.execute(
            select(col(Deadline.kind), met_in_time, met_late, open_overdue)
            .join(Case, col(Case.id) == col(Deadline.case_id)).where(*in_period)
            .group_by(col(Deadline.kind))).all()}
    return {
        "received_from": received_from, "received_to": received_to, "as_of": now,
        "cases": int(session.execute(select(func.count()).select_from(Case).where(*in_period)).scalar_one()),
        "reports_by_channel": _counts(session, col(Report.channel), *report_period),
        "cases_by_state": _counts(session, col(Case.state), *in_period),
        "cases_by_abuse_form": _counts(session, col(CaseAbuseForm.form), *in_period,
                                       join=(Case, col(Case.id) == col(CaseAbuseForm.case_id))),
        "children_by_sex": _counts(session, col(Child.sex), *in_period,
                                   join=(Case, col(Case.child_id) == col(Child.id))),
        "closed_by_reason": _counts(session, col(Case.closure_reason), *in_period),
        "emergency_cases": int(session.execute(select(func.count()).select_from(Case)
                                               .where(col(Case.emergency).is_(True), *in_period)).scalar_one()),
        "time_limits": limits,
    }
