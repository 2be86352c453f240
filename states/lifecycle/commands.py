"""The data each trigger takes. Types are checked here; whether the data is *enough* for a
step is the guards' business (`states/lifecycle/guards.py`), so fields a guard needs stay optional and a
missing one is reported by the guard with the step's own rule."""

from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from models.enums import CaseType, ClosureReason, ReviewOutcome, RiskLevel, SeparationOutcome, ServiceKind
from states.kernel.clock import LOCAL_TZ
from states.kernel.text import Text32, Text200, Text500, Text2000, Text5000


def _aware(v: datetime | None) -> datetime | None:
    if v is not None and v.tzinfo is None:
        raise ValueError("must include a timezone offset (e.g. +07:00)")
    if v is not None:
        # Stored in UTC and shown in Vietnam's zone: `0001-01-01T00:30+01:00` has neither form.
        try:
            v.astimezone(UTC), v.astimezone(LOCAL_TZ)
        except OverflowError:
            raise ValueError("is outside the range of date-times") from None
    return v


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


def label(vi: str, en: str, help_vi: str | None = None, help_en: str | None = None,
          choices: str | None = None) -> dict[str, Any]:
    """What a form shows for a field (the desk's forms are made from these models): its label and
    help in both languages, and, for a code that names a row of the directory, which list to
    choose from (`agencies`, `places`). Kept in the JSON schema as `x-label`, `x-help`,
    `x-choices`, so the API's readers see the same words."""
    extra: dict[str, Any] = {"x-label": {"vi": vi, "en": en}}
    if help_vi:
        extra["x-help"] = {"vi": help_vi, "en": help_en or help_vi}
    if choices:
        extra["x-choices"] = choices
    return extra


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class EmergencyActionData(Command):
    action_taken: Text2000 | None = Field(None, description="What was done to protect the child",
                                          json_schema_extra=label("Biện pháp đã thực hiện", "Action taken"))
    who_was_called: Text500 | None = Field(None, description="Agencies/people called", json_schema_extra=label(
        "Người, cơ quan đã được gọi", "People and agencies called", "Ví dụ: Công an xã, Trạm Y tế",
        "For example: commune police, health station"))
    done_at: AwareDatetime | None = Field(None, json_schema_extra=label("Thời điểm thực hiện", "Done at"))
    separated_from_carer: bool = Field(False, json_schema_extra=label(
        "Đã tách trẻ khỏi người chăm sóc", "The child was separated from the carer"))


class AssessData(Command):
    risk_level: RiskLevel | None = Field(None, json_schema_extra=label("Mức độ nguy cơ", "Risk level"))
    emergency: bool | None = Field(None, description="Is emergency protection needed?", json_schema_extra=label(
        "Cần bảo vệ khẩn cấp?", "Is emergency protection needed?"))
    case_type: CaseType | None = Field(None, json_schema_extra=label("Loại vụ việc", "Kind of case"))
    note: Text2000 | None = Field(None, json_schema_extra=label("Ghi chú đánh giá", "Assessment note"))
    emergency_action: EmergencyActionData | None = Field(None, json_schema_extra=label(
        "Bảo vệ khẩn cấp đã thực hiện (nếu có)", "Emergency protection already done (if any)"))


class PlanData(Command):
    goals: Text5000 | None = Field(None, json_schema_extra=label("Mục tiêu", "Goals"))
    measures: Text5000 | None = Field(None, json_schema_extra=label(
        "Các biện pháp, người thực hiện, thời gian", "Measures, who carries them out, when"))


class DecisionData(Command):
    note: Text2000 | None = Field(None, json_schema_extra=label("Ghi chú quyết định", "Decision note"))


class ServiceData(Command):
    kind: ServiceKind | None = Field(None, json_schema_extra=label("Loại dịch vụ", "Kind of service"))
    agency_code: Text32 | None = Field(None, json_schema_extra=label(
        "Cơ quan cung cấp dịch vụ", "Agency providing it", choices="agencies"))
    started_on: date | None = Field(None, json_schema_extra=label("Ngày bắt đầu", "Start date"))
    note: Text2000 | None = Field(None, json_schema_extra=label("Ghi chú", "Note"))


class ReviewData(Command):
    findings: Text5000 | None = Field(None, json_schema_extra=label("Kết quả rà soát", "Findings"))
    risk_level: RiskLevel | None = Field(None, json_schema_extra=label(
        "Mức độ nguy cơ sau rà soát", "Risk level after the review"))
    outcome: ReviewOutcome | None = Field(None, json_schema_extra=label("Đề xuất", "Proposal"))


class ReasonData(Command):
    reason: Text2000 | None = Field(None, json_schema_extra=label("Lý do", "Reason"))


class CloseData(Command):
    reason: ClosureReason | None = Field(None, json_schema_extra=label("Lý do đóng", "Reason for closing"))
    transferred_to: Text200 | None = Field(None, description="Receiving commune, when transferred",
                                           json_schema_extra=label(
                                               "Xã, phường nhận chuyển", "Receiving commune",
                                               "Chỉ khi chuyển vụ việc", "Only when transferred"))
    note: Text2000 | None = Field(None, json_schema_extra=label("Ghi chú", "Note"))


class ExtendSeparationData(Command):
    """The chair extends a temporary separation from the carer (Nghị định 56/2017 Art. 32)."""

    reason: Text2000 | None = Field(None, json_schema_extra=label("Lý do gia hạn", "Reason for the extension"))
    ends_at: AwareDatetime | None = Field(None, description="When the extended separation ends",
                                          json_schema_extra=label(
                                              "Thời điểm kết thúc mới", "New end of the separation",
                                              "Phải sau thời hạn hiện tại", "Must be after the current limit"))


class EndSeparationData(Command):
    """A temporary separation ends: the child goes home, or into alternative care."""

    outcome: SeparationOutcome | None = Field(None, json_schema_extra=label("Kết quả", "Outcome"))
    ended_at: AwareDatetime | None = Field(None, json_schema_extra=label(
        "Thời điểm kết thúc tách trẻ", "Separation ended at"))
    note: Text2000 | None = Field(None, json_schema_extra=label("Ghi chú", "Note"))
