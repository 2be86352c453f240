"""Printing through the API (api/routers/prints.py): `GET /cases/{code}/print.docx|.html` and
`/print/{form}.docx|.html` give what the desk's print gives (the same use case, the same rule:
`case.print`), each reader their own view, every print on the child's access log; refused roles
learn nothing and leave no trace. An app without the desk has no print layout."""

import io
from collections.abc import Iterator
from typing import Any

import pytest
from docx import Document
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import col

from api.app import create_app
from api.deps import Runtime
from models import AuditEvent
from models.enums import Role
from states.audit import chain as audit
from states.cases.referrals import refer
from tests.conftest import Commune
from tests.payloads import FACTORS
from tests.web.test_case_pages import open_case
from tests.web.test_print_records import expected, ticks, walk_records
from web import install

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
WITHHELD = "Không in vì không hiển thị với vai trò của bạn"
HEADING = ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", "XÃ NGHĨA HƯNG")


@pytest.fixture
def api(runtime: Runtime) -> Iterator[TestClient]:
    """The app as `kipthoi serve` builds it: the API with the desk installed (its print layout)."""
    app = create_app(runtime)
    install(app)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def walked(runtime: Runtime, commune: Commune) -> str:
    code = open_case(runtime, commune)
    walk_records(runtime, commune, code)
    return code


def docx_text(content: bytes) -> str:
    doc = Document(io.BytesIO(content))
    parts = [p.text for p in doc.paragraphs]
    parts += [p.text for t in doc.tables for row in t.rows for c in row.cells for p in c.paragraphs]
    return "\n".join(parts)


def printed(runtime: Runtime) -> list[tuple[str, dict[str, Any]]]:
    with runtime.db.read() as s:
        rows = s.execute(select(AuditEvent).where(col(AuditEvent.action) == "case.printed")
                         .order_by(col(AuditEvent.seq))).scalars()
        return [(e.actor, audit.loads(e.after)) for e in rows]


def test_the_whole_file_and_each_form_as_word_and_as_the_print_page(api: TestClient, runtime: Runtime,
                                                                     commune: Commune, walked: str) -> None:
    head = commune.headers(Role.HEAD)
    docx = api.get(f"/cases/{walked}/print.docx", headers=head)
    assert docx.status_code == 200, docx.text
    assert docx.headers["content-type"] == DOCX_TYPE and docx.headers["cache-control"] == "no-store"
    assert docx.headers["content-disposition"] == f'attachment; filename="{walked}.docx"'
    word = docx_text(docx.content)
    page = api.get(f"/cases/{walked}/print.html", headers=head)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "style-src 'self'" in page.headers["content-security-policy"]
    for text in (word, page.text):
        assert all(h in text for h in HEADING) and walked in text and "Nguyễn Văn Thử" in text
        assert all(f"Mẫu số 0{n}" in text for n in range(1, 7))
        assert "QXATTEND" in text and "Số: 1/QĐ-UBND" in text and "QXEMERG" in text
    # The page alone: no desk toolbar or script (their links need a desk session), its own stylesheet.
    assert '<nav class="toolbar"' not in page.text and "<script" not in page.text
    assert '<link rel="stylesheet" href="/static/print.css">' in page.text
    assert api.get("/static/print.css").status_code == 200

    form = api.get(f"/cases/{walked}/print/mau-03.html", headers=head)
    assert form.status_code == 200 and ticks(form.text) == expected(FACTORS["medium"])
    assert "Thành phần tham dự: QXATTEND Trạm Y tế, Công an xã" in form.text and "QXGOAL" not in form.text
    decision = api.get(f"/cases/{walked}/print/mau-05.docx", headers=head)
    assert decision.headers["content-disposition"] == f'attachment; filename="{walked}-mau-05.docx"'
    text = docx_text(decision.content)
    assert "Số: 1/QĐ-UBND" in text and "CHỦ TỊCH" in text and "QXMEASURE2" in text and "QXATTEND" not in text
    review = api.get(f"/cases/{walked}/print/mau-06.html", headers=head)
    assert ticks(review.text) == expected(FACTORS["low"])
    # Every print is on the access log, with what it held.
    events = printed(runtime)
    assert len(events) == 5 and {a for a, _ in events} == {commune.actors[Role.HEAD].ref}
    assert "detailed_assessment.attendees" in events[2][1]["fields"]
    assert not any(f.startswith("plan") for f in events[2][1]["fields"])
    assert "plan_measure.description" in events[3][1]["fields"]


def test_in_english_on_request(api: TestClient, commune: Commune, walked: str) -> None:
    page = api.get(f"/cases/{walked}/print/mau-03.html", params={"lang": "en"}, headers=commune.headers(Role.CHAIR))
    assert page.status_code == 200 and 'lang="en"' in page.text and "Form 03" in page.text
    assert "Meeting held at:" in page.text and "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in page.text
    assert api.get(f"/cases/{walked}/print.html", params={"lang": "fr"},
                   headers=commune.headers(Role.CHAIR)).status_code == 422


@pytest.mark.parametrize("role", [Role.INTAKE_OPERATOR, Role.AUDITOR, Role.ADMIN, Role.HOTLINE])
def test_roles_that_do_not_read_cases_are_refused_and_leave_no_trace(api: TestClient, runtime: Runtime,
                                                                      commune: Commune, walked: str,
                                                                      role: Role) -> None:
    for path in (f"/cases/{walked}/print.docx", f"/cases/{walked}/print.html", f"/cases/{walked}/print/mau-03.docx",
                 f"/cases/{walked}/print/mau-05.html", "/cases/NH-2026-999999/print.docx"):
        r = api.get(path, headers=commune.headers(role))
        assert r.status_code == 403 and r.json()["code"] == "forbidden", (path, r.text)
        assert "Nguyễn Văn Thử" not in r.text
    assert api.get(f"/cases/{walked}/print.docx").status_code == 401
    assert printed(runtime) == []


def test_an_agency_official_prints_only_its_agencys_part(api: TestClient, runtime: Runtime, commune: Commune,
                                                         walked: str) -> None:
    police = commune.headers(Role.AGENCY_OFFICIAL)
    elsewhere = open_case(runtime, commune, child={"full_name": "Trần Thị Khác", "birth_date": "2015-01-01",
                                                   "sex": "female"})
    # Not referred to the police yet: as if the case did not exist.
    assert api.get(f"/cases/{walked}/print.docx", headers=police).status_code == 404
    with runtime.db.write() as s:
        refer(s, runtime.clock, commune.actors[Role.HEAD], walked, "CA", runtime.policy)
    word = docx_text(api.get(f"/cases/{walked}/print.docx", headers=police).content)
    page = api.get(f"/cases/{walked}/print.html", headers=police).text
    for text in (word, page):
        assert walked in text and "Nguyễn Văn Thử" in text
        assert not any(m in text for m in ("QXINFO", "QXATTEND", "QXMEASURE", "QXGOAL", "QXFIND", "QXEMERG",
                                           "1/QĐ-UBND", "Người chăm sóc giả lập", "Người Báo Tin"))
        assert WITHHELD in text and "phần của cơ quan phối hợp" in text
    form = api.get(f"/cases/{walked}/print/mau-02.html", headers=police).text
    assert ticks(form) == [] and f"{WITHHELD}: đánh giá các yếu tố nguy cơ, nhóm trẻ em có hoàn cảnh đặc biệt." in form
    assert api.get(f"/cases/{elsewhere}/print/mau-01.docx", headers=police).status_code == 404
    events = printed(runtime)
    assert len(events) == 3 and all(after["view"] == "agency" for _, after in events)
    assert all(not f.startswith(("plan", "detailed_assessment.", "consent.", "review.", "reporter."))
               for _, after in events for f in after["fields"])


def test_unknown_cases_and_forms(api: TestClient, runtime: Runtime, commune: Commune, walked: str) -> None:
    head = commune.headers(Role.HEAD)
    r = api.get("/cases/NH-2026-999999/print/mau-01.html", headers=head)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    for form in ("mau-07", "mau-00", "x"):
        r = api.get(f"/cases/{walked}/print/{form}.docx", headers=head)
        assert r.status_code == 422 and r.json()["field"] == "path.form", r.text
    assert api.get(f"/cases/{walked}/print/mau-01.pdf", headers=head).status_code == 404
    assert printed(runtime) == []


def test_a_form_the_case_has_no_record_of_prints_a_sheet_saying_so(api: TestClient, runtime: Runtime,
                                                                   commune: Commune) -> None:
    code = open_case(runtime, commune)
    page = api.get(f"/cases/{code}/print/mau-03.html", headers=commune.headers(Role.CASE_WORKER))
    assert page.status_code == 200 and "Vụ việc chưa có biểu mẫu này." in page.text


def test_an_app_without_the_desk_has_no_print_layout_and_records_nothing(client: TestClient, runtime: Runtime,
                                                                         commune: Commune, walked: str) -> None:
    r = client.get(f"/cases/{walked}/print.docx", headers=commune.headers(Role.HEAD))
    assert r.status_code == 404 and r.json()["code"] == "no_print_layout"
    assert client.get(f"/cases/{walked}/print.docx", headers=commune.headers(Role.AUDITOR)).status_code == 403
    assert printed(runtime) == []


def test_the_routes_are_documented(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    paths = {p: doc["paths"][p]["get"] for p in ("/cases/{code}/print.docx", "/cases/{code}/print.html",
                                                  "/cases/{code}/print/{form}.docx", "/cases/{code}/print/{form}.html")}
    for path, op in paths.items():
        assert op["summary"].startswith("In ") and "case.printed" in op["description"], path
        assert {"401", "403", "404", "422"} <= set(op["responses"]), path
        assert op["responses"]["404"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorBody"}
    form = next(p for p in paths["/cases/{code}/print/{form}.docx"]["parameters"] if p["name"] == "form")
    assert form["schema"]["enum"] == ["mau-01", "mau-02", "mau-03", "mau-04", "mau-05", "mau-06"]
    assert DOCX_TYPE in paths["/cases/{code}/print.docx"]["responses"]["200"]["content"]
