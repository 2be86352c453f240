"""The Nghị định 56 records printed in full (states/cases/printing.py, web/print_forms.py): Mẫu 02
with its four risk factors ticked, Mẫu 03 with its meeting's minutes, Mẫu 04 with the measures
as a table and the plan's history, Mẫu 05 as the chair's numbered decision, Mẫu 06 with the
factors re-rated; the whole file with the chair's emergency decisions and the consents. Each on
the print page and in the Word file; an agency's reader gets its part and the paper says what
is left out.

The case-walk here (`walk_records`) is shared with tests/api/test_print_api.py and
tests/browser/test_print_pdf.py."""

import io
import re
from datetime import timedelta
from typing import Any

import pytest
from docx import Document
from sqlalchemy import select
from sqlmodel import col

from api.deps import Runtime
from models import AuditEvent, Case, Plan
from models.enums import PlanStatus, Role
from states.audit import chain as audit
from states.cases.referrals import refer
from states.lifecycle import workflow
from states.lifecycle.triggers import INPUTS
from tests.conftest import Commune
from tests.payloads import CONSENT, DETAIL, FACTORS
from tests.web.conftest import Desk
from tests.web.test_case_pages import open_case

WITHHELD = "Không in vì không hiển thị với vai trò của bạn"
LEVELS = ("Cao", "Trung bình", "Thấp")
FACTOR_NAMES = ("Mức độ nghiêm trọng của tổn hại", "Khả năng đối tượng xâm hại tiếp cận trẻ",
                "Cản trở đến sự an toàn nơi trẻ sống", "Khả năng tự bảo vệ, phục hồi của trẻ (nguy cơ)")
# Mẫu 02's rating: one factor at each level (so a tick in the wrong column shows).
INITIAL = {"severity": "high", "abuser_access": "medium", "safety_obstacles": "low", "self_protection": "high"}
CHAIR_NAME, HEAD_NAME = "Người dùng 3", "Người dùng 2"  # display names (tests/conftest.py: Role order)


def measure(n: int, kind: str, agency: str | None, person: str | None) -> dict[str, Any]:
    return {"kind": kind, "description": f"QXMEASURE{n} thăm nhà (giả lập)", "agency_code": agency,
            "responsible": person, "starts_on": f"2026-03-{n + 2:02d}", "ends_on": "2026-04-30"}


def advance(runtime: Runtime, actor: Any, code: str, trigger: str, data: dict[str, Any]) -> None:
    runtime.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    with runtime.db.write() as s:
        version = s.execute(select(col(Case.version)).where(col(Case.code) == code)).scalar_one()
        workflow.advance(s, runtime.clock, actor, code, trigger, INPUTS[trigger].model_validate(data), version,
                         runtime.policy)


def walk_records(runtime: Runtime, commune: Commune, code: str, *, rerate: bool = True) -> None:
    """Assessed (factors, special groups), the chair's emergency decision, Mẫu 03 (factors
    re-rated unless `rerate` is false), a plan returned with a reason, a second plan approved,
    consent, a service for measure 1, a review re-rating the factors."""
    head, chair = commune.actors[Role.HEAD], commune.actors[Role.CHAIR]
    advance(runtime, head, code, "assess", {
        "factors": INITIAL, "risk_level": "medium", "emergency": True, "case_type": "abused",
        "special_groups": ["harmed_by_violence", "sexually_abused"]})
    advance(runtime, chair, code, "decide_emergency", {
        "measures": "QXEMERG đưa trẻ đến nhà bà ngoại (giả lập)", "decided_at": runtime.clock.now().isoformat(),
        "separation": True, "alternative_care": "Nhà bà ngoại (giả lập)"})
    detail = {**DETAIL, "meeting_at": runtime.clock.now().isoformat(), "attendees": "QXATTEND Trạm Y tế, Công an xã",
              "agreed": "QXAGREED lập kế hoạch", "information": "QXINFO đã gặp trẻ", "needs": "QXNEEDS tâm lý"}
    advance(runtime, head, code, "detail_assess", {**detail, **({"factors": FACTORS["medium"]} if rerate else {})})
    advance(runtime, head, code, "submit_plan", {"goals": "QXGOAL1", "measures": [measure(1, "safe_shelter", None,
                                                                                          "Bà ngoại (giả lập)")]})
    advance(runtime, chair, code, "return_plan", {"reason": "QXRETURN thiếu biện pháp tâm lý"})
    advance(runtime, head, code, "submit_plan", {"goals": "QXGOAL2", "measures": [
        measure(1, "medical_psychological", "TYT", "Y sĩ Thử (giả lập)"), measure(2, "legal_support", None,
                                                                                   "Công chức Tư pháp (giả lập)")]})
    advance(runtime, chair, code, "approve_plan", {"note": "QXNOTE đồng ý"})
    advance(runtime, head, code, "record_consent", CONSENT)
    advance(runtime, head, code, "start_service", {"kind": "medical", "agency_code": "TYT",
                                                   "started_on": "2026-03-05", "measure_no": 1})
    advance(runtime, head, code, "review", {"findings": "QXFIND trẻ ổn định", "factors": FACTORS["low"],
                                            "outcome": "continue"})


def docx_text(content: bytes) -> str:
    doc = Document(io.BytesIO(content))
    parts = [p.text for p in doc.paragraphs]
    parts += [p.text for t in doc.tables for row in t.rows for c in row.cells for p in c.paragraphs]
    return "\n".join(parts)


def docx_tables(content: bytes) -> list[list[list[str]]]:
    return [[[c.text for c in row.cells] for row in t.rows] for t in Document(io.BytesIO(content)).tables]


def sheets(html: str) -> str:
    """The print page without its toolbar (which links to each form)."""
    return html.split("<main>", 1)[1]


def ticks(html: str) -> list[list[str]]:
    """The factor tables of a page: per factor row, its name and the three level cells."""
    return [[name, *re.findall(r"<td[^>]*>([^<]*)</td>", cells)] for name, cells in re.findall(
        r'<tr><th scope="row">([^<]+)</th>((?:<td[^>]*>[^<]*</td>){3})</tr>', html)]


def measure_rows(html: str) -> list[list[tuple[str, str]]]:
    """The rows of the measures' tables of a page, each cell with the column it is labelled with."""
    return [re.findall(r'<td data-label="([^"]*)">([^<]*)</td>', row)
            for row in re.findall(r"<tr>((?:<td[^>]*>[^<]*</td>){6})</tr>", html)]


def expected(levels: dict[str, str]) -> list[list[str]]:
    names = dict(zip(("severity", "abuser_access", "safety_obstacles", "self_protection"), FACTOR_NAMES, strict=True))
    return [[names[f], *("X" if levels[f] == v else "" for v in ("high", "medium", "low"))] for f in names]


def printed_fields(runtime: Runtime) -> list[list[str]]:
    with runtime.db.read() as s:
        rows = s.execute(select(col(AuditEvent.after)).where(col(AuditEvent.action) == "case.printed")
                         .order_by(col(AuditEvent.seq))).scalars()
        return [list(audit.loads(after)["fields"]) for after in rows]


@pytest.fixture
def walked(runtime: Runtime, commune: Commune) -> str:
    code = open_case(runtime, commune)
    walk_records(runtime, commune, code)
    return code


def test_mau_02_ticks_each_factor_and_gives_the_levels_and_groups(desk: Desk, walked: str) -> None:
    head = desk.browser(Role.HEAD)
    page = head.get(f"/desk/cases/{walked}/print/mau-02").text
    assert ticks(page) == expected(INITIAL)
    for text in (page, docx_text(head.get(f"/desk/cases/{walked}/print/mau-02.docx").content)):
        assert "Mức độ nguy cơ theo các yếu tố: Cao" in text  # the highest factor
        assert "Mức độ nguy cơ được xác định: Trung bình" in text  # what the worker stated
        assert "Bị tổn hại nghiêm trọng về thể chất và tinh thần do bị bạo lực; Bị xâm hại tình dục" in text
        assert "QXFIND" not in text and "QXINFO" not in text  # one form: nothing of the others
    word = docx_tables(head.get(f"/desk/cases/{walked}/print/mau-02.docx").content)
    assert [["Yếu tố nguy cơ", *LEVELS], *expected(INITIAL)] in word


def test_mau_03_prints_the_details_the_rerating_and_the_meetings_minutes(desk: Desk, runtime: Runtime,
                                                                         walked: str) -> None:
    head = desk.browser(Role.HEAD)
    page = head.get(f"/desk/cases/{walked}/print/mau-03")
    assert page.status_code == 200, page.text
    assert ticks(page.text) == expected(FACTORS["medium"])
    docx = head.get(f"/desk/cases/{walked}/print/mau-03.docx").content
    assert expected(FACTORS["medium"])[0] in docx_tables(docx)[2]  # heading, rows, then the factors
    for text in (page.text, docx_text(docx)):
        assert "Mẫu số 03" in text and f"Số: {walked}/M03" in text
        assert "BIÊN BẢN ĐÁNH GIÁ CHI TIẾT VÀ HỌP VỀ NHU CẦU CỦA TRẺ EM" in text
        assert all(m in text for m in ("QXINFO đã gặp trẻ", "QXNEEDS tâm lý", "QXAGREED lập kế hoạch"))
        assert "Thành phần tham dự: QXATTEND Trạm Y tế, Công an xã" in text
        assert "Thời gian họp: 02/03/2026 11:00" in text  # when the chair's decision was recorded
        assert "Mức độ nguy cơ được xác định: Trung bình (theo các yếu tố)" in text
        assert "CHỦ TRÌ CUỘC HỌP" in text and "NGƯỜI ĐÁNH GIÁ" in text and HEAD_NAME in text
        assert "Nghĩa Hưng, ngày 02 tháng 03 năm 2026" in text
    # Read from the detailed assessment and the ratings: on the access log, and no plan with it.
    fields = printed_fields(runtime)[0]
    assert {"detailed_assessment.attendees", "detailed_assessment.agreed", "case_file.special_groups"} <= set(fields)
    assert not any(f.startswith(("plan", "review.")) for f in fields)


def test_mau_03_without_a_rerating_says_the_initial_rating_stands(desk: Desk, runtime: Runtime,
                                                                  commune: Commune) -> None:
    code = open_case(runtime, commune)
    walk_records(runtime, commune, code, rerate=False)
    page = desk.browser(Role.HEAD).get(f"/desk/cases/{code}/print/mau-03").text
    assert "Không đánh giá lại; giữ đánh giá ban đầu (Mẫu số 02)." in page and ticks(page) == []


def test_mau_04_prints_the_measures_as_a_table_and_the_plans_history(desk: Desk, walked: str) -> None:
    head = desk.browser(Role.HEAD)
    page = head.get(f"/desk/cases/{walked}/print/mau-04").text
    docx = head.get(f"/desk/cases/{walked}/print/mau-04.docx").content
    rows = [r for t in docx_tables(docx) for r in t]
    assert ["1", "Chăm sóc y tế, trị liệu tâm lý, phục hồi", "QXMEASURE1 thăm nhà (giả lập)",
            "Cơ quan TYT · Y sĩ Thử (giả lập)", "03/03/2026", "30/04/2026"] in rows
    assert ["2", "Tư vấn pháp luật, hỗ trợ pháp lý", "QXMEASURE2 thăm nhà (giả lập)",
            "Công chức Tư pháp (giả lập)", "04/03/2026", "30/04/2026"] in rows
    assert ["TT", "Biện pháp", "Nội dung", "Cơ quan, người thực hiện", "Từ ngày", "Đến ngày"] in rows
    assert [("TT", "2"), ("Biện pháp", "Tư vấn pháp luật, hỗ trợ pháp lý"),
            ("Nội dung", "QXMEASURE2 thăm nhà (giả lập)"), ("Cơ quan, người thực hiện", "Công chức Tư pháp (giả lập)"),
            ("Từ ngày", "04/03/2026"), ("Đến ngày", "30/04/2026")] in measure_rows(page)
    for text in (sheets(page), docx_text(docx)):
        # Both plans, the returned one with its reason; the approved one tells the history.
        assert text.count("Mẫu số 04") == 2 and "QXGOAL1" in text and "QXGOAL2" in text
        assert "Lý do trả lại" in text and "QXRETURN thiếu biện pháp tâm lý" in text
        assert "Quá trình trình, phê duyệt kế hoạch" in text
        assert "Lần 1: trình 02/03/2026 13:00 · Đã trả lại 02/03/2026 14:00 · Lý do: QXRETURN" in text
        assert "Lần 2: trình 02/03/2026 15:00 · Đã phê duyệt 02/03/2026 16:00 · Quyết định số 1/QĐ-UBND" in text


def test_an_old_plan_prints_its_measures_as_text(desk: Desk, runtime: Runtime, commune: Commune) -> None:
    code = open_case(runtime, commune)
    advance(runtime, commune.actors[Role.HEAD], code, "assess", {"factors": FACTORS["low"], "emergency": False})
    with runtime.db.write() as s:  # a plan from before measures had rows of their own
        case_id = s.execute(select(col(Case.id)).where(col(Case.code) == code)).scalar_one()
        s.add(Plan(case_id=case_id, status=PlanStatus.SUBMITTED, goals="QXOLDGOAL", measures="QXOLDTEXT thăm nhà",
                   submitted_at=runtime.clock.now(), submitted_by=commune.actors[Role.HEAD].ref))
    head = desk.browser(Role.HEAD)
    page = head.get(f"/desk/cases/{code}/print/mau-04").text
    word = docx_text(head.get(f"/desk/cases/{code}/print/mau-04.docx").content)
    for text in (page, word):
        assert "QXOLDTEXT thăm nhà" in text and "Từ ngày" not in text


def test_mau_05_is_the_chairs_numbered_decision_listing_the_measures(desk: Desk, walked: str) -> None:
    head = desk.browser(Role.HEAD)
    page = head.get(f"/desk/cases/{walked}/print/mau-05").text
    docx = head.get(f"/desk/cases/{walked}/print/mau-05.docx").content
    for text in (sheets(page), docx_text(docx)):
        assert text.count("Mẫu số 05") == 1  # the returned plan was never decided on
        assert "Số: 1/QĐ-UBND" in text and f"{walked}/M05" not in text
        assert "QUYẾT ĐỊNH PHÊ DUYỆT KẾ HOẠCH HỖ TRỢ, CAN THIỆP" in text
        assert "Điều 1. Phê duyệt kế hoạch hỗ trợ, can thiệp đối với trẻ em Nguyễn Văn Thử." in text
        assert "QXMEASURE1" in text and "QXMEASURE2" in text and "QXGOAL2" in text and "QXGOAL1" not in text
        assert "CHỦ TỊCH" in text and CHAIR_NAME in text
        assert "Nghĩa Hưng, ngày 02 tháng 03 năm 2026" in text
    assert page.count('<p class="who">CHỦ TỊCH</p>') == 1  # the signer's block
    assert any(r[0] == "2" and r[2] == "QXMEASURE2 thăm nhà (giả lập)" for t in docx_tables(docx) for r in t)


def test_mau_06_prints_the_factors_the_review_rerated_and_its_proposal(desk: Desk, walked: str) -> None:
    head = desk.browser(Role.HEAD)
    page = head.get(f"/desk/cases/{walked}/print/mau-06").text
    assert ticks(page) == expected(FACTORS["low"])  # the review's own rating, not Mẫu 02's or 03's
    docx = head.get(f"/desk/cases/{walked}/print/mau-06.docx").content
    assert [["Yếu tố nguy cơ", *LEVELS], *expected(FACTORS["low"])] in docx_tables(docx)
    for text in (page, docx_text(docx)):
        assert "QXFIND trẻ ổn định" in text and "Tiếp tục kế hoạch" in text
        assert "Mức độ nguy cơ theo các yếu tố: Thấp" in text


def test_the_whole_file_holds_every_form_the_emergency_decision_and_the_consent(desk: Desk, walked: str) -> None:
    head = desk.browser(Role.HEAD)
    page = head.get(f"/desk/cases/{walked}/print").text
    word = docx_text(head.get(f"/desk/cases/{walked}/print.docx").content)
    for text in (page, word):
        assert all(f"Mẫu số 0{n}" in text for n in range(1, 7))
        assert "Mẫu số 03: Biên bản đánh giá chi tiết và họp về nhu cầu của trẻ em (1)" in text
        assert "Quyết định bảo vệ khẩn cấp của Chủ tịch UBND xã" in text
        assert f"{CHAIR_NAME}: QXEMERG đưa trẻ đến nhà bà ngoại (giả lập)" in text
        assert "tạm thời cách ly trẻ khỏi người chăm sóc (Nhà bà ngoại (giả lập))" in text
        assert "Đồng ý chia sẻ thông tin" in text and "Người chăm sóc giả lập" in text
        assert "Biện pháp số 1 · Y tế · Cơ quan TYT" in text
    assert page.count('<table class="grid ticked">') == 3  # Mẫu 02, 03, 06


def test_an_agencys_reader_gets_its_part_and_the_paper_says_what_is_left_out(
        desk: Desk, runtime: Runtime, commune: Commune, walked: str) -> None:
    with runtime.db.write() as s:
        refer(s, runtime.clock, commune.actors[Role.HEAD], walked, "CA", runtime.policy)
    police = desk.browser(Role.AGENCY_OFFICIAL)
    page = police.get(f"/desk/cases/{walked}/print/mau-02").text
    assert ticks(page) == [] and "Bị xâm hại tình dục" not in page
    assert f"{WITHHELD}: đánh giá các yếu tố nguy cơ, nhóm trẻ em có hoàn cảnh đặc biệt." in page
    for form in ("mau-03", "mau-04", "mau-05", "mau-06"):
        docx = docx_text(police.get(f"/desk/cases/{walked}/print/{form}.docx").content)
        page = police.get(f"/desk/cases/{walked}/print/{form}").text
        for text in (page, docx):
            assert WITHHELD in text and "chưa có biểu mẫu" not in text
            assert not any(m in text for m in ("QXINFO", "QXATTEND", "QXMEASURE", "QXGOAL", "QXFIND", "1/QĐ-UBND"))
    whole = police.get(f"/desk/cases/{walked}/print").text
    assert not any(m in whole for m in ("QXEMERG", "Người chăm sóc giả lập", "QXATTEND"))
    assert "quyết định bảo vệ khẩn cấp" in whole and "sự đồng ý chia sẻ thông tin" in whole  # named as left out
    assert all(not f.startswith(("plan", "detailed_assessment.", "consent.", "emergency_decision."))
               for fields in printed_fields(runtime) for f in fields)


def test_the_new_forms_in_english_on_request(desk: Desk, walked: str) -> None:
    worker = desk.browser(Role.HEAD)
    worker.cookies.set("kt_lang", "en")
    page = worker.get(f"/desk/cases/{walked}/print/mau-03").text
    assert "Form 03" in page and "Meeting held at: 02/03/2026 11:00" in page and "Severity of the harm" in page
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in page
    decision = worker.get(f"/desk/cases/{walked}/print/mau-05").text
    assert "No.: 1/QĐ-UBND" in decision and "CHAIR" in decision
