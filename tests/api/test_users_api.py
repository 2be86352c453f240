"""Account administration through the API: only administrators; people get passwords, the
hotline gets API keys; deactivation stops sessions and keys at once; every change is audited."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.deps import Runtime
from models import AuditEvent, Database
from models.enums import Role
from states.identity.login import AuthConfig
from states.identity.passwords import HashCost, Passwords
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from tests.conftest import Commune, hotline_report

CHEAP = Passwords(HashCost(time_cost=1, memory_kib=8, parallelism=1))
PASSWORD = "ngựa-pin-kẹp-giấy-đúng"
ADMIN = Role.ADMIN


@pytest.fixture
def runtime(db: Database, clock: FrozenClock, policy: CommunePolicy) -> Runtime:
    return Runtime(db=db, clock=clock, policy=policy, auth=AuthConfig(passwords=CHEAP))


def new_user(**overrides: Any) -> dict[str, Any]:
    return {"username": "minh.le", "display_name": "Lê Văn Thử", "role": "case_worker",
            "password": PASSWORD, **overrides}


def add(client: TestClient, commune: Commune, body: dict[str, Any], role: Role = ADMIN) -> Any:
    return client.post("/users", json=body, headers=commune.headers(role))


def login(client: TestClient, username: str = "minh.le", password: str = PASSWORD) -> Any:
    return client.post("/auth/token", data={"grant_type": "password", "username": username,
                                            "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def audit_actions(db: Database) -> list[str]:
    with db.read() as s:
        return list(s.execute(select(AuditEvent.action).order_by(AuditEvent.seq)).scalars())


def test_an_admin_adds_a_person_who_then_logs_in(client: TestClient, commune: Commune, db: Database) -> None:
    official = commune.officials[Role.CASE_WORKER]
    r = add(client, commune, new_user(official_id=official))
    assert r.status_code == 201, r.text
    assert r.json() == {"id": r.json()["id"], "username": "minh.le", "display_name": "Lê Văn Thử",
                        "role": "case_worker", "official_id": official, "active": True, "api_key": None}
    assert login(client).status_code == 200
    assert audit_actions(db)[-2:] == ["user.created", "auth.login"]


@pytest.mark.parametrize(("body", "field", "rule"), [
    (new_user(password="ngắn"), "password", "min_length"),
    (new_user(password="đây-là-minh.le-nhé"), "password", "not_username"),
    (new_user(password=None), "password", "required_for_people"),
    (new_user(username="u-case-worker"), "username", "unique"),
    (new_user(role="emperor"), "role", "enum"),
    (new_user(official_id=2**40), "official_id", "less_than_equal"),
    (new_user(official_id=999), "official_id", "known_official"),
])
def test_a_bad_account_is_refused_naming_the_field_and_rule(
        client: TestClient, commune: Commune, body: dict[str, Any], field: str, rule: str) -> None:
    r = add(client, commune, body)
    assert r.status_code == 422
    assert (r.json()["field"], r.json()["rule"]) == (field, rule)
    assert r.json()["message"] and r.json()["message_en"]
    assert PASSWORD not in r.text


def test_the_list_shows_accounts_but_never_a_hash(client: TestClient, commune: Commune) -> None:
    assert add(client, commune, new_user()).status_code == 201
    r = client.get("/users", headers=commune.headers(ADMIN))
    assert r.status_code == 200
    users = r.json()
    assert "minh.le" in [u["username"] for u in users] and len(users) == len(Role) + 1
    assert all(set(u) == {"id", "username", "display_name", "role", "official_id", "active"} for u in users)
    assert "argon2" not in r.text and "hash" not in r.text


ENDPOINTS = [("post", "/users", new_user()), ("get", "/users", None), ("post", "/users/1/deactivate", None),
             ("post", "/users/1/api-keys", None), ("post", "/users/1/api-keys/revoke", None)]


@pytest.mark.parametrize("role", [r for r in Role if r != ADMIN])
def test_only_administrators_manage_accounts(client: TestClient, commune: Commune, role: Role) -> None:
    for method, path, body in ENDPOINTS:
        r = client.request(method, path, json=body, headers=commune.headers(role))
        assert r.status_code == 403, (role, path)
        assert r.json()["code"] == "forbidden"
    for method, path, body in ENDPOINTS:
        assert client.request(method, path, json=body).status_code == 401


def test_the_hotline_is_made_without_a_password_and_gets_its_key_once(
        client: TestClient, commune: Commune) -> None:
    r = add(client, commune, new_user(username="tongdai.moi", role="hotline", password=None))
    assert r.status_code == 201 and r.json()["api_key"].startswith("kt_")
    sent = client.post("/reports", json=hotline_report("111-NEW-1"), headers=bearer(r.json()["api_key"]))
    assert sent.status_code == 201


def user_id(client: TestClient, commune: Commune, username: str) -> int:
    users = client.get("/users", headers=commune.headers(ADMIN)).json()
    return int(next(u["id"] for u in users if u["username"] == username))


def test_api_keys_are_only_for_machine_clients(client: TestClient, commune: Commune) -> None:
    worker = user_id(client, commune, "u-case-worker")
    r = client.post(f"/users/{worker}/api-keys", headers=commune.headers(ADMIN))
    assert r.status_code == 422 and (r.json()["field"], r.json()["rule"]) == ("role", "machine_client_only")
    assert client.post("/users/999/api-keys", headers=commune.headers(ADMIN)).status_code == 404


def test_a_hotline_key_is_issued_and_revoked(client: TestClient, commune: Commune, db: Database) -> None:
    hotline = user_id(client, commune, "u-hotline")
    issued = client.post(f"/users/{hotline}/api-keys", headers=commune.headers(ADMIN))
    assert issued.status_code == 201
    key = issued.json()["api_key"]
    assert client.post("/reports", json=hotline_report("111-K-1"), headers=bearer(key)).status_code == 201
    revoked = client.post(f"/users/{hotline}/api-keys/revoke", headers=commune.headers(ADMIN))
    assert revoked.status_code == 200 and revoked.json() == {"revoked": 2}  # the fixture's and the new one
    for old in (key, commune.keys[Role.HOTLINE]):  # at once, though this process had cached them
        assert client.post("/reports", json=hotline_report("111-K-2"), headers=bearer(old)).status_code == 401
    assert [a for a in audit_actions(db) if a.startswith("user.api_key")] == [
        "user.api_key_issued", "user.api_keys_revoked"]


def test_a_deactivated_user_cannot_log_in_and_their_sessions_and_keys_stop(
        client: TestClient, commune: Commune, db: Database) -> None:
    assert add(client, commune, new_user()).status_code == 201
    pair = login(client).json()
    minh, hotline = user_id(client, commune, "minh.le"), user_id(client, commune, "u-hotline")
    hotline_key = commune.headers(Role.HOTLINE)
    assert client.get("/auth/me", headers=hotline_key).status_code == 200  # now cached
    for target in (minh, hotline):
        r = client.post(f"/users/{target}/deactivate", headers=commune.headers(ADMIN))
        assert r.status_code == 200 and r.json()["active"] is False
    assert client.get("/auth/me", headers=bearer(pair["access_token"])).status_code == 401
    refreshed = client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 401
    refused = login(client)
    assert refused.status_code == 401 and refused.json()["code"] == "invalid_credentials"
    assert client.get("/auth/me", headers=hotline_key).status_code == 401
    assert audit_actions(db).count("user.deactivated") == 2


def test_an_admin_cannot_deactivate_their_own_account(client: TestClient, commune: Commune) -> None:
    me = client.get("/auth/me", headers=commune.headers(ADMIN)).json()["id"]
    r = client.post(f"/users/{me}/deactivate", headers=commune.headers(ADMIN))
    assert r.status_code == 422 and r.json()["rule"] == "not_self"
