"""Guards: small named predicates on (what we know of the case, the trigger's data).

Each returns `None` when the step may go ahead, or a `Violation` naming the field that is
missing or wrong and the rule it broke. They touch no database, so they are unit-tested bare.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from models.enums import CaseType, ClosureReason, ReviewOutcome


@dataclass(frozen=True)
class CaseFacts:
    """What the guards may know about a case, gathered by the workflow before a trigger."""

    state: str
    has_submitted_plan: bool = False
    last_review_outcome: str | None = None
    # The child is separated from the carer now: the temporary-separation limit is open, and
    # when it ends (for an extension, which must end later).
    separation_due_at: datetime | None = None
    # A detailed assessment (Mẫu 03) recorded since the case was received or reopened.
    has_detailed_assessment: bool = False
    # How many measures the plan now in force has (0: none, or a plan from before measures).
    approved_measures: int = 0
    # The child is younger than 7, so the child's own consent is not asked (None: age unknown).
    child_under_7: bool | None = None


@dataclass(frozen=True)
class Violation:
    field: str
    rule: str
    message_vi: str
    message_en: str


Guard = Callable[[CaseFacts, Mapping[str, Any]], Violation | None]


def _required(field: str, vi: str, en: str) -> Guard:
    def guard(_facts: CaseFacts, data: Mapping[str, Any]) -> Violation | None:
        value: Any = data
        for part in field.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if value is None:
            return Violation(field, "required", f"Cần nhập {vi}.", f"{en} is required.")
        return None

    guard.__name__ = f"requires_{field.replace('.', '_')}"
    # Which input the guard needs: the desk's forms mark it required (web/forms.py).
    guard.field = field  # type: ignore[attr-defined]
    return guard


FACTOR_NAMES = {"severity": ("mức độ nghiêm trọng của tổn hại", "severity of the harm"),
                "abuser_access": ("khả năng đối tượng tiếp cận trẻ", "the abuser's access to the child"),
                "safety_obstacles": ("cản trở đến sự an toàn nơi trẻ sống", "obstacles to safety"),
                "self_protection": ("khả năng tự bảo vệ, phục hồi của trẻ", "the child's self-protection")}
# Mẫu 02 and Mẫu 06 rate all four factors; the overall level is stated or derived from them.
factors_rated = tuple(_required(f"factors.{name}", f"đánh giá yếu tố: {vi}", f"factors.{name} ({en})")
                      for name, (vi, en) in FACTOR_NAMES.items())
emergency_decided = _required("emergency", "quyết định có cần bảo vệ khẩn cấp hay không", "emergency")
plan_goals_given = _required("goals", "mục tiêu của kế hoạch", "goals")
service_kind_given = _required("kind", "loại dịch vụ", "kind")
service_agency_given = _required("agency_code", "cơ quan cung cấp dịch vụ", "agency_code")
service_start_given = _required("started_on", "ngày bắt đầu", "started_on")
review_findings_given = _required("findings", "kết quả rà soát", "findings")
review_outcome_given = _required("outcome", "đề xuất sau rà soát", "outcome")
reason_given = _required("reason", "lý do", "reason")
action_taken_given = _required("action_taken", "biện pháp đã thực hiện", "action_taken")
who_was_called_given = _required("who_was_called", "người/cơ quan đã được gọi", "who_was_called")
done_at_given = _required("done_at", "thời điểm thực hiện", "done_at")
detail_information_given = _required("information", "thông tin chi tiết đã thu thập", "information")
detail_needs_given = _required("needs", "nhu cầu của trẻ", "needs")
meeting_at_given = _required("meeting_at", "thời điểm họp", "meeting_at")
attendees_given = _required("attendees", "thành phần tham dự cuộc họp", "attendees")
agreed_given = _required("agreed", "nội dung thống nhất tại cuộc họp", "agreed")
decision_measures_given = _required("measures", "biện pháp bảo vệ khẩn cấp được quyết định", "measures")
decided_at_given = _required("decided_at", "thời điểm quyết định", "decided_at")
extension_end_given = _required("ends_at", "thời điểm kết thúc mới", "ends_at")
separation_outcome_given = _required("outcome", "kết quả (trẻ về gia đình hay được chăm sóc thay thế)", "outcome")
separation_end_given = _required("ended_at", "thời điểm kết thúc tách trẻ", "ended_at")


def child_separated(facts: CaseFacts, _data: Mapping[str, Any]) -> Violation | None:
    """Extending or ending a separation needs one going on (Nghị định 56/2017 Art. 32)."""
    if facts.separation_due_at is None:
        return Violation("separation", "separation_ongoing",
                         "Trẻ không đang bị tách tạm thời khỏi người chăm sóc.",
                         "The child is not temporarily separated from the carer.")
    return None


def extension_ends_later(facts: CaseFacts, data: Mapping[str, Any]) -> Violation | None:
    ends_at = data.get("ends_at")
    if facts.separation_due_at is not None and isinstance(ends_at, datetime) \
            and ends_at <= facts.separation_due_at:
        return Violation("ends_at", "after_current_limit",
                         "Thời điểm kết thúc mới phải sau thời hạn tách trẻ hiện tại.",
                         "ends_at must be after the separation's current limit.")
    return None


def emergency_action_complete_if_given(_facts: CaseFacts, data: Mapping[str, Any]) -> Violation | None:
    """An emergency action recorded at assessment must be as complete as one recorded alone."""
    action = data.get("emergency_action")
    if action is None:
        return None
    for guard in (action_taken_given, who_was_called_given, done_at_given):
        violation = guard(_facts, action)
        if violation is not None:
            return Violation(f"emergency_action.{violation.field}", violation.rule,
                             violation.message_vi, violation.message_en)
    if data.get("emergency") is False:
        return Violation("emergency", "must_be_true_with_emergency_action",
                         "Đã ghi biện pháp khẩn cấp thì phải đánh giá là cần bảo vệ khẩn cấp.",
                         "An emergency action was given, so emergency must be true.")
    return None


def no_plan_pending(facts: CaseFacts, _data: Mapping[str, Any]) -> Violation | None:
    if facts.has_submitted_plan:
        return Violation("plan", "already_submitted",
                         "Đã có kế hoạch đang chờ phê duyệt.",
                         "A plan is already waiting for approval.")
    return None


def plan_submitted(facts: CaseFacts, _data: Mapping[str, Any]) -> Violation | None:
    if not facts.has_submitted_plan:
        return Violation("plan", "submitted_plan_required",
                         "Chưa có kế hoạch nào được trình để phê duyệt.",
                         "No plan has been submitted for approval.")
    return None


EARLY_CLOSURE = frozenset({ClosureReason.NOT_SUBSTANTIATED, ClosureReason.DUPLICATE,
                           ClosureReason.TRANSFERRED})
FINAL_CLOSURE = frozenset({ClosureReason.NO_LONGER_AT_RISK, ClosureReason.TRANSFERRED,
                           ClosureReason.CHILD_TURNED_16})


def _closure(allowed: frozenset[ClosureReason]) -> Guard:
    def guard(_facts: CaseFacts, data: Mapping[str, Any]) -> Violation | None:
        reason = data.get("reason")
        if reason is None:
            return Violation("reason", "required", "Cần nêu lý do đóng vụ việc.",
                             "reason is required to close a case.")
        if reason not in allowed:
            names = ", ".join(sorted(allowed))
            return Violation("reason", f"one_of:{names}",
                             f"Ở bước này chỉ được đóng với lý do: {names}.",
                             f"At this step a case can only be closed for: {names}.")
        if reason == ClosureReason.TRANSFERRED and not data.get("transferred_to"):
            return Violation("transferred_to", "required_when_transferred",
                             "Cần nêu xã/phường nhận chuyển vụ việc.",
                             "Name the commune the case is transferred to.")
        return None

    return guard


early_closure_reason = _closure(EARLY_CLOSURE)
early_closure_reason.__name__ = "early_closure_reason"
final_closure_reason = _closure(FINAL_CLOSURE)
final_closure_reason.__name__ = "final_closure_reason"


def closing_review_if_safe(facts: CaseFacts, data: Mapping[str, Any]) -> Violation | None:
    """Closing because the child is safe needs a review that proposed closure (Art. 30)."""
    if data.get("reason") == ClosureReason.NO_LONGER_AT_RISK and \
            facts.last_review_outcome != ReviewOutcome.CLOSE:
        return Violation("review", "closing_review_required",
                         "Cần có lần rà soát gần nhất đề xuất đóng vụ việc.",
                         "The latest review must propose closing the case.")
    return None


def factors_complete_if_given(facts: CaseFacts, data: Mapping[str, Any]) -> Violation | None:
    """A re-rating is all four factors or none (Mẫu 03 may leave the initial rating standing)."""
    factors = data.get("factors")
    if not isinstance(factors, Mapping) or all(v is None for v in factors.values()):
        return None
    for guard in factors_rated:
        violation = guard(facts, data)
        if violation is not None:
            return violation
    return None


def special_groups_if_special(_facts: CaseFacts, data: Mapping[str, Any]) -> Violation | None:
    """A child in special circumstances belongs to at least one of the groups of Art. 10(1)."""
    if data.get("case_type") == CaseType.SPECIAL_CIRCUMSTANCES and not data.get("special_groups"):
        return Violation("special_groups", "required_for_special_circumstances",
                         "Cần chọn ít nhất một nhóm trẻ em có hoàn cảnh đặc biệt.",
                         "Choose at least one special-circumstance group.")
    return None


def detailed_assessment_done(facts: CaseFacts, _data: Mapping[str, Any]) -> Violation | None:
    """The plan is drafted from the detailed assessment and its meeting (Art. 27–28)."""
    if not facts.has_detailed_assessment:
        return Violation("detailed_assessment", "detailed_assessment_required",
                         "Cần ghi nhận đánh giá chi tiết và biên bản họp (Mẫu 03) trước khi trình kế hoạch.",
                         "Record the detailed assessment and its meeting (Form 03) before the plan.")
    return None


def measures_given(_facts: CaseFacts, data: Mapping[str, Any]) -> Violation | None:
    if not data.get("measures"):
        return Violation("measures", "required", "Cần nêu ít nhất một biện pháp của kế hoạch.",
                         "measures: at least one measure is required.")
    return None


measures_given.field = "measures"  # type: ignore[attr-defined]

_MEASURE_FIELDS = {"kind": ("loại biện pháp", "kind"), "description": ("nội dung biện pháp", "description"),
                   "starts_on": ("ngày bắt đầu", "starts_on"), "ends_on": ("ngày kết thúc", "ends_on")}


def measures_complete(_facts: CaseFacts, data: Mapping[str, Any]) -> Violation | None:
    """Each measure says what, who and when (Mẫu 04)."""
    for i, measure in enumerate(data.get("measures") or ()):
        if not isinstance(measure, Mapping):
            continue
        for name, (vi, en) in _MEASURE_FIELDS.items():
            if measure.get(name) is None:
                return Violation(f"measures.{i}.{name}", "required", f"Biện pháp {i + 1}: cần nhập {vi}.",
                                 f"measures[{i}].{en} is required.")
        if not measure.get("agency_code") and not measure.get("responsible"):
            return Violation(f"measures.{i}.responsible", "agency_or_person_required",
                             f"Biện pháp {i + 1}: cần nêu cơ quan hoặc người thực hiện.",
                             f"measures[{i}]: name the agency or the person responsible.")
        if measure["ends_on"] < measure["starts_on"]:
            return Violation(f"measures.{i}.ends_on", "not_before_start",
                             f"Biện pháp {i + 1}: ngày kết thúc trước ngày bắt đầu.",
                             f"measures[{i}].ends_on is before starts_on.")
    return None


def measure_named_if_planned(facts: CaseFacts, data: Mapping[str, Any]) -> Violation | None:
    """A service carries out one of the approved plan's measures (services follow measures)."""
    number = data.get("measure_no")
    if facts.approved_measures and number is None:
        return Violation("measure_no", "required", "Cần chọn biện pháp của kế hoạch mà dịch vụ này thực hiện.",
                         "measure_no: name the plan's measure this service carries out.")
    if number is not None and number > facts.approved_measures:
        return Violation("measure_no", "known_measure",
                         f"Kế hoạch đã duyệt không có biện pháp số {number}.",
                         f"The approved plan has no measure {number}.")
    return None


def consent_or_ground(facts: CaseFacts, data: Mapping[str, Any]) -> Violation | None:
    """Consent of the parent or carer and of a child of 7 or more, or a legal ground."""
    if data.get("legal_ground") is not None:
        return None
    if data.get("carer_answer") is None:
        return Violation("carer_answer", "consent_or_legal_ground",
                         "Cần ghi ý kiến của cha, mẹ, người chăm sóc, hoặc căn cứ chia sẻ không cần đồng ý.",
                         "Give the parent's or carer's answer, or the legal ground to share without consent.")
    if data.get("child_answer") is None and facts.child_under_7 is not True:
        return Violation("child_answer", "required_from_age_7",
                         "Trẻ từ đủ 7 tuổi (hoặc chưa rõ tuổi): cần ghi ý kiến của trẻ.",
                         "The child is 7 or older (or of unknown age): give the child's answer.")
    return None
