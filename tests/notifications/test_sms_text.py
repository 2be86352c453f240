"""SMS text: segments paid for, the unaccented mode, the templates, and no personal data in any
message that leaves the commune (Luật Trẻ em Art. 6(11), Nghị định 56 Art. 33)."""

import json
import unicodedata
from dataclasses import replace
from datetime import timedelta

import pytest
from pydantic import TypeAdapter
from sqlalchemy import select

from flows.jobs import run_sweep
from models import Database, OutboxMessage
from models.enums import AgencyKind, Language, Position, RiskLevel, Role
from notifications.sms import is_gsm7, segments, unaccent
from notifications.templates import TEMPLATES, render
from states.identity.actors import SYSTEM
from states.intake import opening as intake
from states.intake.report_data import AnyReport
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from states.lifecycle import workflow
from states.lifecycle.commands import AssessData
from states.records import directory
from tests.conftest import Commune, hotline_report, staff_report
from tests.payloads import FACTORS

# --- segments ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("", 1),
    ("a" * 160, 1),  # GSM-7: one segment holds 160 septets
    ("a" * 161, 2),  # then 153 per segment (7 septets of the concatenation header)
    ("a" * 306, 2),
    ("a" * 307, 3),
    ("€" * 80, 1),  # extension characters cost two septets: 160
    ("€" * 80 + "a", 2),  # 161 septets
    ("{}[]" * 20 + "a" * 1, 2),
    ("a" * 159 + "^", 2),  # 161 septets although only 160 characters
    ("é" * 160, 1),  # é, ñ, ü, à... are in the GSM basic set
    ("ạ" * 70, 1),  # one Vietnamese letter forces UCS-2: 70 per segment
    ("ạ" * 71, 2),  # then 67
    ("ạ" * 134, 2),
    ("ạ" * 135, 3),
    ("a" * 69 + "đ", 1),
    ("a" * 70 + "đ", 2),  # 71 characters: the same text without đ would fit in one GSM segment
    ("a" * 159 + "ç", 3),  # ç (lower case) is not GSM: 160 UCS-2 units
    ("😀" * 35, 1),  # astral characters are two UTF-16 units each
    ("😀" * 36, 2),
])
def test_segment_boundaries(text: str, expected: int) -> None:
    assert segments(text) == expected


def test_an_escape_sequence_is_never_split_across_segments() -> None:
    """152 septets, then '€' (ESC + e) would straddle the end of segment one: the carrier moves it
    whole to segment two, so 306 septets need three segments, not two."""
    text = "a" * 152 + "€" + "a" * 152
    assert sum(2 if c == "€" else 1 for c in text) == 306
    assert segments(text) == 3
    assert segments("a" * 151 + "€" + "a" * 153) == 2  # the escape fits in segment one


def test_a_surrogate_pair_is_never_split_across_segments() -> None:
    text = "ạ" * 66 + "😀" + "ạ" * 66  # 134 UTF-16 units; the emoji would straddle unit 67
    assert segments(text) == 3
    assert segments("ạ" * 65 + "😀" + "ạ" * 67) == 2


def test_gsm7_detection() -> None:
    assert is_gsm7("[kipthoi] Nhac: NH-2026-000001 - Danh gia ban dau han 09:00 02/03. {x} ~ | €")
    for letter in "đĐăâêôơưạảấầẩẫậ":
        assert not is_gsm7(f"abc {letter} def"), letter


# --- unaccent ------------------------------------------------------------------------------

BASES = {"a": "a", "ă": "a", "â": "a", "e": "e", "ê": "e", "i": "i", "o": "o", "ô": "o", "ơ": "o",
         "u": "u", "ư": "u", "y": "y"}
TONES = ["", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"]  # ngang huyền sắc hỏi ngã nặng


def _all_vietnamese_vowels() -> list[tuple[str, str]]:
    out = []
    for base, plain in BASES.items():
        for tone in TONES:
            letter = unicodedata.normalize("NFC", base + tone)
            out += [(letter, plain), (letter.upper(), plain.upper())]
    return out


@pytest.mark.parametrize(("letter", "plain"), _all_vietnamese_vowels())
def test_unaccent_every_vowel_with_every_tone(letter: str, plain: str) -> None:
    assert len(letter) == 1  # composed
    assert unaccent(letter) == plain


@pytest.mark.parametrize(("text", "plain"), [
    ("Đã quá hạn", "Da qua han"),
    ("đường Đông An", "duong Dong An"),
    ("ĐÁNH GIÁ BAN ĐẦU", "DANH GIA BAN DAU"),
    ("Trình kế hoạch hỗ trợ, can thiệp", "Trinh ke hoach ho tro, can thiep"),
    ("Nghĩa Hưng, Ủy ban, Quỳnh, Thuỷ", "Nghia Hung, Uy ban, Quynh, Thuy"),
    ("KHẨN: 12:00 02/03 #7 [x]", "KHAN: 12:00 02/03 #7 [x]"),
])
def test_unaccent_vietnamese(text: str, plain: str) -> None:
    assert unaccent(text) == plain
    assert unaccent(unicodedata.normalize("NFD", text)) == plain  # decomposed input too
    assert is_gsm7(unaccent(text))


# --- templates -----------------------------------------------------------------------------

VALUES = {"code": "NH-2026-000123", "due": "17:00 05/03", "link": "https://kipthoi.example/a/abc",
          "what": "Đánh giá ban đầu", "who": 42, "reason": "twilio 21211", "message": 9001,
          "attempts": 6}
VALUES_EN = {**VALUES, "what": "Initial assessment"}  # the deadline's label in the official's language


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_every_template_renders_in_vi_and_en(template: str) -> None:
    vi = render(template, "vi", **VALUES)
    en = render(template, "en", **VALUES_EN)
    assert vi != en
    for text in (vi, en):
        assert text.startswith("[kipthoi] ")
        assert "{" not in text and "}" not in text and "  " not in text
    assert en.isascii() and is_gsm7(en)
    placeholders = {name for name in VALUES if "{" + name + "}" in TEMPLATES[template]["vi"]}
    for name in placeholders:
        assert str(VALUES[name]) in vi
        assert "{" + name + "}" in TEMPLATES[template]["en"], name  # both languages say the same
    assert render(template, "fr", **VALUES) == vi  # an unknown language falls back to Vietnamese
    unaccented = render(template, "vi", unaccented=True, **VALUES)
    assert is_gsm7(unaccented)
    assert segments(unaccented) <= segments(vi)


def test_unaccented_overdue_alert_costs_fewer_segments() -> None:
    accented = render("escalation", "vi", **VALUES)
    plain = render("escalation", "vi", unaccented=True, **VALUES)
    assert not is_gsm7(accented) and is_gsm7(plain)
    assert segments(plain) == 1 < segments(accented)


def _submit(db: Database, clock: FrozenClock, commune: Commune, policy: CommunePolicy, body: dict,
            role: Role = Role.INTAKE_OPERATOR) -> str:
    report = TypeAdapter(AnyReport).validate_python(body)
    with db.write() as s:
        return intake.submit_report(s, clock, commune.actors[role], policy, report).response["case_code"]


def _bodies(db: Database) -> list[OutboxMessage]:
    with db.read() as s:
        rows = list(s.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars())
        s.expunge_all()
        return rows


def test_alert_sms_in_unaccented_mode_is_gsm7(db: Database, clock: FrozenClock, policy: CommunePolicy,
                                              commune: Commune) -> None:
    policy = replace(policy, notify=replace(policy.notify, unaccented=True))
    _submit(db, clock, commune, policy, staff_report())
    clock.advance(timedelta(hours=5))  # the 0.5 reminder of the 12-hour initial assessment
    assert run_sweep(db, clock, policy).alerts == 1
    clock.advance(timedelta(hours=8))  # past the limit, and the first escalation
    assert run_sweep(db, clock, policy).alerts == 2
    rows = _bodies(db)
    alerts = [r for r in rows if r.dedupe_key.startswith("alert:")]
    assert len(alerts) == 3
    assert {r.body.split(":")[0] for r in alerts} == {"[kipthoi] Nhac", "[kipthoi] QUA HAN",
                                                   "[kipthoi] QUA HAN, chua xu ly"}
    assert any("Danh gia ban dau" in r.body for r in alerts)
    for row in rows:  # event messages too
        assert is_gsm7(row.body), row.body
        assert row.segments == segments(row.body) == 1, row.body


# --- no personal data ----------------------------------------------------------------------

CHILD = {"full_name": "Hoàng Thị Mẫn Giả", "birth_date": "2015-07-14", "sex": "female"}
SECRET_REPORT = {
    "child": CHILD,
    "place_detail": "Xóm Bến Đò, nhà số 17 cạnh cây đa",
    "narrative": "Cháu kể bị người giám hộ nhốt trong kho nhiều ngày (dữ liệu giả lập).",
    "reporter": {"full_name": "Phạm Văn Kín", "phone": "0912345678", "address": "Số 3 ngõ Hoa Sữa",
                 "relation": "giáo viên"},
    "father": {"full_name": "Hoàng Văn Bố Giả", "age": 41},
    "child_condition": "Vết bầm ở tay trái",
    "abuse_forms": ["violence", "school_violence"],
    "school_code": "THCS-A",
}
SECRETS = ["Hoàng Thị Mẫn Giả", "Mẫn Giả", "2015-07-14", "14/07/2015", "Xóm Bến Đò", "cây đa",
           "nhốt trong kho", "Phạm Văn Kín", "0912345678", "912345678", "Hoa Sữa", "Hoàng Văn Bố Giả",
           "Vết bầm", "Thôn Đông An", "Đông An", "DONG-AN"]


def test_no_message_carries_personal_data(db: Database, clock: FrozenClock, policy: CommunePolicy,
                                          commune: Commune) -> None:
    policy = replace(policy, notify=replace(policy.notify, hotline_status_url="https://111.example/status"))
    with db.write() as s:
        directory.create_agency(s, clock, SYSTEM, directory.AgencyIn(
            code="THCS-A", name_vi="Trường THCS A", name_en="School A", kind=AgencyKind.SCHOOL))
        directory.create_official(s, clock, SYSTEM, directory.OfficialIn(
            full_name="Cô Hiệu Trưởng", agency_code="THCS-A", title="Hiệu trưởng", phone="+84900009999",
            position=Position.AGENCY_CONTACT, language=Language.EN))
    staff = _submit(db, clock, commune, policy, staff_report(**SECRET_REPORT))
    hot = _submit(db, clock, commune, policy,
                  hotline_report("111-2026-0042", **{**SECRET_REPORT, "reporter": None,
                                                     "child": {**CHILD, "full_name": "Đỗ Văn Kín Đáo"}}),
                  role=Role.HOTLINE)
    for code in (staff, hot):
        with db.write() as s:
            workflow.advance(s, clock, commune.actors[Role.CASE_WORKER], code, "assess",
                             AssessData.model_validate({"risk_level": RiskLevel.HIGH, "factors": FACTORS["high"],
                                                        "emergency": True}), expected_version=1,
                             policy=policy)
    for hours in (5, 9, 4):  # reminders, the limit, escalations
        clock.advance(timedelta(hours=hours))
        run_sweep(db, clock, policy)

    rows = _bodies(db)
    kinds = {r.dedupe_key.split(":")[2] for r in rows if r.dedupe_key.startswith("event:")}
    assert kinds >= {"new_report", "crime_report", "school_violence", "emergency"}
    assert any(r.dedupe_key.startswith("alert:") for r in rows)
    webhooks = [r for r in rows if r.channel == "webhook"]
    assert len(webhooks) == 2  # opened, assessed
    assert all(set(r.payload or {}) == {"hotline_ref", "case_code", "state", "event", "at"} for r in webhooks)
    secrets = SECRETS + ["Đỗ Văn Kín Đáo"]
    for row in rows:
        assert row.recipient not in ("+84912345678", "0912345678")
        text = row.body + " " + json.dumps(row.payload, ensure_ascii=False)
        for secret in secrets:
            for form in (secret, unaccent(secret)):
                assert form.lower() not in text.lower(), (secret, row.dedupe_key)
                assert form.lower() not in unaccent(text).lower(), (secret, row.dedupe_key)


def test_an_event_message_links_to_the_case_page_behind_the_login() -> None:
    page = "https://kipthoi.example/desk/cases/NH-2026-000123"
    assert render("referral", "vi", code="NH-2026-000123", page=page).endswith(f"Xem: {page}")
    assert render("referral", "en", code="NH-2026-000123", page=page).endswith(f"Open: {page}")
    assert "http" not in render("referral", "vi", code="NH-2026-000123")


def test_a_routed_event_carries_the_case_page(db: Database, clock: FrozenClock, policy: CommunePolicy,
                                              commune: Commune) -> None:
    report = TypeAdapter(AnyReport).validate_python(staff_report())
    result = intake.receive_now(db, clock, commune.actors[Role.HEAD], policy, report)
    code = result.response["case_code"]
    with db.read() as s:
        bodies = list(s.execute(select(OutboxMessage.body)).scalars())
    assert bodies and all(b.endswith(f"/desk/cases/{code}") for b in bodies)
