"""The case pages through HTTP: the worklist, a case, each step's form made from the trigger
table, a guard failure beside its field, a stale form, and who may do what.

The journey through a real browser is tests/browser/test_desk_journey.py; here each rule is
checked once, fast, on both databases."""

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from sqlmodel import col

from api.deps import Runtime
from models import AuditEvent, Case
from models.enums import Role
from states.access.permissions import ACTIONS
from states.cases.referrals import refer
from states.intake.opening import receive_now
from states.intake.report_data import StaffReport
from states.lifecycle import workflow
from states.lifecycle.commands import ConsentData
from tests.conftest import Commune, staff_report
from tests.payloads import CONSENT, DETAIL
from tests.web.conftest import Desk, csrf_of

VERSION = re.compile(r'name="expected_version" value="(\d+)"')
SEEN = re.compile(r'name="seen_seq" value="(\d+)"')


def factors(level: str) -> dict[str, str]:
    """The four risk factors as the assessment and review forms post them (a nested fieldset)."""
    return {f"factors.{name}": level for name in ("severity", "abuser_access", "safety_obstacles", "self_protection")}


def measure(description: str) -> dict[str, str]:
    """One measure of the plan, as the form's first row posts it."""
    return {"measures.0.kind": "carer_counselling", "measures.0.description": description,
            "measures.0.responsible": "Công chức VH-XH (giả lập)", "measures.0.starts_on": "2026-03-05",
            "measures.0.ends_on": "2026-04-30"}


# Mẫu 03 as its form posts it: the meeting's time in a datetime-local field.
DETAIL_FORM = {k: (v[:16] if k == "meeting_at" else v) for k, v in DETAIL.items()}


def open_case(runtime: Runtime, commune: Commune, **overrides: Any) -> str:
    result = receive_now(runtime.db, runtime.clock, commune.actors[Role.HEAD], runtime.policy,
                         StaffReport.model_validate(staff_report(**overrides)), None)
    return str(result.response["case_code"])


def step(client: TestClient, code: str, trigger: str, data: dict[str, str]) -> Response:
    """Open the step's form as a browser would and post it with its hidden fields."""
    page = client.get(f"/desk/cases/{code}/do/{trigger}")
    assert page.status_code == 200, page.text
    version, seen = VERSION.search(page.text), SEEN.search(page.text)
    assert version and seen
    return client.post(f"/desk/cases/{code}/do/{trigger}", data={
        **data, "csrf": csrf_of(page.text), "expected_version": version.group(1), "seen_seq": seen.group(1)})


def done(client: TestClient, r: Response) -> str:
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"])
    assert page.status_code == 200
    assert "Đã ghi nhận." in page.text
    return page.text


def state_of(runtime: Runtime, code: str) -> str:
    with runtime.db.read() as s:
        return str(s.execute(select(col(Case.state)).where(col(Case.code) == code)).scalar_one())


def test_a_case_goes_from_report_to_closure_through_the_forms(desk: Desk, runtime: Runtime,
                                                              commune: Commune) -> None:
    code = open_case(runtime, commune)
    worker, chair = desk.browser(Role.CASE_WORKER), desk.browser(Role.CHAIR)
    assert code in worker.get("/").text  # unassigned, on the worker's home page
    done(worker, step(worker, code, "assess", {
        "risk_level": "high", **factors("high"), "emergency": "yes", "case_type": "abused",
        "emergency_action.action_taken": "Đưa trẻ đến nhà bà ngoại (giả lập)",
        "emergency_action.who_was_called": "Công an xã", "emergency_action.done_at": "2026-03-02T08:30"}))
    assert state_of(runtime, code) == "assessed"
    done(worker, step(worker, code, "detail_assess", DETAIL_FORM))
    done(worker, step(worker, code, "submit_plan", {"goals": "Trẻ an toàn", **measure("Thăm nhà hằng tuần")}))
    assert code in chair.get("/").text  # the chair's plans waiting for approval
    done(chair, step(chair, code, "return_plan", {"reason": "Cần nêu người thực hiện"}))
    done(worker, step(worker, code, "submit_plan", {"goals": "Trẻ an toàn", **measure("Chị Thử thăm hằng tuần")}))
    done(chair, step(chair, code, "approve_plan", {"note": "Đồng ý"}))
    assert state_of(runtime, code) == "intervened"
    done(worker, step(worker, code, "record_consent", {"child_answer": "given", "carer_answer": "given"}))
    done(worker, step(worker, code, "start_service", {"kind": "psychological", "agency_code": "TYT",
                                                       "started_on": "2026-03-03", "measure_no": "1"}))
    done(worker, step(worker, code, "review", {"findings": "Trẻ ổn định", "risk_level": "low", **factors("low"),
                                               "outcome": "close"}))
    page = done(chair, step(chair, code, "close", {"reason": "no_longer_at_risk"}))
    assert state_of(runtime, code) == "closed"
    assert "Đã đóng" in page


def test_a_guard_failure_is_shown_beside_its_field_and_keeps_what_was_typed(
        desk: Desk, runtime: Runtime, commune: Commune) -> None:
    code = open_case(runtime, commune)
    worker = desk.browser(Role.CASE_WORKER)
    r = step(worker, code, "assess", {"risk_level": "high", **factors("high"), "case_type": "at_risk"})
    assert r.status_code == 422
    # The yes/no question is the field in error, with the guard's own words, next to it.
    assert re.search(r'id="f-emergency-err">Cần nhập quyết định có cần bảo vệ khẩn cấp', r.text)
    assert '<option value="at_risk" selected>' in r.text
    assert state_of(runtime, code) == "received"


def test_a_type_error_names_the_field(desk: Desk, runtime: Runtime, commune: Commune) -> None:
    code = open_case(runtime, commune)
    worker = desk.browser(Role.CASE_WORKER)
    r = step(worker, code, "assess", {"risk_level": "extreme", "emergency": "no"})
    assert r.status_code == 422
    assert 'id="f-risk_level-err"' in r.text


def test_a_stale_form_shows_what_changed_and_writes_nothing(desk: Desk, runtime: Runtime,
                                                            commune: Commune) -> None:
    code = open_case(runtime, commune)
    worker, head = desk.browser(Role.CASE_WORKER), desk.browser(Role.HEAD)
    page = worker.get(f"/desk/cases/{code}/do/assess")
    form = {"csrf": csrf_of(page.text), "expected_version": VERSION.search(page.text).group(1),  # type: ignore[union-attr]
            "seen_seq": SEEN.search(page.text).group(1),  # type: ignore[union-attr]
            "risk_level": "medium", **factors("medium"), "emergency": "no"}
    # Meanwhile the head assigns the case to that same worker (the case's version moves on).
    case_page = head.get(f"/desk/cases/{code}")
    r = head.post(f"/desk/cases/{code}/assign", data={
        "csrf": csrf_of(case_page.text), "official_id": str(commune.officials[Role.CASE_WORKER]),
        "expected_version": VERSION.search(case_page.text).group(1)})  # type: ignore[union-attr]
    assert r.status_code == 303
    r = worker.post(f"/desk/cases/{code}/do/assess", data=form)
    assert r.status_code == 409
    assert "người khác đã thay đổi vụ việc này" in r.text
    assert "case.assigned" in r.text or "Phân công" in r.text or "assign" in r.text
    assert '<option value="medium" selected>' in r.text  # what was typed is kept
    assert state_of(runtime, code) == "received"
    # Sent again from the refreshed form, it goes through.
    assert worker.post(f"/desk/cases/{code}/do/assess", data={
        **form, "expected_version": VERSION.search(r.text).group(1),  # type: ignore[union-attr]
        "seen_seq": SEEN.search(r.text).group(1)}).status_code == 303  # type: ignore[union-attr]


def test_a_form_post_without_its_csrf_token_is_refused_and_writes_nothing(
        desk: Desk, runtime: Runtime, commune: Commune) -> None:
    code = open_case(runtime, commune)
    worker = desk.browser(Role.CASE_WORKER)
    page = worker.get(f"/desk/cases/{code}/do/assess")
    body = {"expected_version": VERSION.search(page.text).group(1), "risk_level": "low",  # type: ignore[union-attr]
            "emergency": "no"}
    other = desk.browser(Role.HEAD).get("/")
    with runtime.db.read() as s:
        before = s.execute(select(AuditEvent.seq).order_by(col(AuditEvent.seq).desc())).scalars().first()
    for forged in ({}, {"csrf": "0" * 64}):
        r = worker.post(f"/desk/cases/{code}/do/assess", data={**body, **forged})
        assert r.status_code == 403
        assert "Biểu mẫu đã hết hạn" in r.text
    # A token from another session is not this session's.
    assert worker.post(f"/desk/cases/{code}/do/assess", data={**body, "csrf": csrf_of(other.text)}).status_code == 403
    assert state_of(runtime, code) == "received"
    with runtime.db.read() as s:
        after = s.execute(select(AuditEvent.seq).order_by(col(AuditEvent.seq).desc())).scalars().first()
    assert after == before


READERS = ACTIONS["case.read"]
PEOPLE = [r for r in Role if r != Role.HOTLINE]


@pytest.mark.parametrize("role", PEOPLE)
def test_who_may_open_the_worklist_and_a_case(desk: Desk, runtime: Runtime, commune: Commune, role: Role) -> None:
    code = open_case(runtime, commune)
    client = desk.browser(role)
    lst, case = client.get("/desk/cases"), client.get(f"/desk/cases/{code}")
    if role not in READERS:
        assert (lst.status_code, case.status_code) == (403, 403)
    elif role == Role.AGENCY_OFFICIAL:
        # Not referred to their agency: the worklist is empty and the case is as if missing.
        assert lst.status_code == 200 and code not in lst.text
        assert case.status_code == 404
    else:
        assert lst.status_code == 200 and code in lst.text
        assert case.status_code == 200 and code in case.text


@pytest.mark.parametrize("role", PEOPLE)
def test_who_is_offered_and_may_open_the_assessment_form(desk: Desk, runtime: Runtime, commune: Commune,
                                                         role: Role) -> None:
    code = open_case(runtime, commune)
    client = desk.browser(role)
    r = client.get(f"/desk/cases/{code}/do/assess")
    expected = 200 if role in (Role.CASE_WORKER, Role.HEAD, Role.CHAIR) else (
        404 if role == Role.AGENCY_OFFICIAL else 403)
    assert r.status_code == expected, r.text
    if role == Role.CHAIR:
        # The chair approves; closing is the chair's, not "submit the plan".
        assert client.get(f"/desk/cases/{code}/do/approve_plan").status_code == 409


def test_an_agency_official_sees_only_their_part(desk: Desk, runtime: Runtime, commune: Commune) -> None:
    code = open_case(runtime, commune)
    with runtime.db.write() as s:  # a referral needs consent (or a legal ground) first
        workflow.advance(s, runtime.clock, commune.actors[Role.HEAD], code, "record_consent",
                         ConsentData.model_validate(CONSENT), 1, runtime.policy)
        refer(s, runtime.clock, commune.actors[Role.HEAD], code, "CA", runtime.policy)
    police = desk.browser(Role.AGENCY_OFFICIAL)
    assert code in police.get("/").text
    page = police.get(f"/desk/cases/{code}")
    assert page.status_code == 200
    assert "Phần không hiển thị với vai trò của bạn" in page.text
    assert "Người Báo Tin" not in page.text and "0900000999" not in page.text
    assert "/do/" not in page.text  # no step is offered
    assert "Tin nhắn SMS đã gửi" not in page.text
    assert police.get(f"/desk/cases/{code}/do/assess").status_code == 403


def test_the_assigned_worker_sees_the_reporter_and_others_do_not_see_the_case(
        desk: Desk, runtime: Runtime, commune: Commune) -> None:
    code = open_case(runtime, commune)
    head = desk.browser(Role.HEAD)
    page = head.get(f"/desk/cases/{code}")
    assert "Người Báo Tin" in page.text  # the head's full view names who reported
    r = head.post(f"/desk/cases/{code}/assign", data={
        "csrf": csrf_of(page.text), "official_id": str(commune.officials[Role.CHAIR]),
        "expected_version": VERSION.search(page.text).group(1)})  # type: ignore[union-attr]
    assert r.status_code == 303
    # Assigned to someone else, the worker no longer sees it at all.
    assert desk.browser(Role.CASE_WORKER).get(f"/desk/cases/{code}").status_code == 404


def test_notes_and_acknowledging_a_limit(desk: Desk, runtime: Runtime, commune: Commune) -> None:
    code = open_case(runtime, commune)
    worker = desk.browser(Role.CASE_WORKER)
    page = worker.get(f"/desk/cases/{code}")
    r = worker.post(f"/desk/cases/{code}/notes", data={"csrf": csrf_of(page.text), "text": "Đã gọi cho nhà trường"})
    page = worker.get(r.headers["location"])
    assert "Đã gọi cho nhà trường" in page.text
    ack = re.search(rf'action="/desk/cases/{code}/deadlines/(\d+)/ack"', page.text)
    assert ack
    r = worker.post(ack.group(0)[8:-1], data={"csrf": csrf_of(page.text)})
    assert r.status_code == 303
    assert "Đã xác nhận cảnh báo lúc" in worker.get(f"/desk/cases/{code}").text


def test_search_by_code_and_by_name_is_a_post(desk: Desk, runtime: Runtime, commune: Commune) -> None:
    code = open_case(runtime, commune)
    worker = desk.browser(Role.CASE_WORKER)
    page = worker.get("/desk/cases")
    r = worker.post("/desk/cases/search", data={"csrf": csrf_of(page.text), "q": code.lower()})
    assert r.headers["location"] == f"/desk/cases/{code}"
    r = worker.post("/desk/cases/search", data={"csrf": csrf_of(page.text), "q": "nguyễn văn thử"})
    assert r.status_code == 200 and code in r.text
    assert worker.get("/desk/cases?q=Nguyen").status_code == 200  # a name is never read from a URL


def test_english_on_request(desk: Desk, runtime: Runtime, commune: Commune) -> None:
    code = open_case(runtime, commune)
    worker = desk.browser(Role.CASE_WORKER)
    page = worker.get("/")
    r = worker.post("/lang", data={"csrf": csrf_of(page.text), "lang": "en", "next": f"/desk/cases/{code}"})
    assert r.headers["location"] == f"/desk/cases/{code}"
    page = worker.get(f"/desk/cases/{code}")
    assert 'lang="en"' in page.text
    assert "Initial assessment (Form 02)" in page.text


def test_anonymous_is_sent_to_log_in_and_back(desk: Desk, runtime: Runtime, commune: Commune) -> None:
    code = open_case(runtime, commune)
    anon = desk.anonymous()
    r = anon.get(f"/desk/cases/{code}")
    assert r.status_code == 303 and r.headers["location"] == f"/login?next=/desk/cases/{code}"
    page = anon.get(r.headers["location"])
    r = anon.post("/login", data={"csrf": csrf_of(page.text), "username": "u-case-worker",
                                  "password": "sai-mật-khẩu", "next": f"/desk/cases/{code}"})
    assert r.status_code == 401 and "không đúng" in r.text
    assert anon.get("/login?next=//evil.example").status_code == 200
