"""Retention: a closed case's private data is not kept forever.

After `retention_years` (policy; a commune sets it from its archive rules) a closed case is
anonymised: the child's name and birth date, every report's narrative and family details, the
reporter, and the free text of actions, plans, services, reviews and notes are erased. What is
left — dates, states, forms of abuse, thôn, sex, the audit trail — still counts in statistics
(Thông tư 13/2021 indicator 0101) and still proves what was done and when.

Evidence attachments (photos, scans, medical notes: states/records/evidence.py) are removed,
rows and bytes. A child is anonymised only when every case about them is closed and past the
limit, so an open case never loses its history. Each anonymised case gets an audit event; nothing about the
child goes into it.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlmodel import Session, col

from models import (
    Case,
    Child,
    Consent,
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
from models.blobs import BlobStore, DatabaseStore
from models.enums import CaseState
from states.access.permissions import authorize
from states.audit import chain as audit
from states.identity.actors import Actor
from states.kernel.clock import Clock
from states.records import evidence

ERASED = "[đã ẩn danh / anonymised]"


@dataclass(frozen=True)
class RetentionResult:
    cutoff: datetime
    cases: list[str]
    dry_run: bool


def _cutoff(now: datetime, years: int) -> datetime:
    return now - timedelta(days=round(365.25 * years))


def due_children(session: Session, cutoff: datetime) -> list[int]:
    """Children whose every case is closed before `cutoff` and not yet anonymised."""
    blocking = select(col(Case.child_id)).where(
        (col(Case.state) != CaseState.CLOSED) | col(Case.closed_at).is_(None)
        | (col(Case.closed_at) >= cutoff))
    rows = session.execute(
        select(col(Case.child_id)).distinct()
        .where(col(Case.anonymised_at).is_(None), col(Case.child_id).not_in(blocking))
        .order_by(col(Case.child_id))
    ).scalars()
    return list(rows)


def anonymise_due(session: Session, clock: Clock, actor: Actor, years: int, *,
                  dry_run: bool = False, limit: int = 500,
                  evidence_store: BlobStore | None = None) -> RetentionResult:
    """Anonymise up to `limit` children's closed cases past the retention limit. Their evidence
    attachments are removed, rows and bytes, from `evidence_store` (the commune's; default:
    the database's)."""
    store = evidence_store if evidence_store is not None else DatabaseStore()
    authorize(actor, "retention.run")
    now = clock.now()
    cutoff = _cutoff(now, years)
    children = due_children(session, cutoff)[:limit]
    done: list[str] = []
    for child_id in children:
        cases = list(session.execute(
            select(Case).where(col(Case.child_id) == child_id, col(Case.anonymised_at).is_(None))
            .order_by(col(Case.id)).with_for_update()).scalars())
        if dry_run:
            done += [c.code for c in cases]
            continue
        _erase_child(session, child_id)
        for case in cases:
            counts = _erase_case(session, case)
            removed = evidence.erase_case(session, store, case)
            if removed:
                counts["attachments"] = removed
            case.anonymised_at = now
            case.transferred_to = None if case.transferred_to is None else ERASED
            case.special_groups = None
            session.add(case)
            session.flush()
            audit.record(session, at=now, actor=actor, action="case.anonymised", case_id=case.id,
                         after={"case": case.code, "retention_years": years,
                                "closed_at": case.closed_at.isoformat() if case.closed_at else None,
                                "erased": counts})
            done.append(case.code)
    return RetentionResult(cutoff=cutoff, cases=done, dry_run=dry_run)


def _erase_child(session: Session, child_id: int) -> None:
    child = session.get(Child, child_id)
    if child is None:
        return
    child.full_name = None
    child.birth_date = None
    # Matching and search keys go too: an anonymised child must not be found again by name.
    for name in Child.model_fields:
        if name.endswith("_key") or name.endswith("_index"):
            setattr(child, name, None)
    session.add(child)


def _erase_case(session: Session, case: Case) -> dict[str, int]:
    reports = list(session.execute(select(Report).where(col(Report.case_id) == case.id)).scalars())
    reporter_ids = [r.reporter_id for r in reports if r.reporter_id is not None]
    for r in reports:
        r.narrative = ERASED
        r.place_detail = r.child_condition = r.likely_consequence = None
        r.family_circumstances = r.current_carer = r.actions_taken = None
        r.parents = {}
        r.reporter_id = None
        session.add(r)
    session.flush()
    if reporter_ids:
        session.execute(delete(Reporter).where(col(Reporter.id).in_(reporter_ids)))
    counts = {"reports": len(reports), "reporters": len(reporter_ids)}
    for model, values in (
        (EmergencyAction, {"action_taken": ERASED, "who_was_called": ERASED}),
        (Plan, {"goals": ERASED, "decision_note": None}),
        (Service, {"note": None}),
        (Review, {"findings": ERASED}),
        (Note, {"text": ERASED}),
        (DetailedAssessment, {"information": ERASED, "needs": ERASED, "attendees": ERASED, "agreed": ERASED}),
        (PlanMeasure, {"description": ERASED, "responsible": None}),
        (EmergencyDecision, {"measures": ERASED, "alternative_care": None}),
        (Consent, {"carer_name": None, "note": None}),
    ):
        # Through the ORM, not a bulk UPDATE of literals, so the values are encrypted like any.
        rows = list(session.execute(select(model).where(col(model.case_id) == case.id)).scalars())
        for row in rows:
            for name, value in values.items():
                setattr(row, name, value)
            if isinstance(row, Plan) and row.measures is not None:  # free text of a plan before measure rows
                row.measures = ERASED
            session.add(row)
        counts[str(model.__tablename__)] = len(rows)
    session.flush()
    return counts


__all__ = ["ERASED", "RetentionResult", "anonymise_due", "due_children"]
