"""Logging in through the API: the OAuth2 password flow, the failed-login throttle, refresh
rotation and reuse detection, logout, expiry, tampering, password change, the audit trail.

The app is the real one around a test database and a FrozenClock; only the argon2 cost is
lowered (a setting), so that a hash takes microseconds."""

from datetime import timedelta
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from pydantic import SecretStr
from sqlalchemy import select

from api.app import create_app
from api.deps import Runtime
from models import AuditEvent, Database, User
from models.enums import Role
from states.identity.accounts import UserIn, create_user
from states.identity.actors import SYSTEM
from states.identity.login import AuthConfig
from states.identity.passwords import HashCost, Passwords
from states.identity.sessions import TokenConfig
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from tests.conftest import Commune

CHEAP = Passwords(HashCost(time_cost=1, memory_kib=8, parallelism=1))
PASSWORD = "ngựa-pin-kẹp-giấy-đúng"
WRONG = "không-phải-mật-khẩu"


@pytest.fixture
def runtime(db: Database, clock: FrozenClock, policy: CommunePolicy) -> Runtime:
    return Runtime(db=db, clock=clock, policy=policy, auth=AuthConfig(passwords=CHEAP))


def person(db: Database, clock: FrozenClock, username: str = "lan.tran", role: Role = Role.CASE_WORKER,
           password: str = PASSWORD, passwords: Passwords = CHEAP) -> int:
    with db.write() as s:
        user, key = create_user(s, clock, SYSTEM, UserIn(
            username=username, display_name="Trần Thị Thử", role=role, password=SecretStr(password)),
            passwords)
        assert key is None  # people log in; they get no API key
        return user.id or 0


def login(client: TestClient, username: str = "lan.tran", password: str = PASSWORD, **form: str) -> Response:
    return client.post("/auth/token", data={"grant_type": "password", "username": username,
                                            "password": password, **form})


def tokens(client: TestClient, username: str = "lan.tran", password: str = PASSWORD) -> dict[str, Any]:
    r = login(client, username, password)
    assert r.status_code == 200, r.text
    return dict(r.json())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def audit_events(db: Database) -> list[AuditEvent]:
    with db.read() as s:
        return list(s.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars())


def actions(db: Database) -> list[str]:
    return [e.action for e in audit_events(db)]


# --- logging in ------------------------------------------------------------------------------


def test_login_gives_a_bearer_token_pair_that_opens_the_api(
        client: TestClient, commune: Commune, db: Database, clock: FrozenClock) -> None:
    user_id = person(db, clock)
    body = tokens(client)
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 15 * 60
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert set(claims) == {"sub", "role", "sid", "iat", "exp"}
    assert claims["sub"] == str(user_id) and claims["role"] == "case_worker"
    assert claims["iat"] == int(clock.now().timestamp()) and claims["exp"] - claims["iat"] == 900
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "HS256"
    me = client.get("/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json() == {"id": user_id, "username": "lan.tran", "display_name": "Trần Thị Thử",
                         "role": "case_worker", "official_id": None}
    assert client.get("/places", headers=bearer(body["access_token"])).status_code == 200


def test_an_api_key_still_authenticates_and_me_answers_for_it(client: TestClient, commune: Commune) -> None:
    me = client.get("/auth/me", headers=commune.headers(Role.HOTLINE))
    assert me.status_code == 200 and me.json()["role"] == "hotline"
    assert client.get("/auth/me").status_code == 401


def test_a_wrong_password_and_an_unknown_username_get_the_same_answer(
        client: TestClient, commune: Commune, db: Database, clock: FrozenClock) -> None:
    person(db, clock)
    wrong, unknown = login(client, password=WRONG), login(client, username="khong.co.ai")
    no_password = login(client, username="u-hotline")  # exists, but logs in with a key only
    for r in (wrong, unknown, no_password):
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"] == "Bearer"
        assert r.json() == wrong.json()
    assert wrong.json()["code"] == "invalid_credentials" and wrong.json()["message"]


def test_the_form_must_ask_for_the_password_grant(
        client: TestClient, db: Database, clock: FrozenClock) -> None:
    person(db, clock)
    r = login(client, grant_type="client_credentials")
    assert r.status_code == 422 and r.json()["field"] == "grant_type"
    assert client.post("/auth/token", data={"username": "lan.tran"}).json()["field"] == "password"


# --- the throttle ----------------------------------------------------------------------------


def test_from_the_third_failure_each_attempt_waits_longer_with_retry_after(
        client: TestClient, db: Database, clock: FrozenClock) -> None:
    person(db, clock)
    for _ in range(3):
        assert login(client, password=WRONG).status_code == 401
    waits = []
    for _ in range(7):
        refused = login(client)  # even the right password is refused while blocked
        assert refused.status_code == 429 and refused.json()["code"] == "login_throttled"
        waits.append(int(refused.headers["Retry-After"]))
        clock.advance(timedelta(seconds=waits[-1]))
        assert login(client, password=WRONG).status_code == 401
    assert waits == [1, 2, 4, 8, 16, 32, 60]


def test_an_unknown_username_is_throttled_just_like_a_real_one(
        client: TestClient, db: Database, clock: FrozenClock) -> None:
    person(db, clock)
    answers: dict[str, list[tuple[int, str, str | None]]] = {}
    for name in ("lan.tran", "khong.co.ai"):
        answers[name] = []
        for _ in range(5):
            r = login(client, username=name, password=WRONG)
            answers[name].append((r.status_code, r.json()["code"], r.headers.get("Retry-After")))
    assert answers["lan.tran"] == answers["khong.co.ai"]
    assert [a[0] for a in answers["lan.tran"]] == [401, 401, 401, 429, 429]


def fail_until_locked(client: TestClient, clock: FrozenClock, username: str = "lan.tran") -> None:
    failures = 0
    while failures < 10:
        r = login(client, username=username, password=WRONG)
        if r.status_code == 429:
            clock.advance(timedelta(seconds=int(r.headers["Retry-After"])))
        else:
            assert r.status_code == 401
            failures += 1


def test_ten_failures_lock_the_account_for_fifteen_minutes(
        client: TestClient, db: Database, clock: FrozenClock) -> None:
    person(db, clock)
    fail_until_locked(client, clock)
    locked = login(client)
    assert locked.status_code == 429 and locked.json()["code"] == "account_locked"
    assert int(locked.headers["Retry-After"]) == 15 * 60
    assert locked.json()["message"] and locked.json()["message_en"]
    clock.advance(timedelta(minutes=14, seconds=59))
    assert login(client).json()["code"] == "account_locked"
    clock.advance(timedelta(seconds=1))
    assert login(client).status_code == 200


def test_a_success_resets_the_count(client: TestClient, db: Database, clock: FrozenClock) -> None:
    person(db, clock)
    for _ in range(3):
        login(client, password=WRONG)
    clock.advance(timedelta(seconds=1))
    assert login(client).status_code == 200
    for _ in range(2):
        assert login(client, password=WRONG).status_code == 401
    assert login(client).status_code == 200  # two failures: no delay yet


def test_login_failure_lockout_and_logout_are_audited_without_secrets(
        client: TestClient, db: Database, clock: FrozenClock) -> None:
    user_id = person(db, clock)
    login(client, username="khong.co.ai", password=WRONG)
    fail_until_locked(client, clock)
    clock.advance(timedelta(minutes=15))
    pair = tokens(client)
    assert client.post("/auth/logout", headers=bearer(pair["access_token"])).status_code == 204
    events = [e for e in audit_events(db) if e.action.startswith("auth.")]
    assert [e.action for e in events] == (["auth.login_failed"] * 11 + ["auth.locked_out", "auth.login",
                                                                        "auth.logout"])
    unknown = events[0]
    assert unknown.actor == "public" and "khong.co.ai" not in unknown.after
    assert {e.actor for e in events[1:]} == {f"user:{user_id}"}
    assert '"failures":10' in events[11].after
    trail = " ".join(f"{e.actor} {e.before} {e.after}" for e in audit_events(db))
    for secret in (PASSWORD, WRONG, pair["access_token"], pair["refresh_token"], "lan.tran", "$argon2"):
        assert secret not in trail


# --- refresh, logout, expiry -----------------------------------------------------------------


def refresh(client: TestClient, token: str) -> Response:
    return client.post("/auth/refresh", json={"refresh_token": token})


def test_refresh_rotates_the_pair_and_the_old_refresh_token_dies(
        client: TestClient, db: Database, clock: FrozenClock) -> None:
    person(db, clock)
    first = tokens(client)
    clock.advance(timedelta(minutes=10))
    second = refresh(client, first["refresh_token"])
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    assert second.json()["access_token"] != first["access_token"]
    assert client.get("/auth/me", headers=bearer(second.json()["access_token"])).status_code == 200
    assert refresh(client, second.json()["refresh_token"]).status_code == 200


def test_a_reused_refresh_token_revokes_the_whole_session(
        client: TestClient, db: Database, clock: FrozenClock) -> None:
    user_id = person(db, clock)
    first = tokens(client)
    second = refresh(client, first["refresh_token"]).json()
    reused = refresh(client, first["refresh_token"])  # a thief's copy, or the victim's
    assert reused.status_code == 401 and reused.json()["code"] == "invalid_refresh_token"
    assert client.get("/auth/me", headers=bearer(second["access_token"])).status_code == 401
    assert refresh(client, second["refresh_token"]).status_code == 401
    reuse = [e for e in audit_events(db) if e.action == "auth.refresh_reused"]
    assert len(reuse) == 1 and reuse[0].actor == f"user:{user_id}"
    assert tokens(client)["access_token"]  # logging in again works


def test_logout_stops_the_access_and_the_refresh_token_at_once(
        client: TestClient, db: Database, clock: FrozenClock) -> None:
    person(db, clock)
    pair, other = tokens(client), tokens(client)
    assert client.post("/auth/logout", headers=bearer(pair["access_token"])).status_code == 204
    assert client.get("/auth/me", headers=bearer(pair["access_token"])).status_code == 401
    assert refresh(client, pair["refresh_token"]).status_code == 401
    assert client.get("/auth/me", headers=bearer(other["access_token"])).status_code == 200  # another session


def test_an_api_key_has_no_session_to_log_out_of(client: TestClient, commune: Commune) -> None:
    r = client.post("/auth/logout", headers=commune.headers(Role.HOTLINE))
    assert r.status_code == 422 and r.json()["rule"] == "session_token"


def test_an_access_token_expires_after_fifteen_minutes(
        client: TestClient, db: Database, clock: FrozenClock) -> None:
    person(db, clock)
    pair = tokens(client)
    clock.advance(timedelta(minutes=14, seconds=59))
    assert client.get("/auth/me", headers=bearer(pair["access_token"])).status_code == 200
    clock.advance(timedelta(seconds=1))
    expired = client.get("/auth/me", headers=bearer(pair["access_token"]))
    assert expired.status_code == 401 and expired.headers["WWW-Authenticate"] == "Bearer"
    assert expired.json()["code"] == "http_401"
    assert refresh(client, pair["refresh_token"]).status_code == 200  # the refresh token still lives


def test_a_refresh_token_expires_after_twelve_hours(
        client: TestClient, db: Database, clock: FrozenClock) -> None:
    person(db, clock)
    pair = tokens(client)
    clock.advance(timedelta(hours=12))
    assert refresh(client, pair["refresh_token"]).status_code == 401


def test_a_tampered_or_foreign_token_is_refused(
        client: TestClient, db: Database, clock: FrozenClock, policy: CommunePolicy) -> None:
    person(db, clock)
    token = tokens(client)["access_token"]
    head, payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    forged_payload = jwt.encode({**claims, "role": "admin"}, "x" * 32, algorithm="HS256").split(".")[1]
    other_runtime = Runtime(db=db, clock=clock, policy=policy, auth=AuthConfig(
        tokens=TokenConfig(signing_key=b"k" * 32), passwords=CHEAP))
    with TestClient(create_app(other_runtime)) as other:
        foreign = tokens(other)["access_token"]  # a real session, signed with another key
    unsigned = jwt.encode(claims, None, algorithm="none")
    for bad in (f"{head}.{forged_payload}.{signature}", f"{head}.{payload}.{signature[:-2]}AA",
                foreign, unsigned, "not-a-token"):
        r = client.get("/auth/me", headers=bearer(bad))
        assert r.status_code == 401, bad


# --- changing one's password -----------------------------------------------------------------


def change(client: TestClient, token: str, current: str, new: str) -> Response:
    return client.post("/auth/password", headers=bearer(token),
                       json={"current_password": current, "new_password": new})


def test_changing_the_password_needs_the_current_one_and_ends_the_other_sessions(
        client: TestClient, db: Database, clock: FrozenClock) -> None:
    person(db, clock)
    here, elsewhere = tokens(client), tokens(client)
    wrong = change(client, here["access_token"], WRONG, "mật-khẩu-mới-dài-đủ")
    assert wrong.status_code == 422
    assert (wrong.json()["field"], wrong.json()["rule"]) == ("current_password", "matches_current")
    assert change(client, here["access_token"], PASSWORD, "mật-khẩu-mới-dài-đủ").status_code == 204
    assert client.get("/auth/me", headers=bearer(here["access_token"])).status_code == 200
    assert client.get("/auth/me", headers=bearer(elsewhere["access_token"])).status_code == 401
    assert refresh(client, elsewhere["refresh_token"]).status_code == 401
    assert login(client).status_code == 401
    assert login(client, password="mật-khẩu-mới-dài-đủ").status_code == 200
    assert "auth.password_changed" in actions(db)


@pytest.mark.parametrize(("new", "rule"), [("ngắn", "min_length"), ("tôi-là-lan.tran-mà", "not_username")])
def test_a_new_password_that_breaks_the_policy_names_the_field(
        client: TestClient, db: Database, clock: FrozenClock, new: str, rule: str) -> None:
    person(db, clock)
    r = change(client, tokens(client)["access_token"], PASSWORD, new)
    assert r.status_code == 422 and (r.json()["field"], r.json()["rule"]) == ("new_password", rule)


def test_guessing_the_current_password_is_throttled_like_a_login(
        client: TestClient, db: Database, clock: FrozenClock) -> None:
    person(db, clock)
    token = tokens(client)["access_token"]
    for _ in range(3):
        assert change(client, token, WRONG, "mật-khẩu-mới-dài-đủ").status_code == 422
    r = change(client, token, PASSWORD, "mật-khẩu-mới-dài-đủ")
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert login(client).status_code == 429  # the same counter


# --- hashes ----------------------------------------------------------------------------------


def test_a_login_rehashes_a_password_stored_at_an_older_cost(
        client: TestClient, db: Database, clock: FrozenClock) -> None:
    person(db, clock, passwords=Passwords(HashCost(time_cost=2, memory_kib=16, parallelism=1)))
    with db.read() as s:
        before = s.execute(select(User.password_hash)).scalar_one()
    tokens(client)
    with db.read() as s:
        after = s.execute(select(User.password_hash)).scalar_one()
    assert before and after and "m=16,t=2,p=1" in before and "m=8,t=1,p=1" in after
    assert tokens(client)["access_token"]  # the new hash verifies
