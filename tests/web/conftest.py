"""The desk under test: the API's app with the pages installed, around the test database and a
frozen clock, and a browser-like client per role that logs in through the login form.

Pages are tested here through HTTP (TestClient: fast, every role × page); the journeys through
a real Chromium live in tests/browser."""

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import col

from api.app import create_app
from api.deps import Runtime
from models import Database, User
from models.enums import Role
from states.identity.login import AuthConfig
from states.identity.passwords import HashCost, Passwords
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from tests.conftest import Commune
from web import install

CHEAP = Passwords(HashCost(time_cost=1, memory_kib=8, parallelism=1))
PASSWORD = "bàn-làm-việc-thử-nghiệm"
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


def username(role: Role) -> str:
    return f"u-{role.value.replace('_', '-')}"


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


@pytest.fixture
def runtime(db: Database, clock: FrozenClock, policy: CommunePolicy) -> Runtime:
    return Runtime(db=db, clock=clock, policy=policy, auth=AuthConfig(passwords=CHEAP))


@pytest.fixture
def desk_app(runtime: Runtime) -> FastAPI:
    app = create_app(runtime)
    install(app)
    return app


class Desk:
    """Browsers of the test commune: `desk.browser(role)` is a client logged in as that role."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._clients: list[TestClient] = []

    def anonymous(self) -> TestClient:
        client = TestClient(self.app, raise_server_exceptions=False, follow_redirects=False)
        client.__enter__()
        self._clients.append(client)
        return client

    def browser(self, role: Role) -> TestClient:
        client = self.anonymous()
        page = client.get("/login")
        r = client.post("/login", data={"username": username(role), "password": PASSWORD, "next": "/",
                                        "csrf": csrf_of(page.text)})
        assert r.status_code == 303, r.text
        return client

    def close(self) -> None:
        for c in self._clients:
            c.__exit__(None, None, None)


@pytest.fixture
def desk(desk_app: FastAPI, commune: Commune, db: Database) -> Iterator[Desk]:
    """The seeded commune's users, each with the test password."""
    with db.write() as s:
        s.execute(update(User).where(col(User.role) != Role.HOTLINE).values(password_hash=CHEAP.hash(PASSWORD)))
    d = Desk(desk_app)
    yield d
    d.close()


def post_form(client: TestClient, page_url: str, action: str, data: dict[str, str]) -> "object":
    """Open a page, take its CSRF token, post a form to `action` as the browser would."""
    page = client.get(page_url)
    assert page.status_code == 200, page.text
    return client.post(action, data={**data, "csrf": csrf_of(page.text)})
