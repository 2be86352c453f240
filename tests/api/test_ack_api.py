"""Acknowledging alerts through the API and through the one-tap SMS link; the overdue worklist.

The link's GET only shows a page (phones fetch links to preview them); its POST acknowledges,
in the name of the official the link was sent to. A bad link changes nothing."""

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.deps import Runtime
from flows.jobs import run_sweep
from models import AuditEvent, Database, OutboxMessage
from models.enums import Role
from notifications.config import NotifyConfig
from notifications.tokens import sign
from states.deadlines.policy import load_policy
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from tests.conftest import T0, Commune, hotline_report, staff_report
from tests.payloads import FACTORS

W = Role.CASE_WORKER
ALLOWED = [Role.CASE_WORKER, Role.HEAD, Role.CHAIR]
FORBIDDEN = [Role.INTAKE_OPERATOR, Role.AUDITOR, Role.ADMIN, Role.HOTLINE, Role.AGENCY_OFFICIAL]


class Api:
    def __init__(self, client: TestClient, commune: Commune, db: Database, clock: FrozenClock,
                 policy: CommunePolicy) -> None:
        self.client, self.commune, self.db, self.clock, self.policy = client, commune, db, clock, policy

    def report(self, body: dict[str, Any] | None = None, role: Role = Role.INTAKE_OPERATOR) -> str:
        r = self.client.post("/reports", json=body or staff_report(), headers=self.commune.headers(role))
        assert r.status_code == 201, r.json()
        return str(r.json()["case_code"])

    def fire(self, role: Role, code: str, trigger: str, **data: Any) -> None:
        version = self.case(code)["version"]
        r = self.client.post(f"/cases/{code}/transitions/{trigger}", headers=self.commune.headers(role),
                             json={"expected_version": version, "data": data})
        assert r.status_code == 200, r.json()

    def case(self, code: str) -> dict[str, Any]:
        r = self.client.get(f"/cases/{code}", headers=self.commune.headers(Role.HEAD))
        assert r.status_code == 200, r.json()
        return dict(r.json())

    def deadline(self, code: str, kind: str = "initial_assessment") -> dict[str, Any]:
        return [d for d in self.case(code)["deadlines"] if d["kind"] == kind][-1]

    def ack(self, role: Role | None, deadline_id: int) -> Any:
        headers = self.commune.headers(role) if role else {}
        return self.client.post(f"/deadlines/{deadline_id}/acknowledge", headers=headers)

    def sweep(self) -> int:
        return run_sweep(self.db, self.clock, self.policy).alerts

    def links(self) -> list[tuple[int, str]]:
        """(official, token) of every alert SMS, oldest first."""
        with self.db.read() as s:
            rows = s.execute(select(OutboxMessage.official_id, OutboxMessage.body)
                             .where(OutboxMessage.alert_id.is_not(None)).order_by(OutboxMessage.id)).all()  # type: ignore[union-attr]
        out = []
        for official, body in rows:
            match = re.search(r"/a/([A-Za-z0-9_-]+)$", body)
            assert match, body
            out.append((official, match.group(1)))
        return out

    def ack_events(self) -> list[tuple[str, dict[str, Any]]]:
        with self.db.read() as s:
            rows = s.execute(select(AuditEvent.actor, AuditEvent.after)
                             .where(AuditEvent.action == "deadline.acknowledged").order_by(AuditEvent.seq)).all()
        return [(actor, json.loads(after)) for actor, after in rows]


@pytest.fixture
def api(client: TestClient, commune: Commune, db: Database, clock: FrozenClock, policy: CommunePolicy) -> Api:
    return Api(client, commune, db, clock, policy)


@pytest.fixture
def overdue(api: Api) -> tuple[str, int]:
    """A case whose initial assessment passed its limit at 20:00 and has been alerted."""
    code = api.report()
    api.clock.advance(timedelta(hours=11, minutes=30))  # 20:30
    assert api.sweep() == 1
    return code, api.deadline(code)["id"]


# --- POST /deadlines/{id}/acknowledge -------------------------------------------------------

def test_the_roles_that_may_acknowledge(api: Api) -> None:
    def child(i: int) -> dict[str, Any]:
        return {"full_name": f"Trẻ Giả Lập {i}", "birth_date": f"201{i}-02-03", "sex": "male"}

    codes = [api.report(staff_report(child=child(i))) for i in range(len(ALLOWED))]
    api.clock.advance(timedelta(hours=11, minutes=30))  # 20:30: overdue, the worker alerted
    assert api.sweep() == len(ALLOWED)
    expected = []
    for role, code in zip(ALLOWED, codes, strict=True):
        deadline_id, who = api.deadline(code)["id"], api.commune.actors[role].ref
        r = api.ack(role, deadline_id)
        assert r.status_code == 200, (role, r.json())
        body = r.json()
        assert (body["deadline_id"], body["kind"], body["acknowledged_by"]) == (
            deadline_id, "initial_assessment", who)
        assert datetime.fromisoformat(body["acknowledged_at"]) == api.clock.now()
        d = api.deadline(code)
        assert (d["acknowledged_by"], d["next_alert_at"], d["status"]) == (who, None, "open")
        expected.append((who, {"deadline_id": deadline_id, "deadline": "initial_assessment", "stage": 3}))
    api.clock.advance(timedelta(days=2))
    assert api.sweep() == 0  # the climb has stopped for all of them
    assert api.ack_events() == expected


def test_other_roles_and_anonymous_callers_may_not(api: Api, overdue: tuple[str, int]) -> None:
    code, deadline_id = overdue
    for role in [*FORBIDDEN, None]:
        assert api.ack(role, deadline_id).status_code == (401 if role is None else 403), role
    d = api.deadline(code)
    assert d["acknowledged_at"] is None and d["next_alert_at"] is not None
    assert api.ack_events() == []


def test_unknown_deadline_is_404(api: Api, overdue: tuple[str, int]) -> None:
    r = api.ack(W, 999_999)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    assert api.ack(W, 0).status_code == 422


def test_a_deadline_no_longer_open_is_422(api: Api) -> None:
    code = api.report()
    api.fire(W, code, "assess", risk_level="low", factors=FACTORS["low"], emergency=False)
    r = api.ack(W, api.deadline(code)["id"])
    assert r.status_code == 422
    assert (r.json()["field"], r.json()["rule"]) == ("deadline_id", "deadline_open")
    assert api.deadline(code)["acknowledged_at"] is None


def test_acknowledging_twice_keeps_the_first(api: Api, overdue: tuple[str, int]) -> None:
    code, deadline_id = overdue
    first = api.ack(W, deadline_id).json()
    api.clock.advance(timedelta(minutes=10))
    second = api.ack(Role.HEAD, deadline_id)
    assert second.status_code == 200 and second.json() == first
    assert api.deadline(code)["acknowledged_by"] == api.commune.actors[W].ref
    assert len(api.ack_events()) == 1


# --- the one-tap link -----------------------------------------------------------------------

def test_get_shows_a_page_and_post_acknowledges_as_the_official(api: Api, overdue: tuple[str, int]) -> None:
    code, deadline_id = overdue
    [(official, token)] = api.links()
    assert official == api.commune.officials[W]
    for _ in range(2):  # a chat app's preview, then the official opening it
        page = api.client.get(f"/a/{token}")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert f"<form method='post' action='/a/{token}'>" in page.text
    assert api.deadline(code)["acknowledged_at"] is None and api.ack_events() == []
    done = api.client.post(f"/a/{token}")
    assert done.status_code == 200 and "Đã xác nhận" in done.text
    d = api.deadline(code)
    assert (d["acknowledged_by"], d["next_alert_at"]) == (f"official:{official}", None)
    assert api.ack_events() == [(f"official:{official}",
                                 {"deadline_id": deadline_id, "deadline": "initial_assessment", "stage": 3})]
    assert api.client.post(f"/a/{token}").status_code == 200  # tapped twice: still fine, once recorded
    assert len(api.ack_events()) == 1


def test_a_link_to_a_deadline_met_since_does_not_acknowledge(api: Api, overdue: tuple[str, int]) -> None:
    code, _ = overdue
    [(_, token)] = api.links()
    api.fire(W, code, "assess", risk_level="low", factors=FACTORS["low"], emergency=False)
    r = api.client.post(f"/a/{token}")
    assert r.status_code == 409 and "text/html" in r.headers["content-type"]
    assert api.deadline(code)["acknowledged_at"] is None and api.ack_events() == []


def _flip(token: str, i: int) -> str:
    return token[:i] + ("B" if token[i] == "A" else "A") + token[i + 1:]


def _bad_tokens(api: Api, token: str, deadline_id: int) -> dict[str, str]:
    other = api.commune.officials[Role.CHAIR]
    return {
        "tampered_deadline": _flip(token, 3),
        "tampered_official": _flip(token, 8),
        "tampered_mac": _flip(token, 30),
        "other_key": sign(b"not-the-commune-key", deadline_id, other, api.clock.now() + timedelta(days=1)),
        "too_short_for_a_token": "AAAAAAAAAAAA",
        "too_long_for_a_token": token + "AAAA",
        "not_base64": "kipthoi-not-a-token",
    }


MANGLED = ["abc", "a" * 65, "bad*token*here", "tok%20en%20with%20space"]


def test_a_bad_link_shows_a_404_page_and_changes_nothing(api: Api, overdue: tuple[str, int]) -> None:
    """Forged, tampered, cut short or mangled by a phone: the same "invalid link" page."""
    code, deadline_id = overdue
    [(_, token)] = api.links()
    bad = _bad_tokens(api, token, deadline_id)
    for name, text in [*bad.items(), *((m, m) for m in MANGLED)]:
        assert text != token
        for method in ("GET", "POST"):
            r = api.client.request(method, f"/a/{text}")
            assert r.status_code == 404, (name, method, r.text)
            assert "text/html" in r.headers["content-type"] and "không hợp lệ" in r.text, (name, method)
    assert api.deadline(code)["acknowledged_at"] is None and api.ack_events() == []
    assert api.client.get(f"/a/{token}").status_code == 200  # the real link still works


def test_an_expired_link_shows_a_404_page_and_changes_nothing(api: Api, overdue: tuple[str, int]) -> None:
    code, _ = overdue
    [(_, token)] = api.links()
    api.clock.advance(api.policy.notify.ack_link_ttl - timedelta(seconds=1))
    assert api.client.get(f"/a/{token}").status_code == 200  # valid up to its last second
    api.clock.advance(timedelta(seconds=1))
    for method in ("GET", "POST"):
        assert api.client.request(method, f"/a/{token}").status_code == 404
    assert api.deadline(code)["acknowledged_at"] is None and api.ack_events() == []


def _user_id(api: Api, role: Role) -> int:
    return int(api.commune.actors[role].ref.removeprefix("user:"))


def test_a_link_ends_the_moment_its_officials_account_is_deactivated(api: Api, overdue: tuple[str, int]) -> None:
    code, _ = overdue
    [(_, token)] = api.links()
    assert api.client.get(f"/a/{token}").status_code == 200
    r = api.client.post(f"/users/{_user_id(api, W)}/deactivate", headers=api.commune.headers(Role.ADMIN))
    assert r.status_code == 200, r.text
    for method in ("GET", "POST"):
        r = api.client.request(method, f"/a/{token}")
        assert r.status_code == 404 and "không hợp lệ" in r.text, method
        assert "Trẻ" not in r.text and code not in r.text  # the refusal says nothing of the case
    d = api.deadline(code)
    assert d["acknowledged_at"] is None and d["next_alert_at"] is not None and api.ack_events() == []


def test_a_link_ends_when_its_official_is_no_longer_on_the_deadlines_ladder(api: Api, overdue: tuple[str, int]) -> None:
    """The worker alerted is taken off the case: their link no longer stops the climb."""
    code, _ = overdue
    [(_, token)] = api.links()
    r = api.client.post(f"/cases/{code}/assign", headers=api.commune.headers(Role.HEAD),
                        json={"expected_version": api.case(code)["version"],
                              "official_id": api.commune.officials[Role.HEAD]})
    assert r.status_code == 200, r.text
    assert api.client.post(f"/a/{token}").status_code == 404
    assert api.deadline(code)["acknowledged_at"] is None and api.ack_events() == []


def test_the_page_says_what_a_due_link_acknowledges(api: Api) -> None:
    code = api.report()  # received 08:00, initial assessment due 20:00
    api.clock.advance(timedelta(hours=9))  # 18:00: the reminder, before the limit
    assert api.sweep() == 1
    [(_, token)] = api.links()
    page = api.client.get(f"/a/{token}")
    assert page.status_code == 200
    for fact in (code, "Đánh giá ban đầu", "20:00 02/03/2026", "Còn hạn", "Xác nhận đã nhận cảnh báo"):
        assert fact in page.text, fact
    assert "Quá hạn" not in page.text and "Trẻ Giả" not in page.text and "Đã nhận /" not in page.text


def test_the_page_says_what_an_overdue_link_acknowledges_and_confirms_the_tap(
        api: Api, overdue: tuple[str, int]) -> None:
    code, _ = overdue
    [(_, token)] = api.links()
    page = api.client.get(f"/a/{token}")
    for fact in (code, "Đánh giá ban đầu", "20:00 02/03/2026", "Quá hạn", "overdue"):
        assert fact in page.text, fact
    done = api.client.post(f"/a/{token}")
    worker = "Cán bộ Thử"
    for fact in ("Đã xác nhận. Cảm ơn!", "Acknowledged. Thank you!", code, worker, "20:30 02/03/2026"):
        assert fact in done.text, fact


def test_the_page_of_an_already_acknowledged_deadline_says_by_whom(api: Api, overdue: tuple[str, int]) -> None:
    code, deadline_id = overdue
    [(_, token)] = api.links()
    api.clock.advance(timedelta(minutes=5))
    assert api.ack(Role.HEAD, deadline_id).status_code == 200
    page = api.client.get(f"/a/{token}")
    assert page.status_code == 200
    for fact in ("đã được xác nhận", code, "Cán bộ Thử", "20:35 02/03/2026"):
        assert fact in page.text, fact
    assert "<form" not in page.text  # nothing left to tap


# --- the overdue worklist -------------------------------------------------------------------

def test_overdue_lists_exactly_the_cases_past_a_limit(api: Api) -> None:
    def listed(**params: Any) -> list[str]:
        r = api.client.get("/cases", params=params, headers=api.commune.headers(Role.HEAD))
        assert r.status_code == 200, r.json()
        assert r.json()["total"] == len(r.json()["items"])
        return sorted(c["code"] for c in r.json()["items"])

    def child(i: int) -> dict[str, Any]:
        return {"full_name": f"Trẻ Giả Lập {i}", "birth_date": f"201{i}-02-03", "sex": "female"}

    fresh = api.report(staff_report(child=child(1)))  # due 20:00 today
    late = api.report(hotline_report(received_at=(T0 - timedelta(hours=13)).isoformat(), child=child(2)),
                      Role.HOTLINE)  # its 12 hours ended at 08:00 today
    assessed = api.report(staff_report(child=child(3)))
    # next: plan by 9/3 17:00
    api.fire(W, assessed, "assess", risk_level="low", factors=FACTORS["low"], emergency=False)
    closed = api.report(hotline_report("111-2026-0002", received_at=(T0 - timedelta(hours=13)).isoformat(),
                                       child=child(4)), Role.HOTLINE)
    api.fire(Role.CHAIR, closed, "close", reason="not_substantiated")
    assert listed() == sorted([fresh, late, assessed, closed])
    assert listed(overdue="true") == [late]
    api.clock.advance(timedelta(hours=11, minutes=1))  # 20:01
    assert listed(overdue="true") == sorted([fresh, late])
    api.ack(W, api.deadline(fresh)["id"])
    assert listed(overdue="true") == sorted([fresh, late])  # acknowledged is not done
    api.fire(W, late, "assess", risk_level="low", factors=FACTORS["low"], emergency=False)  # its plan: 6/3 17:00
    assert listed(overdue="true") == [fresh]
    api.clock.advance(timedelta(days=7))  # 9/3 20:01: every plan limit has passed
    assert listed(overdue="true") == sorted([fresh, late, assessed])
    assert listed(overdue="false") == sorted([fresh, late, assessed, closed])


# --- transitions through the API use the commune's own policy ---------------------------------

@pytest.fixture
def custom_client(db: Database, clock: FrozenClock) -> Iterator[tuple[TestClient, CommunePolicy]]:
    policy = CommunePolicy(code_prefix="NH", match_secret=b"test-secret",
                           deadlines=load_policy(overrides={"plan_submission": {"limit": 10}}),
                           notify=NotifyConfig(public_url="https://kipthoi.xa-gia-lap.vn"))
    with TestClient(create_app(Runtime(db=db, clock=clock, policy=policy)), raise_server_exceptions=False) as c:
        yield c, policy


def test_api_transitions_use_the_communes_deadline_policy_and_links(
        custom_client: tuple[TestClient, CommunePolicy], commune: Commune, db: Database,
        clock: FrozenClock) -> None:
    client, policy = custom_client
    api = Api(client, commune, db, clock, policy)
    code = api.report()
    api.fire(W, code, "assess", risk_level="high", factors=FACTORS["high"], emergency=True)
    # 10 working days from Monday 2/3 by the commune's override: Monday 16/3, 17:00 = 10:00 UTC.
    due = datetime.fromisoformat(api.deadline(code, "plan_submission")["due_at"])
    assert due == datetime(2026, 3, 16, 10, tzinfo=UTC)
    clock.advance(timedelta(hours=13))  # past the 12-hour emergency window: alerts with ack links
    assert run_sweep(db, clock, policy).alerts > 0
    with db.read() as s:
        bodies = list(s.execute(select(OutboxMessage.body).where(OutboxMessage.alert_id.is_not(None))).scalars())  # type: ignore[union-attr]
    assert bodies and all("https://kipthoi.xa-gia-lap.vn/a/" in b for b in bodies)
