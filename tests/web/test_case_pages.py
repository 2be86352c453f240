"""The case pages through HTTP: the worklist, a case, each step's form made from the trigger
table, a guard failure beside its field, a stale form, and who may do what."""

import re

from fastapi.testclient import TestClient

from api.deps import Runtime
from models.enums import Role
from states.identity.actors import Actor
from states.intake.opening import receive_now
from states.intake.report_data import StaffReport
from tests.conftest import Commune, staff_report
from tests.web.conftest import Desk, csrf_of


def open_case(runtime: Runtime, commune: Commune, **overrides: object) -> str:
    actor: Actor = commune.actors[Role.HEAD]
    result = receive_now(runtime.db, runtime.clock, actor, runtime.policy,
                         StaffReport.model_validate(staff_report(**overrides)), None)
    return str(result.response["case_code"])


def step(client: TestClient, code: str, trigger: str, data: dict[str, str]) -> "object":
    page = client.get(f"/desk/cases/{code}/do/{trigger}")
    assert page.status_code == 200, page.text
    version = re.search(r'name="expected_version" value="(\d+)"', page.text)
    seen = re.search(r'name="seen_seq" value="(\d+)"', page.text)
    assert version and seen
    return client.post(f"/desk/cases/{code}/do/{trigger}", data={
        **data, "csrf": csrf_of(page.text), "expected_version": version.group(1), "seen_seq": seen.group(1)})


def test_smoke_walk(desk: Desk, runtime: Runtime, commune: Commune) -> None:
    code = open_case(runtime, commune)
    worker = desk.browser(Role.CASE_WORKER)
    home = worker.get("/")
    assert code in home.text
    page = worker.get(f"/desk/cases/{code}")
    assert page.status_code == 200, page.text
    assert "Đánh giá ban đầu" in page.text
    r = step(worker, code, "assess", {"risk_level": "high"})
    assert r.status_code == 422, r.text
    assert "Cần nhập quyết định có cần bảo vệ khẩn cấp" in r.text
    r = step(worker, code, "assess", {"risk_level": "high", "emergency": "no", "case_type": "abused"})
    assert r.status_code == 303, r.text
    page = worker.get(r.headers["location"])
    assert "Đã đánh giá" in page.text
