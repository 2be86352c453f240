"""Enumerations of the domain (Nghị định 56/2017 Mẫu 01–06, Luật Trẻ em Art. 4, 10).

Values are stable English identifiers stored as strings; `LABELS_VI` gives what a Vietnamese
user reads. Adding a value needs no migration (columns are plain strings).
"""

from enum import StrEnum


class CaseState(StrEnum):
    RECEIVED = "received"
    ASSESSED = "assessed"
    INTERVENED = "intervened"
    SUPPORTED = "supported"
    CLOSED = "closed"


class Trigger(StrEnum):
    """The lifecycle's triggers (the steps of states/lifecycle/machine.py; a test keeps the two equal)."""

    ASSESS = "assess"
    RECORD_EMERGENCY = "record_emergency"
    SUBMIT_PLAN = "submit_plan"
    RETURN_PLAN = "return_plan"
    APPROVE_PLAN = "approve_plan"
    START_SERVICE = "start_service"
    REVIEW = "review"
    REPLAN = "replan"
    CLOSE = "close"
    REOPEN = "reopen"
    PROPOSE_CLOSURE = "propose_closure"
    EXTEND_SEPARATION = "extend_separation"
    END_SEPARATION = "end_separation"
    DETAIL_ASSESS = "detail_assess"
    DECIDE_EMERGENCY = "decide_emergency"
    RECORD_CONSENT = "record_consent"


class Event(StrEnum):
    """What happens to a case besides a trigger firing: the other names the deadline policy
    (states/deadlines/policy.toml) and the routing table (notifications/routing.toml) may refer to."""

    CASE_OPENED = "case.opened"  # a report opened a new case
    REPORT_LINKED = "report.linked"  # a report was filed under an open case of the same child
    CASE_REFERRED = "case.referred"  # an agency was given its part of the case
    EMERGENCY_DECIDED = "emergency_decided"  # an assessment found the child needs protection now
    SEPARATED_FROM_CARER = "separated_from_carer"  # emergency protection took the child from the carer
    # An assessment found the child needs emergency protection (with or without an action
    # already done): the chair's decision on the measures is due (Nghị định 56/2017 Art. 26(3)).
    EMERGENCY_FOUND = "emergency_found"


# The names each configuration file may use. A name outside them would never fire: the file is
# refused when loaded instead (a typo in an override file must not silently disable a limit).
# Deadlines are opened, met and cancelled by triggers (by their bare name) and by the events a
# command means for the limits (states/lifecycle/workflow.py, states/intake/opening.py).
DEADLINE_EVENTS: frozenset[str] = frozenset(Trigger) | {
    Event.CASE_OPENED, Event.EMERGENCY_DECIDED, Event.SEPARATED_FROM_CARER, Event.EMERGENCY_FOUND}
# Routes fire on what is published to notifications (states/lifecycle/events.py): every trigger as
# `case.<trigger>`, and the events above that concern the people told.
ROUTE_EVENTS: frozenset[str] = frozenset(f"case.{t}" for t in Trigger) | {
    Event.CASE_OPENED, Event.REPORT_LINKED, Event.CASE_REFERRED, Event.EMERGENCY_DECIDED}


class DeadlineStatus(StrEnum):
    OPEN = "open"
    MET = "met"
    CANCELLED = "cancelled"


class AlertKind(StrEnum):
    """The stages of a deadline's ladder (states/deadlines/ladder.py)."""

    REMINDER = "reminder"
    OVERDUE = "overdue"
    ESCALATION = "escalation"


class OutboxStatus(StrEnum):
    """pending → sending → sent | failed | dead | expired; held → digested (an SMS told in a
    digest instead). Delivery receipts go to `delivery_status`, not here."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    DEAD = "dead"
    EXPIRED = "expired"
    HELD = "held"
    DIGESTED = "digested"


class Channel(StrEnum):
    PHONE = "phone"
    IN_PERSON = "in_person"
    THIRD_PARTY = "third_party"
    HOTLINE_111 = "hotline_111"
    ONLINE = "online"


class AbuseForm(StrEnum):
    VIOLENCE = "violence"
    EXPLOITATION = "exploitation"
    SEXUAL_ABUSE = "sexual_abuse"
    TRAFFICKING = "trafficking"
    ABANDONMENT = "abandonment"
    NEGLECT = "neglect"
    OTHER_HARM = "other_harm"
    INJURY = "injury"
    DROWNING = "drowning"
    SCHOOL_VIOLENCE = "school_violence"
    ONLINE_RISK = "online_risk"


class CaseType(StrEnum):
    ABUSED = "abused"
    AT_RISK = "at_risk"
    SPECIAL_CIRCUMSTANCES = "special_circumstances"


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"
    UNKNOWN = "unknown"


class RiskLevel(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class ClosureReason(StrEnum):
    NOT_SUBSTANTIATED = "not_substantiated"
    DUPLICATE = "duplicate"
    TRANSFERRED = "transferred"
    NO_LONGER_AT_RISK = "no_longer_at_risk"
    CHILD_TURNED_16 = "child_turned_16"


class SeparationOutcome(StrEnum):
    """How a temporary separation from the carer ends (Nghị định 56/2017 Art. 32)."""

    RETURNED_TO_FAMILY = "returned_to_family"
    ALTERNATIVE_CARE = "alternative_care"


class PlanStatus(StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    RETURNED = "returned"
    WITHDRAWN = "withdrawn"  # the case was closed while the plan waited for approval


class ServiceKind(StrEnum):
    MEDICAL = "medical"
    PSYCHOLOGICAL = "psychological"
    LEGAL_AID = "legal_aid"
    EDUCATION = "education"
    SOCIAL_ASSISTANCE = "social_assistance"
    ALTERNATIVE_CARE = "alternative_care"
    FAMILY_COUNSELLING = "family_counselling"
    OTHER = "other"


class MeasureKind(StrEnum):
    """The measures of a support and intervention plan (Luật Trẻ em 2016 Art. 50(2) a–g)."""

    MEDICAL_PSYCHOLOGICAL = "medical_psychological"  # a) medical care, psychological therapy, recovery
    SAFE_SHELTER = "safe_shelter"  # b) safe temporary shelter, away from the abuser
    ALTERNATIVE_CARE = "alternative_care"  # c) temporary or long-term alternative care
    REINTEGRATION = "reintegration"  # d) family reunion, return to school and community
    CARER_COUNSELLING = "carer_counselling"  # đ) counselling and skills for parents and carers
    LEGAL_SUPPORT = "legal_support"  # e) legal counselling and legal aid
    OTHER_SUPPORT = "other_support"  # g) other support


class SpecialGroup(StrEnum):
    """Children in special circumstances (Luật Trẻ em 2016 Art. 10(1), letters a–o)."""

    ORPHANED = "orphaned"  # a
    ABANDONED = "abandoned"  # b
    WITHOUT_SUPPORT = "without_support"  # c
    DISABLED = "disabled"  # d
    HIV = "hiv"  # đ
    IN_CONFLICT_WITH_LAW = "in_conflict_with_law"  # e
    DRUG_ADDICTED = "drug_addicted"  # g
    LEFT_SCHOOL_TO_WORK = "left_school_to_work"  # h
    HARMED_BY_VIOLENCE = "harmed_by_violence"  # i
    EXPLOITED = "exploited"  # k
    SEXUALLY_ABUSED = "sexually_abused"  # l
    TRAFFICKED = "trafficked"  # m
    SERIOUSLY_ILL_POOR = "seriously_ill_poor"  # n
    MIGRANT_UNACCOMPANIED = "migrant_unaccompanied"  # o


class ConsentAnswer(StrEnum):
    GIVEN = "given"
    REFUSED = "refused"


class LegalGround(StrEnum):
    """Grounds for sharing a child's private data without consent (Luật Trẻ em Art. 6(11), 21;
    Luật Bảo vệ dữ liệu cá nhân 2025: an emergency threatening life or health; criminal procedure)."""

    CHILD_SAFETY = "child_safety"
    CRIMINAL_PROCEDURE = "criminal_procedure"


class RatingSource(StrEnum):
    """Which record rated the four risk factors."""

    INITIAL = "initial"  # Mẫu 02
    DETAILED = "detailed"  # Mẫu 03
    REVIEW = "review"  # Mẫu 06


class ReviewOutcome(StrEnum):
    CONTINUE = "continue"
    CLOSE = "close"
    REPLAN = "replan"


class AgencyKind(StrEnum):
    CULTURE_SOCIAL = "culture_social"
    OFFICE = "office"
    ECONOMY = "economy"
    HEALTH_STATION = "health_station"
    POLICE = "police"
    SCHOOL = "school"
    FRONT = "front"
    LEADERSHIP = "leadership"
    PROVINCE_HEALTH = "province_health"
    OTHER = "other"


class Role(StrEnum):
    INTAKE_OPERATOR = "intake_operator"
    CASE_WORKER = "case_worker"
    HEAD = "head"
    CHAIR = "chair"
    AGENCY_OFFICIAL = "agency_official"
    AUDITOR = "auditor"
    ADMIN = "admin"
    HOTLINE = "hotline"


class Position(StrEnum):
    """Where an official sits for routing and the alert ladder."""

    CASE_WORKER = "case_worker"
    HEAD = "head"
    CHAIR = "chair"
    VICE_CHAIR = "vice_chair"
    PROVINCE_CONTACT = "province_contact"
    AGENCY_CONTACT = "agency_contact"
    SYSADMIN = "sysadmin"
    MEMBER = "member"


class Language(StrEnum):
    VI = "vi"
    EN = "en"


class CaseFlag(StrEnum):
    """Facts the intake noticed that a worker must look at."""

    AGED_16_OR_17 = "aged_16_or_17"
    LINKED_TO_CLOSED_CASE = "linked_to_closed_case"


LABELS_VI: dict[str, str] = {
    "received": "Đã tiếp nhận",
    "assessed": "Đã đánh giá",
    "intervened": "Đang can thiệp",
    "supported": "Đang hỗ trợ",
    "closed": "Đã đóng",
    "phone": "Điện thoại",
    "in_person": "Trực tiếp",
    "third_party": "Qua người khác",
    "hotline_111": "Tổng đài 111 chuyển",
    "online": "Trực tuyến",
    "violence": "Bạo lực",
    "exploitation": "Bóc lột",
    "sexual_abuse": "Xâm hại tình dục",
    "trafficking": "Mua bán",
    "abandonment": "Bỏ rơi",
    "neglect": "Bỏ mặc",
    "other_harm": "Hình thức gây tổn hại khác",
    "injury": "Tai nạn thương tích",
    "drowning": "Đuối nước",
    "school_violence": "Bạo lực học đường",
    "online_risk": "Rủi ro trên môi trường mạng",
    "abused": "Bị xâm hại",
    "at_risk": "Có nguy cơ bị bạo lực, bóc lột, bỏ rơi",
    "special_circumstances": "Có hoàn cảnh đặc biệt",
    "high": "Cao",
    "medium": "Trung bình",
    "low": "Thấp",
    "not_substantiated": "Thông tin không có cơ sở",
    "duplicate": "Trùng với vụ việc khác",
    "transferred": "Chuyển xã/phường khác",
    "no_longer_at_risk": "Trẻ đã an toàn, ổn định",
    "child_turned_16": "Trẻ đã đủ 16 tuổi",
    "returned_to_family": "Trẻ trở về gia đình",
    "intake_operator": "Tiếp nhận thông tin",
    "case_worker": "Công chức Văn hoá - Xã hội",
    "head": "Trưởng phòng Văn hoá - Xã hội",
    "chair": "Chủ tịch UBND xã",
    "agency_official": "Cán bộ cơ quan phối hợp",
    "auditor": "Kiểm tra, giám sát",
    "admin": "Quản trị hệ thống",
    "hotline": "Tổng đài 111",
    "medical": "Y tế",
    "psychological": "Hỗ trợ tâm lý",
    "legal_aid": "Trợ giúp pháp lý",
    "education": "Giáo dục",
    "social_assistance": "Trợ giúp xã hội",
    "alternative_care": "Chăm sóc thay thế",
    "family_counselling": "Tư vấn gia đình",
    "other": "Khác",
    "medical_psychological": "Chăm sóc y tế, trị liệu tâm lý, phục hồi",
    "safe_shelter": "Nơi tạm trú an toàn, cách ly khỏi đối tượng xâm hại",
    "reintegration": "Đoàn tụ gia đình, hoà nhập trường học, cộng đồng",
    "carer_counselling": "Tư vấn, kỹ năng cho cha mẹ, người chăm sóc",
    "legal_support": "Tư vấn pháp luật, hỗ trợ pháp lý",
    "other_support": "Biện pháp hỗ trợ khác",
    "orphaned": "Mồ côi cả cha và mẹ",
    "abandoned": "Bị bỏ rơi",
    "without_support": "Không nơi nương tựa",
    "disabled": "Khuyết tật",
    "hiv": "Nhiễm HIV/AIDS",
    "in_conflict_with_law": "Vi phạm pháp luật",
    "drug_addicted": "Nghiện ma tuý",
    "left_school_to_work": "Phải bỏ học kiếm sống chưa hoàn thành phổ cập THCS",
    "harmed_by_violence": "Bị tổn hại nghiêm trọng về thể chất và tinh thần do bị bạo lực",
    "exploited": "Bị bóc lột",
    "sexually_abused": "Bị xâm hại tình dục",
    "trafficked": "Bị mua bán",
    "seriously_ill_poor": "Mắc bệnh hiểm nghèo, phải điều trị dài ngày, thuộc hộ nghèo, cận nghèo",
    "migrant_unaccompanied": "Di cư, lánh nạn chưa xác định được cha mẹ hoặc không có người chăm sóc",
    "given": "Đồng ý",
    "refused": "Không đồng ý",
    "child_safety": "Vì an toàn, tính mạng, sức khoẻ của trẻ (khẩn cấp)",
    "criminal_procedure": "Theo quy định của pháp luật tố tụng hình sự",
    "initial": "Đánh giá ban đầu (Mẫu 02)",
    "detailed": "Đánh giá chi tiết (Mẫu 03)",
    "review": "Rà soát (Mẫu 06)",
    "continue": "Tiếp tục kế hoạch",
    "close": "Đề xuất đóng vụ việc",
    "replan": "Lập lại kế hoạch",
    "submitted": "Đã trình",
    "approved": "Đã phê duyệt",
    "returned": "Đã trả lại",
    "withdrawn": "Đã rút",
    "male": "Nam",
    "female": "Nữ",
    "unknown": "Không rõ",
    "open": "Đang chạy",
    "met": "Đã đáp ứng",
    "cancelled": "Đã huỷ",
    "new_report": "Báo cáo mới",
    "crime_report": "Báo Công an",
    "emergency": "Khẩn cấp",
    "referral": "Chuyển cơ quan",
    "reminder": "Nhắc hạn",
    "overdue": "Quá hạn",
    "escalation": "Báo cấp trên",
    "unreachable": "Không liên lạc được",
    "dead_letter": "Không gửi được",
    "digest": "Bản tin gộp",
    "pending": "Chờ gửi",
    "sending": "Đang gửi",
    "sent": "Đã gửi",
    "failed": "Lỗi, sẽ thử lại",
    "dead": "Không gửi được",
    "expired": "Hết hiệu lực",
    "held": "Chờ gộp bản tin",
    "digested": "Đã báo trong bản tin",
    "delivered": "Đã đến máy",
    "undelivered": "Không đến máy",
    "case.opened": "Tiếp nhận, mở vụ việc",
    "report.linked": "Thêm thông báo về cùng trẻ",
    "case.assigned": "Phân công",
    "case.note_added": "Thêm ghi chú",
    "case.referred": "Chuyển cơ quan",
    "case.referral_withdrawn": "Rút chuyển cơ quan",
    "case.service_ended": "Kết thúc dịch vụ",
    "case.viewed": "Xem hồ sơ",
    "case.printed": "Đã in hồ sơ",
    "case.handover_exported": "Xuất gói bàn giao (chuyển xã)",
    "case.anonymised": "Ẩn danh theo quy định lưu trữ",
    "deadline.acknowledged": "Xác nhận cảnh báo",
    "deadline.alert": "Cảnh báo thời hạn",
    "child.exported": "Xuất dữ liệu của trẻ",
    "reporters": "người báo tin",
    "plans": "kế hoạch",
    "reviews": "rà soát",
    "notes": "ghi chú",
    "services": "dịch vụ",
    "emergency_actions": "bảo vệ khẩn cấp",
    "emergency_decisions": "quyết định bảo vệ khẩn cấp",
    "risk_ratings": "đánh giá các yếu tố nguy cơ",
    "detailed_assessments": "đánh giá chi tiết, họp về nhu cầu của trẻ",
    "special_groups": "nhóm trẻ em có hoàn cảnh đặc biệt",
    "consents": "sự đồng ý chia sẻ thông tin",
    "timeline": "diễn biến",
    "deadlines": "thời hạn",
    "referrals": "cơ quan được chuyển",
    "child": "thông tin của trẻ",
    "narrative": "nội dung thông báo",
    "place_detail": "địa điểm cụ thể",
    "child_condition": "tình trạng của trẻ",
    "likely_consequence": "hậu quả có thể xảy ra",
    "parents": "cha mẹ",
    "family_circumstances": "hoàn cảnh gia đình",
    "current_carer": "người đang chăm sóc",
    "actions_taken": "việc đã làm",
    "has_reporter": "có người báo tin hay không",
    "hotline_ref": "mã của tổng đài 111",
    "receiving_officer": "người tiếp nhận",
}
