"""Guards: small named predicates on (what we know of the case, the trigger's data).

Each returns `None` when the step may go ahead, or a `Violation` naming the field that is
missing or wrong and the rule it broke. They touch no database, so they are unit-tested bare.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from models.enums import ClosureReason, ReviewOutcome


@dataclass(frozen=True)
class CaseFacts:
    """What the guards may know about a case, gathered by the workflow before a trigger."""

    state: str
    has_submitted_plan: bool = False
    last_review_outcome: str | None = None
    # The child is separated from the carer now: the temporary-separation limit is open, and
    # when it ends (for an extension, which must end later).
    separation_due_at: datetime | None = None


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


risk_level_given = _required("risk_level", "mức độ nguy cơ", "risk_level")
emergency_decided = _required("emergency", "quyết định có cần bảo vệ khẩn cấp hay không", "emergency")
plan_goals_given = _required("goals", "mục tiêu của kế hoạch", "goals")
plan_measures_given = _required("measures", "các biện pháp của kế hoạch", "measures")
service_kind_given = _required("kind", "loại dịch vụ", "kind")
service_agency_given = _required("agency_code", "cơ quan cung cấp dịch vụ", "agency_code")
service_start_given = _required("started_on", "ngày bắt đầu", "started_on")
review_findings_given = _required("findings", "kết quả rà soát", "findings")
review_risk_given = _required("risk_level", "mức độ nguy cơ sau rà soát", "risk_level")
review_outcome_given = _required("outcome", "đề xuất sau rà soát", "outcome")
reason_given = _required("reason", "lý do", "reason")
action_taken_given = _required("action_taken", "biện pháp đã thực hiện", "action_taken")
who_was_called_given = _required("who_was_called", "người/cơ quan đã được gọi", "who_was_called")
done_at_given = _required("done_at", "thời điểm thực hiện", "done_at")
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
