"""A case's records printed as the forms of Nghị định 56/2017, one form or the whole file.

The case prints as: Mẫu 01 (each report), Mẫu 02 (each initial assessment, with the four risk
factors it rated), Mẫu 03 (each detailed assessment and the minutes of its meeting on the child's
needs, with the factors if it re-rated them), Mẫu 04 (each plan submitted, with its measures;
returned plans too, with the reason), Mẫu 05 (each plan approved: the Chủ tịch's numbered
decision) and Mẫu 06 (each review, with the factors it re-rated). The whole file adds the
chair's emergency decisions, the consents to share the child's data, the services, referrals and
notes. A rating belongs to its record by `source` and `source_id` (the initial assessment's by
the `risk_rating_id` of its audit event).

A printout is made from the reader's own view of the case, read through the same path as the
case page (`queries.read_case`): a role gets on paper what it may see on screen, and the
printout names the sections its view leaves out (`withheld`; a report names its own), so that
"not shown to you" is never printed as "nothing recorded". Printing is a read of private fields:
the fields the printout holds are logged as `case.printed` on the access log (the caller
commits). Names of staff (who recorded, who decided), of the thôn and of the agencies are not the
child's data and are given with the printout, so that whoever lays it out (the desk's page and
Word file, the API's, web/printout.py) needs nothing else.

`Layout` is how the API prints: the desk lays a printout out as paper (web/printout.py), which
`api` may not import, so `web.install` hands its layout to the app (`app.state.case_printer`).
"""

from datetime import datetime
from typing import Annotated, Any, Literal, Protocol, get_args

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
    ConsentView,
    DetailedAssessmentView,
    EmergencyActionView,
    EmergencyDecisionView,
    NoteView,
    PlanView,
    Private,
    ReferralView,
    ReporterView,
    ReportView,
    ReviewView,
    RiskRatingView,
    Section,
    ServiceView,
    ViewName,
)
from states.identity.accounts import names_for_refs
from states.identity.actors import Actor
from states.kernel.clock import Clock
from states.kernel.errors import NotFound
from states.records.directory import list_agencies, list_places

FormCode = Literal["mau-01", "mau-02", "mau-03", "mau-04", "mau-05", "mau-06"]
FORMS: tuple[FormCode, ...] = get_args(FormCode)
# The sections of the case each form is made from: those the reader's view withholds are named.
FORM_SECTIONS: dict[FormCode, tuple[Section, ...]] = {
    "mau-01": ("reports", "reporters"), "mau-02": ("emergency_actions", "risk_ratings", "special_groups"),
    "mau-03": ("detailed_assessments", "risk_ratings", "special_groups"), "mau-04": ("plans",),
    "mau-05": ("plans",), "mau-06": ("reviews", "risk_ratings")}
# The whole file adds what no form holds: the chair's emergency decisions, the consents, the
# services, the agencies it went to, the notes.
FILE_SECTIONS: tuple[Section, ...] = (
    "reports", "reporters", "emergency_actions", "risk_ratings", "special_groups", "detailed_assessments",
    "plans", "reviews", "emergency_decisions", "consents", "services", "referrals", "notes")
PRINT_ACTION = "case.printed"
PrintFormat = Literal["html", "docx"]


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
    rating: RiskRatingView | None = Field(None, description="The four factors this assessment rated")


class DetailForm(BaseModel):
    """Mẫu 03: the detailed assessment, the minutes of the meeting on the child's needs, and the
    factors if it re-rated them."""

    form: Literal["mau-03"] = "mau-03"
    dated: datetime | None
    signed_by: str | None
    assessment: DetailedAssessmentView
    rating: RiskRatingView | None


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
    rating: RiskRatingView | None = Field(None, description="The four factors the review re-rated")


Record = Annotated[ReportForm | AssessmentForm | DetailForm | PlanForm | DecisionForm | ReviewForm,
                   Field(discriminator="form")]


class AgencyName(BaseModel):
    vi: str
    en: str


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
    special_groups: Annotated[list[str], Private("case_file.special_groups")] = Field(
        [], description="Special-circumstance groups (Mẫu 02, 03 and the whole file)")
    records: list[Record]
    # The whole file only (empty for one form).
    emergency_decisions: list[EmergencyDecisionView] = []
    consents: list[ConsentView] = []
    services: list[ServiceView] = []
    referrals: list[ReferralView] = []
    notes: list[NoteView] = []
    withheld: list[Section] = Field(description="Sections this printout would hold that the reader's "
                                                "view leaves out")
    # What the printout names by reference: staff (who recorded, decided), thôn, agencies.
    printed_by: str = ""
    people: dict[str, str] = Field({}, description="Staff refs ('user:12') → display names")
    places: dict[str, str] = Field({}, description="Thôn code → name")
    agencies: dict[str, AgencyName] = Field({}, description="Agency code → names")


class Layout(Protocol):
    """A printout laid out as paper in a language (`vi`, `en`): the print page's HTML or the Word
    file. The desk's (web/printout.py) is handed to the API's app by `web.install`."""

    def __call__(self, printout: Printout, lang: str, fmt: PrintFormat) -> bytes: ...


def print_case(session: Session, clock: Clock, actor: Actor, code: str, commune: str,
               form: str | None = None) -> Printout:
    """The printout of case `code` as this actor may see it, the whole file or one `form`
    ("mau-01" …); logged as `case.printed`. A form the system does not print is not found."""
    authorize(actor, "case.print")
    only = next((f for f in FORMS if f == form), None)
    if form is not None and only is None:
        raise NotFound("form", form)
    now = clock.now()
    printout = queries.read_case(session, clock, actor, code, PRINT_ACTION,
                                 lambda view: _printout(session, view, commune, now, only))
    # What it names by reference (no personal data of the child: not on the access log).
    printed_by = names_for_refs(session, {actor.ref}).get(actor.ref, actor.ref)
    places = {p.code: p.name for p in list_places(session, actor)}
    agencies = {a.code: AgencyName(vi=a.name_vi, en=a.name_en or a.name_vi) for a in list_agencies(session, actor)}
    return printout.model_copy(update={"printed_by": printed_by, "places": places, "agencies": agencies})


def _printout(session: Session, view: CaseView, commune: str, now: datetime,
              only: FormCode | None) -> Printout:
    sections = FORM_SECTIONS[only] if only is not None else FILE_SECTIONS
    at = {(e.action, e.at): e.actor for e in view.timeline}
    assessments = _assessments(session, view.code)
    refs = ({ref for ref, _ in assessments} | {p.submitted_by for p in view.plans}
            | {p.decided_by for p in view.plans if p.decided_by} | {d.recorded_by for d in view.detailed_assessments}
            | {d.decided_by for d in view.emergency_decisions} | {c.recorded_by for c in view.consents})
    names = names_for_refs(session, set(at.values()) | refs)

    def name(ref: str | None) -> str | None:
        return names.get(ref, ref) if ref else None

    def signer(action: str, when: datetime | None) -> str | None:
        return name(at.get((action, when))) if when is not None else None

    ratings = {(r.source, r.source_id): r for r in view.risk_ratings if r.source != "initial"}
    initial = {r.id: r for r in view.risk_ratings if r.source == "initial"}
    reporters = {p.report_id: p for p in view.reporters}
    records: list[Record] = []
    records += [ReportForm(dated=r.received_at, report=r, reporter=reporters.get(r.id)) for r in view.reports]
    records += [AssessmentForm(dated=when, signed_by=name(ref), case_type=after.get("case_type"),
                               risk_level=after.get("risk_level"), emergency=after.get("emergency"),
                               emergency_actions=view.emergency_actions,
                               rating=initial.get(after.get("risk_rating_id", 0)))
                for ref, (when, after) in assessments]
    if not assessments and view.risk_level is not None:  # assessed before events kept these values
        records.append(AssessmentForm(dated=None, signed_by=None, case_type=view.case_type,
                                      risk_level=view.risk_level, emergency=view.emergency,
                                      emergency_actions=view.emergency_actions,
                                      rating=max(initial.values(), key=lambda r: r.id, default=None)))
    records += [DetailForm(dated=d.recorded_at, signed_by=name(d.recorded_by), assessment=d,
                           rating=ratings.get(("detailed", d.id))) for d in view.detailed_assessments]
    records += [PlanForm(dated=p.submitted_at, signed_by=name(p.submitted_by), plan=p) for p in view.plans]
    records += [DecisionForm(dated=p.decided_at, plan=p,
                             signed_by=name(p.decided_by) or signer("case.approve_plan", p.decided_at))
                for p in view.plans if p.status == "approved" or p.decision_no is not None
                or (p.decided_at is not None and ("case.approve_plan", p.decided_at) in at)]
    records += [ReviewForm(dated=r.reviewed_at, signed_by=signer("case.review", r.reviewed_at), review=r,
                           rating=ratings.get(("review", r.id))) for r in view.reviews]
    whole = only is None
    records = [r for r in records if whole or r.form == only]
    groups = whole or only in ("mau-02", "mau-03")
    return Printout(
        code=view.code, commune=commune, printed_at=now, view=view.view, only=only, state=view.state,
        received_at=view.received_at, place_code=view.place_code, abuse_forms=view.abuse_forms,
        case_type=view.case_type, risk_level=view.risk_level, closure_reason=view.closure_reason,
        closed_at=view.closed_at, child=view.child, special_groups=view.special_groups if groups else [],
        records=records,
        emergency_decisions=view.emergency_decisions if whole else [], consents=view.consents if whole else [],
        services=view.services if whole else [], referrals=view.referrals if whole else [],
        notes=view.notes if whole else [],
        withheld=[s for s in view.withheld if s in sections],
        people={ref: n for ref, n in names.items() if ref in refs} if whole else {})


def _assessments(session: Session, code: str) -> list[tuple[str, tuple[datetime, dict[str, Any]]]]:
    """Each initial assessment of the case (a reopened case may be assessed again): who, when,
    and the values it set, from its audit event (which holds no personal data)."""
    rows = session.execute(
        select(col(AuditEvent.actor), col(AuditEvent.at), col(AuditEvent.after))
        .join(Case, col(Case.id) == col(AuditEvent.case_id))
        .where(col(Case.code) == code, col(AuditEvent.action) == "case.assess").order_by(col(AuditEvent.seq))
    ).all()
    return [(ref, (when, audit.loads(after))) for ref, when, after in rows]


__all__ = ["FORMS", "AgencyName", "FormCode", "Layout", "PrintFormat", "Printout", "Record", "print_case"]
