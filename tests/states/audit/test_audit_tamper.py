"""Tampering with the audit trail behind the application's back is detected and located.

A few real commands write a chain; then raw SQL edits, deletes or reorders events. Each time
`audit.verify` names the first event that does not fit, and so does the operator's command
`kipthoi audit verify` (run as its own process against the same database), which exits 1.
Also: the HTTP API offers no way to change or delete events."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection

from api.app import create_app
from api.deps import Runtime
from models import AuditEvent, Database
from models.enums import Role
from states.audit import chain as audit
from states.intake import opening as intake
from states.intake.report_data import AnyReport
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from states.lifecycle import workflow
from states.lifecycle.commands import AssessData, DetailData, PlanData
from tests.conftest import Commune, staff_report
from tests.payloads import DETAIL, FACTORS, measures

ROOT = Path(__file__).resolve().parents[3]


def cli_verify(db: Database) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["KIPTHOI_DB__URL"] = db.url
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "kipthoi.cli", "audit", "verify"], check=False,
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def trail(db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune) -> dict[str, int]:
    """Seed commands plus a case taken to a submitted plan (assessed, its Mẫu 03 recorded); returns
    the seq of each case event."""
    worker = commune.actors[Role.CASE_WORKER]
    report = TypeAdapter(AnyReport).validate_python(staff_report())
    with db.write() as s:
        code = intake.submit_report(s, clock, commune.actors[Role.INTAKE_OPERATOR], policy,
                                    report).response["case_code"]
    clock.advance(timedelta(minutes=5))
    with db.write() as s:
        workflow.advance(s, clock, worker, code, "assess",
                         AssessData.model_validate({"risk_level": "high", "factors": FACTORS["high"],
                                                    "emergency": False}), 1, policy)
    clock.advance(timedelta(minutes=5))
    with db.write() as s:
        workflow.advance(s, clock, worker, code, "detail_assess", DetailData.model_validate(DETAIL), 2, policy)
    clock.advance(timedelta(minutes=5))
    with db.write() as s:
        workflow.advance(s, clock, worker, code, "submit_plan",
                         PlanData.model_validate({"goals": "An toàn", "measures": measures("Tư vấn")}), 3, policy)
    clock.advance(timedelta(minutes=5))
    with db.write() as s:
        workflow.add_note(s, clock, worker, code, "Đã gọi điện cho gia đình (giả lập).")
    with db.read() as s:
        seqs = {action: seq for seq, action in s.execute(select(AuditEvent.seq, AuditEvent.action))}
        verdict = audit.verify(s)
    assert verdict.ok and verdict.checked == max(seqs.values()) >= 20
    return seqs


def _tamper(db: Database, sql: str, **params: object) -> None:
    with db.writer.begin() as conn:
        result = conn.execute(text(sql), params)
        assert result.rowcount == 1, sql


def _assert_broken_at(db: Database, seq: int, reason_part: str) -> None:
    with db.read() as s:
        verdict = audit.verify(s)
    assert not verdict.ok
    assert verdict.broken_seq == seq, verdict
    assert reason_part in (verdict.reason or "")
    assert verdict.checked == seq - 1
    out = cli_verify(db)
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert f"AUDIT TRAIL BROKEN at event {seq}:" in out.stderr


def test_intact_trail_verifies_in_process_and_from_the_cli(db: Database, trail: dict[str, int]) -> None:
    last = max(trail.values())
    with db.read() as s:
        assert audit.verify(s) == audit.Verdict(True, last)
    out = cli_verify(db)
    assert out.returncode == 0, out.stderr
    assert f"audit trail intact: {last} events verified" in out.stdout
    assert "BROKEN" not in out.stdout + out.stderr


def test_edited_after_is_detected(db: Database, trail: dict[str, int]) -> None:
    seq = trail["case.assess"]
    with db.read() as s:
        after = s.execute(select(AuditEvent.after).where(AuditEvent.seq == seq)).scalar_one()
    assert '"risk_level":"high"' in after
    _tamper(db, "UPDATE audit_event SET after = :a WHERE seq = :s",
            a=after.replace('"risk_level":"high"', '"risk_level":"low"'), s=seq)
    _assert_broken_at(db, seq, "content does not match its hash")


def test_edit_with_recomputed_own_hash_is_detected_at_the_next_event(
        db: Database, trail: dict[str, int]) -> None:
    """An editor who also rewrites the event's own hash breaks the link to the next event."""
    seq = trail["case.assess"]
    with db.read() as s:
        ev = s.execute(select(AuditEvent).where(AuditEvent.seq == seq)).scalar_one()
        forged_after = ev.after.replace('"risk_level":"high"', '"risk_level":"low"')
        forged = audit.event_hash(ev.prev_hash, ev.seq, ev.at, ev.actor, ev.action, ev.case_id,
                                  ev.before, forged_after)
    _tamper(db, "UPDATE audit_event SET after = :a, hash = :h WHERE seq = :s",
            a=forged_after, h=forged, s=seq)
    _assert_broken_at(db, seq + 1, "does not follow the previous event")


def test_deleted_middle_event_is_detected(db: Database, trail: dict[str, int]) -> None:
    seq = trail["case.assess"]
    _tamper(db, "DELETE FROM audit_event WHERE seq = :s", s=seq)
    _assert_broken_at(db, seq, f"event {seq} is missing")


def test_deleted_last_event_is_detected_by_the_head(db: Database, trail: dict[str, int]) -> None:
    last = max(trail.values())
    assert trail["case.note_added"] == last
    _tamper(db, "DELETE FROM audit_event WHERE seq = :s", s=last)
    _assert_broken_at(db, last, f"head says {last}")


def _swap(conn: Connection, a: int, b: int) -> None:
    for old, new in ((a, -1), (b, a), (-1, b)):
        assert conn.execute(text("UPDATE audit_event SET seq = :n WHERE seq = :o"),
                            {"n": new, "o": old}).rowcount == 1


def test_reordered_events_are_detected(db: Database, trail: dict[str, int]) -> None:
    first, second = trail["case.detail_assess"], trail["case.submit_plan"]
    assert second == first + 1
    with db.writer.begin() as conn:
        _swap(conn, first, second)
    with db.read() as s:  # the rows really moved: seq `first` now holds the plan event
        assert s.execute(select(AuditEvent.action).where(AuditEvent.seq == first)).scalar_one() \
            == "case.submit_plan"
    _assert_broken_at(db, first, "does not follow the previous event")


def test_changed_actor_is_detected(db: Database, trail: dict[str, int], commune: Commune) -> None:
    seq = trail["case.submit_plan"]
    worker, chair = commune.actors[Role.CASE_WORKER].ref, commune.actors[Role.CHAIR].ref
    with db.writer.begin() as conn:
        assert conn.execute(text("UPDATE audit_event SET actor = :c WHERE seq = :s AND actor = :w"),
                            {"c": chair, "s": seq, "w": worker}).rowcount == 1
    _assert_broken_at(db, seq, "content does not match its hash")


def test_changed_early_event_breaks_at_that_event_not_later(db: Database, trail: dict[str, int]) -> None:
    _tamper(db, "UPDATE audit_event SET action = 'place.deleted' WHERE seq = 1")
    _assert_broken_at(db, 1, "content does not match its hash")


# --- the API cannot change or delete events ------------------------------------------------------

WRITE_METHODS = {"PUT", "PATCH", "DELETE"}


def _all_routes(routes: list, prefix: str = "") -> list[tuple[str, set[str]]]:
    """Every (path, methods) the app serves, including routes hidden from the OpenAPI schema."""
    out: list[tuple[str, set[str]]] = []
    for route in routes:
        inner = getattr(route, "original_router", None)  # FastAPI >= 0.150 wraps included routers
        if inner is not None:
            include_prefix = getattr(getattr(route, "include_context", None), "prefix", "") or ""
            out += _all_routes(inner.routes, prefix + include_prefix)
        elif hasattr(route, "path"):
            out.append((prefix + route.path, set(getattr(route, "methods", None) or ())))
    return out


def test_no_route_writes_or_deletes_events(runtime: Runtime) -> None:
    app = create_app(runtime)
    routes = _all_routes(app.routes)
    paths = {p for p, _ in routes}
    assert "/cases/{code}/transitions/assess" in paths and "/reports" in paths  # the walk sees routers
    assert set(app.openapi()["paths"]) <= paths
    for path, methods in routes:
        if any(w in path.lower() for w in ("audit", "event", "timeline")):
            assert methods <= {"GET", "HEAD"}, f"{sorted(methods)} {path}"
        if path.startswith("/cases"):  # a case's timeline is its events: nothing edits or deletes
            assert not methods & WRITE_METHODS, f"{sorted(methods & WRITE_METHODS)} {path}"


def test_write_methods_on_event_like_paths_are_refused(
        db: Database, client: TestClient, commune: Commune, trail: dict[str, int]) -> None:
    case_seq = trail["case.assess"]
    with db.read() as s:
        count = s.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    for path in (f"/audit/events/{case_seq}", f"/cases/NH-2026-000001/events/{case_seq}",
                 f"/cases/NH-2026-000001/timeline/{case_seq}", "/cases/NH-2026-000001"):
        for method in sorted(WRITE_METHODS):
            r = client.request(method, path, headers=commune.headers(Role.ADMIN), json={"after": "{}"})
            assert r.status_code in (404, 405), (method, path, r.status_code)
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(AuditEvent)).scalar_one() == count
        assert audit.verify(s).ok
