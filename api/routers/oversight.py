"""Oversight: the audit trail, who read a child's record, and statistics."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from api.deps import CurrentActor, RuntimeDep
from api.errors import responses
from api.schemas import MAX_ID, NO_NUL, Instant
from states.access import log as access_log
from states.audit import trail as audit_trail
from states.records import statistics as stats

router = APIRouter(tags=["oversight"])
CodePath = Annotated[str, Path(max_length=32, pattern=r"^[A-Z0-9-]+$")]


class AuditEventOut(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    case: str | None
    before: dict[str, Any]
    after: dict[str, Any]
    hash: str


class AccessEntry(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    case: str
    view: str | None
    fields: list[str]


class Stats(BaseModel):
    received_from: datetime | None
    received_to: datetime | None
    as_of: datetime
    cases: int
    reports_by_channel: dict[str, int]
    cases_by_state: dict[str, int]
    cases_by_abuse_form: dict[str, int]
    children_by_sex: dict[str, int]
    closed_by_reason: dict[str, int]
    emergency_cases: int
    time_limits: dict[str, dict[str, int]]


@router.get("/audit/events", response_model=list[AuditEventOut],
            responses=responses(401, 403, 404, 422, 503))
def audit_events(rt: RuntimeDep, actor: CurrentActor,
                 after_seq: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
                 limit: Annotated[int, Query(ge=1, le=audit_trail.MAX_EVENTS)] = 100,
                 case: Annotated[str | None, Query(max_length=32, pattern=r"^[A-Z0-9-]+$")] = None,
                 action: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None) -> Any:
    """The audit trail in order, a page at a time (`after_seq` = the last `seq` you have). For
    the auditor; events carry no case content. Reading is itself recorded."""
    with rt.db.write() as session:
        return audit_trail.list_events(session, rt.clock.now(), actor, after_seq=after_seq,
                                       limit=limit, case_code=case, action=action)


@router.get("/audit/access/{code}", response_model=list[AccessEntry],
            responses=responses(401, 403, 404, 422, 503))
def access_to_child(rt: RuntimeDep, actor: CurrentActor, code: CodePath) -> Any:
    """Who has read the record of the child of this case (every case about the child)."""
    with rt.db.write() as session:
        return access_log.viewers(session, rt.clock, actor, code)


@router.get("/stats", response_model=Stats, responses=responses(401, 403, 422))
def statistics(rt: RuntimeDep, actor: CurrentActor, received_from: Instant | None = None,
               received_to: Instant | None = None) -> Any:
    """Counts for the commune's periodic reports; no case content."""
    with rt.db.read() as session:
        return stats.summary(session, actor, rt.clock.now(), received_from, received_to)
