"""Concurrent writers, on SQLite (BEGIN IMMEDIATE + busy timeout) and PostgreSQL (row locks,
advisory locks) alike: real threads, released together by a barrier.

- N workers fire the same trigger on one case with the same expected version: one wins, the
  others get `StaleVersion`, and the trail gains exactly one event.
- N copies of one 111 transfer arrive at once: one case, one report, N identical answers.
- N different reports arrive at once: N cases with consecutive codes, no gaps, one event each.
"""

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from fastapi.testclient import TestClient
from pydantic import TypeAdapter
from sqlalchemy import func, select

from models import AuditEvent, Case, Database, Report
from models.enums import Role
from states.audit import chain as audit
from states.intake import opening as intake
from states.intake.report_data import AnyReport
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from states.kernel.errors import StaleVersion
from states.lifecycle import workflow
from states.lifecycle.commands import AssessData
from tests.conftest import Commune, hotline_report, staff_report
from tests.payloads import FACTORS

N = 8
T = TypeVar("T")


def run_together(fn: Callable[[int], T], n: int = N) -> list[T | BaseException]:
    """Run fn(0..n-1) on n threads that all start at the same instant; collect results or errors."""
    barrier = threading.Barrier(n, timeout=30)

    def task(i: int) -> T | BaseException:
        barrier.wait()
        try:
            return fn(i)
        except BaseException as exc:  # noqa: BLE001 - the caller inspects every outcome
            return exc

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(task, range(n), timeout=120))


def _count(db: Database, model: Any, *where: Any) -> int:
    with db.read() as s:
        return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def _verify(db: Database) -> audit.Verdict:
    with db.read() as s:
        return audit.verify(s)


def _open_case(db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune) -> str:
    report = TypeAdapter(AnyReport).validate_python(staff_report())
    with db.write() as s:
        return intake.submit_report(s, clock, commune.actors[Role.INTAKE_OPERATOR], policy,
                                    report).response["case_code"]


def test_same_trigger_same_version_exactly_one_wins(
        db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune) -> None:
    code = _open_case(db, clock, policy, commune)
    events_before = _count(db, AuditEvent)
    roles = [Role.CASE_WORKER, Role.HEAD, Role.CHAIR]
    risks = ["high", "medium", "low"]

    def fire(i: int) -> tuple[str, int, str | None]:
        with db.write() as s:
            case = workflow.advance(s, clock, commune.actors[roles[i % 3]], code, "assess",
                                    AssessData.model_validate({"risk_level": risks[i % 3],
                                                               "factors": FACTORS[risks[i % 3]],
                                                               "emergency": False}),
                                    expected_version=1, policy=policy)
            return case.state, case.version, case.risk_level

    results = run_together(fire)
    wins = [r for r in results if isinstance(r, tuple)]
    stale = [r for r in results if isinstance(r, StaleVersion)]
    assert len(wins) == 1, results
    assert len(stale) == N - 1, results
    assert all(e.extra == {"expected_version": 1, "current_version": 2} for e in stale)
    assert wins[0][:2] == ("assessed", 2)

    with db.read() as s:
        case = s.execute(select(Case.state, Case.version, Case.risk_level).where(Case.code == code)).one()
        events = s.execute(select(AuditEvent.action).where(AuditEvent.seq > events_before)).scalars().all()
    assert tuple(case) == wins[0]  # the winner's write is the one that stuck
    assert events == ["case.assess"]
    verdict = _verify(db)
    assert verdict.ok and verdict.checked == events_before + 1


def test_same_hotline_ref_posted_concurrently_opens_one_case(client: TestClient, db: Database,
                                                             commune: Commune) -> None:
    events_before = _count(db, AuditEvent)
    body = hotline_report("111-2026-7777")

    def post(_: int) -> tuple[int, dict[str, Any]]:
        r = client.post("/reports", json=body, headers=commune.headers(Role.HOTLINE))
        return r.status_code, r.json()

    results = run_together(post)
    assert all(isinstance(r, tuple) for r in results), results
    statuses = sorted(status for status, _ in results)  # type: ignore[misc]
    answers = [answer for _, answer in results]  # type: ignore[misc]
    assert statuses == [200] * (N - 1) + [201], answers
    assert all(answer == answers[0] for answer in answers)
    assert answers[0]["case_code"] == "NH-2026-000001" and answers[0]["linked_to_existing_case"] is False

    assert _count(db, Case) == 1
    assert _count(db, Report) == 1
    assert _count(db, Report, Report.hotline_ref == "111-2026-7777") == 1
    assert _count(db, AuditEvent) == events_before + 1
    assert _verify(db).ok


def test_different_reports_concurrently_get_consecutive_codes(client: TestClient, db: Database,
                                                              commune: Commune) -> None:
    events_before = _count(db, AuditEvent)
    names = ["Trần Thị An", "Lê Văn Bình", "Phạm Thị Cúc", "Hoàng Văn Dũng",
             "Vũ Thị Én", "Đặng Văn Phúc", "Bùi Thị Giang", "Đỗ Văn Hải"]
    assert len(names) == N

    def post(i: int) -> tuple[int, dict[str, Any]]:
        child = {"full_name": names[i], "birth_date": f"2015-0{i % 9 + 1}-1{i}", "sex": "unknown"}
        if i % 2:
            body = hotline_report(f"111-2026-{i:04d}", child=child)
            headers = commune.headers(Role.HOTLINE)
        else:
            body = staff_report(child=child, place_code="TAY-BINH" if i % 4 else "DONG-AN")
            headers = commune.headers(Role.INTAKE_OPERATOR)
        r = client.post("/reports", json=body, headers=headers)
        return r.status_code, r.json()

    results = run_together(post)
    assert all(isinstance(r, tuple) and r[0] == 201 for r in results), results
    codes = sorted(answer["case_code"] for _, answer in results)  # type: ignore[misc]
    assert codes == [f"NH-2026-{n:06d}" for n in range(1, N + 1)]
    assert not any(answer["linked_to_existing_case"] for _, answer in results)  # type: ignore[misc]

    with db.read() as s:
        stored = sorted(s.execute(select(Case.code)).scalars())
        opened = s.execute(select(AuditEvent.action, AuditEvent.after)
                           .where(AuditEvent.seq > events_before).order_by(AuditEvent.seq)).all()
    assert stored == codes
    assert [action for action, _ in opened] == ["case.opened"] * N
    assert sorted(after.split('"case":"')[1][:14] for _, after in opened) == codes
    assert _count(db, Report) == N
    verdict = _verify(db)
    assert verdict.ok and verdict.checked == events_before + N
