"""The typed views of one case, and the access log's list of private fields read, derived from them.

The access log must name exactly the private fields a reader was shown. Listed by hand beside
the code that builds the view, they could drift from it, and they named fields that held nothing
(a reporter's address nobody gave was logged as read). So each private field is marked on
the model itself with `Private("<access-log name>")` — the same name as its encrypted column
(models/crypto.py) — and `fields_read` walks a built view: a private field is read when the view
gives it and it holds something.

A view either gives a field or withholds it. A section the view leaves out is named in
`CaseView.withheld` (and is an empty list); a report field it leaves out is `MISSING` — absent
from the JSON, never `null` — and named in that report's own `withheld`, so no reader can take
"not shown to you" for "nothing recorded".
"""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import MISSING, BaseModel, Field, computed_field


@dataclass(frozen=True)
class Private:
    """Marks a field whose reading is an access-log event, under `name` ("table.column")."""

    name: str


Section = Literal["reports", "reporters", "emergency_actions", "emergency_decisions", "risk_ratings",
                  "detailed_assessments", "special_groups", "plans", "services", "reviews", "consents",
                  "notes", "referrals", "deadlines", "timeline"]
ViewName = Literal["full", "content", "agency"]


class ChildView(BaseModel):
    full_name: Annotated[str | None, Private("child.full_name")]
    birth_date: Annotated[date | None, Private("child.birth_date")]
    estimated_age: int | None
    sex: str


class ParentView(BaseModel):
    full_name: str | None = None
    age: int | None = None
    occupation: str | None = None


class ReportView(BaseModel):
    """One report. The fields from `place_detail` on depend on the view: an agency is given only
    those its work needs (Nghị định 56 Art. 33), the others are absent and listed in `withheld`."""

    id: int
    channel: str
    received_at: datetime
    recorded_at: datetime
    abuse_forms: list[str]
    case_type: str | None
    place_detail: Annotated[str | None | MISSING, Private("report.place_detail")] = MISSING
    narrative: Annotated[str | None | MISSING, Private("report.narrative")] = MISSING
    child_condition: Annotated[str | None | MISSING, Private("report.child_condition")] = MISSING
    likely_consequence: Annotated[str | None | MISSING, Private("report.likely_consequence")] = MISSING
    parents: Annotated[dict[Literal["father", "mother"], ParentView] | MISSING,
                       Private("report.parents")] = MISSING
    family_circumstances: Annotated[str | None | MISSING, Private("report.family_circumstances")] = MISSING
    current_carer: Annotated[str | None | MISSING, Private("report.current_carer")] = MISSING
    actions_taken: Annotated[str | None | MISSING, Private("report.actions_taken")] = MISSING
    has_reporter: bool | MISSING = MISSING
    hotline_ref: str | None | MISSING = MISSING
    receiving_officer: str | None | MISSING = MISSING

    @computed_field(  # type: ignore[prop-decorator]
        description="Fields of this report your view does not show: absent, which is not empty")
    @property
    def withheld(self) -> list[str]:
        return [name for name in WITHHOLDABLE_REPORT_FIELDS if getattr(self, name) is MISSING]


# Everything a view may leave out of a report: the fields whose default is "not given".
WITHHOLDABLE_REPORT_FIELDS = tuple(name for name, info in ReportView.model_fields.items()
                                   if info.default is MISSING)


class ReporterView(BaseModel):
    report_id: int
    full_name: Annotated[str | None, Private("reporter.full_name")]
    phone: Annotated[str | None, Private("reporter.phone")]
    address: Annotated[str | None, Private("reporter.address")]
    relation: Annotated[str | None, Private("reporter.relation")]


class EmergencyActionView(BaseModel):
    id: int
    action_taken: Annotated[str, Private("emergency_action.action_taken")]
    who_was_called: Annotated[str, Private("emergency_action.who_was_called")]
    done_at: datetime
    separated_from_carer: bool


class EmergencyDecisionView(BaseModel):
    id: int
    decided_at: datetime
    decided_by: str
    recorded_at: datetime
    measures: Annotated[str, Private("emergency_decision.measures")]
    separation: bool
    alternative_care: Annotated[str | None, Private("emergency_decision.alternative_care")]


class RiskRatingView(BaseModel):
    """The four factors as one record rated them (Mẫu 02, 03 or 06)."""

    id: int
    source: str
    source_id: int | None
    rated_at: datetime
    severity: str
    abuser_access: str
    safety_obstacles: str
    self_protection: str
    derived_level: str
    stated_level: str | None


class DetailedAssessmentView(BaseModel):
    id: int
    recorded_at: datetime
    recorded_by: str
    information: Annotated[str, Private("detailed_assessment.information")]
    needs: Annotated[str, Private("detailed_assessment.needs")]
    meeting_at: datetime
    attendees: Annotated[str, Private("detailed_assessment.attendees")]
    agreed: Annotated[str, Private("detailed_assessment.agreed")]


class MeasureView(BaseModel):
    number: int
    kind: str
    description: Annotated[str, Private("plan_measure.description")]
    agency_code: str | None
    responsible: Annotated[str | None, Private("plan_measure.responsible")]
    starts_on: date
    ends_on: date


class PlanView(BaseModel):
    id: int
    status: str
    goals: Annotated[str, Private("plan.goals")]
    measures: list[MeasureView]
    measures_text: Annotated[str | None, Private("plan.measures")] = Field(
        None, description="A plan's measures as free text, from before measures had rows of their own")
    submitted_at: datetime
    submitted_by: str
    decided_at: datetime | None
    decided_by: str | None
    decision_note: Annotated[str | None, Private("plan.decision_note")]
    decision_no: str | None = Field(None, description="Mẫu 05: the approving decision, e.g. 12/QĐ-UBND")
    decision_year: int | None = None


class ServiceView(BaseModel):
    id: int
    kind: str
    agency_code: str | None
    started_on: date
    ended_on: date | None
    measure_no: int | None = None
    note: Annotated[str | None, Private("service.note")]


class ReviewView(BaseModel):
    id: int
    reviewed_at: datetime
    findings: Annotated[str, Private("review.findings")]
    risk_level: str
    outcome: str


class ConsentView(BaseModel):
    id: int
    recorded_at: datetime
    recorded_by: str
    child_answer: str | None
    carer_answer: str | None
    carer_name: Annotated[str | None, Private("consent.carer_name")]
    legal_ground: str | None
    note: Annotated[str | None, Private("consent.note")]


class NoteView(BaseModel):
    id: int
    author: str
    text: Annotated[str, Private("note.text")]
    written_at: datetime


class ReferralView(BaseModel):
    id: int
    agency_code: str | None
    referred_at: datetime
    withdrawn_at: datetime | None


class DeadlineView(BaseModel):
    id: int
    kind: str
    status: str
    due_at: datetime
    closed_at: datetime | None
    next_alert_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None


class TimelineEntry(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str


class CaseSummary(BaseModel):
    """A case as lists show it (the worklist, search, the CSV): no private field at all."""

    code: str
    state: str
    risk_level: str | None
    emergency: bool | None
    assignee_id: int | None
    place_code: str | None
    abuse_forms: list[str]
    received_at: datetime
    updated_at: datetime
    flags: list[str]
    version: int


class CaseView(CaseSummary):
    """One case as one view shows it (states/access/scope.py decides the view)."""

    case_type: str | None
    closure_reason: str | None
    transferred_to: str | None
    closed_at: datetime | None
    allowed_triggers: list[str]
    view: ViewName = Field(description="full (with the reporter's identity), content (without it) "
                                       "or agency (a referred agency's part)")
    withheld: list[Section] = Field(description="Sections this view does not show (each is an "
                                                "empty list here, which is not the same as empty)")
    child: ChildView | None
    reports: list[ReportView]
    reporters: list[ReporterView] = Field(
        description="Who reported, per report: only for the assigned worker and the head")
    referrals: list[ReferralView]
    emergency_actions: list[EmergencyActionView]
    emergency_decisions: list[EmergencyDecisionView]
    risk_ratings: list[RiskRatingView]
    detailed_assessments: list[DetailedAssessmentView]
    special_groups: Annotated[list[str], Private("case_file.special_groups")] = Field(
        description="Special-circumstance groups (Luật Trẻ em Art. 10(1))")
    plans: list[PlanView]
    services: list[ServiceView]
    reviews: list[ReviewView]
    consents: list[ConsentView]
    notes: list[NoteView]
    deadlines: list[DeadlineView]
    timeline: list[TimelineEntry]


def private_marker(model: type[BaseModel], field: str) -> Private | None:
    return next((m for m in model.model_fields[field].metadata if isinstance(m, Private)), None)


def fields_read(view: BaseModel) -> list[str]:
    """The access-log names of the private fields `view` gives with a value, sorted. A field
    withheld (`MISSING`) or empty (None, "", nothing inside) was not read."""
    found: set[str] = set()
    _walk(view, found)
    return sorted(found)


def _walk(value: Any, found: set[str]) -> None:
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            marker = private_marker(type(value), name)
            if marker is None:
                _walk(getattr(value, name), found)
            elif not _empty(getattr(value, name)):
                found.add(marker.name)
    elif isinstance(value, list):
        for item in value:
            _walk(item, found)


def _empty(value: Any) -> bool:
    if value is None or value is MISSING or value == "":
        return True
    if isinstance(value, BaseModel):
        return all(_empty(getattr(value, name)) for name in type(value).model_fields)
    if isinstance(value, dict):
        return all(_empty(v) for v in value.values())
    if isinstance(value, list):
        return all(_empty(v) for v in value)
    return False

