"""Message templates, Vietnamese and English. They carry no personal data: only the case code,
what is due, the due time in local time, and (for alerts) the acknowledgement link — never the
child's name, the place, or the report's content (Luật Trẻ em Art. 6(11), Nghị định 56 Art. 33).
Event messages link to the case's page on the desk (`{page}`: the case code in a path, behind a
login, so the link itself tells nobody anything); alerts link to their one-tap acknowledgement."""

from datetime import datetime
from zoneinfo import ZoneInfo

from notifications.sms import unaccent

DISPLAY_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

TEMPLATES: dict[str, dict[str, str]] = {
    "new_report": {
        "vi": "[kipthoi] Vụ việc mới {code}. Cần đánh giá ban đầu trước {due}.",
        "en": "[kipthoi] New case {code}. Initial assessment due {due}.",
    },
    # A report about a child whose case is open joined that case (no personal data: the code only).
    "linked_report": {
        "vi": "[kipthoi] Vụ việc {code} có thêm thông báo mới.",
        "en": "[kipthoi] Case {code} has a new report.",
    },
    "crime_report": {
        "vi": "[kipthoi] Vụ việc {code} có dấu hiệu tội phạm, đề nghị Công an xã phối hợp xử lý.",
        "en": "[kipthoi] Case {code} may involve a crime; the commune police are asked to act.",
    },
    "emergency": {
        "vi": "[kipthoi] KHẨN: vụ việc {code} cần bảo vệ khẩn cấp, hạn {due}.",
        "en": "[kipthoi] URGENT: case {code} needs emergency protection by {due}.",
    },
    "school_violence": {
        "vi": "[kipthoi] Vụ việc {code}: bạo lực học đường, đề nghị nhà trường phối hợp.",
        "en": "[kipthoi] Case {code}: school violence; the school is asked to cooperate.",
    },
    "referral": {
        "vi": "[kipthoi] Vụ việc {code} đã được chuyển đến cơ quan anh/chị để phối hợp.",
        "en": "[kipthoi] Case {code} has been referred to your agency.",
    },
    "reminder": {
        "vi": "[kipthoi] Nhắc: {code} - {what} hạn {due}. Xác nhận: {link}",
        "en": "[kipthoi] Reminder: {code} - {what} due {due}. Acknowledge: {link}",
    },
    "overdue": {
        "vi": "[kipthoi] QUÁ HẠN: {code} - {what} hạn {due}. Xác nhận: {link}",
        "en": "[kipthoi] OVERDUE: {code} - {what} was due {due}. Acknowledge: {link}",
    },
    "escalation": {
        "vi": "[kipthoi] QUÁ HẠN, chưa xử lý: {code} - {what} hạn {due}. Xác nhận: {link}",
        "en": "[kipthoi] OVERDUE, not handled: {code} - {what} was due {due}. Acknowledge: {link}",
    },
    "unreachable": {
        "vi": "[kipthoi] Không gửi được tin nhắn tới cán bộ số {who} ({reason}). Kiểm tra số điện thoại.",
        "en": "[kipthoi] Messages cannot reach official #{who} ({reason}). Check the phone number.",
    },
    "dead_letter": {
        "vi": "[kipthoi] Tin nhắn số {message} không gửi được sau {attempts} lần thử.",
        "en": "[kipthoi] Message #{message} could not be sent after {attempts} attempts.",
    },
    # What was held for an official (notifications/digest.py), in one message: counts only.
    "digest": {
        "vi": "[kipthoi] {what}. Đăng nhập kipthoi để xem.",
        "en": "[kipthoi] {what}. Log in to kipthoi to read them.",
    },
}
# Added to an event's message when the case's page is given (`page=`): where to read the case.
PAGE_SUFFIX = {"vi": " Xem: {page}", "en": " Open: {page}"}
# The parts of a digest's `{what}`, joined by "; ".
DIGEST_PARTS: dict[str, dict[str, str]] = {
    "reports": {"vi": "{n} báo cáo trực tuyến mới", "en": "{n} new online reports"},
    "others": {"vi": "{n} tin nhắn khác chưa gửi", "en": "{n} other messages not sent"},
}


def local_time(at: datetime) -> str:
    return at.astimezone(DISPLAY_TZ).strftime("%H:%M %d/%m")


def digest_summary(language: str, **counts: int) -> str:
    """`digest_summary("vi", reports=3, others=2)`: the non-zero counts, in that order."""
    return "; ".join(DIGEST_PARTS[name].get(language, DIGEST_PARTS[name]["vi"]).format(n=n)
                     for name, n in counts.items() if n)


def render(template: str, language: str, *, unaccented: bool = False, **values: object) -> str:
    texts = TEMPLATES[template]
    pattern = texts.get(language, texts["vi"])
    if values.get("page"):
        pattern += PAGE_SUFFIX.get(language, PAGE_SUFFIX["vi"])
    text = pattern.format(**{k: "" if v is None else v for k, v in values.items()})
    text = " ".join(text.split())
    return unaccent(text) if unaccented else text
