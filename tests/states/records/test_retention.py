"""Retention: closed cases past `policy.retention_years` lose their private data; what is left
still counts in statistics and still proves what was done. Run by `flows.jobs.run_retention`
(the scheduled job and `kipthoi retention run`)."""

import base64
import hashlib
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlmodel import col

from flows.jobs import run_retention
from models import (
    AuditEvent,
    Case,
    Child,
    Consent,
    Database,
    DetailedAssessment,
    EmergencyAction,
    EmergencyDecision,
    Note,
    Plan,
    PlanMeasure,
    Report,
    Reporter,
    Review,
    Service,
)
from models.enums import Role
from states.audit import chain as audit
from states.intake.opening import submit_report
from states.intake.report_data import StaffReport
from states.kernel.clock import LOCAL_TZ, FrozenClock
from states.kernel.commune import CommunePolicy
from states.lifecycle import workflow
from states.lifecycle.triggers import INPUTS
from states.records.retention import ERASED
from tests.conftest import SECRETS_FILE_ENV, T0, Commune, staff_report
from tests.payloads import CONSENT, FACTORS, measures

ROOT = Path(__file__).resolve().parents[3]
FIVE_YEARS = timedelta(days=1826)  # round(365.25 * 5)
PRIVATE = {
    "narrative": "Tường thuật lưu trữ giả lập",
    "place_detail": "Nhà số 7 ngõ Lưu Trữ",
    "condition": "Tình trạng lưu trữ giả lập",
    "consequence": "Hậu quả lưu trữ giả lập",
    "father": "Bố Lưu Trữ Giả",
    "family": "Hoàn cảnh lưu trữ giả lập",
    "carer": "Người Chăm Sóc Lưu Trữ",
    "actions": "Việc đã làm lưu trữ giả lập",
    "emergency": "Khẩn cấp lưu trữ giả lập",
    "called": "Người được gọi lưu trữ giả lập",
    "decided": "Quyết định khẩn cấp lưu trữ giả lập",
    "alternative_care": "Nơi chăm sóc thay thế lưu trữ giả lập",
    "information": "Thông tin chi tiết lưu trữ giả lập",
    "needs": "Nhu cầu lưu trữ giả lập",
    "attendees": "Thành phần họp lưu trữ giả lập",
    "agreed": "Thống nhất lưu trữ giả lập",
    "goals": "Mục tiêu lưu trữ giả lập",
    "measures": "Biện pháp lưu trữ giả lập",
    "responsible": "Người thực hiện lưu trữ giả lập",
    "consent_carer": "Người Đồng Ý Lưu Trữ",
    "consent_note": "Ghi chú đồng ý lưu trữ giả lập",
    "decision": "Ý kiến phê duyệt lưu trữ giả lập",
    "service": "Ghi chú dịch vụ lưu trữ giả lập",
    "findings": "Rà soát lưu trữ giả lập",
    "note": "Ghi chú lưu trữ giả lập",
    "reporter": "Người Báo Tin",
    "phone": "900000999",
}


def _report(session: Any, clock: FrozenClock, commune: Commune, policy: CommunePolicy, name: str,
            sex: str = "female", **extra: Any) -> str:
    received = (clock.now() - timedelta(hours=1)).isoformat()
    child = {"full_name": name, "birth_date": "2015-01-02", "sex": sex}
    body = staff_report(received_at=received, child=child, **extra)
    result = submit_report(session, clock, commune.actors[Role.INTAKE_OPERATOR], policy,
                           StaffReport.model_validate(body))
    assert result.response["linked_to_existing_case"] is False
    return str(result.response["case_code"])


def _fire(session: Any, clock: FrozenClock, commune: Commune, policy: CommunePolicy, role: Role, code: str,
          trigger: str, version: int, **data: Any) -> int:
    model = INPUTS[trigger].model_validate(data)
    return workflow.advance(session, clock, commune.actors[role], code, trigger, model, version,
                            policy=policy).version


def closed_simple(db: Database, clock: FrozenClock, commune: Commune, policy: CommunePolicy,
                  name: str, sex: str = "male") -> str:
    """Reported and closed at once by the chair as not substantiated."""
    with db.write() as s:
        code = _report(s, clock, commune, policy, name, sex=sex, narrative=PRIVATE["narrative"])
        _fire(s, clock, commune, policy, Role.CHAIR, code, "close", 1, reason="not_substantiated")
    return code


def closed_full(db: Database, clock: FrozenClock, commune: Commune, policy: CommunePolicy, name: str) -> str:
    """Every kind of private text the workflow stores, then closed as no longer at risk."""
    now = clock.now().astimezone(LOCAL_TZ)
    with db.write() as s:
        code = _report(s, clock, commune, policy, name, narrative=PRIVATE["narrative"],
                       place_detail=PRIVATE["place_detail"], child_condition=PRIVATE["condition"],
                       likely_consequence=PRIVATE["consequence"], father={"full_name": PRIVATE["father"]},
                       family_circumstances=PRIVATE["family"], current_carer=PRIVATE["carer"],
                       actions_taken=PRIVATE["actions"])
        w, chair = Role.CASE_WORKER, Role.CHAIR
        v = workflow.assign(s, clock, commune.actors[Role.HEAD], code, commune.officials[w], 1).version
        v = _fire(s, clock, commune, policy, w, code, "assess", v, risk_level="high", factors=FACTORS["high"],
                  emergency=True,
                  emergency_action={"action_taken": PRIVATE["emergency"], "who_was_called": PRIVATE["called"],
                                    "done_at": now.isoformat()})
        v = _fire(s, clock, commune, policy, chair, code, "decide_emergency", v, measures=PRIVATE["decided"],
                  decided_at=now.isoformat(), separation=True, alternative_care=PRIVATE["alternative_care"])
        v = _fire(s, clock, commune, policy, w, code, "detail_assess", v, information=PRIVATE["information"],
                  needs=PRIVATE["needs"], meeting_at=now.isoformat(), attendees=PRIVATE["attendees"],
                  agreed=PRIVATE["agreed"])
        plan_measures = [m | {"responsible": PRIVATE["responsible"]} for m in measures(PRIVATE["measures"])]
        v = _fire(s, clock, commune, policy, w, code, "submit_plan", v, goals=PRIVATE["goals"],
                  measures=plan_measures)
        v = _fire(s, clock, commune, policy, chair, code, "approve_plan", v, note=PRIVATE["decision"])
        v = _fire(s, clock, commune, policy, w, code, "record_consent", v, **CONSENT | {
            "carer_name": PRIVATE["consent_carer"], "note": PRIVATE["consent_note"]})
        v = _fire(s, clock, commune, policy, w, code, "start_service", v, kind="medical", agency_code="TYT",
                  started_on=now.date().isoformat(), note=PRIVATE["service"], measure_no=1)
        v = _fire(s, clock, commune, policy, w, code, "review", v, findings=PRIVATE["findings"],
                  risk_level="low", factors=FACTORS["low"], outcome="close")
        workflow.add_note(s, clock, commune.actors[w], code, PRIVATE["note"])
        _fire(s, clock, commune, policy, chair, code, "close", v, reason="no_longer_at_risk")
    return code


def anonymised_events(db: Database) -> list[tuple[str, dict[str, Any]]]:
    with db.read() as s:
        rows = s.execute(select(AuditEvent).where(col(AuditEvent.action) == "case.anonymised")
                         .order_by(col(AuditEvent.seq))).scalars().all()
        return [(e.actor, json.loads(e.after)) for e in rows]


def child_of(db: Database, code: str) -> Child:
    with db.read() as s:
        child: Child = s.execute(select(Child).join(Case, col(Case.child_id) == col(Child.id))
                                 .where(col(Case.code) == code)).scalar_one()
        return child


def case_row(db: Database, code: str) -> Case:
    with db.read() as s:
        case: Case = s.execute(select(Case).where(col(Case.code) == code)).scalar_one()
        return case


# --- anonymising -----------------------------------------------------------------------------


def test_closed_cases_past_the_limit_are_anonymised(client: TestClient, db: Database, clock: FrozenClock,
                                                    commune: Commune, policy: CommunePolicy) -> None:
    full = closed_full(db, clock, commune, policy, "Trẻ Lưu Trữ Đủ")
    simple = closed_simple(db, clock, commune, policy, "Trẻ Lưu Trữ Gọn")
    clock.advance(FIVE_YEARS + timedelta(days=1))
    assert sorted(run_retention(db, clock, policy)) == sorted([full, simple])

    with db.read() as s:
        for code in (full, simple):
            case = s.execute(select(Case).where(col(Case.code) == code)).scalar_one()
            assert case.anonymised_at == clock.now() and case.state == "closed"
            child = s.get(Child, case.child_id)
            assert child is not None
            assert (child.full_name, child.birth_date) == (None, None)
            assert (child.birth_key, child.place_key, child.name_index) == (None, None, None)
            [report] = s.execute(select(Report).where(col(Report.case_id) == case.id)).scalars()
            assert report.narrative == ERASED and report.parents == {} and report.reporter_id is None
            assert (report.place_detail, report.child_condition, report.likely_consequence,
                    report.family_circumstances, report.current_carer, report.actions_taken) == (None,) * 6
        assert s.execute(select(func.count()).select_from(Reporter)).scalar_one() == 0
        full_id = s.execute(select(col(Case.id)).where(col(Case.code) == full)).scalar_one()
        [action] = s.execute(select(EmergencyAction).where(col(EmergencyAction.case_id) == full_id)).scalars()
        assert (action.action_taken, action.who_was_called) == (ERASED, ERASED)
        [plan] = s.execute(select(Plan).where(col(Plan.case_id) == full_id)).scalars()
        # a plan of measure rows has no free-text measures: none is made up by the erasure
        assert (plan.goals, plan.measures, plan.decision_note) == (ERASED, None, None)
        [service] = s.execute(select(Service).where(col(Service.case_id) == full_id)).scalars()
        assert service.note is None and service.kind == "medical"
        [review] = s.execute(select(Review).where(col(Review.case_id) == full_id)).scalars()
        assert review.findings == ERASED and review.outcome == "close"
        [note] = s.execute(select(Note).where(col(Note.case_id) == full_id)).scalars()
        assert note.text == ERASED
        [detail] = s.execute(select(DetailedAssessment).where(col(DetailedAssessment.case_id) == full_id)).scalars()
        assert (detail.information, detail.needs, detail.attendees, detail.agreed) == (ERASED,) * 4
        [measure] = s.execute(select(PlanMeasure).where(col(PlanMeasure.case_id) == full_id)).scalars()
        assert (measure.description, measure.responsible, measure.kind) == (ERASED, None, "medical_psychological")
        [decision] = s.execute(select(EmergencyDecision).where(col(EmergencyDecision.case_id) == full_id)).scalars()
        assert (decision.measures, decision.alternative_care, decision.separation) == (ERASED, None, True)
        [consent] = s.execute(select(Consent).where(col(Consent.case_id) == full_id)).scalars()
        assert (consent.carer_name, consent.note, consent.carer_answer) == (None, None, "given")
        assert audit.verify(s).ok

    # One event per case, by the retention job, naming the case and nothing about the child.
    logged = anonymised_events(db)
    assert sorted(after["case"] for _, after in logged) == sorted([full, simple])
    assert {actor for actor, _ in logged} == {"system:retention"}
    by_case = {after["case"]: after for _, after in logged}
    assert by_case[full]["erased"] == {"reports": 1, "reporters": 1, "emergency_action": 1, "plan": 1,
                                       "service": 1, "review": 1, "note": 1, "detailed_assessment": 1,
                                       "plan_measure": 1, "emergency_decision": 1, "consent": 1}
    text = json.dumps([after for _, after in logged], ensure_ascii=False)
    for secret in (*PRIVATE.values(), "Trẻ Lưu Trữ", "2015-01-02"):
        assert secret not in text

    # Through the API: nothing private is left to read, for anyone.
    r = client.get(f"/cases/{full}", headers=commune.headers(Role.HEAD))
    assert r.status_code == 200
    assert r.json()["child"]["full_name"] is None and r.json()["reporters"] == []
    for secret in (*PRIVATE.values(), "Trẻ Lưu Trữ", "2015-01-02"):
        assert secret not in r.text, secret
    found = client.get("/search/cases", headers=commune.headers(Role.HEAD),
                       params={"child_name": "Trẻ Lưu Trữ Đủ"}).json()["items"]
    assert found == []


def test_an_anonymised_case_cannot_be_reopened(client: TestClient, db: Database, clock: FrozenClock,
                                               commune: Commune, policy: CommunePolicy) -> None:
    code = closed_simple(db, clock, commune, policy, "Trẻ Không Mở Lại")
    clock.advance(FIVE_YEARS + timedelta(days=1))
    assert run_retention(db, clock, policy) == [code]
    version = case_row(db, code).version
    r = client.post(f"/cases/{code}/transitions/reopen", headers=commune.headers(Role.CHAIR),
                    json={"expected_version": version, "data": {"reason": "Có tin mới"}})
    assert r.status_code == 422, r.text
    assert r.json()["rule"] == "case_not_anonymised"
    assert (case_row(db, code).state, case_row(db, code).version) == ("closed", version)


def test_statistics_still_count_anonymised_cases(client: TestClient, db: Database, clock: FrozenClock,
                                                 commune: Commune, policy: CommunePolicy) -> None:
    closed_full(db, clock, commune, policy, "Trẻ Thống Kê Một")
    closed_simple(db, clock, commune, policy, "Trẻ Thống Kê Hai", sex="male")

    def stats() -> dict[str, Any]:
        r = client.get("/stats", headers=commune.headers(Role.AUDITOR))
        assert r.status_code == 200
        out: dict[str, Any] = r.json()
        return {k: v for k, v in out.items() if k != "as_of"}

    before = stats()
    clock.advance(FIVE_YEARS + timedelta(days=1))
    assert len(run_retention(db, clock, policy)) == 2
    after = stats()
    assert after == before
    assert after["cases"] == 2 and after["cases_by_state"] == {"closed": 2}
    assert after["closed_by_reason"] == {"no_longer_at_risk": 1, "not_substantiated": 1}
    assert after["children_by_sex"] == {"female": 1, "male": 1}
    assert after["cases_by_abuse_form"] == {"violence": 2}


# --- when nothing may happen -----------------------------------------------------------------


def test_nothing_happens_before_the_limit(db: Database, clock: FrozenClock, commune: Commune,
                                          policy: CommunePolicy) -> None:
    code = closed_simple(db, clock, commune, policy, "Trẻ Chưa Đến Hạn")
    clock.advance(FIVE_YEARS - timedelta(days=1))
    assert run_retention(db, clock, policy) == []
    assert child_of(db, code).full_name == "Trẻ Chưa Đến Hạn"
    assert case_row(db, code).anonymised_at is None and anonymised_events(db) == []
    clock.advance(timedelta(days=2))
    assert run_retention(db, clock, policy) == [code]


def test_the_limit_is_the_communes_policy(db: Database, clock: FrozenClock, commune: Commune) -> None:
    short = CommunePolicy(code_prefix="NH", match_secret=b"test-secret", retention_years=2)
    assert CommunePolicy(match_secret=b"test-secret").retention_years == 5
    code = closed_simple(db, clock, commune, short, "Trẻ Hạn Hai Năm")
    clock.advance(timedelta(days=730 - 1))
    assert run_retention(db, clock, short) == []
    clock.advance(timedelta(days=2))
    assert run_retention(db, clock, short) == [code]
    assert child_of(db, code).full_name is None


def test_open_cases_are_never_touched(db: Database, clock: FrozenClock, commune: Commune,
                                      policy: CommunePolicy) -> None:
    with db.write() as s:
        code = _report(s, clock, commune, policy, "Trẻ Vẫn Mở")
    clock.advance(FIVE_YEARS * 3)
    assert run_retention(db, clock, policy) == []
    assert child_of(db, code).full_name == "Trẻ Vẫn Mở"
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(Reporter)).scalar_one() == 1


def test_dry_run_lists_the_cases_and_changes_nothing(db: Database, clock: FrozenClock, commune: Commune,
                                                     policy: CommunePolicy) -> None:
    code = closed_full(db, clock, commune, policy, "Trẻ Chạy Thử")
    clock.advance(FIVE_YEARS + timedelta(days=1))
    with db.read() as s:
        events_before = s.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    assert run_retention(db, clock, policy, dry_run=True) == [code]
    assert child_of(db, code).full_name == "Trẻ Chạy Thử"
    assert case_row(db, code).anonymised_at is None
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(AuditEvent)).scalar_one() == events_before
        assert s.execute(select(Report)).scalar_one().narrative == PRIVATE["narrative"]
        assert s.execute(select(func.count()).select_from(Reporter)).scalar_one() == 1
    assert run_retention(db, clock, policy) == [code]


def test_running_twice_anonymises_once(db: Database, clock: FrozenClock, commune: Commune,
                                       policy: CommunePolicy) -> None:
    code = closed_simple(db, clock, commune, policy, "Trẻ Hai Lần Chạy")
    clock.advance(FIVE_YEARS + timedelta(days=1))
    assert run_retention(db, clock, policy) == [code]
    clock.advance(timedelta(days=30))
    assert run_retention(db, clock, policy) == []
    assert len(anonymised_events(db)) == 1
    with db.read() as s:
        assert audit.verify(s).ok


def test_a_child_with_another_case_still_open_is_not_anonymised(
        db: Database, clock: FrozenClock, commune: Commune, policy: CommunePolicy) -> None:
    """Two cases about one child row: the old one closed long ago, the other still open (here
    the second case is moved onto the first one's child in the database, whatever its name)."""
    old = closed_simple(db, clock, commune, policy, "Trẻ Hai Hồ Sơ")
    with db.write() as s:
        new = _report(s, clock, commune, policy, "Trẻ Tạm Tên")
        child_id = s.execute(select(col(Case.child_id)).where(col(Case.code) == old)).scalar_one()
        s.execute(update(Case).where(col(Case.code) == new).values(child_id=child_id))
    clock.advance(FIVE_YEARS + timedelta(days=1))
    assert run_retention(db, clock, policy) == []
    assert child_of(db, old).full_name == "Trẻ Hai Hồ Sơ"
    with db.read() as s:
        assert s.execute(select(Report).join(Case, col(Case.id) == col(Report.case_id))
                         .where(col(Case.code) == old)).scalar_one().narrative == PRIVATE["narrative"]
    # Once the other case is closed too, and that closure is past the limit, both go.
    with db.write() as s:
        _fire(s, clock, commune, policy, Role.CHAIR, new, "close", 1, reason="duplicate")
    assert run_retention(db, clock, policy) == []
    clock.advance(FIVE_YEARS + timedelta(days=1))
    assert sorted(run_retention(db, clock, policy)) == sorted([old, new])


def test_a_re_reported_child_keeps_the_old_case_while_the_new_one_is_open(
        db: Database, clock: FrozenClock, commune: Commune, policy: CommunePolicy) -> None:
    old = closed_simple(db, clock, commune, policy, "Trẻ Được Báo Lại")
    with db.write() as s:  # the same child (same name, birth date, thôn) reported again
        new = _report(s, clock, commune, policy, "Trẻ Được Báo Lại", sex="male")
    assert new != old and case_row(db, new).state == "received"
    # Filed under the same child, pointing back to the closed case, and flagged for the worker.
    assert case_row(db, new).child_id == case_row(db, old).child_id
    assert case_row(db, new).previous_case_id == case_row(db, old).id
    assert "linked_to_closed_case" in case_row(db, new).flags
    clock.advance(FIVE_YEARS + timedelta(days=1))
    assert run_retention(db, clock, policy) == []
    assert child_of(db, old).full_name == "Trẻ Được Báo Lại"


# --- the command line ------------------------------------------------------------------------


def _cli(db: Database, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIPTHOI_")}
    test_key = base64.b64encode(hashlib.sha256(b"kipthoi test data key 1").digest()).decode()
    env.update({"KIPTHOI_DB__URL": db.url, **SECRETS_FILE_ENV,
                "KIPTHOI_CRYPTO__KEYS": json.dumps({"test1": test_key}),
                "KIPTHOI_CRYPTO__ACTIVE_KEY_ID": "test1",
                "KIPTHOI_CRYPTO__INDEX_KEY": base64.b64encode(bytes(range(32))).decode()})
    return subprocess.run([sys.executable, "-m", "kipthoi.cli", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


def test_cli_retention_run(db: Database, clock: FrozenClock, commune: Commune, policy: CommunePolicy) -> None:
    """The command runs on the real clock, so the case is closed (on the frozen clock) more
    than five years before today."""
    clock.set(datetime(2019, 6, 3, 9, 0, tzinfo=LOCAL_TZ))
    assert datetime.now(LOCAL_TZ) - clock.now() > FIVE_YEARS + timedelta(days=2)
    old = closed_simple(db, clock, commune, policy, "Trẻ Dòng Lệnh")
    clock.set(T0)
    recent = closed_simple(db, clock, commune, policy, "Trẻ Mới Đóng")

    dry = _cli(db, "retention", "run", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would anonymise 1 cases: {old}" in dry.stdout
    assert child_of(db, old).full_name == "Trẻ Dòng Lệnh"

    done = _cli(db, "retention", "run")
    assert done.returncode == 0, done.stderr
    assert f"anonymised 1 cases: {old}" in done.stdout
    assert child_of(db, old).full_name is None and child_of(db, recent).full_name == "Trẻ Mới Đóng"
    assert [after["case"] for _, after in anonymised_events(db)] == [old]
    with db.read() as s:
        assert audit.verify(s).ok
