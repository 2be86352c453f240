"""The lifecycle against a model, over the real database: a hypothesis state machine.

Rules open cases through `intake.submit_report` (random channel and child, sometimes the same
child again so the report is linked), replay or misuse a 111 reference, and fire triggers
through `workflow.advance` with random (sometimes incomplete) data, random roles and sometimes a
stale version, each in its own `db.write()` transaction. The model here is written from the
lifecycle's specification, not from `states.lifecycle.machine`: it predicts every outcome, and after each
step the database must agree with it, the audit chain must verify and hold exactly one event per
successful command, and a failed command must have left every row of every table as it was.

Each hypothesis example gets a fresh database: a copy of a seeded SQLite file, or the run's
PostgreSQL schema emptied and seeded again. `KIPTHOI_PROPERTY_EXAMPLES=300` hunts longer."""

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from pydantic import TypeAdapter
from sqlalchemy import String, cast, func, insert, literal, select, union_all
from sqlmodel import SQLModel

from models import AuditEvent, AuditHead, Case, Database, Plan, Report, open_database
from models.enums import AgencyKind, CaseState, Role
from states.audit import chain as audit
from states.identity.actors import PUBLIC, SYSTEM, Actor
from states.intake import opening as intake
from states.intake.report_data import AnyReport
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from states.kernel.errors import (
    DomainError,
    Forbidden,
    GuardFailed,
    IdempotencyConflict,
    IllegalTrigger,
    InvalidInput,
    StaleVersion,
)
from states.lifecycle import workflow
from states.lifecycle.machine import TRIGGERS
from states.lifecycle.triggers import INPUTS
from states.records import directory
from tests import dbs
from tests.conftest import T0

REPORT = TypeAdapter(AnyReport)
ACTORS = {role: Actor(ref=f"user:{n + 1}", role=role) for n, role in enumerate(Role)}
PLACES, AGENCIES = ("DONG-AN", "TAY-BINH"), ("VHXH", "TYT", "CA", "UBND")
EXAMPLES = int(os.environ.get("KIPTHOI_PROPERTY_EXAMPLES", "25"))
MAX_CASES = 3
NAMES = ("Nguyễn Văn Thử", "Trần Thị Mẫu", "Lê Giả Lập")
BIRTHS = (date(2016, 5, 1), date(2012, 1, 9), date(2009, 6, 1), None)
ADULT = date(2006, 1, 1)  # 20 years old: not a child, refused at intake

# --- the specification: (trigger, from state) -> (to state, None = stays; roles allowed) ------
R, A, I, SU, C = "received", "assessed", "intervened", "supported", "closed"  # noqa: E741 (I: intervened)
WORKERS, LEADERS, CHAIR = {Role.CASE_WORKER, Role.HEAD, Role.CHAIR}, {Role.HEAD, Role.CHAIR}, {Role.CHAIR}
PROPOSERS = {Role.CASE_WORKER, Role.HEAD}
SEPARATION_DAYS = 15
SPEC: dict[tuple[str, str], tuple[str | None, set[Role]]] = {
    ("assess", R): (A, WORKERS), ("record_emergency", R): (None, WORKERS),
    ("record_emergency", A): (None, WORKERS), ("submit_plan", A): (None, WORKERS),
    ("decide_emergency", R): (None, CHAIR), ("decide_emergency", A): (None, CHAIR),  # the chair's decision
    ("detail_assess", A): (None, WORKERS),  # Mẫu 03 and its meeting
    ("return_plan", A): (None, CHAIR), ("approve_plan", A): (I, CHAIR),
    ("start_service", I): (SU, WORKERS), ("start_service", SU): (SU, WORKERS),
    ("review", I): (None, WORKERS), ("review", SU): (None, WORKERS), ("replan", SU): (A, WORKERS),
    ("close", R): (C, CHAIR), ("close", A): (C, CHAIR),  # the chair decides; others propose
    ("propose_closure", R): (None, PROPOSERS), ("propose_closure", A): (None, PROPOSERS),
    ("close", I): (C, CHAIR), ("close", SU): (C, CHAIR), ("reopen", C): (R, LEADERS),
} | {(trigger, state): (None, CHAIR) for trigger in ("extend_separation", "end_separation")
     for state in (R, A, I, SU)} | {("record_consent", state): (None, WORKERS) for state in (R, A, I, SU)}
LEVELS = ("low", "medium", "high")  # in order: the derived level is the highest factor
FACTORS = ("factors.severity", "factors.abuser_access", "factors.safety_obstacles", "factors.self_protection")
MEASURE_FIELDS = ("kind", "description", "starts_on", "ends_on")
REQUIRED = {"assess": (*FACTORS, "emergency"), "submit_plan": ("goals", "measures"),
            "detail_assess": ("information", "needs", "meeting_at", "attendees", "agreed"),
            "decide_emergency": ("measures", "decided_at"), "record_consent": (),
            "record_emergency": ("action_taken", "who_was_called", "done_at"), "approve_plan": (),
            "start_service": ("kind", "agency_code", "started_on"), "return_plan": ("reason",),
            "review": ("findings", *FACTORS, "outcome"), "replan": ("reason",), "close": ("reason",),
            "reopen": ("reason",), "propose_closure": ("reason",), "extend_separation": ("reason", "ends_at"),
            "end_separation": ("outcome", "ended_at")}
EARLY_REASONS = {"not_substantiated", "duplicate", "transferred"}
FINAL_REASONS = {"no_longer_at_risk", "transferred", "child_turned_16"}
DEPTH = {C: 0, R: 1, A: 2, I: 3, SU: 4}


def get(data: dict[str, Any], field: str) -> Any:
    """`data[field]`, following a dotted field into nested inputs; None when absent."""
    value: Any = data
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def level(data: dict[str, Any]) -> str:
    """The case's level after a rating: the one stated, else the highest of the four factors."""
    return data.get("risk_level") or max((get(data, f) for f in FACTORS), key=LEVELS.index)


def norm(name: str | None) -> str | None:
    return " ".join(name.casefold().split()) if name else None


@dataclass
class CaseModel:
    code: str
    received_at: datetime
    child: tuple[str | None, date | None, str]  # normalised name, birth date, place code
    state: str = R
    version: int = 1
    risk: str | None = None
    emergency: bool | None = None
    plan_pending: bool = False
    plan_measures: int = 0  # how many measures the plan waiting for a decision has
    approved_measures: int = 0  # how many the plan in force has: a service names one of them
    detailed: bool = False  # a Mẫu 03 recorded since the case was received or reopened
    consent: str | None = None  # the consent record in force: "ok" (given, or a legal ground), "refused"
    referred: frozenset[str] = frozenset()  # agencies the case is referred to (a service refers)
    last_review: str | None = None  # outcome of the latest review of the plan in force
    reports: int = 1
    separation: tuple[datetime, datetime] | None = None  # (since, until) while separated from the carer
    reopened_at: datetime | None = None  # a meeting (Mẫu 03) cannot be before the case is current

    @property
    def current_since(self) -> datetime:
        return self.reopened_at or self.received_at

    def matches(self, name: str | None, birth: date | None, place: str) -> bool:
        mine, my_birth, my_place = self.child
        if name is None or mine != name:
            return False
        if birth is None:
            return my_place == place
        return my_birth == birth or (my_place == place and my_birth is None)


def forward(case: CaseModel) -> list[str]:
    """What a worker would try next (repeats weigh the draw towards moving on)."""
    plan = ["approve_plan", "return_plan"] if case.plan_pending else \
        ["submit_plan"] if case.detailed else ["detail_assess"]
    separation = ["extend_separation", "end_separation"] if case.separation else []
    consent = [] if case.consent == "ok" else ["record_consent", "record_consent"]  # before a service
    return {R: ["assess", "assess", "assess", "record_emergency", "decide_emergency", "close", "propose_closure",
                *separation],
            A: [*plan, *plan, *plan, "record_emergency", "close", "propose_closure", *separation],
            I: ["start_service", "review", *consent, *separation],
            SU: ["review", "review", "start_service", "replan", *consent[1:], *separation],
            C: ["reopen"]}[case.state]


def predict(case: CaseModel, trigger: str, role: Role, data: dict[str, Any], version: int,
            now: datetime) -> type[DomainError] | str:
    """The error class expected, or the state the case ends in."""
    spec = SPEC.get((trigger, case.state))
    if role not in WORKERS or (spec is not None and role not in spec[1]):
        return Forbidden  # a role that fires no trigger at all is refused before the case is read
    if version != case.version:
        return StaleVersion
    if spec is None:
        return IllegalTrigger
    if trigger in ("extend_separation", "end_separation") and case.separation is None:
        return GuardFailed
    if any(get(data, f) is None for f in REQUIRED[trigger]):
        return GuardFailed
    if trigger == "detail_assess" and data.get("factors") and \
            any(v is not None for v in data["factors"].values()) and any(get(data, f) is None for f in FACTORS):
        return GuardFailed  # a re-rating is all four factors or none
    if trigger == "submit_plan" and (not data["measures"] or not case.detailed or any(
            any(m.get(f) is None for f in MEASURE_FIELDS) or not (m.get("agency_code") or m.get("responsible"))
            or m["ends_on"] < m["starts_on"] for m in data["measures"])):
        return GuardFailed
    if trigger == "start_service" and (
            (case.approved_measures and data.get("measure_no") is None)
            or (data.get("measure_no") or 0) > case.approved_measures):
        return GuardFailed
    # The children here are all 7 or older, or of unknown age: the child's answer is needed too.
    if trigger == "record_consent" and data.get("legal_ground") is None and (
            data.get("carer_answer") is None or data.get("child_answer") is None):
        return GuardFailed
    action = {"assess": data.get("emergency_action"), "record_emergency": data}.get(trigger)
    if trigger == "assess" and action is not None and (
            any(action.get(f) is None for f in REQUIRED["record_emergency"]) or data["emergency"] is False):
        return GuardFailed
    if trigger == "submit_plan" and case.plan_pending:
        return GuardFailed
    if trigger in ("return_plan", "approve_plan") and not case.plan_pending:
        return GuardFailed
    if trigger in ("close", "propose_closure"):
        reason = data["reason"]
        if reason not in (EARLY_REASONS if case.state in (R, A) else FINAL_REASONS) or \
                (reason == "transferred" and not data.get("transferred_to")) or \
                (reason == "no_longer_at_risk" and case.last_review != "close"):
            return GuardFailed
    if action is not None and (action["done_at"] > now or action["done_at"] < case.received_at):
        return InvalidInput
    if trigger == "start_service" and data["agency_code"] not in AGENCIES:
        return InvalidInput
    if trigger == "start_service" and data["agency_code"] not in case.referred and case.consent != "ok":
        return InvalidInput  # a new agency is a referral: consent (or a legal ground) first
    if trigger == "submit_plan" and any(m.get("agency_code") not in (None, *AGENCIES) for m in data["measures"]):
        return InvalidInput
    if trigger == "detail_assess" and (data["meeting_at"] > now or data["meeting_at"] < case.current_since):
        return InvalidInput
    if trigger == "decide_emergency" and (data["decided_at"] > now or data["decided_at"] < case.received_at):
        return InvalidInput
    if trigger == "extend_separation" and case.separation is not None:
        if data["ends_at"] <= case.separation[1]:
            return GuardFailed
        if data["ends_at"] <= now:
            return InvalidInput
    if trigger == "end_separation" and case.separation is not None and (
            data["ended_at"] > now or data["ended_at"] < case.separation[0]):
        return InvalidInput
    return spec[0] or case.state


def apply(case: CaseModel, trigger: str, data: dict[str, Any], new_state: str, now: datetime) -> None:
    case.state, case.version = new_state, case.version + 1
    if trigger == "assess":
        case.risk, case.emergency = level(data), data["emergency"]
    if trigger == "detail_assess":  # a re-rating (or a level alone) changes the level
        case.detailed = True
        if get(data, FACTORS[0]) is not None:
            case.risk = level(data)
        elif data.get("risk_level") is not None:
            case.risk = data["risk_level"]
    if trigger == "decide_emergency":
        case.emergency = True
        if data["separation"] and case.separation is None:  # the chair decided it: from decided_at
            case.separation = (data["decided_at"], data["decided_at"] + timedelta(days=SEPARATION_DAYS))
    if trigger == "record_consent":
        given = data.get("carer_answer") == "given" and data.get("child_answer") == "given"
        case.consent = "ok" if data.get("legal_ground") is not None or given else "refused"
    if trigger == "start_service":
        case.referred = case.referred | {data["agency_code"]}
    if trigger == "reopen":  # the reopened case needs its own Mẫu 03 and consent
        case.detailed, case.consent, case.reopened_at = False, None, now
    if trigger == "record_emergency" or (trigger == "assess" and data.get("emergency_action")):
        case.emergency = True
        action = data if trigger == "record_emergency" else data["emergency_action"]
        if action["separated_from_carer"] and case.separation is None:  # counted from done_at
            case.separation = (action["done_at"], action["done_at"] + timedelta(days=SEPARATION_DAYS))
    if trigger == "extend_separation" and case.separation is not None:
        case.separation = (case.separation[0], data["ends_at"])
    if trigger in ("end_separation", "close"):  # closing cancels the separation's limit
        case.separation = None
    if trigger == "submit_plan":
        case.plan_pending, case.plan_measures = True, len(data["measures"])
    if trigger == "approve_plan":
        case.approved_measures = case.plan_measures
    if trigger in ("return_plan", "approve_plan", "close"):  # closing withdraws a pending plan
        case.plan_pending = False
    if trigger in ("approve_plan", "reopen"):  # a new plan in force: older reviews no longer count
        case.last_review = None
    if trigger == "review":
        case.risk, case.last_review = level(data), data["outcome"]


def fingerprint(db: Database) -> list[tuple[str, str]]:
    """Every row of every table, as (table, row as JSON text), in one query."""
    as_json = func.json_build_array if db.writer.dialect.name == "postgresql" else func.json_array
    query = union_all(*(select(literal(t.name), cast(as_json(*t.columns), String))
                        for t in SQLModel.metadata.sorted_tables))
    with db.reader.connect() as conn:
        return sorted((name, row) for name, row in conn.execute(query))


def seed(db: Database) -> None:
    clock = FrozenClock(T0 - timedelta(days=30))
    kinds = (AgencyKind.CULTURE_SOCIAL, AgencyKind.HEALTH_STATION, AgencyKind.POLICE, AgencyKind.LEADERSHIP)
    with db.write() as s:
        for code in PLACES:
            directory.create_place(s, clock, SYSTEM, directory.PlaceIn(code=code, name=f"Thôn {code}"))
        for code, kind in zip(AGENCIES, kinds, strict=True):
            directory.create_agency(s, clock, SYSTEM, directory.AgencyIn(
                code=code, name_vi=f"Cơ quan {code}", name_en=f"Agency {code}", kind=kind))


class Lifecycle(RuleBasedStateMachine):
    make_db: Callable[[], Database]  # set by the test: a fresh, seeded database

    def __init__(self) -> None:
        super().__init__()
        self.db = type(self).make_db()
        self.clock = FrozenClock(T0)
        self.policy = CommunePolicy(code_prefix="NH", match_secret=b"property-secret")
        self.cases: list[CaseModel] = []
        self.hotline: list[tuple[Any, dict[str, Any]]] = []  # (report, first answer)
        with self.db.read() as s:
            self.events = s.execute(select(func.count()).select_from(AuditEvent)).scalar_one()

    def teardown(self) -> None:
        self.db.dispose()
        if self.db.is_sqlite:
            Path(self.db.writer.url.database or "").unlink()

    # --- opening and linking -----------------------------------------------------------------
    @precondition(lambda self: len(self.cases) < MAX_CASES)
    @rule(data=st.data())
    def receive_report(self, data: st.DataObject) -> None:
        if self.hotline and data.draw(st.integers(0, 4), "repeat a 111 reference") == 0:
            self.repeat_hotline_ref(data)
            return
        self.clock.advance(timedelta(minutes=data.draw(st.integers(1, 90), "minutes")))
        now = self.clock.now()
        channel = data.draw(st.sampled_from(["phone", "in_person", "third_party", "hotline_111", "online"]))
        if self.cases and data.draw(st.booleans(), "same child again"):
            name, birth, place = data.draw(st.sampled_from(self.cases)).child
            if name is not None:  # the same name, typed differently
                name = data.draw(st.sampled_from([name, name.upper(), f" {name} ".replace(" ", "  ")]))
            birth = data.draw(st.sampled_from([birth, None, date(2016, 5, 1)]))
            place = data.draw(st.sampled_from([place, *PLACES]))
        else:
            name, birth = data.draw(st.sampled_from([*NAMES, None])), data.draw(st.sampled_from(BIRTHS))
            place = data.draw(st.sampled_from([*PLACES] * 4 + ["BAC-SON"]))
        if data.draw(st.integers(0, 14), "adult") == 0:
            birth = ADULT
        received = now - timedelta(hours=data.draw(st.integers(1, 72), "hours back"))
        body: dict[str, Any] = {"channel": channel, "place_code": place, "abuse_forms": ["neglect"],
                                "narrative": "Trẻ bị bỏ mặc (dữ liệu giả lập).",
                                "child": {"full_name": name.strip() if name else None, "birth_date": birth}}
        if channel == "online":
            actor, allowed, received = PUBLIC, True, now
        else:
            hotline = channel == "hotline_111"
            body["received_at"] = received
            role = data.draw(st.sampled_from([Role.HOTLINE] * 6 + [Role.CASE_WORKER] if hotline
                                             else [Role.INTAKE_OPERATOR] * 4 + list(Role)))
            actor = ACTORS[role]
            allowed = role == Role.HOTLINE if hotline else role in WORKERS | {Role.INTAKE_OPERATOR}
            if hotline:
                body["hotline_ref"] = f"111-2026-{len(self.hotline) + 1:04d}-{len(self.cases)}"
        report = REPORT.validate_python(body)

        match = next((c for c in self.cases if c.state != C and c.matches(norm(name), birth, place)), None)
        expected: Any = Forbidden if not allowed else \
            InvalidInput if place not in PLACES or birth == ADULT else match or "new"
        outcome = self._run(expected, lambda s: intake.submit_report(
            s, self.clock, actor, self.policy, report))
        if isinstance(outcome, type):
            return
        assert not outcome.replayed
        if match is None:
            code = f"NH-2026-{len(self.cases) + 1:06d}"
            # A child whose case was closed keeps their record: the new case is about that
            # child, as first recorded (so later reports match it by that record's thôn).
            previous = next((c for c in reversed(self.cases)
                             if c.state == C and c.matches(norm(name), birth, place)), None)
            child = previous.child if previous is not None else (norm(name), birth, place)
            self.cases.append(CaseModel(code, received, child))
        else:
            match.version, match.reports, code = match.version + 1, match.reports + 1, match.code
        answer = outcome.response
        if channel == "online":
            assert set(answer) == {"tracking_code"}  # the public learns nothing about cases
        else:
            assert (answer["case_code"], answer["linked_to_existing_case"]) == (code, match is not None)
        if channel == "hotline_111":
            self.hotline.append((report, answer))
        self._last_event("case.opened" if match is None else "report.linked", code)

    def repeat_hotline_ref(self, data: st.DataObject) -> None:
        report, answer = data.draw(st.sampled_from(self.hotline))
        if data.draw(st.booleans(), "changed"):
            other = report.model_copy(update={"narrative": "Một cuộc gọi khác (giả lập)."})
            self._run(IdempotencyConflict, lambda s: intake.submit_report(
                s, self.clock, ACTORS[Role.HOTLINE], self.policy, other))
            return
        before = fingerprint(self.db)
        with self.db.write() as s:
            again = intake.submit_report(s, self.clock, ACTORS[Role.HOTLINE], self.policy, report)
        assert again.replayed and again.response == answer
        assert fingerprint(self.db) == before

    # --- triggers: three rules move cases on, one closes late ones, one tries anything --------
    @precondition(lambda self: self.cases)
    @rule(data=st.data())
    def move_case(self, data: st.DataObject) -> None:
        self._fire(data, well_meant=True)

    @precondition(lambda self: self.cases)
    @rule(data=st.data())
    def move_case_again(self, data: st.DataObject) -> None:  # rules are drawn evenly: weight by copies
        self._fire(data, well_meant=True)

    @precondition(lambda self: self.cases)
    @rule(data=st.data())
    def move_case_once_more(self, data: st.DataObject) -> None:
        self._fire(data, well_meant=True)

    @precondition(lambda self: any(c.state in (I, SU) for c in self.cases))
    @rule(data=st.data())
    def close_case(self, data: st.DataObject) -> None:
        self._fire(data, well_meant=True, trigger="close")

    @precondition(lambda self: self.cases)
    @rule(data=st.data())
    def misfire(self, data: st.DataObject) -> None:
        self._fire(data, well_meant=False)

    def _fire(self, data: st.DataObject, well_meant: bool, trigger: str | None = None) -> None:
        """Well meant: a trigger the spec allows now, by a role it allows, on the current version,
        with complete data (guards may still refuse). Otherwise: anything at all."""
        # Time always moves: with a frozen clock a review and an approval could share an instant.
        self.clock.advance(timedelta(minutes=data.draw(st.integers(1, 600), "minutes")))
        now = self.clock.now()
        cases = [c for c in self.cases if c.state in (I, SU)] if trigger == "close" else self.cases
        if well_meant:  # furthest along first: draws lean to the front, so cases get deep
            cases = sorted(cases, key=lambda c: DEPTH[c.state], reverse=True)
        case = data.draw(st.sampled_from(cases), "case")
        if trigger is None:
            trigger = data.draw(st.sampled_from(forward(case) if well_meant else TRIGGERS), "trigger")
        role = data.draw(st.sampled_from(sorted(SPEC[trigger, case.state][1]) if well_meant else list(Role)))
        fields = data.draw(trigger_data(trigger, case, now, well_meant), "data")
        version = case.version + (0 if well_meant else data.draw(st.sampled_from([0, 0, -1, 1, 3]), "stale"))
        model = INPUTS[trigger].model_validate(fields)
        expected = predict(case, trigger, role, model.model_dump(), version, now)
        outcome = self._run(expected, lambda s: workflow.advance(
            s, self.clock, ACTORS[role], case.code, trigger, model, version, self.policy))
        if isinstance(outcome, type):
            return
        assert (outcome.state, outcome.version) == (expected, case.version + 1)
        apply(case, trigger, model.model_dump(), str(expected), now)
        event(f"reached: {trigger} -> {expected}")
        self._last_event(f"case.{trigger}", case.code)

    # --- running a command and checking what it left ------------------------------------------
    def _run(self, expected: Any, command: Callable[[Any], Any]) -> Any:
        """Run `command` in one transaction; a predicted error must come and change nothing."""
        event(f"outcome: {getattr(expected, '__name__', 'ok')}")
        if isinstance(expected, type):
            before = fingerprint(self.db)
            with pytest.raises(expected), self.db.write() as s:
                command(s)
            assert fingerprint(self.db) == before, f"a failed command ({expected.__name__}) wrote"
            return expected
        with self.db.write() as s:
            result = command(s)
        self.events += 1
        return result

    def _last_event(self, action: str, code: str) -> None:
        with self.db.read() as s:
            last = s.execute(select(AuditEvent.action, Case.code).join(Case, Case.id == AuditEvent.case_id)
                             .order_by(AuditEvent.seq.desc()).limit(1)).one()  # type: ignore[attr-defined]
        assert tuple(last) == (action, code)

    @invariant()
    def database_agrees_with_the_model(self) -> None:
        with self.db.read() as s:
            rows = s.execute(select(Case.code, Case.state, Case.version, Case.risk_level, Case.emergency)
                             .order_by(Case.id)).all()
            reports = dict(s.execute(select(Case.code, func.count(Report.id))  # type: ignore[arg-type]
                                     .join(Report, Report.case_id == Case.id).group_by(Case.code)).all())
            pending = set(s.execute(select(Case.code).join(Plan, Plan.case_id == Case.id)
                                    .where(Plan.status == "submitted")).scalars())
            verdict = audit.verify(s)
        assert all(state in set(CaseState) for _, state, *_ in rows)
        assert [tuple(r) for r in rows] == [
            (c.code, c.state, c.version, c.risk, c.emergency) for c in self.cases]
        assert reports == {c.code: c.reports for c in self.cases}
        assert pending == {c.code for c in self.cases if c.plan_pending}
        assert verdict.ok, verdict
        assert verdict.checked == self.events


def trigger_data(trigger: str, case: CaseModel, now: datetime,
                 well_meant: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Well meant: complete, a possible time, a known agency, a closing reason of the case's stage.
    Otherwise: also impossible times and unknown agencies, and fields may be left out."""
    text = st.sampled_from(["Đã gặp gia đình (giả lập).", "Theo dõi hằng tuần."])
    possible = min(case.received_at + timedelta(minutes=5), now)
    meeting = min(case.current_since + timedelta(minutes=5), now)
    when = st.sampled_from([possible] if well_meant else
                           [possible, case.received_at - timedelta(hours=1), now + timedelta(hours=1)])
    emergency = st.fixed_dictionaries({"action_taken": text, "who_was_called": st.just("Công an xã"),
                                       "done_at": when, "separated_from_carer": st.booleans()})
    since, until = case.separation or (now, now)
    later = max(until, now) + timedelta(days=7)
    reasons = EARLY_REASONS | FINAL_REASONS
    if well_meant:
        reasons = EARLY_REASONS if case.state in (R, A) else FINAL_REASONS
    # The four factors; otherwise some may be missing.
    factors = st.fixed_dictionaries({f.split(".")[1]: st.sampled_from(LEVELS if well_meant else (*LEVELS, None))
                                     for f in FACTORS})
    agencies = AGENCIES if well_meant else (*AGENCIES, "KHONG-CO")
    measure = st.fixed_dictionaries(
        {"kind": st.sampled_from(["medical_psychological", "carer_counselling", "legal_support"] +
                                 ([] if well_meant else [None])),
         "description": text, "starts_on": st.just(date(2026, 3, 5)),
         "ends_on": st.sampled_from([date(2026, 5, 31)] if well_meant else [date(2026, 5, 31), date(2026, 3, 1)])},
        optional={"agency_code": st.sampled_from(agencies), "responsible": st.just("Cán bộ VH-XH (giả lập)")})
    if well_meant:  # each measure names an agency or a person
        measure = measure.map(lambda m: m if m.get("agency_code") or m.get("responsible")
                              else m | {"responsible": "Cán bộ VH-XH (giả lập)"})
    numbers = st.sampled_from([None, 1, 2, 5])
    if well_meant:
        numbers = st.integers(1, case.approved_measures) if case.approved_measures else st.none()
    full: dict[str, st.SearchStrategy[dict[str, Any]]] = {
        "assess": st.fixed_dictionaries(
            {"factors": factors, "emergency": st.booleans()},
            optional={"risk_level": st.sampled_from(LEVELS), "case_type": st.sampled_from(["abused", "at_risk"]),
                      "emergency_action": emergency}),
        "record_emergency": emergency,
        "decide_emergency": st.fixed_dictionaries({"measures": text, "decided_at": when},
                                                  optional={"separation": st.booleans(), "alternative_care": text}),
        "detail_assess": st.fixed_dictionaries(
            {"information": text, "needs": text, "meeting_at": st.sampled_from(
                [meeting] if well_meant else [meeting, case.current_since - timedelta(hours=1),
                                              now + timedelta(hours=1)]),
             "attendees": st.just("Công chức VH-XH, Công an xã (giả lập)"), "agreed": text},
            optional={"factors": factors, "risk_level": st.sampled_from(LEVELS)}),
        "submit_plan": st.fixed_dictionaries({"goals": text, "measures": st.lists(
            measure, min_size=1 if well_meant else 0, max_size=3)}),
        "return_plan": st.fixed_dictionaries({"reason": text}),
        "approve_plan": st.fixed_dictionaries({}, optional={"note": text}),
        "start_service": st.fixed_dictionaries({
            "kind": st.sampled_from(["medical", "psychological", "legal_aid"]),
            "agency_code": st.sampled_from(AGENCIES if well_meant else [*AGENCIES, "KHONG-CO"]),
            "started_on": st.just(date(2026, 3, 3)), "measure_no": numbers}),
        "record_consent": st.fixed_dictionaries(
            {"child_answer": st.sampled_from(["given", "given", "refused"]),
             "carer_answer": st.sampled_from(["given", "given", "refused"])},
            optional={"carer_name": st.just("Người chăm sóc giả lập"), "note": text,
                      "legal_ground": st.sampled_from(["child_safety", "criminal_procedure"])}),
        "review": st.fixed_dictionaries({"findings": text, "factors": factors,
                                         "outcome": st.sampled_from(["continue", "close", "replan"])},
                                        optional={"risk_level": st.sampled_from(["medium", "low"])}),
        "replan": st.fixed_dictionaries({"reason": text}),
        "close": st.fixed_dictionaries({"reason": st.sampled_from(sorted(reasons))},
                                       optional={"transferred_to": st.just("Xã Bên Cạnh")}),
        "reopen": st.fixed_dictionaries({"reason": text}),
        "propose_closure": st.fixed_dictionaries({"reason": st.sampled_from(sorted(reasons))},
                                                 optional={"transferred_to": st.just("Xã Bên Cạnh")}),
        "extend_separation": st.fixed_dictionaries({"reason": text, "ends_at": st.sampled_from(
            [later] if well_meant else [later, until, now - timedelta(hours=1)])}),
        "end_separation": st.fixed_dictionaries({
            "outcome": st.sampled_from(["returned_to_family", "alternative_care"]),
            "ended_at": st.sampled_from([now] if well_meant else [now, now + timedelta(hours=1),
                                                                  since - timedelta(hours=1)])}),
    }
    if well_meant:  # an emergency action goes with emergency = true; a transfer names the commune
        return full[trigger].map(lambda d: d | ({"emergency": True} if "emergency_action" in d else {}) | (
            {"transferred_to": "Xã Bên Cạnh"} if d.get("reason") == "transferred" else {}))

    def drop_some(d: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
        if not d:
            return st.just(d)
        return st.lists(st.sampled_from(sorted(d)), unique=True, min_size=1).map(
            lambda gone: {k: v for k, v in d.items() if k not in gone})

    return full[trigger].flatmap(lambda d: st.one_of(st.just(d), drop_some(d)))


@pytest.fixture
def fresh_db(pg_schema_url: str | None, sqlite_template: Path | None,
             tmp_path: Path) -> Callable[[], Database]:
    """A factory of fresh, seeded databases, one per hypothesis example."""
    if pg_schema_url is not None:
        first = open_database(pg_schema_url)
        dbs.pg_reset(first)
        first.dispose()

        def make_pg() -> Database:
            # Emptied by DELETE: `dbs.pg_reset`'s TRUNCATE of every table costs ~0.5 s an example.
            database = open_database(pg_schema_url)
            with database.writer.begin() as conn:
                for table in reversed(SQLModel.metadata.sorted_tables):
                    conn.execute(table.delete())
                conn.execute(insert(AuditHead).values(id=audit.HEAD_ID, last_seq=0,
                                                      last_hash=audit.GENESIS_HASH))
            seed(database)
            return database
        return make_pg
    assert sqlite_template is not None
    seeded = dbs.sqlite_copy(sqlite_template, tmp_path)
    seed(seeded)
    seeded.dispose()
    source = Path(seeded.writer.url.database or "")
    assert not Path(f"{source}-wal").exists()  # checkpointed on close: the file alone is the database
    counter = iter(range(10**6))

    def make_sqlite() -> Database:
        path = tmp_path / f"example-{next(counter)}.db"
        shutil.copyfile(source, path)
        return open_database(f"sqlite:///{path}")
    return make_sqlite


def test_lifecycle_agrees_with_the_model(fresh_db: Callable[[], Database]) -> None:
    class OverFreshDatabases(Lifecycle):
        make_db = staticmethod(fresh_db)

    run_state_machine_as_test(OverFreshDatabases, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=30, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
