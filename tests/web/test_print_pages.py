"""Printing a case (states/cases/printing.py, web/pages/prints.py): each role prints its own view
of the case or is refused as the case page would refuse it, the printout says what it leaves
out, the print is on the access log, and the Word file opens and holds what the role may see.

The PDF made by a real Chromium from the print page is tests/browser/test_print_pdf.py."""

import io
from datetime import timedelta
from typing import Any

import pytest
from docx import Document
from sqlalchemy import select
from sqlmodel import col

from api.deps import Runtime
from models import AuditEvent, Case
from models.enums import Role
from states.access import log as access_log
from states.access.permissions import ACTIONS
from states.audit import chain as audit
from states.cases.referrals import refer
from states.lifecycle import workflow
from states.lifecycle.commands import (
    AssessData,
    ConsentData,
    DecisionData,
    DetailData,
    EmergencyActionData,
    PlanData,
    ReviewData,
)
from tests.conftest import Commune
from tests.payloads import CONSENT, DETAIL, FACTORS, LEGAL_GROUND, measures
from tests.web.conftest import Desk
from tests.web.test_case_pages import open_case

PEOPLE = [r for r in Role if r != Role.HOTLINE]
PRINTERS = ACTIONS["case.print"]
CHILD, REPORTER = "Nguyễn Văn Thử", "Người Báo Tin"
WITHHELD = "Không in vì không hiển thị với vai trò của bạn"
HEADING = ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", "ỦY BAN NHÂN DÂN",
           "XÃ NGHĨA HƯNG")
FORMS = ("mau-01", "mau-02", "mau-04", "mau-05", "mau-06")


def walk(runtime: Runtime, commune: Commune, code: str) -> None:
    """Assessed with emergency protection, the detailed assessment, a plan submitted and approved,
    consent to share, one review."""
    worker, chair = commune.actors[Role.HEAD], commune.actors[Role.CHAIR]
    steps: list[tuple[Any, str, Any]] = [
        (worker, "assess", AssessData.model_validate({
            "risk_level": "high", "factors": FACTORS["high"], "emergency": True, "case_type": "abused",
            "emergency_action": EmergencyActionData(
                action_taken="Đưa trẻ đến Trạm Y tế (giả lập)", who_was_called="Công an xã",
                done_at=runtime.clock.now(), separated_from_carer=True)})),
        (worker, "detail_assess", DetailData.model_validate(DETAIL)),
        (worker, "submit_plan", PlanData.model_validate({"goals": "Trẻ an toàn QXGOAL",
                                                         "measures": measures("Thăm nhà hằng tuần")})),
        (chair, "approve_plan", DecisionData(note="Đồng ý QXNOTE")),
        (worker, "record_consent", ConsentData.model_validate(CONSENT)),
        (worker, "review", ReviewData.model_validate({"findings": "Trẻ ổn định QXFIND", "risk_level": "low",
                                                      "factors": FACTORS["low"], "outcome": "continue"})),
    ]
    for actor, trigger, data in steps:
        runtime.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
        with runtime.db.write() as s:
            version = s.execute(select(col(Case.version)).where(col(Case.code) == code)).scalar_one()
            workflow.advance(s, runtime.clock, actor, code, trigger, data, version, runtime.policy)


def printed_events(runtime: Runtime) -> list[tuple[str, dict[str, Any]]]:
    with runtime.db.read() as s:
        rows = s.execute(select(AuditEvent).where(col(AuditEvent.action) == "case.printed")
                         .order_by(col(AuditEvent.seq))).scalars()
        return [(e.actor, audit.loads(e.after)) for e in rows]


def docx_text(content: bytes) -> str:
    doc = Document(io.BytesIO(content))
    parts = [p.text for p in doc.paragraphs]
    parts += [p.text for t in doc.tables for row in t.rows for c in row.cells for p in c.paragraphs]
    return "\n".join(parts)


@pytest.mark.parametrize("role", PEOPLE)
def test_each_role_prints_its_own_view_or_is_refused(desk: Desk, runtime: Runtime, commune: Commune,
                                                     role: Role) -> None:
    code, elsewhere = open_case(runtime, commune), open_case(runtime, commune, child={
        "full_name": "Trần Thị Khác", "birth_date": "2015-01-01", "sex": "female"})
    walk(runtime, commune, code)
    with runtime.db.write() as s:
        refer(s, runtime.clock, commune.actors[Role.HEAD], code, "CA", runtime.policy)
    client = desk.browser(role)
    page, docx = client.get(f"/desk/cases/{code}/print"), client.get(f"/desk/cases/{code}/print.docx")
    if role not in PRINTERS:
        assert (page.status_code, docx.status_code) == (403, 403)
        assert CHILD not in page.text and printed_events(runtime) == []
        return
    assert page.status_code == 200 and docx.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store" and docx.headers["cache-control"] == "no-store"
    word = docx_text(docx.content)
    for text in (page.text, word):
        assert code in text and CHILD in text
        assert all(h in text for h in HEADING)
        assert (REPORTER in text) == (role == Role.HEAD)  # who reported: the head's full view only
        # The head's view is whole; the chair's and (unassigned) the worker's leave out who reported.
        assert (WITHHELD in text) == (role != Role.HEAD)
        assert ("QXGOAL" in text) == (role != Role.AGENCY_OFFICIAL)  # the plan is not the police's part
    if role == Role.CHAIR:
        assert f"{WITHHELD}: người báo tin." in page.text
    if role == Role.AGENCY_OFFICIAL:
        assert "kế hoạch" in page.text.split(WITHHELD)[1].split("</p>")[0]
        # Not referred to their agency: as if the case did not exist.
        assert client.get(f"/desk/cases/{elsewhere}/print").status_code == 404
        assert client.get(f"/desk/cases/{elsewhere}/print.docx").status_code == 404
    # Two prints (the page and the Word file), both on the access log with what they held.
    events = printed_events(runtime)
    assert [after["case"] for _, after in events] == [code, code]
    assert all("child.full_name" in after["fields"] for _, after in events)
    assert ("reporter.full_name" in events[0][1]["fields"]) == (role == Role.HEAD)


def test_each_form_prints_alone(desk: Desk, runtime: Runtime, commune: Commune) -> None:
    code = open_case(runtime, commune)
    walk(runtime, commune, code)
    head = desk.browser(Role.HEAD)
    marks = {"mau-01": "Hàng xóm nghe thấy", "mau-02": "Đưa trẻ đến Trạm Y tế", "mau-04": "QXGOAL",
             "mau-05": "QXNOTE", "mau-06": "QXFIND"}
    for form in FORMS:
        page = head.get(f"/desk/cases/{code}/print/{form}")
        assert page.status_code == 200, page.text
        number = "Số: 1/QĐ-UBND" if form == "mau-05" else f"Số: {code}/M{form[-2:]}"  # a decision has its own
        assert f"Mẫu số {form[-2:]}" in page.text and number in page.text
        assert marks[form] in page.text
        # Only a plan and the decision approving it share words (the decision quotes the plan).
        others = [m for f, m in marks.items() if f != form and not {f, form} <= {"mau-04", "mau-05"}]
        assert [m for m in others if m in page.text] == []
        word = docx_text(head.get(f"/desk/cases/{code}/print/{form}.docx").content)
        assert marks[form] in word and code in word
    # The decision approving the plan is the Chủ tịch's, signed by them; dated in the commune.
    decision = head.get(f"/desk/cases/{code}/print/mau-05").text
    assert "QUYẾT ĐỊNH PHÊ DUYỆT KẾ HOẠCH HỖ TRỢ, CAN THIỆP" in decision
    assert "Nghĩa Hưng, ngày 02 tháng 03 năm 2026" in decision
    assert "Người dùng 3" in decision  # the chair's display name (tests/conftest.py)
    whole = head.get(f"/desk/cases/{code}/print").text
    assert all(f"Mẫu số {f[-2:]}" in whole for f in FORMS) and "HỒ SƠ VỤ VIỆC" in whole
    for missing in ("mau-07", "mau-99", "x"):
        assert head.get(f"/desk/cases/{code}/print/{missing}").status_code == 404
    assert head.get("/desk/cases/NH-2026-999999/print").status_code == 404


def test_a_form_not_recorded_yet_or_withheld_says_so(desk: Desk, runtime: Runtime, commune: Commune) -> None:
    code = open_case(runtime, commune)
    page = desk.browser(Role.HEAD).get(f"/desk/cases/{code}/print/mau-04")
    assert page.status_code == 200 and "Vụ việc chưa có biểu mẫu này." in page.text and WITHHELD not in page.text
    with runtime.db.write() as s:  # referred to the police on the legal ground a referral needs without consent
        workflow.advance(s, runtime.clock, commune.actors[Role.HEAD], code, "record_consent",
                         ConsentData.model_validate(LEGAL_GROUND), 1, runtime.policy)
        refer(s, runtime.clock, commune.actors[Role.HEAD], code, "CA", runtime.policy)
    page = desk.browser(Role.AGENCY_OFFICIAL).get(f"/desk/cases/{code}/print/mau-04")
    assert page.status_code == 200 and f"{WITHHELD}: kế hoạch." in page.text
    assert "chưa có biểu mẫu" not in page.text


def test_the_print_is_on_the_childs_access_log(desk: Desk, runtime: Runtime, commune: Commune) -> None:
    code = open_case(runtime, commune)
    assert desk.browser(Role.CHAIR).get(f"/desk/cases/{code}/print/mau-01").status_code == 200
    [(actor, after)] = printed_events(runtime)
    assert actor == commune.actors[Role.CHAIR].ref and after["view"] == "content"
    # One form holds only that form's fields: the report's, the child's, never a plan's.
    assert {"child.full_name", "report.narrative"} <= set(after["fields"])
    assert not any(f.startswith(("plan.", "reporter.", "note.")) for f in after["fields"])
    with runtime.db.read() as s:
        child_id = s.execute(select(col(Case.child_id)).where(col(Case.code) == code)).scalar_one()
        reads = access_log.reads_of_child(s, child_id)
    assert ("case.printed", commune.actors[Role.CHAIR].ref) in {(r["action"], r["actor"]) for r in reads}
    head = desk.browser(Role.HEAD)
    assert "In hồ sơ" in head.get(f"/desk/cases/{code}").text  # the case page's link, the timeline's label


def test_what_people_typed_is_text_on_paper(desk: Desk, runtime: Runtime, commune: Commune) -> None:
    code = open_case(runtime, commune, narrative="Trẻ nói: <b>đau</b> & sợ {{ x }}\nDòng thứ hai")
    head = desk.browser(Role.HEAD)
    page = head.get(f"/desk/cases/{code}/print")
    assert "Trẻ nói: &lt;b&gt;đau&lt;/b&gt; &amp; sợ {{ x }}" in page.text
    word = docx_text(head.get(f"/desk/cases/{code}/print.docx").content)
    assert "Trẻ nói: <b>đau</b> & sợ {{ x }}\nDòng thứ hai" in word


def test_in_english_on_request(desk: Desk, runtime: Runtime, commune: Commune) -> None:
    code = open_case(runtime, commune)
    worker = desk.browser(Role.CASE_WORKER)
    worker.cookies.set("kt_lang", "en")
    page = worker.get(f"/desk/cases/{code}/print/mau-01")
    assert page.status_code == 200 and 'lang="en"' in page.text and "Form 01" in page.text
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in page.text  # the national heading is the law's words
