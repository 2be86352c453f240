"""Complete inputs for the lifecycle's records, for tests that need a step done rather than
the step's own rules (those are tested in tests/states/lifecycle/). Synthetic text only."""

from typing import Any


def factors(level: str = "medium") -> dict[str, str]:
    """The four risk factors of Mẫu 02/06 all rated `level` (so the derived level is `level`)."""
    return {"severity": level, "abuser_access": level, "safety_obstacles": level, "self_protection": level}


FACTORS: dict[str, dict[str, str]] = {level: factors(level) for level in ("high", "medium", "low")}

# Mẫu 03: the detailed assessment and the meeting on the child's needs.
DETAIL: dict[str, Any] = {
    "information": "Đã gặp trẻ và gia đình tại nhà (giả lập).",
    "needs": "Trẻ cần được chăm sóc y tế và hỗ trợ tâm lý (giả lập).",
    "meeting_at": "2026-03-02T08:30:00+07:00",  # after the fixtures' receipt (T0 - 1 h), before T0
    "attendees": "Công chức VH-XH, Trạm Y tế, Công an xã (giả lập)",
    "agreed": "Thống nhất lập kế hoạch hỗ trợ (giả lập).",
}


def measures(text: str = "Thăm gia đình hằng tuần", agency_code: str | None = None) -> list[dict[str, Any]]:
    """One measure of Mẫu 04, described by `text`."""
    return [{"kind": "medical_psychological", "description": text, "responsible": "Công chức VH-XH (giả lập)",
             "agency_code": agency_code, "starts_on": "2026-01-05", "ends_on": "2026-03-31"}]


MEASURES = measures()

CONSENT: dict[str, Any] = {"child_answer": "given", "carer_answer": "given", "carer_name": "Người chăm sóc giả lập"}
LEGAL_GROUND: dict[str, Any] = {"legal_ground": "child_safety"}
