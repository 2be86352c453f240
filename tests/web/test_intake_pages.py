"""The intake pages through HTTP: the staff's Mẫu 01 form, the citizen's report page and the
tracking-code lookup. A form posted twice with its idempotency key files one report; errors
come back beside their field with what was typed; a post without the CSRF token writes
nothing; roles that may not enter reports are refused the form."""

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import col

from api.app import create_app
from api.deps import Runtime
from api.ratelimit import RateLimits, Rule
from models import Case, Database, Report
from models.enums import Role
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from tests.conftest import Commune
from tests.web.conftest import Desk, csrf_of
from web import install

KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


def _key(html: str) -> str:
    found = KEY.search(html)
    assert found, "the form has no idempotency key"
    return found.group(1)


def _counts(db: Database) -> tuple[int, int]:
    with db.read() as s:
        return (s.execute(select(func.count()).select_from(Case)).scalar_one(),
                s.execute(select(func.count()).select_from(Report)).scalar_one())


def _staff_form(**overrides: str) -> dict[str, str]:
    data = {"channel": "phone", "received_at": "2026-03-02T08:00", "place_code": "DONG-AN",
            "abuse_forms.violence": "on", "case_type": "abused",
            "narrative": "Hàng xóm nghe thấy trẻ bị đánh nhiều lần (dữ liệu giả lập).",
            "child.full_name": "Nguyễn Văn Thử", "child.birth_date": "2016-05-01", "child.sex": "male",
            "reporter.full_name": "Người Báo Tin", "reporter.phone": "0900000999", "reporter.relation": "hàng xóm"}
    data.update(overrides)
    return data


def _open(client: TestClient, url: str) -> tuple[str, str]:
    page = client.get(url)
    assert page.status_code == 200, page.text
    return csrf_of(page.text), _key(page.text)


def test_staff_intake_creates_a_case_and_shows_its_code(desk: Desk, db: Database) -> None:
    client = desk.browser(Role.INTAKE_OPERATOR)
    page = client.get("/desk/intake")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "Thôn Đông An" in page.text and "Bạo lực" in page.text
    r = client.post("/desk/intake", data={**_staff_form(), "csrf": csrf_of(page.text),
                                          "idempotency_key": _key(page.text)})
    assert r.status_code == 303, r.text
    done = client.get(r.headers["location"])
    assert done.status_code == 200
    with db.read() as s:
        code = s.execute(select(col(Case.code))).scalar_one()
    assert code in done.text and "Đã ghi nhận thông báo" in done.text
    # No name, no phone in the address.
    assert "Th%E1%BB%AD" not in r.headers["location"] and "0900000999" not in r.headers["location"]
    # An intake operator reads no case file: no link to one.
    assert f'href="/desk/cases/{code}"' not in done.text


def test_a_case_worker_gets_a_link_to_the_case(desk: Desk, db: Database) -> None:
    client = desk.browser(Role.CASE_WORKER)
    csrf, key = _open(client, "/desk/intake")
    r = client.post("/desk/intake", data={**_staff_form(), "csrf": csrf, "idempotency_key": key})
    assert r.status_code == 303, r.text
    done = client.get(r.headers["location"])
    with db.read() as s:
        code = s.execute(select(col(Case.code))).scalar_one()
    assert f'href="/desk/cases/{code}"' in done.text


def test_the_same_form_posted_twice_files_one_case(desk: Desk, db: Database) -> None:
    client = desk.browser(Role.INTAKE_OPERATOR)
    csrf, key = _open(client, "/desk/intake")
    data = {**_staff_form(), "csrf": csrf, "idempotency_key": key}
    first = client.post("/desk/intake", data=data)
    second = client.post("/desk/intake", data=data)
    assert first.status_code == second.status_code == 303
    assert _counts(db) == (1, 1)
    assert first.headers["location"].split("&lai")[0] == second.headers["location"].split("&lai")[0]
    replay = client.get(second.headers["location"])
    assert "một lần duy nhất dù biểu mẫu đã được gửi nhiều lần" in replay.text
    # A new form is a new key: a second report.
    csrf, other = _open(client, "/desk/intake")
    assert other != key
    r = client.post("/desk/intake", data={**_staff_form(**{"child.full_name": "Trần Thị Thử"}),
                                          "csrf": csrf, "idempotency_key": other})
    assert r.status_code == 303
    assert _counts(db) == (2, 2)


def test_the_same_key_with_other_content_files_nothing_more(desk: Desk, db: Database) -> None:
    client = desk.browser(Role.INTAKE_OPERATOR)
    csrf, key = _open(client, "/desk/intake")
    assert client.post("/desk/intake", data={**_staff_form(), "csrf": csrf, "idempotency_key": key}).status_code == 303
    r = client.post("/desk/intake", data={**_staff_form(narrative="Nội dung khác (giả lập)."), "csrf": csrf,
                                          "idempotency_key": key})
    assert r.status_code == 409
    assert "đã được gửi trước đó với nội dung khác" in r.text
    assert _key(r.text) != key and "Nội dung khác (giả lập)." in r.text
    assert _counts(db) == (1, 1)


def test_a_missing_required_field_is_shown_beside_it_and_keeps_the_values(desk: Desk, db: Database) -> None:
    client = desk.browser(Role.INTAKE_OPERATOR)
    csrf, key = _open(client, "/desk/intake")
    data = _staff_form(narrative="")
    del data["abuse_forms.violence"]
    r = client.post("/desk/intake", data={**data, "csrf": csrf, "idempotency_key": key})
    assert r.status_code == 422
    html = r.text
    assert re.search(r'id="f-narrative-error">[^<]*Cần điền mục này', html), html
    assert re.search(r'id="f-abuse_forms-error">[^<]*Cần chọn ít nhất một mục', html), html
    assert 'aria-describedby="f-narrative-help f-narrative-error"' in html
    # What was typed is still there, and the key too (nothing was filed under it).
    assert 'value="Nguyễn Văn Thử"' in html and 'value="0900000999"' in html
    assert _key(html) == key
    assert _counts(db) == (0, 0)


def test_a_rule_of_the_domain_is_shown_beside_its_field(desk: Desk, db: Database) -> None:
    client = desk.browser(Role.INTAKE_OPERATOR)
    csrf, key = _open(client, "/desk/intake")
    r = client.post("/desk/intake", data={**_staff_form(**{"child.birth_date": "2030-01-01"}), "csrf": csrf,
                                          "idempotency_key": key})
    assert r.status_code == 422
    assert re.search(r'id="f-child-birth_date-error">[^<]*Ngày sinh không được sau ngày tiếp nhận', r.text)
    bad_phone = client.post("/desk/intake", data={**_staff_form(**{"reporter.phone": "12"}), "csrf": csrf,
                                                  "idempotency_key": key})
    assert bad_phone.status_code == 422
    assert re.search(r'id="f-reporter-phone-error">[^<]*Số điện thoại không hợp lệ', bad_phone.text)
    assert _counts(db) == (0, 0)


def test_a_post_without_the_csrf_token_writes_nothing(desk: Desk, db: Database) -> None:
    client = desk.browser(Role.INTAKE_OPERATOR)
    _, key = _open(client, "/desk/intake")
    assert client.post("/desk/intake", data={**_staff_form(), "idempotency_key": key}).status_code == 403
    forged = {**_staff_form(), "csrf": "0" * 64, "idempotency_key": key}
    assert client.post("/desk/intake", data=forged).status_code == 403
    public = desk.anonymous()
    _, public_key = _open(public, "/bao-cao")
    r = public.post("/bao-cao", data={"place_code": "DONG-AN", "narrative": "Giả lập.", "idempotency_key": public_key})
    assert r.status_code == 403
    assert _counts(db) == (0, 0)


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.ADMIN, Role.AGENCY_OFFICIAL])
def test_roles_that_enter_no_report_are_refused(desk: Desk, db: Database, role: Role) -> None:
    client = desk.browser(role)
    assert client.get("/desk/intake").status_code == 403
    home = client.get("/")
    assert 'href="/desk/intake"' not in home.text
    r = client.post("/desk/intake", data={**_staff_form(), "csrf": csrf_of(home.text), "idempotency_key": "k-123456"})
    assert r.status_code == 403
    assert client.post("/desk/intake", data={"csrf": csrf_of(home.text)}).status_code == 403
    assert _counts(db) == (0, 0)


def test_the_intake_form_needs_a_login(desk: Desk) -> None:
    r = desk.anonymous().get("/desk/intake")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/desk/intake"


def test_an_anonymous_report_gives_a_tracking_code_that_the_lookup_knows(desk: Desk, db: Database) -> None:
    client = desk.anonymous()
    page = client.get("/bao-cao")
    assert page.status_code == 200
    assert 'href="tel:111"' in page.text and "Thôn Tây Bình" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    data = {"place_code": "TAY-BINH", "narrative": "Tôi nghe thấy trẻ khóc và bị mắng chửi hằng đêm (giả lập).",
            "csrf": csrf_of(page.text), "idempotency_key": _key(page.text)}
    r = client.post("/bao-cao", data=data)
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    match = re.fullmatch(r"/bao-cao/da-gui\?ma=([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})", location)
    assert match, location
    code = match.group(1)
    done = client.get(location)
    assert done.status_code == 200 and code in done.text
    # Sent again (a resend after a dropped connection): the same code, no second report.
    again = client.post("/bao-cao", data=data)
    assert again.headers["location"] == location
    assert _counts(db) == (1, 1)
    with db.read() as s:
        assert s.execute(select(col(Report.reporter_id))).scalar_one() is None  # anonymous

    status = client.get(f"/tra-cuu?ma={code.lower()}")
    assert status.status_code == 200
    assert "Đã tiếp nhận" in status.text
    assert "TAY-BINH" not in status.text and "khóc" not in status.text


def test_an_unknown_code_is_not_found(desk: Desk) -> None:
    client = desk.anonymous()
    assert client.get("/tra-cuu").status_code == 200
    unknown = client.get("/tra-cuu?ma=AAAA-BBBB-CCCC")
    malformed = client.get("/tra-cuu?ma=%3Cscript%3E")
    assert unknown.status_code == malformed.status_code == 404
    for r in (unknown, malformed):
        assert "Không tìm thấy báo cáo có mã này" in r.text
    assert "<script>" not in malformed.text


def test_the_public_page_shows_errors_beside_the_fields(desk: Desk, db: Database) -> None:
    client = desk.anonymous()
    page = client.get("/bao-cao")
    r = client.post("/bao-cao", data={"place_code": "", "narrative": "", "reporter.phone": "0900000999",
                                      "csrf": csrf_of(page.text), "idempotency_key": _key(page.text)})
    assert r.status_code == 422
    assert 'id="f-narrative-error"' in r.text and 'id="f-place_code-error"' in r.text
    assert 'value="0900000999"' in r.text
    assert _counts(db) == (0, 0)


def test_the_public_page_in_english(desk: Desk) -> None:
    client = desk.anonymous()
    page = client.get("/bao-cao")
    client.post("/lang", data={"lang": "en", "next": "/bao-cao", "csrf": csrf_of(page.text)})
    english = client.get("/bao-cao")
    assert "Call 111" in english.text and "Send the report" in english.text


def test_the_public_pages_share_the_apis_rate_limits(db: Database, clock: FrozenClock, policy: CommunePolicy,
                                                     commune: Commune) -> None:
    tight = RateLimits(public_intake=Rule(per_minute=1, burst=1), public_status=Rule(per_minute=1, burst=2))
    app = create_app(Runtime(db=db, clock=clock, policy=policy, rate_limits=tight))
    install(app)
    with TestClient(app, follow_redirects=False) as client:
        page = client.get("/bao-cao")
        data = {"place_code": "DONG-AN", "narrative": "Giả lập.", "csrf": csrf_of(page.text)}
        assert client.post("/bao-cao", data={**data, "idempotency_key": "k-first-000001"}).status_code == 303
        refused = client.post("/bao-cao", data={**data, "idempotency_key": "k-second-00001"})
        assert refused.status_code == 429
        assert "hoặc gọi 111" in refused.text and ">Giả lập.</textarea>" in refused.text, refused.text
        assert _counts(db) == (1, 1)
        assert client.get("/tra-cuu?ma=AAAA-BBBB-CCCC").status_code == 404
        assert client.get("/tra-cuu?ma=AAAA-BBBB-CCCC").status_code == 404
        busy = client.get("/tra-cuu?ma=AAAA-BBBB-CCCC")
        assert busy.status_code == 429 and "quá nhiều lượt tra cứu" in busy.text
