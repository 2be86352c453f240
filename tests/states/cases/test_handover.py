"""The handover package of a transferred case (states/cases/handover.py) against a real database:
what the JSON holds, the audit event with its digest, the access log, and who is refused.

Cases are walked only as far as an early closure (`received` → `close`, the chair's by default),
so these tests do not depend on the later steps' inputs."""

import hashlib
import json
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from models import AuditEvent, Case, Database
from models.enums import Role
from states.audit import chain as audit
from states.cases.handover import EVENT, SCHEMA, handover
from states.intake.opening import submit_report
from states.intake.report_data import StaffReport
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from states.kernel.errors import Forbidden, InvalidInput, NotFound
from states.lifecycle import workflow
from states.lifecycle.triggers import INPUTS
from tests.conftest import Commune, staff_report
from web.pages.handover import layout

RECEIVING = "Xã Bên Sông (giả lập)"
CHILD, NARRATIVE = "Nguyễn Văn Thử", "Hàng xóm nghe thấy trẻ bị đánh nhiều lần (dữ liệu giả lập)."
REPORTER = ("Người Báo Tin", "900000999")


def open_case(db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune) -> str:
    with db.write() as s:
        result = submit_report(s, clock, commune.actors[Role.INTAKE_OPERATOR], policy,
                               StaffReport.model_validate(staff_report()))
    return str(result.response["case_code"])


def close(db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune, code: str,
          **data: Any) -> None:
    with db.write() as s:
        version = s.execute(select(col(Case.version)).where(col(Case.code) == code)).scalar_one()
        workflow.advance(s, clock, commune.actors[Role.CHAIR], code, "close", INPUTS["close"].model_validate(data),
                         version, policy=policy)


def transferred(db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune) -> str:
    code = open_case(db, clock, policy, commune)
    close(db, clock, policy, commune, code, reason="transferred", transferred_to=RECEIVING)
    return code


def events(db: Database, code: str, action: str) -> list[tuple[str, dict[str, Any]]]:
    with db.read() as s:
        rows = s.execute(select(AuditEvent).join(Case, col(Case.id) == col(AuditEvent.case_id))
                         .where(col(Case.code) == code, col(AuditEvent.action) == action)
                         .order_by(col(AuditEvent.seq))).scalars()
        return [(e.actor, audit.loads(e.after)) for e in rows]


def test_a_transferred_case_is_handed_over_as_json_with_its_digest_on_the_audit_trail(
        db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune) -> None:
    code = transferred(db, clock, policy, commune)
    head = commune.actors[Role.HEAD]
    with db.write() as s:
        package = handover(s, clock, head, code, policy)
    body = json.loads(package.json)

    assert body["schema"] == SCHEMA and body["code"] == code and package.filename == code
    assert body["receiving_commune"] == RECEIVING and body["sending_commune"]["name"] == policy.name
    assert body["state"] == "closed" and body["closure_reason"] == "transferred"
    assert body["case"]["child"]["full_name"] == CHILD
    assert [r["narrative"] for r in body["case"]["reports"]] == [NARRATIVE]
    assert body["directory"]["places"]["DONG-AN"] == "Thôn Đông An"
    # Not even the head hands over who reported: the file is the content view, and says so.
    assert body["view"] == "content" and "reporters" in body["withheld"] and body["case"]["reporters"] == []
    assert "reporter_identity" in body["not_included"]
    assert not any(secret in package.json.decode() for secret in REPORTER)

    digest = hashlib.sha256(package.json).hexdigest()
    [(actor, after)] = events(db, code, EVENT)
    assert actor == head.ref and after == {"case": code, "schema": SCHEMA, "sha256": {"vu-viec.json": digest}}
    assert package.sha256 == {"vu-viec.json": digest} and package.printed is None
    # The JSON's read is on the access log, naming what it held; the event itself holds no personal data.
    [(reader, read)] = events(db, code, "case.viewed")
    assert reader == head.ref and {"child.full_name", "report.narrative"} <= set(read["fields"])
    with db.read() as s:
        stored = s.execute(select(col(AuditEvent.after)).where(col(AuditEvent.action) == EVENT)).scalar_one()
    assert not any(private in stored for private in (CHILD, NARRATIVE, RECEIVING, *REPORTER))


def test_whoever_of_the_writers_hands_it_over_the_case_is_the_same(
        db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune) -> None:
    code = transferred(db, clock, policy, commune)
    files = {}
    for role in (Role.HEAD, Role.CHAIR, Role.CASE_WORKER):  # the case is unassigned: the worker may pick it up
        with db.write() as s:
            files[role] = json.loads(handover(s, clock, commune.actors[role], code, policy).json)
    # The same case, but for its timeline, which gains each handover's own events.
    cases = [{k: v for k, v in files[role]["case"].items() if k != "timeline"} for role in files]
    assert cases[0] == cases[1] == cases[2] and cases[0]["reports"]
    assert files[Role.CHAIR]["produced_by"]["ref"] == commune.actors[Role.CHAIR].ref
    assert len(events(db, code, EVENT)) == 3


def test_the_package_with_its_printable_file_records_every_file_s_digest(
        db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune) -> None:
    code = transferred(db, clock, policy, commune)
    with db.write() as s:
        package = handover(s, clock, commune.actors[Role.HEAD], code, policy, layout)
    assert package.printed is not None
    html, docx = package.printed
    page = html.decode()
    assert code in page and CHILD in page and not any(secret in page for secret in REPORTER)
    [(_, after)] = events(db, code, EVENT)
    assert after["sha256"] == {"vu-viec.json": hashlib.sha256(package.json).hexdigest(),
                               "ho-so.html": hashlib.sha256(html).hexdigest(),
                               "ho-so.docx": hashlib.sha256(docx).hexdigest()}
    assert [a for a, _ in events(db, code, "case.printed")] == [commune.actors[Role.HEAD].ref]


@pytest.mark.parametrize("closing", [None, {"reason": "duplicate"}], ids=["open", "closed-as-duplicate"])
def test_a_case_not_closed_as_transferred_is_refused_naming_the_closure_reason(
        db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune,
        closing: dict[str, Any] | None) -> None:
    code = open_case(db, clock, policy, commune)
    if closing is not None:
        close(db, clock, policy, commune, code, **closing)
    with pytest.raises(InvalidInput) as refused, db.write() as s:
        handover(s, clock, commune.actors[Role.HEAD], code, policy, layout)
    assert refused.value.field == "closure_reason" and refused.value.rule == "transferred_case"
    assert refused.value.message_vi and refused.value.message_en
    assert events(db, code, EVENT) == [] and events(db, code, "case.viewed") == []
    assert events(db, code, "case.printed") == []


@pytest.mark.parametrize("role", [Role.AGENCY_OFFICIAL, Role.AUDITOR, Role.INTAKE_OPERATOR, Role.ADMIN])
def test_roles_that_do_not_change_cases_are_refused(
        db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune, role: Role) -> None:
    """Refused by role, before the case is looked up: an agency official too, even on a case
    referred to their agency (tests/api/test_access_matrix.py has that cell)."""
    code = transferred(db, clock, policy, commune)
    with pytest.raises(Forbidden), db.write() as s:
        handover(s, clock, commune.actors[role], code, policy)
    assert events(db, code, EVENT) == []


def test_a_worker_is_answered_as_for_a_missing_case_when_it_is_another_worker_s(
        db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune) -> None:
    code = open_case(db, clock, policy, commune)
    with db.write() as s:
        workflow.assign(s, clock, commune.actors[Role.HEAD], code, commune.officials[Role.HEAD], 1)
    close(db, clock, policy, commune, code, reason="transferred", transferred_to=RECEIVING)
    with pytest.raises(NotFound), db.write() as s:
        handover(s, clock, commune.actors[Role.CASE_WORKER], code, policy)
