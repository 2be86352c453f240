"""The desk's session: a cookie naming a login session on the server, ended by idleness, by
age, by logging out; flags a browser honours; the same throttle as the API's login."""

from dataclasses import replace
from datetime import timedelta

from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import Runtime
from models.enums import Role
from states.kernel.clock import FrozenClock
from tests.conftest import Commune
from tests.web.conftest import PASSWORD, Desk, csrf_of, username
from web import install
from web.session import COOKIE


def test_the_cookie_is_httponly_lax_and_names_no_one(desk: Desk) -> None:
    client = desk.anonymous()
    page = client.get("/login")
    r = client.post("/login", data={"username": username(Role.HEAD), "password": PASSWORD, "next": "/",
                                    "csrf": csrf_of(page.text)})
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith(COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    assert "head" not in value and "u-" not in value  # ids and a stamp, signed: no name, no role


def test_secure_cookies_when_people_reach_us_over_https(runtime: Runtime, commune: Commune, desk: Desk) -> None:
    policy = replace(runtime.policy, notify=replace(runtime.policy.notify, public_url="https://kipthoi.example"))
    app = create_app(replace(runtime, policy=policy))
    install(app)
    with TestClient(app, follow_redirects=False) as client:
        page = client.get("/login")
        assert "Secure" in page.headers["set-cookie"]  # the anonymous CSRF seed too
        r = client.post("/login", data={"username": username(Role.HEAD), "password": PASSWORD, "next": "/",
                                        "csrf": csrf_of(page.text)})
        assert all("Secure" in h for h in r.headers.get_list("set-cookie"))


def test_an_idle_session_ends_and_activity_keeps_it(desk: Desk, clock: FrozenClock) -> None:
    worker = desk.browser(Role.CASE_WORKER)
    for _ in range(3):  # 3 × 20 minutes, each with a click: the session lives on
        clock.advance(timedelta(minutes=20))
        assert worker.get("/").status_code == 200
    clock.advance(timedelta(minutes=31))
    r = worker.get("/desk/cases")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/desk/cases"


def test_a_busy_session_still_ends_when_its_login_is_too_old(desk: Desk, clock: FrozenClock) -> None:
    worker = desk.browser(Role.CASE_WORKER)
    for _ in range(12 * 3):  # a click every 20 minutes for 12 hours
        clock.advance(timedelta(minutes=20))
        status = worker.get("/").status_code
    assert status == 303


def test_logging_out_ends_the_session_on_the_server(desk: Desk) -> None:
    worker = desk.browser(Role.CASE_WORKER)
    stolen = worker.cookies.get(COOKIE)
    page = worker.get("/")
    assert worker.post("/logout", data={"csrf": csrf_of(page.text)}).status_code == 303
    thief = desk.anonymous()
    thief.cookies.set(COOKIE, stolen or "")
    assert thief.get("/").status_code == 303  # the copied cookie no longer opens anything


def test_a_forged_cookie_opens_nothing(desk: Desk) -> None:
    worker = desk.browser(Role.CASE_WORKER)
    value = worker.cookies.get(COOKIE) or ""
    session_id, user_id, rest = value.split(".", 2)
    other = desk.anonymous()
    other.cookies.set(COOKIE, f"{session_id}.{int(user_id) + 1}.{rest}")
    assert other.get("/").status_code == 303


def test_failed_logins_are_throttled_like_the_api(desk: Desk) -> None:
    client = desk.anonymous()
    statuses = []
    for _ in range(4):
        page = client.get("/login")
        statuses.append(client.post("/login", data={
            "username": username(Role.HEAD), "password": "không-phải-mật-khẩu", "next": "/",
            "csrf": csrf_of(page.text)}).status_code)
    assert statuses[:3] == [401, 401, 401] and statuses[3] == 429
    # Even the right password waits now (the block is per username, not per browser).
    other = desk.anonymous()
    page = other.get("/login")
    r = other.post("/login", data={"username": username(Role.HEAD), "password": PASSWORD, "next": "/",
                                   "csrf": csrf_of(page.text)})
    assert r.status_code == 429 and "Đăng nhập" in r.text


def test_after_login_the_browser_goes_where_it_was_going_and_never_elsewhere(desk: Desk) -> None:
    for target, expected in (("/desk/cases", "/desk/cases"), ("//evil.example/x", "/"),
                             ("https://evil.example", "/"), ("/\\evil.example", "/")):
        client = desk.anonymous()
        page = client.get("/login")
        r = client.post("/login", data={"username": username(Role.CASE_WORKER), "password": PASSWORD,
                                        "next": target, "csrf": csrf_of(page.text)})
        assert r.headers["location"] == expected
