"""Evidence attachments on the desk's case page: the section, the upload form (multipart, its
CSRF token checked), the download link; who sees them; and the access log of a download."""

import re

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import col

from api.deps import Runtime
from models import Attachment, AuditEvent
from models.enums import Role
from states.cases.referrals import refer
from states.lifecycle import workflow
from states.lifecycle.commands import ConsentData
from tests.conftest import Commune
from tests.evidence_samples import HTML, MARKER, jpeg, pdf, png
from tests.payloads import CONSENT
from tests.web.conftest import Desk, csrf_of
from tests.web.test_case_pages import open_case

LINK = re.compile(r'href="(/desk/cases/[A-Z0-9-]+/attachments/\d+)"')


def attachments(runtime: Runtime) -> int:
    with runtime.db.read() as s:
        return int(s.execute(select(func.count()).select_from(Attachment)).scalar_one())


def post_file(client: TestClient, code: str, data: bytes, name: str = "anh.jpg", csrf: str | None = "page",
              **fields: str) -> object:
    if csrf == "page":
        csrf = csrf_of(client.get(f"/desk/cases/{code}").text)
    form = {"kind": "photo", **fields} | ({"csrf": csrf} if csrf is not None else {})
    return client.post(f"/desk/cases/{code}/attachments", data=form, files={"file": (name, data, "image/jpeg")})


def test_upload_list_and_download_on_the_case_page(desk: Desk, runtime: Runtime, commune: Commune) -> None:
    code = open_case(runtime, commune)
    head = desk.browser(Role.HEAD)
    page = head.get(f"/desk/cases/{code}")
    assert "Tệp đính kèm" in page.text and 'enctype="multipart/form-data"' in page.text
    assert "Chưa có tệp đính kèm." in page.text

    r = post_file(head, code, png(), name="giay-kham.png", label="Giấy khám sức khoẻ")
    assert r.status_code == 303 and r.headers["location"].startswith(f"/desk/cases/{code}?ok=")  # type: ignore[attr-defined]
    page = head.get(f"/desk/cases/{code}")
    assert "Giấy khám sức khoẻ" in page.text and "giay-kham.png" in page.text and "image/png" in page.text
    links = LINK.findall(page.text)
    assert len(links) == 1

    chair = desk.browser(Role.CHAIR)
    got = chair.get(links[0])
    assert got.status_code == 200 and got.content == png()
    assert got.headers["content-disposition"].startswith("attachment; filename=")
    assert got.headers["x-content-type-options"] == "nosniff" and got.headers["cache-control"] == "no-store"
    with runtime.db.read() as s:
        logged = s.execute(select(AuditEvent).where(col(AuditEvent.action) == "case.attachment.downloaded")
                           ).scalars().all()
    assert len(logged) == 1 and logged[0].actor == commune.actors[Role.CHAIR].ref

    english = desk.browser(Role.HEAD)
    english.cookies.set("kt_lang", "en")
    assert "Attachments" in english.get(f"/desk/cases/{code}").text


def test_an_upload_without_its_csrf_token_is_refused_and_stores_nothing(
        desk: Desk, runtime: Runtime, commune: Commune) -> None:
    code = open_case(runtime, commune)
    head = desk.browser(Role.HEAD)
    for token in (None, "0" * 64):
        r = post_file(head, code, jpeg(), csrf=token)
        assert r.status_code == 403  # type: ignore[attr-defined]
    assert attachments(runtime) == 0


def test_a_file_lying_about_its_type_is_refused_on_the_case_page(
        desk: Desk, runtime: Runtime, commune: Commune) -> None:
    code = open_case(runtime, commune)
    head = desk.browser(Role.HEAD)
    r = post_file(head, code, HTML, name="anh.jpg")
    assert r.status_code == 422  # type: ignore[attr-defined]
    assert "Tệp phải là ảnh JPEG, PNG hoặc PDF" in r.text  # type: ignore[attr-defined]
    assert attachments(runtime) == 0


def test_who_sees_the_section_and_may_download(desk: Desk, runtime: Runtime, commune: Commune) -> None:
    code = open_case(runtime, commune)
    with runtime.db.write() as s:  # a referral needs consent (or a legal ground) first
        workflow.advance(s, runtime.clock, commune.actors[Role.HEAD], code, "record_consent",
                         ConsentData.model_validate(CONSENT), 1, runtime.policy)
        refer(s, runtime.clock, commune.actors[Role.HEAD], code, "CA", runtime.policy)
    head = desk.browser(Role.HEAD)
    assert post_file(head, code, pdf()).status_code == 303  # type: ignore[attr-defined]
    link = LINK.findall(head.get(f"/desk/cases/{code}").text)[0]

    agency = desk.browser(Role.AGENCY_OFFICIAL)
    page = agency.get(f"/desk/cases/{code}")
    assert page.status_code == 200 and "Tệp đính kèm" not in page.text
    got = agency.get(link)
    assert got.status_code == 403 and MARKER not in got.content
    assert post_file(agency, code, jpeg()).status_code == 403  # type: ignore[attr-defined]

    anonymous = desk.anonymous()
    r = anonymous.get(link)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    assert attachments(runtime) == 1
