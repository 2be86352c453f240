"""A case's records printed as the forms of Nghị định 56/2017, one form or the whole file.

What the case holds today prints as: Mẫu 01 (each report), Mẫu 02 (each initial assessment),
Mẫu 04 (each plan submitted), Mẫu 05 (each plan approved: the Chủ tịch's decision) and Mẫu 06
(each review). Mẫu 03 (the detailed assessment and the meeting on the child's needs) is not
recorded by the system, so it is not printed.

A printout is made from the reader's own view of the case, read through the same path as the
case page (`queries.read_case`): a role gets on paper what it may see on screen, and the
printout names the sections its view leaves out (`withheld`; a report names its own), so that
"not shown to you" is never printed as "nothing recorded". Printing is a read of private fields:
the fields the printout holds are logged as `case.printed` on the access log (the caller
commits). Names of staff (who recorded, who decided) are not the child's data and are given.
"""

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlmodel import Session, col

from models import AuditEvent, Case
from states.access.permissions import authorize
from states.audit import chain as audit
from states.cases import queries
from states.cases.case_views import (
    CaseView,
    ChildView,
    EmergencyActionView,
    NoteView,
    PlanView,
    ReferralView,
    ReporterView,
    ReportView,
    ReviewView,
    Section,
    ServiceView,
    ViewName,
)
from states.identity.accounts import names_for_refs
from states.identity.actors import Actor
from states.kernel.clock import Clock
from states.kernel.errors import NotFound

FormCode = Literal["mau-01", "mau-02", "mau-04", "mau-05", "mau-06"]
FORMS: tuple[FormCode, ...] = get_args(FormCode)
# The sections of the case each form is made from: those the reader's view withholds are named.
FORM_SECTIONS: dict[FormCode, tuple[Section, ...]] = {
    "mau-01": ("reports", "reporters"), "mau-02": ("emergency_actions",), "mau-04": ("plans",),
    "mau-05": ("plans",), "mau-06": ("reviews",)}
# The whole file adds what no form holds: the services, the agencies it went to, the notes.
FILE_SECTIONS: tuple[Section, ...] = ("reports", "reporters", "emergency_actions", "plans", "reviews",
                                      "services", "referrals", "notes")
PRINT_ACTION = "case.printed"


class ReportForm(BaseModel):
    """Mẫu 01: one report as received."""

    form: Literal["mau-01"] = "mau-01"
    dated: datetime | None
    report: ReportView
    reporter: ReporterView | None = Field(description="Who reported, when the view gives it and they gave it")


class AssessmentForm(BaseModel):
    """Mẫu 02: the initial assessment, with the values it set (a later review may change the
    case's risk level; the form keeps the assessment's own) and the emergency protection."""

    form: Literal["mau-02"] = "mau-02"
    dated: datetime | None
    signed_by: str | None
    case_type: str | None
    risk_level: str | None
    emergency: bool | None
    emergency_actions: list[EmergencyActionView]


class PlanForm(BaseModel):
    """Mẫu 04: a plan as submitted (and what became of it)."""

    form: Literal["mau-04"] = "mau-04"
    dated: datetime | None
    signed_by: str | None
    plan: PlanView


class DecisionForm(BaseModel):
    """Mẫu 05: the Chủ tịch's decision approving a plan."""

    form: Literal["mau-05"] = "mau-05"
    dated: datetime | None
    signed_by: str | None
    plan: PlanView


class ReviewForm(BaseModel):
    """Mẫu 06: one review of the plan's progress."""

    form: Literal["mau-06"] = "mau-06"
    dated: datetime | None
    signed_by: str | None
    review: ReviewView


Record = Annotated[ReportForm | AssessmentForm | PlanForm | DecisionForm | ReviewForm,
                   Field(discriminator="form")]


class Printout(BaseModel):
    """What one reader prints: the records of one form (`only`) or of the whole file."""

    code: str
    commune: str = Field(description="The commune as configured, e.g. 'Xã Nghĩa Hưng'")
    printed_at: datetime
    view: ViewName
    only: FormCode | None = Field(description="The one form printed; None: the whole file")
    state: str
    received_at: datetime
    place_code: str | None
    abuse_forms: list[str]
    case_type: str | None
    risk_level: str | None
    closure_reason: str | None
    closed_at: datetime | None
    child: ChildView | None
    records: list[Record]
    # The whole file only (empty for one form).
    services: list[ServiceView] = []
    referrals: list[ReferralView] = []
    notes: list[NoteView] = []
    withheld: list[Section] = Field(description="Sections this printout would hold that the reader's "
                                                "view leaves out")


def print_case(session: Session, clock: Clock, actor: Actor, code: str, commune: str,
               form: str | None = None) -> Printout:
    """The printout of case `code` as this actor may see it, the whole file or one `form`
    ("mau-01" …); logged as `case.printed`. A form the system does not print is not found."""
    authorize(actor, "case.print")
    only = next((f for f in FORMS if f == form), None)
    if form is not None and only is None:
        raise NotFound("form", form)
    now = clock.now()
    return queries.read_case(session, clock, actor, code, PRINT_ACTION,
                             lambda view: _printout(session, view, commune, now, only))


def _printout(session: Session, view: CaseView, commune: str, now: datetime,
              only: FormCode | None) -> Printout:
    sections = FORM_SECTIONS[only] if only is not None else FILE_SECTIONS
    at = {(e.action, e.at): e.actor for e in view.timeline}
    assessments = _assessments(session, view.code)
    names = names_for_refs(session, set(at.values()) | {ref for ref, _ in assessments})

    def signer(action: str, when: datetime | None) -> str | None:
        ref = at.get((action, when)) if when is not None else None
        return names.get(ref, ref) if ref else None

    reporters = {p.report_id: p for p in view.reporters}
    records: list[Record] = []
    records += [ReportForm(dated=r.received_at, report=r, reporter=reporters.get(r.id)) for r in view.reports]
    records += [AssessmentForm(dated=when, signed_by=names.get(ref, ref), case_type=after.get("case_type"),
                               risk_level=after.get("risk_level"), emergency=after.get("emergency"),
                               emergency_actions=view.emergency_actions)
                for ref, (when, after) in assessments]
    if not assessments and view.risk_level is not None:  # assessed before events kept these values
        records.append(AssessmentForm(dated=None, signed_by=None, case_type=view.case_type,
                                      risk_level=view.risk_level, emergency=view.emergency,
                                      emergency_actions=view.emergency_actions))
    records += [PlanForm(dated=p.submitted_at, signed_by=signer("case.submit_plan", p.submitted_at), plan=p)
                for p in view.plans]
    records += [DecisionForm(dated=p.decided_at, signed_by=signer("case.approve_plan", p.decided_at), plan=p)
                for p in view.plans if p.status == "approved"
                or (p.decided_at is not None and ("case.approve_plan", p.decided_at) in at)]
    records += [ReviewForm(dated=r.reviewed_at, signed_by=signer("case.review", r.reviewed_at), review=r)
                for r in view.reviews]
    whole = only is None
    return Printout(
        code=view.code, commune=commune, printed_at=now, view=view.view, only=only, state=view.state,
        received_at=view.received_at, place_code=view.place_code, abuse_forms=view.abuse_forms,
        case_type=view.case_type, risk_level=view.risk_level, closure_reason=view.closure_reason,
        closed_at=view.closed_at, child=view.child,
        records=[r for r in records if whole or r.form == only],
        services=view.services if whole else [], referrals=view.referrals if whole else [],
        notes=view.notes if whole else [],
        withheld=[s for s in view.withheld if s in sections])


def _assessments(session: Session, code: str) -> list[tuple[str, tuple[datetime, dict[str, Any]]]]:
    """Each initial assessment of the case (a reopened case may be assessed again): who, when,
    and the values it set, from its audit event (which holds no personal data)."""
    rows = session.execute(
        select(col(AuditEvent.actor), col(AuditEvent.at), col(AuditEvent.after))
        .join(Case, col(Case.id) == col(AuditEvent.case_id))
        .where(col(Case.code) == code, col(AuditEvent.action) == "case.assess").order_by(col(AuditEvent.seq))
    ).all()
    return [(ref, (when, audit.loads(after))) for ref, when, after in rows]


__all__ = ["FORMS", "FormCode", "Printout", "Record", "print_case"]
