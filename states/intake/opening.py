"""Opening a case from a report (Nghị định 56 Art. 25–26, Mẫu 01).

Idempotent: a repeated 111 reference, or a repeated `Idempotency-Key` from the same client,
returns the first answer and never opens a second case. A report about a child who already
has an open case is linked to it instead (see `states/intake/matching.py` for the rule), and is
told as a new case would be: the worker and the head hear of it, the crime and school routes
fire on its own forms of abuse, and an emergency starts its 12-hour window from its own receipt."""

import asyncio
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any, NamedTuple, TypedDict

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from models import Case, CaseAbuseForm, Child, Database, Deadline, IdempotencyRecord, Report, Reporter
from models.crypto import sha256_hex
from models.dialect import lock_keys
from models.enums import AgencyKind, CaseFlag, CaseState, DeadlineStatus, Event, Role
from models.statements import Insert, Query
from notifications.outbox import CaseEvent, notify
from states.access.permissions import authorize
from states.audit import chain as audit
from states.deadlines import ladder as deadlines
from states.identity.actors import Actor
from states.intake.codes import new_tracking_code, next_case_code
from states.intake.matching import CaseRef, ChildKeys, child_cases, child_keys, phone_index
from states.intake.report_data import CitizenReport, HotlineReport, StaffReport
from states.kernel.clock import LOCAL_TZ, Clock
from states.kernel.commune import CommunePolicy
from states.kernel.errors import IdempotencyConflict, InvalidInput
from states.records import directory


@dataclass(frozen=True)
class IntakeResult:
    response: dict[str, Any]
    replayed: bool


def _age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _check_times_and_age(report: HotlineReport | StaffReport | CitizenReport, received_at: datetime,
                         now: datetime, policy: CommunePolicy) -> list[str]:
    if received_at > now + policy.future_skew:
        raise InvalidInput("received_at", "not_in_future",
                           "Thời điểm tiếp nhận không được ở tương lai.",
                           "received_at must not be in the future.")
    flags: list[str] = []
    child = report.child
    local_day = received_at.astimezone(LOCAL_TZ).date()
    age = child.estimated_age
    if child.birth_date is not None:
        if child.birth_date > local_day:
            raise InvalidInput("child.birth_date", "not_in_future",
                               "Ngày sinh không được sau ngày tiếp nhận.",
                               "birth_date must not be after the day the report was received.")
        age = _age_on(child.birth_date, local_day)
        if age >= 18:
            raise InvalidInput("child.birth_date", "child_must_be_under_18",
                               "Người được báo cáo đã đủ 18 tuổi, không thuộc phạm vi tiếp nhận.",
                               "The person reported about is 18 or older.")
    if age is not None and age >= 16:
        flags.append(CaseFlag.AGED_16_OR_17)
    return flags


def _request_hash(report: HotlineReport | StaffReport | CitizenReport) -> str:
    return sha256_hex(report.model_dump_json())


def _idempotency_key(actor: Actor, report: Any, header_key: str | None) -> tuple[str, str] | None:
    if isinstance(report, HotlineReport):
        # Scoped by account: each hotline account has its own space of references.
        return f"111:{actor.ref}:{report.hotline_ref}", "hotline_ref"
    if header_key and actor.is_public:
        # Citizens share no identity: scope their key by the request itself, so that two
        # people who pick the same key never see each other's answer.
        return f"key:public:{header_key}:{_request_hash(report)}", "Idempotency-Key"
    if header_key:
        return f"key:{actor.ref}:{header_key}", "Idempotency-Key"
    return None


class ChildRow(TypedDict):
    """A new `child` row."""

    full_name: str | None
    birth_date: date | None
    estimated_age: int | None
    sex: str
    place_id: int
    birth_key: str | None
    place_key: str | None
    name_index: str | None


class ReporterRow(TypedDict):
    """A new `reporter` row: what the report says of its reporter, and the phone's blind index."""

    full_name: str | None
    phone: str | None
    address: str | None
    relation: str | None
    phone_index: str | None


class Mau01Fields(TypedDict, total=False):
    """The Mẫu 01 fields a hotline or staff report has and a citizen's report has not (the
    model's defaults stand in for those left out)."""

    case_type: str | None
    child_condition: str | None
    likely_consequence: str | None
    parents: dict[str, Any]
    family_circumstances: str | None
    current_carer: str | None
    actions_taken: str | None
    receiving_officer: str | None
    hotline_ref: str | None


class ReportRow(Mau01Fields):
    """A new `report` row, without `case_id` and `reporter_id` (not known before the write)."""

    channel: str
    received_at: datetime
    recorded_at: datetime
    place_id: int
    place_detail: str | None
    narrative: str
    abuse_forms: list[str]
    tracking_code: str
    school_agency_id: int | None
    submitted_by: str | None


class ReportSummary(TypedDict):
    """What the audit event says of the report (no personal data)."""

    channel: str
    place: str
    abuse_forms: list[str]
    received_at: str
    hotline_ref: str | None


@dataclass(frozen=True)
class Prepared:
    """An intake worked out up to what other writers could change meanwhile.

    On SQLite every write waits for the one write lock, so what can be done before taking it
    (checking the thôn and the school, the child's keys, the deadlines)
    is done before, on a read session: the write transaction then holds only the statements
    that must see the newest data (the replay check, matching, the case number) and the inserts."""

    actor: Actor
    policy: CommunePolicy
    report: HotlineReport | StaffReport | CitizenReport
    now: datetime
    key: tuple[str, str] | None
    request_hash: str
    place_id: int
    received_at: datetime
    flags: list[str]
    keys: ChildKeys | None
    child: ChildRow
    reporter: ReporterRow | None
    report_row: ReportRow
    summary: ReportSummary
    school_id: int | None
    deadlines: list[deadlines.DeadlineRow]


async def receive(db: Database, clock: Clock, actor: Actor, policy: CommunePolicy,
                  report: HotlineReport | StaffReport | CitizenReport,
                  idempotency_key: str | None = None) -> IntakeResult:
    """Receive a report: the one way in, for the API, the CLI and the demo.

    Checks and lookups run first on a read session (`prepare`), so that the write transaction
    holds only what must see the newest data, and the inserts (`apply`); on SQLite the write
    joins the reports arriving with it in one transaction (`Database.write_batched`). Both
    steps run on the caller's thread — the event loop's, in the API: each intake's transaction
    holds a lock every writer queues on (SQLite's one writer; on PostgreSQL the audit trail's
    head row), and a holder competing for the GIL with other threads holds it longer.

    A twin of this request (the same key or 111 reference) that commits between our replay
    check and our insert makes the insert fail on the unique key: the request is then worked
    out again, and answered as a replay of the twin."""
    for attempt in (1, 2):
        with db.read() as session:  # no query at all, once the thôn and school are known
            prepared = prepare(session, clock, actor, policy, report, idempotency_key)
        try:
            return await db.write_batched(partial(apply, p=prepared))
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def receive_now(db: Database, clock: Clock, actor: Actor, policy: CommunePolicy,
                report: HotlineReport | StaffReport | CitizenReport,
                idempotency_key: str | None = None) -> IntakeResult:
    """`receive` for a caller with no event loop (the CLI, the demo)."""
    return asyncio.run(receive(db, clock, actor, policy, report, idempotency_key))


def submit_report(session: Session, clock: Clock, actor: Actor, policy: CommunePolicy,
                  report: HotlineReport | StaffReport | CitizenReport,
                  idempotency_key: str | None = None) -> IntakeResult:
    """Receive a report inside a transaction the caller holds (tests that build a commune
    within one transaction). Everything else goes through `receive`."""
    return apply(session, prepare(session, clock, actor, policy, report, idempotency_key))


def prepare(session: Session, clock: Clock, actor: Actor, policy: CommunePolicy,
            report: HotlineReport | StaffReport | CitizenReport,
            idempotency_key: str | None = None) -> Prepared:
    """Check the report and work out its rows. Raises `InvalidInput` naming the field and the
    rule. A repeated request is recognised by `apply`, which answers it from the first answer."""
    if isinstance(report, HotlineReport):
        authorize(actor, "report.hotline")
    elif isinstance(report, StaffReport):
        authorize(actor, "report.staff")
    elif actor.role == Role.HOTLINE:
        authorize(actor, "report.staff")  # the hotline sends transfers, not citizen reports

    now = clock.now()
    key = _idempotency_key(actor, report, idempotency_key)
    request_hash = _request_hash(report)
    # A repeated request is checked here too: its thôn and school were valid the first time
    # and still are (the directory only grows), so it reaches `apply`, which replays.
    school_id = _school(session, report)
    place = directory.place_by_code(session, report.place_code)
    if place is None:
        raise InvalidInput("place_code", "known_place",
                           f"Không có thôn/xóm mã '{report.place_code}' trong xã.",
                           f"No thôn/xóm with code '{report.place_code}' in this commune.")
    place_id, place_code = place
    received_at = now if isinstance(report, CitizenReport) else report.received_at
    flags = _check_times_and_age(report, received_at, now, policy)
    keys = child_keys(policy.match_secret, report.child.full_name, report.child.birth_date, place_code)

    reporter: ReporterRow | None = None
    given = report.reporter
    if given is not None and any(v is not None for v in (given.full_name, given.phone, given.address, given.relation)):
        # the phone is encrypted; the head finds it by this HMAC
        reporter = {"full_name": given.full_name, "phone": given.phone, "address": given.address,
                    "relation": given.relation,
                    "phone_index": phone_index(policy.match_secret, given.phone) if given.phone else None}

    abuse_forms = [f.value for f in report.abuse_forms]
    row: ReportRow = {"channel": report.channel, "received_at": received_at, "recorded_at": now,
                      "place_id": place_id, "place_detail": report.place_detail, "narrative": report.narrative,
                      "abuse_forms": abuse_forms, "tracking_code": new_tracking_code(),
                      "school_agency_id": school_id, "submitted_by": None if actor.is_public else actor.ref,
                      **_mau01_fields(report, actor)}
    summary: ReportSummary = {"channel": report.channel, "place": place_code, "abuse_forms": abuse_forms,
                              "received_at": received_at.isoformat(), "hotline_ref": row.get("hotline_ref")}
    child: ChildRow = {"full_name": report.child.full_name, "birth_date": report.child.birth_date,
                       "estimated_age": report.child.estimated_age, "sex": report.child.sex, "place_id": place_id,
                       "birth_key": keys.by_birth if keys else None, "place_key": keys.by_place if keys else None,
                       "name_index": keys.by_name if keys else None}
    return Prepared(
        actor=actor, policy=policy, report=report, now=now, key=key, request_hash=request_hash,
        place_id=place_id, received_at=received_at, flags=flags, keys=keys, child=child,
        reporter=reporter, report_row=row, summary=summary, school_id=school_id,
        deadlines=deadlines.for_new_case(policy.deadlines, received_at, now))


def apply(session: Session, p: Prepared) -> IntakeResult:
    """The write transaction's part: the replay check again (a twin may have committed since
    `prepare`), matching to the child's open case, then the rows, the audit event, the
    deadlines and the messages, all in the caller's transaction."""
    # PostgreSQL: twins (the same key) and reports about one child queue here; SQLite has one
    # writer anyway.
    lock_keys(session, *([f"idem:{p.key[0]}"] if p.key else []),
              *([f"child:{p.keys.by_place}"] if p.keys else []))
    if p.key is not None:
        prior = _replay(session, p.key, p.request_hash)
        if prior is not None:
            return prior
    open_case, previous = child_cases(session, p.keys)
    if open_case is not None:
        case = session.get(Case, open_case.id, with_for_update=True)
        assert case is not None  # just found, in this transaction
        response = _link(session, p, case)
    else:
        response = _open_new_case(session, p, previous)
    if p.key is not None:
        _IDEMPOTENCY.execute(session, {
            "key": p.key[0], "request_hash": p.request_hash, "response": response, "created_at": p.now})
    return IntakeResult(response=response, replayed=False)


def _replay(session: Session, key: tuple[str, str], request_hash: str) -> IntakeResult | None:
    prior = _IDEMPOTENCY_HASH_BY_KEY.first(session, {"key": key[0]})
    if prior is None:  # the usual case: a first request
        return None
    if prior.request_hash != request_hash:
        raise IdempotencyConflict(key[1])
    response = session.get_one(IdempotencyRecord, prior.id).response  # decoded by its column type
    return IntakeResult(response=response, replayed=True)


def _insert_report(session: Session, p: Prepared, case_id: int) -> int:
    reporter_id = _REPORTERS.insert(session, p.reporter) if p.reporter is not None else None
    return _REPORTS.insert(session, {**p.report_row, "case_id": case_id, "reporter_id": reporter_id})


def _open_new_case(session: Session, p: Prepared, previous: CaseRef | None) -> dict[str, Any]:
    """A new case, in plain Core statements: the common path, and the one under load."""
    flags = p.flags
    if previous is not None:
        # The same child was reported before and the case closed: the new case belongs to the
        # same child and points back to the last one.
        flags = [*flags, CaseFlag.LINKED_TO_CLOSED_CASE]
        child_id = previous.child_id
    else:
        child_id = _CHILDREN.insert(session, p.child)
    year = p.received_at.astimezone(LOCAL_TZ).year
    code = next_case_code(session, p.policy.code_prefix, year)
    case_id = _CASES.insert(session, {
        "code": code, "state": CaseState.RECEIVED, "child_id": child_id, "place_id": p.place_id,
        "case_type": p.report_row.get("case_type"), "received_at": p.received_at, "opened_at": p.now,
        "updated_at": p.now, "flags": flags, "previous_case_id": previous.id if previous else None})
    report_id = _insert_report(session, p, case_id)
    forms = list(dict.fromkeys(p.report_row["abuse_forms"]))
    if forms:
        _FORMS.run_many(session, [{"case_id": case_id, "form": f} for f in forms])
    opened = deadlines.insert_rows(session, case_id, p.deadlines)
    event = audit.record(session, at=p.now, actor=p.actor, action=Event.CASE_OPENED, case_id=case_id,
                         after={"report_id": report_id, **p.summary, "case": code,
                                "state": CaseState.RECEIVED, "flags": flags, "deadlines": opened,
                                "previous_case_id": previous.id if previous else None})
    due = next((d["due_at"] for d in p.deadlines if d["kind"] == "initial_assessment"), None)
    _tell(session, p, Event.CASE_OPENED, event.seq, case_id, code, CaseState.RECEIVED, None, due)
    return _response(p.report, code, CaseState.RECEIVED, report_id, p, linked=False)


def _link(session: Session, p: Prepared, case: Case) -> dict[str, Any]:
    """A report about a child whose case is open: it joins that case, on the audit trail, and
    is told as a new case would be (`_tell`); an emergency opens its window (`_linked_limits`)."""
    assert case.id is not None
    report_id = _insert_report(session, p, case.id)
    known_forms = set(session.execute(
        select(col(CaseAbuseForm.form)).where(col(CaseAbuseForm.case_id) == case.id)).scalars())
    new_forms = [f for f in dict.fromkeys(p.report_row["abuse_forms"]) if f not in known_forms]
    if new_forms:
        _FORMS.run_many(session, [{"case_id": case.id, "form": f} for f in new_forms])
    case.flags = sorted(set(case.flags) | set(p.flags))
    case.version += 1
    case.updated_at = p.now
    session.add(case)
    opened = _linked_limits(session, p, case.id)
    event = audit.record(session, at=p.now, actor=p.actor, action=Event.REPORT_LINKED, case_id=case.id,
                         after={"report_id": report_id, **p.summary, "case": case.code,
                                "rule": "same_child_open_case", **({"deadlines": opened} if opened else {})})
    due = next((d["due_at"] for d in p.deadlines if d["kind"] in _LINKED_LIMITS), None) if opened else None
    _tell(session, p, Event.REPORT_LINKED, event.seq, case.id, case.code, case.state, case.assignee_id, due)
    return _response(p.report, case.code, case.state, report_id, p, linked=True)


# The limits a linked report opens, of those a new case would open from the same report
# (`deadlines.for_new_case`: the rules the policy starts on `case.opened`, counted from this
# report's own receipt): only the emergency window. The others (the initial assessment) belong
# to the case, which already has them or is past them.
_LINKED_LIMITS = ("emergency_protection",)


def _linked_limits(session: Session, p: Prepared, case_id: int) -> dict[str, list[Any]]:
    """Open the emergency window for a linked report that is an emergency, in the sense the
    new-case path uses: the deadline policy opens `emergency_protection` on `case.opened`
    (with the shipped policy it does not: an emergency is then decided at the assessment, and
    `emergency_decided` opens it, counted from the case's receipt). The window runs from this
    report's own `received_at` (Nghị định 56 Art. 26(3): 12 hours from receiving the
    information), computed in `prepare` like a new case's.

    If the case has that window open already, it is kept and no second one is opened: the open
    one was started by an earlier report (or decision) about the same child, so it ends no later
    than this report's would unless this report was received before it started; its ladder may
    already have reminded, escalated or been acknowledged, and a second row would send every
    alert twice for one child. One case, one emergency window at a time, as `apply_events`
    keeps it. A window already met (the emergency recorded) is not open: a new emergency opens
    a new one.

    No query unless the policy opens an emergency window on receipt."""
    rows = [r for r in p.deadlines if r["kind"] in _LINKED_LIMITS]
    if not rows:
        return {}
    already = set(session.execute(select(col(Deadline.kind)).where(
        col(Deadline.case_id) == case_id, col(Deadline.kind).in_(_LINKED_LIMITS),
        col(Deadline.status) == DeadlineStatus.OPEN)).scalars())
    return deadlines.insert_rows(session, case_id, [r for r in rows if r["kind"] not in already])


def _tell(session: Session, p: Prepared, name: str, seq: int, case_id: int, code: str, state: str,
          assignee_id: int | None, due_at: datetime | None) -> int:
    """What officials hear of this report (notifications/routing.toml), whether it opened a case
    (`case.opened`) or joined one (`report.linked`): built from the report itself — its forms of
    abuse, its school — so that the crime and school routes fire for a linked report as they
    would for a new case with the same forms; a case's older forms do not tell the police again.
    Only a new case changes a state the 111 hotline is told of."""
    forms = tuple(sorted(set(p.report_row["abuse_forms"])))
    return notify(session, p.policy.notify, CaseEvent(
        name=name, seq=seq, at=p.now, case_id=case_id, case_code=code, state=state, abuse_forms=forms,
        assignee_id=assignee_id, school_agency_id=p.school_id, hotline_ref=p.report_row.get("hotline_ref"),
        state_changed=name == Event.CASE_OPENED, due_at=due_at, digest=_anonymous(p)))


def _anonymous(p: Prepared) -> bool:
    """Whether officials hear of this report in a digest instead of one SMS each: a report
    through the public channel, which anyone can send as often as the rate limit lets them.
    Its reporter's name and phone, if given, are the sender's say-so and change nothing (a
    flood would carry them too); the law's clock runs from receipt either way."""
    return p.actor.is_public


def _school(session: Session, report: HotlineReport | StaffReport | CitizenReport) -> int | None:
    code = getattr(report, "school_code", None)
    if code is None:
        return None
    school = directory.agency_by_code(session, code)
    if school is None or school[1] != AgencyKind.SCHOOL:
        raise InvalidInput("school_code", "known_school", f"Không có trường học mã '{code}'.",
                           f"No school with code '{code}'.")
    return school[0]


def _mau01_fields(report: HotlineReport | StaffReport | CitizenReport, actor: Actor) -> Mau01Fields:
    if isinstance(report, CitizenReport):
        return {"receiving_officer": None}
    return {
        "case_type": report.case_type,
        "child_condition": report.child_condition,
        "likely_consequence": report.likely_consequence,
        "parents": {k: v.model_dump(exclude_none=True) for k, v in
                    (("father", report.father), ("mother", report.mother)) if v is not None},
        "family_circumstances": report.family_circumstances,
        "current_carer": report.current_carer,
        "actions_taken": report.actions_taken,
        "receiving_officer": report.receiving_officer or actor.ref,
        "hotline_ref": report.hotline_ref if isinstance(report, HotlineReport) else None,
    }


def _response(report: Any, code: str, state: str, report_id: int, p: Prepared,
              linked: bool) -> dict[str, Any]:
    if isinstance(report, CitizenReport):
        # A citizen learns a tracking code and nothing else: not even whether a case existed.
        return {"tracking_code": p.report_row["tracking_code"]}
    return {"case_code": code, "report_id": report_id, "tracking_code": p.report_row["tracking_code"],
            "linked_to_existing_case": linked, "state": state, "received_at": p.received_at.isoformat()}


class _PriorRequest(NamedTuple):
    id: int
    request_hash: str


# Statements built and compiled once; on SQLite they run on the driver's cursor (models/statements.py).
# The inserts name every column (the model's defaults fill what a row leaves out), so that one
# compiled statement serves all reports.
_IDEMPOTENCY_HASH_BY_KEY = Query(select(col(IdempotencyRecord.id), col(IdempotencyRecord.request_hash)).where(
    col(IdempotencyRecord.key) == bindparam("key")), _PriorRequest)
_CHILDREN = Insert(Child)
_CASES = Insert(Case)
_REPORTS = Insert(Report)
_REPORTERS = Insert(Reporter)
_FORMS = Insert(CaseAbuseForm)
_IDEMPOTENCY = Insert(IdempotencyRecord)


__all__ = ["IntakeResult", "Prepared", "apply", "prepare", "submit_report"]
