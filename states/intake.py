"""Opening a case from a report (Nghị định 56 Art. 25–26, Mẫu 01).

Idempotent: a repeated 111 reference, or a repeated `Idempotency-Key` from the same client,
returns the first answer and never opens a second case. A report about a child who already
has an open case is linked to it instead (see `states/matching.py` for the rule)."""

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from models import Agency, Case, CaseAbuseForm, Child, IdempotencyRecord, Place, Report, Reporter
from models.enums import AgencyKind, CaseFlag, CaseState, Role
from states import audit, deadlines, events
from states.actors import Actor
from states.clock import LOCAL_TZ, Clock
from states.codes import new_tracking_code, next_case_code
from states.errors import IdempotencyConflict, InvalidInput
from states.locks import lock_key
from states.matching import ChildKeys, child_keys, find_closed_case, find_open_case, phone_index
from states.permissions import authorize
from states.policy import CommunePolicy
from states.report_data import CitizenReport, HotlineReport, StaffReport


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
    return hashlib.sha256(report.model_dump_json().encode()).hexdigest()


def _idempotency_key(actor: Actor, report: Any, header_key: str | None) -> tuple[str, str] | None:
    if isinstance(report, HotlineReport):
        return f"111:{report.hotline_ref}", "hotline_ref"
    if header_key and actor.is_public:
        # Citizens share no identity: scope their key by the request itself, so that two
        # people who pick the same key never see each other's answer.
        return f"key:public:{header_key}:{_request_hash(report)}", "Idempotency-Key"
    if header_key:
        return f"key:{actor.ref}:{header_key}", "Idempotency-Key"
    return None


def submit_report(session: Session, clock: Clock, actor: Actor, policy: CommunePolicy,
                  report: HotlineReport | StaffReport | CitizenReport,
                  idempotency_key: str | None = None) -> IntakeResult:
    if isinstance(report, HotlineReport):
        authorize(actor, "report.hotline")
    elif isinstance(report, StaffReport):
        authorize(actor, "report.staff")
    elif actor.role == Role.HOTLINE:
        authorize(actor, "report.staff")  # the hotline sends transfers, not citizen reports

    now = clock.now()
    key = _idempotency_key(actor, report, idempotency_key)
    request_hash = _request_hash(report)
    if key is not None:
        lock_key(session, f"idem:{key[0]}")
        prior = session.execute(
            select(IdempotencyRecord).where(col(IdempotencyRecord.key) == key[0])
        ).scalar_one_or_none()
        if prior is not None:
            if prior.request_hash != request_hash:
                raise IdempotencyConflict(key[1])
            return IntakeResult(response=prior.response, replayed=True)

    school_id = _school(session, report)
    place = session.execute(select(Place).where(col(Place.code) == report.place_code)).scalar_one_or_none()
    if place is None:
        raise InvalidInput("place_code", "known_place",
                           f"Không có thôn/xóm mã '{report.place_code}' trong xã.",
                           f"No thôn/xóm with code '{report.place_code}' in this commune.")
    received_at = now if isinstance(report, CitizenReport) else report.received_at
    flags = _check_times_and_age(report, received_at, now, policy)

    keys = child_keys(policy.match_secret, report.child.full_name, report.child.birth_date,
                      place.code)
    if keys is not None:
        lock_key(session, f"child:{keys.by_place}")
    case = find_open_case(session, keys)
    linked = case is not None
    if case is None:
        # The same child may have been reported before and the case closed: the new case
        # belongs to the same child and points back to the last one.
        previous = find_closed_case(session, keys)
        if previous is not None:
            flags = [*flags, CaseFlag.LINKED_TO_CLOSED_CASE]
        case = _open_case(session, policy, report, place, received_at, now, keys, flags, previous)
    assert case.id is not None  # flushed: found in the database or just inserted

    reporter_id = None
    if report.reporter is not None and report.reporter.model_dump(exclude_none=True):
        reporter = Reporter(**report.reporter.model_dump())
        if reporter.phone:  # the phone is encrypted; the head finds it by this HMAC
            reporter.phone_index = phone_index(policy.match_secret, reporter.phone)
        session.add(reporter)
        session.flush()
        reporter_id = reporter.id

    row = Report(
        case_id=case.id, channel=report.channel, received_at=received_at, recorded_at=now,
        place_id=place.id, place_detail=report.place_detail, narrative=report.narrative,
        abuse_forms=[f.value for f in report.abuse_forms],
        reporter_id=reporter_id, tracking_code=new_tracking_code(), school_agency_id=school_id,
        submitted_by=None if actor.is_public else actor.ref,
        **_mau01_extras(report, actor),
    )
    session.add(row)
    known_forms = set(session.execute(
        select(col(CaseAbuseForm.form)).where(col(CaseAbuseForm.case_id) == case.id)).scalars()) if linked else set()
    for form in dict.fromkeys(row.abuse_forms):
        if form not in known_forms:
            session.add(CaseAbuseForm(case_id=case.id, form=form))
    session.flush()
    all_forms = tuple(sorted(known_forms | set(row.abuse_forms)))

    summary = {"report_id": row.id, "channel": row.channel, "place": place.code,
               "abuse_forms": row.abuse_forms, "received_at": received_at.isoformat(),
               "hotline_ref": row.hotline_ref}
    if linked:
        case.flags = sorted(set(case.flags) | set(flags))
        case.version += 1
        case.updated_at = now
        session.add(case)
        event = audit.record(session, at=now, actor=actor, action="report.linked", case_id=case.id,
                             after={**summary, "case": case.code, "rule": "same_child_open_case"})
        events.publish(session, policy, case, "report.linked", event.seq, now)
    else:
        opened = deadlines.apply_events(session, policy.deadlines, case, ["case.opened"], now,
                                        new_case=True)
        event = audit.record(session, at=now, actor=actor, action="case.opened", case_id=case.id,
                             after={**summary, "case": case.code, "state": case.state,
                                    "flags": case.flags, "deadlines": opened,
                                    "previous_case_id": case.previous_case_id})
        due = next((datetime.fromisoformat(d["due_at"]) for d in opened.get("opened", [])
                    if d["kind"] == "initial_assessment"), None)
        events.publish(session, policy, case, "case.opened", event.seq, now, state_changed=True,
                       known=events.Known(all_forms, row.hotline_ref, school_id, due))

    response = _response(report, case, row, linked)
    if key is not None:
        session.add(IdempotencyRecord(key=key[0], request_hash=request_hash, response=response,
                                      created_at=now))
        session.flush()
    return IntakeResult(response=response, replayed=False)


def _school(session: Session, report: HotlineReport | StaffReport | CitizenReport) -> int | None:
    code = getattr(report, "school_code", None)
    if code is None:
        return None
    school: Agency | None = session.execute(select(Agency).where(col(Agency.code) == code)).scalar_one_or_none()
    if school is None or school.kind != AgencyKind.SCHOOL:
        raise InvalidInput("school_code", "known_school", f"Không có trường học mã '{code}'.",
                           f"No school with code '{code}'.")
    return school.id


def _mau01_extras(report: HotlineReport | StaffReport | CitizenReport, actor: Actor) -> dict[str, Any]:
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


def _open_case(session: Session, policy: CommunePolicy, report: Any, place: Place,
               received_at: datetime, now: datetime, keys: ChildKeys | None,
               flags: list[str], previous: Case | None = None) -> Case:
    if previous is not None:
        return _new_case(session, policy, report, place, received_at, now, flags,
                         previous.child_id, previous.id)
    child = Child(full_name=report.child.full_name, birth_date=report.child.birth_date,
                  estimated_age=report.child.estimated_age, sex=report.child.sex,
                  place_id=place.id, birth_key=keys.by_birth if keys else None,
                  place_key=keys.by_place if keys else None,
                  name_index=keys.by_name if keys else None)
    session.add(child)
    session.flush()
    assert child.id is not None  # assigned by the flush
    return _new_case(session, policy, report, place, received_at, now, flags, child.id, None)


def _new_case(session: Session, policy: CommunePolicy, report: Any, place: Place,
              received_at: datetime, now: datetime, flags: list[str], child_id: int,
              previous_case_id: int | None) -> Case:
    year = received_at.astimezone(LOCAL_TZ).year
    case = Case(
        code=next_case_code(session, policy.code_prefix, year), state=CaseState.RECEIVED,
        child_id=child_id, place_id=place.id, case_type=getattr(report, "case_type", None),
        received_at=received_at, opened_at=now, updated_at=now, flags=flags,
        previous_case_id=previous_case_id,
    )
    session.add(case)
    session.flush()
    return case


def _response(report: Any, case: Case, row: Report, linked: bool) -> dict[str, Any]:
    if isinstance(report, CitizenReport):
        # A citizen learns a tracking code and nothing else: not even whether a case existed.
        return {"tracking_code": row.tracking_code}
    return {"case_code": case.code, "report_id": row.id, "tracking_code": row.tracking_code,
            "linked_to_existing_case": linked, "state": case.state,
            "received_at": row.received_at.isoformat()}


__all__ = ["IntakeResult", "submit_report"]
