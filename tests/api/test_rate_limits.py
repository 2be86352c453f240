"""Abuse resistance: token buckets per client address on what anyone may call (public intake,
public tracking, login) and per username on login, shared by the worker processes; CORS closed
unless configured; an unexpected failure reaches the client as the one error shape, never a
trace or SQL."""

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.deps import Runtime
from api.ratelimit import Limiter, RateLimited, RateLimits, Rule
from models import Database, open_database
from models.enums import Role
from states.identity.login import AuthConfig
from states.identity.passwords import HashCost, Passwords
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from tests import dbs
from tests.conftest import Commune, staff_report

CHEAP = Passwords(HashCost(time_cost=1, memory_kib=8, parallelism=1))
TIGHT = RateLimits(public_intake=Rule(per_minute=60, burst=2), public_status=Rule(per_minute=60, burst=3),
                   login_per_address=Rule(per_minute=60, burst=4),
                   login_per_username=Rule(per_minute=60, burst=2))


def make_client(runtime: Runtime | FastAPI, address: str = "203.0.113.7") -> TestClient:
    app = create_app(runtime) if isinstance(runtime, Runtime) else runtime
    return TestClient(app, client=(address, 50000), raise_server_exceptions=False)


@pytest.fixture
def limited(db: Database, clock: FrozenClock, policy: CommunePolicy) -> Runtime:
    return Runtime(db=db, clock=clock, policy=policy, auth=AuthConfig(passwords=CHEAP), rate_limits=TIGHT)


@pytest.fixture
def client(limited: Runtime) -> Iterator[TestClient]:
    with make_client(limited) as c:
        yield c


def online_report() -> dict[str, Any]:
    return {"channel": "online", "place_code": "DONG-AN", "abuse_forms": ["neglect"],
            "narrative": "Trẻ bị bỏ mặc một mình nhiều ngày (dữ liệu giả lập).",
            "child": {"full_name": "Nguyễn Thị Thử", "estimated_age": 8, "sex": "female"}}


def assert_rate_limited(r: Any, retry_after: int = 1) -> None:
    assert r.status_code == 429, r.text
    assert r.headers["Retry-After"] == str(retry_after)
    assert r.json() == {"code": "rate_limited", "message": r.json()["message"],
                        "message_en": f"Too many requests; retry after {retry_after} s."}
    assert r.json()["message"].startswith("Quá nhiều yêu cầu")
    assert r.headers["x-content-type-options"] == "nosniff"


def test_public_intake_is_limited_per_address_and_refills_with_time(
        client: TestClient, commune: Commune, clock: FrozenClock) -> None:
    assert [client.post("/reports", json=online_report()).status_code for _ in range(2)] == [201, 201]
    assert_rate_limited(client.post("/reports", json=online_report()))
    with make_client(client.app, "198.51.100.9") as elsewhere:  # another address has its own bucket
        assert elsewhere.post("/reports", json=online_report()).status_code == 201
    staff = commune.headers(Role.INTAKE_OPERATOR)  # a signed-in client is not limited here
    assert client.post("/reports", json=staff_report(), headers=staff).status_code == 201
    clock.advance(timedelta(seconds=1))
    assert client.post("/reports", json=online_report()).status_code == 201
    assert_rate_limited(client.post("/reports", json=online_report()))


def test_worker_processes_share_one_bucket(limited: Runtime, commune: Commune) -> None:
    """Two apps on one database are two worker processes: nothing shared but the database."""
    with make_client(limited) as one, make_client(limited) as two:
        assert one.post("/reports", json=online_report()).status_code == 201
        assert two.post("/reports", json=online_report()).status_code == 201
        assert_rate_limited(one.post("/reports", json=online_report()))
        assert_rate_limited(two.post("/reports", json=online_report()))


def test_workers_racing_for_the_last_tokens_take_exactly_the_burst(db: Database, clock: FrozenClock) -> None:
    rules = RateLimits(public_intake=Rule(per_minute=1, burst=5))
    workers = [Limiter(rules, clock, db, b"k" * 32) for _ in range(3)]
    barrier = threading.Barrier(12)
    outcomes: list[bool] = []

    def request(limiter: Limiter) -> None:
        barrier.wait()
        try:
            limiter.hit("public_intake", "203.0.113.7")
            outcomes.append(True)
        except RateLimited:
            outcomes.append(False)

    threads = [threading.Thread(target=request, args=(workers[n % 3],)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == [False] * 7 + [True] * 5


def buckets(db: Database) -> dict[str, tuple[float, Any]]:
    with db.read() as s:
        return {k: (t, u) for k, t, u in s.execute(text("SELECT key, tokens, updated_at FROM rate_bucket"))}


def test_buckets_name_no_address_and_full_ones_are_pruned(
        client: TestClient, commune: Commune, db: Database, clock: FrozenClock) -> None:
    assert client.post("/reports", json=online_report()).status_code == 201
    [key] = buckets(db)
    assert key.startswith("public_intake:") and "203.0.113" not in key
    clock.advance(timedelta(minutes=2))  # full again (2 tokens at 1 a second) long ago
    with make_client(client.app, "198.51.100.9") as elsewhere:
        assert elsewhere.post("/reports", json=online_report()).status_code == 201
    [other] = buckets(db)
    assert other != key


def test_a_refused_client_writes_nothing_and_is_refused_again_without_the_database(
        client: TestClient, commune: Commune, db: Database, clock: FrozenClock) -> None:
    assert [client.post("/reports", json=online_report()).status_code for _ in range(2)] == [201, 201]
    before = buckets(db)
    assert before
    clock.advance(timedelta(milliseconds=500))
    assert_rate_limited(client.post("/reports", json=online_report()))
    assert buckets(db) == before  # half a token: not taken, not written
    with db.write() as s:  # had it asked, it would now find a full bucket
        s.execute(text("DELETE FROM rate_bucket"))
    assert_rate_limited(client.post("/reports", json=online_report()))
    clock.advance(timedelta(milliseconds=500))
    assert client.post("/reports", json=online_report()).status_code == 201


def test_public_tracking_is_limited_per_address(client: TestClient, commune: Commune) -> None:
    code = client.post("/reports", json=online_report()).json()["tracking_code"]
    assert [client.get(f"/public/reports/{code}").status_code for _ in range(3)] == [200, 200, 200]
    assert_rate_limited(client.get(f"/public/reports/{code}"))
    assert client.get("/health").status_code == 200  # nothing else is limited


def login(client: TestClient, username: str) -> Any:
    return client.post("/auth/token", data={"grant_type": "password", "username": username,
                                            "password": "không-phải-mật-khẩu"})


def test_login_is_limited_per_username_and_per_address(client: TestClient) -> None:
    assert [login(client, "lan.tran").status_code for _ in range(2)] == [401, 401]
    assert_rate_limited(login(client, "Lan.Tran"))  # the same username, whatever its case
    assert login(client, "minh.le").status_code == 401  # another username: its own bucket
    assert_rate_limited(login(client, "hoa.pham"))  # but this address has used its 4
    with make_client(client.app, "198.51.100.9") as elsewhere:
        assert_rate_limited(login(elsewhere, "lan.tran"))  # the username's bucket follows it


def test_without_configured_limits_nothing_is_limited(db: Database, clock: FrozenClock, policy: CommunePolicy,
                                                       commune: Commune) -> None:
    with make_client(Runtime(db=db, clock=clock, policy=policy)) as unlimited:
        assert {unlimited.post("/reports", json=online_report()).status_code for _ in range(25)} == {201}


# --- CORS ------------------------------------------------------------------------------------

PREFLIGHT = {"Origin": "https://kipthoi.example.vn", "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization,content-type"}


def test_cors_is_closed_by_default(client: TestClient) -> None:
    preflight = client.options("/reports", headers=PREFLIGHT)
    assert "access-control-allow-origin" not in preflight.headers
    simple = client.get("/health", headers={"Origin": "https://kipthoi.example.vn"})
    assert "access-control-allow-origin" not in simple.headers


def test_cors_allows_only_the_configured_origins_without_credentials(
        db: Database, clock: FrozenClock, policy: CommunePolicy) -> None:
    runtime = Runtime(db=db, clock=clock, policy=policy, cors_origins=("https://kipthoi.example.vn",))
    with make_client(runtime) as c:
        ok = c.options("/reports", headers=PREFLIGHT)
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "https://kipthoi.example.vn"
        assert "access-control-allow-credentials" not in ok.headers
        assert "authorization" in ok.headers["access-control-allow-headers"].lower()
        other = c.options("/reports", headers={**PREFLIGHT, "Origin": "https://evil.example"})
        assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
        simple = c.get("/health", headers={"Origin": "https://kipthoi.example.vn"})
        assert simple.headers["access-control-allow-origin"] == "https://kipthoi.example.vn"


# --- nothing internal leaks ------------------------------------------------------------------

LEAKS = ("Traceback", "SELECT", "app_user", "sqlalchemy", "psycopg", "sqlite3", "File \"")


def assert_internal_error(r: Any) -> None:
    assert r.status_code == 500
    assert r.json() == {"code": "internal_error", "message": "Lỗi hệ thống; đã ghi nhận.",
                        "message_en": "Internal error; it has been logged."}
    for leak in LEAKS:
        assert leak not in r.text


def test_an_unexpected_failure_in_a_real_route_answers_500_without_internals(
        client: TestClient, commune: Commune, db: Database) -> None:
    with db.writer.begin() as conn:  # a row the code cannot make sense of
        conn.execute(text("UPDATE app_user SET role = 'emperor' WHERE username = 'u-admin'"))
    assert_internal_error(client.get("/users", headers=commune.headers(Role.ADMIN)))


def test_a_database_that_has_gone_away_leaks_nothing(
        clock: FrozenClock, policy: CommunePolicy, tmp_path: Path, pg_schema_url: str | None,
        sqlite_template: Path | None) -> None:
    if pg_schema_url is not None:  # a schema that is not there: every table is missing
        broken = open_database(dbs.pg_url(f"gone_{tmp_path.name[-12:].lower()}"))
    else:  # the file is no longer a database
        assert sqlite_template is not None
        broken = dbs.sqlite_copy(sqlite_template, tmp_path)
        broken.dispose()
        Path(broken.url.removeprefix("sqlite:///")).write_bytes(b"\x00not a database\x00" * 512)
    try:
        runtime = Runtime(db=broken, clock=clock, policy=policy, auth=AuthConfig(passwords=CHEAP))
        with make_client(runtime) as c:
            assert_internal_error(login(c, "lan.tran"))
            assert_internal_error(c.get("/public/reports/K7QM-4RZP-9CXT"))
    finally:
        broken.dispose()
