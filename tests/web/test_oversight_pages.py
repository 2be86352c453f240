"""The auditor's and the administrator's pages: who may open each (from the permission table,
so the test follows it), the forms (CSRF, errors beside fields, 303 after a write), an account
made at the desk that logs in and is then shut out, the trail that records its own reading, and
the English catalog."""

import re

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import col

from models import Agency, AuditEvent, Database, Official, Place, User
from models.enums import Role
from states.access.permissions import ACTIONS
from tests.conftest import Commune, staff_report
from tests.web.conftest import Desk, csrf_of, post_form, username

PEOPLE = [r for r in Role if r is not Role.HOTLINE]  # the hotline has no password: no desk

# Each page and the action that opens it; the expected status is read from ACTIONS.
PAGES = [
    ("/desk/audit", "audit.read"),
    ("/desk/audit/access", "case.access_log"),
    ("/desk/audit/verify", "audit.verify"),
    ("/desk/stats", "stats.read"),
    ("/desk/admin", "user.read"),
    ("/desk/admin/directory", "directory.write"),
    ("/desk/admin/settings", "user.read"),
    ("/desk/admin/keys", "keys.status"),
]
NEW_USER = {"username": "tran-thi-thu", "display_name": "Trần Thị Thử", "role": Role.CASE_WORKER.value,
            "password": "mật-khẩu-thử-nghiệm-dài"}


def send(client: TestClient, page_url: str, action: str, data: dict[str, str]) -> httpx.Response:
    r = post_form(client, page_url, action, data)
    assert isinstance(r, httpx.Response)
    return r


def events(db: Database, action: str) -> int:
    with db.read() as s:
        return int(s.execute(select(func.count()).select_from(AuditEvent)
                             .where(col(AuditEvent.action) == action)).scalar_one())


@pytest.mark.parametrize("url,action", PAGES)
@pytest.mark.parametrize("role", PEOPLE, ids=lambda r: r.value)
def test_each_page_opens_for_the_roles_the_permissions_name(desk: Desk, role: Role, url: str, action: str) -> None:
    r = desk.browser(role).get(url)
    expected = 200 if role in ACTIONS[action] else 403
    assert r.status_code == expected, (role, url, r.text[:300])
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("url", [u for u, _ in PAGES] + ["/desk/audit/access?code=NH-2026-0001"])
def test_anonymous_is_sent_to_the_login(desk: Desk, url: str) -> None:
    r = desk.anonymous().get(url)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=/desk/")


@pytest.mark.parametrize("url,data", [
    ("/desk/admin/users", NEW_USER),
    ("/desk/admin/directory/place", {"code": "BAC-SON", "name": "Thôn Bắc Sơn"}),
    ("/desk/audit/verify", {}),
])
@pytest.mark.parametrize("role", [Role.ADMIN, Role.AUDITOR, Role.CASE_WORKER], ids=lambda r: r.value)
def test_posts_of_the_wrong_role_are_refused(desk: Desk, role: Role, url: str, data: dict[str, str]) -> None:
    client = desk.browser(role)
    r = client.post(url, data={**data, "csrf": csrf_of(client.get("/").text)})
    allowed = {"/desk/admin/users": "user.write", "/desk/admin/directory/place": "directory.write",
               "/desk/audit/verify": "audit.verify"}[url]
    assert (r.status_code in (200, 303)) == (role in ACTIONS[allowed]), r.text[:300]
    if role not in ACTIONS[allowed]:
        assert r.status_code == 403


def test_audit_page_shows_events_and_its_own_reading(desk: Desk, db: Database) -> None:
    client = desk.browser(Role.AUDITOR)
    before = events(db, "audit.read")
    r = client.get("/desk/audit")
    assert r.status_code == 200
    assert "user.created" in r.text and "place.created" in r.text
    assert events(db, "audit.read") == before + 1
    # The next read shows the first one; filtering by action narrows the page.
    r = client.get("/desk/audit?action=audit.read")
    assert r.status_code == 200
    assert "audit.read" in r.text and "place.created" not in r.text.split("<tbody>")[1]
    assert events(db, "audit.read") == before + 2


def test_audit_filters_are_checked_beside_their_fields(desk: Desk, db: Database) -> None:
    client = desk.browser(Role.AUDITOR)
    r = client.get("/desk/audit?case=<script>")
    assert r.status_code == 422
    assert 'class="field-error"' in r.text and "&lt;SCRIPT&gt;" in r.text and "<SCRIPT>" not in r.text
    r = client.get("/desk/audit?case=NH-2099-9999")
    assert r.status_code == 404 and 'class="field-error"' in r.text


def test_the_pager_goes_on_after_the_last_event(desk: Desk) -> None:
    client = desk.browser(Role.AUDITOR)
    first = client.get("/desk/audit").text
    seqs = [int(n) for n in re.findall(r'<td data-label="Số">(\d+)</td>', first)]
    assert seqs == sorted(seqs) and seqs[0] == 1
    later = client.get(f"/desk/audit?after={seqs[-1]}").text
    rest = [int(n) for n in re.findall(r'<td data-label="Số">(\d+)</td>', later)]
    assert rest and min(rest) > seqs[-1]


def test_who_viewed_a_case(desk: Desk, client: TestClient, commune: Commune, db: Database) -> None:
    opened = client.post("/reports", json=staff_report(), headers=commune.headers(Role.INTAKE_OPERATOR))
    code = opened.json()["case_code"]
    assert client.get(f"/cases/{code}", headers=commune.headers(Role.CASE_WORKER)).status_code == 200
    auditor = desk.browser(Role.AUDITOR)
    before = events(db, "access_log.read")
    r = auditor.get(f"/desk/audit/access?code={code}")
    assert r.status_code == 200
    assert f"user:{commune.actors[Role.CASE_WORKER].ref.split(':')[1]}" in r.text
    assert events(db, "access_log.read") == before + 1
    assert auditor.get("/desk/audit/access?code=NH-2099-0001").status_code == 404
    assert auditor.get("/desk/audit/access?code=bad code").status_code == 422


def test_verifying_the_chain_shows_the_verdict(desk: Desk) -> None:
    r = send(desk.browser(Role.AUDITOR), "/desk/audit", "/desk/audit/verify", {})
    assert r.status_code == 200
    assert "Nhật ký toàn vẹn." in r.text


def test_stats_show_the_figures_in_vietnamese_format(desk: Desk, client: TestClient, commune: Commune) -> None:
    for _ in range(2):
        client.post("/reports", json=staff_report(), headers=commune.headers(Role.INTAKE_OPERATOR))
    r = desk.browser(Role.HEAD).get("/desk/stats")
    assert r.status_code == 200
    assert "Bảo vệ khẩn cấp" in r.text and "Tỷ lệ đúng hạn" in r.text
    r = desk.browser(Role.AUDITOR).get("/desk/stats?start=2026-03-01&end=2026-03-31")
    assert r.status_code == 200 and "01/03/2026" in r.text
    r = desk.browser(Role.AUDITOR).get("/desk/stats?start=2026-03-31&end=2026-03-01")
    assert r.status_code == 422 and 'class="field-error"' in r.text


def test_an_account_made_at_the_desk_logs_in_and_is_shut_out_when_deactivated(desk: Desk, db: Database) -> None:
    admin = desk.browser(Role.ADMIN)
    r = send(admin, "/desk/admin", "/desk/admin/users", NEW_USER)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/desk/admin?ok=created"
    page = admin.get("/desk/admin?ok=created").text
    assert "Đã tạo tài khoản." in page and "Trần Thị Thử" in page

    person = desk.anonymous()
    login = person.get("/login")
    r = person.post("/login", data={"username": NEW_USER["username"], "password": NEW_USER["password"], "next": "/",
                                    "csrf": csrf_of(login.text)})
    assert r.status_code == 303
    assert person.get("/").status_code == 200

    with db.read() as s:
        user_id = s.execute(select(col(User.id)).where(col(User.username) == NEW_USER["username"])).scalar_one()
    confirm = admin.get(f"/desk/admin/users/{user_id}/deactivate")
    assert confirm.status_code == 200 and "Trần Thị Thử" in confirm.text
    r = admin.post(f"/desk/admin/users/{user_id}/deactivate", data={"csrf": csrf_of(confirm.text)})
    assert r.status_code == 303 and r.headers["location"] == "/desk/admin?ok=deactivated"
    r = person.get("/")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_a_refused_account_form_keeps_what_was_typed(desk: Desk, db: Database) -> None:
    admin = desk.browser(Role.ADMIN)
    bad = {**NEW_USER, "username": "Trần Thử", "password": "ngắn"}
    r = send(admin, "/desk/admin", "/desk/admin/users", bad)
    assert r.status_code == 422
    assert 'class="field-error"' in r.text and 'value="Trần Thị Thử"' in r.text
    assert "ngắn" not in r.text  # a password is never sent back
    # Well-formed but against the password policy: the use case's message beside the field.
    r = send(admin, "/desk/admin", "/desk/admin/users", {**NEW_USER, "password": "ngắn"})
    assert r.status_code == 422 and "ít nhất 12 ký tự" in r.text
    r = send(admin, "/desk/admin", "/desk/admin/users", {**NEW_USER, "username": username(Role.HEAD)})
    assert r.status_code == 422 and "đã tồn tại" in r.text
    with db.read() as s:
        assert s.execute(select(User).where(col(User.display_name) == "Trần Thị Thử")).first() is None


def test_a_post_without_its_csrf_token_writes_nothing(desk: Desk, db: Database) -> None:
    admin = desk.browser(Role.ADMIN)
    with db.read() as s:
        users = s.execute(select(func.count()).select_from(User)).scalar_one()
        places = s.execute(select(func.count()).select_from(Place)).scalar_one()
    r = admin.post("/desk/admin/users", data=NEW_USER)
    assert r.status_code == 403
    r = admin.post("/desk/admin/directory/place", data={"code": "BAC-SON", "name": "Thôn Bắc Sơn", "csrf": "0" * 64})
    assert r.status_code == 403
    with db.read() as s:
        head = s.execute(select(col(User.id)).where(col(User.username) == username(Role.HEAD))).scalar_one()
    assert admin.post(f"/desk/admin/users/{head}/deactivate", data={}).status_code == 403
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(User)).scalar_one() == users
        assert s.execute(select(func.count()).select_from(Place)).scalar_one() == places
        assert s.get(User, head).active  # type: ignore[union-attr]


def test_the_hotline_key_is_shown_once(desk: Desk, db: Database) -> None:
    admin = desk.browser(Role.ADMIN)
    with db.read() as s:
        hotline = s.execute(select(col(User.id)).where(col(User.role) == Role.HOTLINE)).scalar_one()
        head = s.execute(select(col(User.id)).where(col(User.username) == username(Role.HEAD))).scalar_one()
    r = send(admin, "/desk/admin", f"/desk/admin/users/{hotline}/api-key", {})
    assert r.status_code == 201
    key = re.search(r"kt_[A-Za-z0-9_-]{20,}", r.text)
    assert key is not None
    assert key.group(0) not in admin.get("/desk/admin").text
    # The key works against the API; a person's account gets none.
    assert admin.get("/hotline/reports/none", headers={"Authorization": f"Bearer {key.group(0)}"}).status_code != 401
    r = send(admin, "/desk/admin", f"/desk/admin/users/{head}/api-key", {})
    assert r.status_code == 422


def test_directory_forms_add_and_refuse(desk: Desk, db: Database) -> None:
    admin = desk.browser(Role.ADMIN)
    page = "/desk/admin/directory"
    r = send(admin, page, "/desk/admin/directory/place", {"code": "BAC-SON", "name": "Thôn Bắc Sơn"})
    assert r.status_code == 303 and r.headers["location"].startswith("/desk/admin/directory?ok=place")
    r = send(admin, page, "/desk/admin/directory/place", {"code": "BAC-SON", "name": "Thôn Bắc Sơn 2"})
    assert r.status_code == 422 and "đã tồn tại" in r.text
    r = send(admin, page, "/desk/admin/directory/agency",
                  {"code": "TRUONG-TH", "name_vi": "Trường Tiểu học", "name_en": "Primary school", "kind": "school"})
    assert r.status_code == 303
    r = send(admin, page, "/desk/admin/directory/official",
                  {"full_name": "Trần Thị Thử", "agency_code": "TRUONG-TH", "title": "Hiệu trưởng",
                   "phone": "+84900000123", "language": "vi", "position": "agency_contact"})
    assert r.status_code == 303
    r = send(admin, page, "/desk/admin/directory/official",
                  {"full_name": "Trần Thị Thử", "agency_code": "TRUONG-TH", "title": "", "phone": "12",
                   "language": "vi", "position": "member"})
    assert r.status_code == 422 and r.text.count('class="field-error"') >= 2
    assert 'value="Trần Thị Thử"' in r.text
    listing = admin.get(page).text
    assert "Thôn Bắc Sơn" in listing and "Trường Tiểu học" in listing and "+84900000123" in listing
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(Place).where(col(Place.code) == "BAC-SON")).scalar_one() == 1
        assert s.execute(select(Agency).where(col(Agency.code) == "TRUONG-TH")).first() is not None
        assert s.execute(select(func.count()).select_from(Official)
                         .where(col(Official.title) == "Hiệu trưởng")).scalar_one() == 1


def test_settings_show_the_loaded_policy_and_routing(desk: Desk) -> None:
    r = desk.browser(Role.ADMIN).get("/desk/admin/settings")
    assert r.status_code == 200
    assert "Bảo vệ khẩn cấp" in r.text and "12 giờ" in r.text and "Nghị định 56/2017" in r.text
    assert "emergency" in r.text and "07:30" in r.text


def test_english_reads_the_oversight_catalog(desk: Desk) -> None:
    auditor = desk.browser(Role.AUDITOR)
    auditor.cookies.set("kt_lang", "en")
    r = auditor.get("/desk/audit")
    assert "Audit trail" in r.text and "Nhật ký kiểm tra" not in r.text.split("<main")[1]
    admin = desk.browser(Role.ADMIN)
    admin.cookies.set("kt_lang", "en")
    r = admin.get("/desk/admin")
    assert "Create an account" in r.text and "Tạo tài khoản" not in r.text
