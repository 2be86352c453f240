"""The data each trigger takes. Types are checked here; whether the data is *enough* for a
step is the guards' business (`states/lifecycle/guards.py`), so fields a guard needs stay optional and a
missing one is reported by the guard with the step's own rule."""

from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from models.enums import (
    CaseType,
    ClosureReason,
    ConsentAnswer,
    LegalGround,
    MeasureKind,
    ReviewOutcome,
    RiskLevel,
    SeparationOutcome,
    ServiceKind,
    SpecialGroup,
)
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


class RiskFactors(Command):
    """The four risk factors of Mẫu 02, 03 and 06, each rated high / medium / low as a risk: a
    child with little capacity to protect themself rates that factor high."""

    severity: RiskLevel | None = Field(None, json_schema_extra=label(
        "Mức độ nghiêm trọng của tổn hại", "Severity of the harm"))
    abuser_access: RiskLevel | None = Field(None, json_schema_extra=label(
        "Khả năng đối tượng xâm hại tiếp cận trẻ", "The abuser's access to the child"))
    safety_obstacles: RiskLevel | None = Field(None, json_schema_extra=label(
        "Cản trở đến sự an toàn nơi trẻ sống", "Obstacles to safety where the child lives"))
    self_protection: RiskLevel | None = Field(None, json_schema_extra=label(
        "Khả năng tự bảo vệ, phục hồi của trẻ (nguy cơ)", "The child's capacity to protect themself and recover "
        "(as a risk)", "Cao: trẻ khó tự bảo vệ", "High: the child can hardly protect themself"))


_LEVEL_HELP = ("Để trống: lấy mức cao nhất của bốn yếu tố", "Empty: the highest of the four factors")


class AssessData(Command):
    factors: RiskFactors | None = Field(None, json_schema_extra=label(
        "Các yếu tố nguy cơ (Mẫu 02)", "Risk factors (Form 02)"))
    risk_level: RiskLevel | None = Field(None, json_schema_extra=label(
        "Mức độ nguy cơ chung", "Overall risk level", *_LEVEL_HELP))
    emergency: bool | None = Field(None, description="Is emergency protection needed?", json_schema_extra=label(
        "Cần bảo vệ khẩn cấp?", "Is emergency protection needed?"))
    case_type: CaseType | None = Field(None, json_schema_extra=label("Loại vụ việc", "Kind of case"))
    special_groups: list[SpecialGroup] | None = Field(None, max_length=14, json_schema_extra=label(
        "Nhóm trẻ em có hoàn cảnh đặc biệt (Điều 10 Luật Trẻ em)", "Special-circumstance groups (Child Law Art. 10)",
        "Bắt buộc khi loại vụ việc là trẻ có hoàn cảnh đặc biệt", "Required when the case is a child in special "
        "circumstances"))
    note: Text2000 | None = Field(None, json_schema_extra=label("Ghi chú đánh giá", "Assessment note"))
    emergency_action: EmergencyActionData | None = Field(None, json_schema_extra=label(
        "Bảo vệ khẩn cấp đã thực hiện (nếu có)", "Emergency protection already done (if any)"))


class DetailData(Command):
    """Mẫu 03: detailed information and risk assessment, and the meeting on the child's needs
    (Nghị định 56/2017 Art. 27)."""

    information: Text5000 | None = Field(None, json_schema_extra=label(
        "Thông tin chi tiết đã thu thập", "Detailed information gathered"))
    needs: Text5000 | None = Field(None, json_schema_extra=label("Nhu cầu của trẻ", "The child's needs"))
    factors: RiskFactors | None = Field(None, json_schema_extra=label(
        "Đánh giá lại các yếu tố nguy cơ (nếu có)", "Risk factors re-rated (if any)"))
    risk_level: RiskLevel | None = Field(None, json_schema_extra=label(
        "Mức độ nguy cơ chung", "Overall risk level", *_LEVEL_HELP))
    special_groups: list[SpecialGroup] | None = Field(None, max_length=14, json_schema_extra=label(
        "Nhóm trẻ em có hoàn cảnh đặc biệt", "Special-circumstance groups"))
    meeting_at: AwareDatetime | None = Field(None, json_schema_extra=label("Thời điểm họp", "Meeting held at"))
    attendees: Text2000 | None = Field(None, json_schema_extra=label(
        "Thành phần tham dự", "Who attended", "Họ tên, chức vụ, cơ quan", "Name, position, agency"))
    agreed: Text5000 | None = Field(None, json_schema_extra=label("Nội dung thống nhất", "What was agreed"))


class MeasureData(Command):
    """One measure of the plan (Mẫu 04)."""

    kind: MeasureKind | None = Field(None, json_schema_extra=label(
        "Biện pháp (Điều 50 Luật Trẻ em)", "Measure (Child Law Art. 50)"))
    description: Text2000 | None = Field(None, json_schema_extra=label("Nội dung", "What is done"))
    agency_code: Text32 | None = Field(None, json_schema_extra=label(
        "Cơ quan thực hiện", "Agency responsible", choices="agencies"))
    responsible: Text200 | None = Field(None, json_schema_extra=label(
        "Người thực hiện", "Person responsible", "Khi không có cơ quan, hoặc người cụ thể",
        "When no agency, or the person in it"))
    starts_on: date | None = Field(None, json_schema_extra=label("Từ ngày", "From"))
    ends_on: date | None = Field(None, json_schema_extra=label("Đến ngày", "Until"))


class PlanData(Command):
    goals: Text5000 | None = Field(None, json_schema_extra=label("Mục tiêu", "Goals"))
    measures: list[MeasureData] | None = Field(None, max_length=20, json_schema_extra=label(
        "Biện pháp", "Measure") | {"x-rows": 3})


class DecisionData(Command):
    note: Text2000 | None = Field(None, json_schema_extra=label("Ghi chú quyết định", "Decision note"))


class EmergencyDecisionData(Command):
    """The chair's decision on emergency protection (Nghị định 56/2017 Art. 26(3), 31, 32)."""

    measures: Text2000 | None = Field(None, json_schema_extra=label(
        "Biện pháp bảo vệ khẩn cấp được quyết định", "Emergency measures decided"))
    decided_at: AwareDatetime | None = Field(None, json_schema_extra=label(
        "Thời điểm quyết định", "Decided at", "Có thể trước khi ghi vào hệ thống", "May be before it is recorded"))
    separation: bool = Field(False, json_schema_extra=label(
        "Tạm thời cách ly trẻ khỏi người chăm sóc", "Separate the child from the carer for now"))
    alternative_care: Text500 | None = Field(None, json_schema_extra=label(
        "Nơi chăm sóc thay thế (nếu cách ly)", "Alternative care (if separated)"))


class ConsentData(Command):
    """Consent to share the child's private data with the agencies of the plan (Luật Trẻ em
    Art. 6(11), 21), or the legal ground for sharing without it."""

    child_answer: ConsentAnswer | None = Field(None, json_schema_extra=label(
        "Ý kiến của trẻ (từ đủ 7 tuổi)", "The child's answer (aged 7 or older)"))
    carer_answer: ConsentAnswer | None = Field(None, json_schema_extra=label(
        "Ý kiến của cha, mẹ, người chăm sóc", "The parent's or carer's answer"))
    carer_name: Text200 | None = Field(None, json_schema_extra=label(
        "Họ tên cha, mẹ, người chăm sóc", "Name of the parent or carer"))
    legal_ground: LegalGround | None = Field(None, json_schema_extra=label(
        "Căn cứ chia sẻ không cần đồng ý", "Legal ground to share without consent",
        "Chỉ khi không có sự đồng ý", "Only without consent"))
    note: Text2000 | None = Field(None, json_schema_extra=label("Ghi chú", "Note"))


class ServiceData(Command):
    kind: ServiceKind | None = Field(None, json_schema_extra=label("Loại dịch vụ", "Kind of service"))
    agency_code: Text32 | None = Field(None, json_schema_extra=label(
        "Cơ quan cung cấp dịch vụ", "Agency providing it", choices="agencies"))
    started_on: date | None = Field(None, json_schema_extra=label("Ngày bắt đầu", "Start date"))
    measure_no: int | None = Field(None, ge=1, le=20, json_schema_extra=label(
        "Thực hiện biện pháp số", "Carries out measure no.", "Số thứ tự trong kế hoạch đã duyệt",
        "Its number in the approved plan", choices="measures"))
    note: Text2000 | None = Field(None, json_schema_extra=label("Ghi chú", "Note"))


class ReviewData(Command):
    findings: Text5000 | None = Field(None, json_schema_extra=label("Kết quả rà soát", "Findings"))
    factors: RiskFactors | None = Field(None, json_schema_extra=label(
        "Đánh giá lại các yếu tố nguy cơ (Mẫu 06)", "Risk factors re-rated (Form 06)"))
    risk_level: RiskLevel | None = Field(None, json_schema_extra=label(
        "Mức độ nguy cơ sau rà soát", "Risk level after the review", *_LEVEL_HELP))
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
