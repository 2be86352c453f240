"""Deadlines: opened, met and cancelled as the case moves; alerts raised as they come due.

Each deadline walks a ladder of stages computed from its rule: reminders at fractions of the
window (to the worker), the overdue alert at the limit (to the worker), then one level up the
chain per interval (head → chair → province). `stage` is the next stage to raise and
`next_alert_at` its time, so the sweep finds due work through one index.

Catch-up after downtime: every overdue and escalation stage that came due is raised, once, in
order; of the reminders that came due only the latest is sent, and none once the limit has
passed (the overdue alert replaces it). Acknowledging stops the ladder for that deadline."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict

from sqlalchemy import func, literal, select
from sqlmodel import Session, col

from models import Alert, Case, Deadline, Official, OutboxMessage, User
from models.dialect import skip_locked
from models.enums import Event
from models.statements import Insert
from notifications.config import NotifyConfig
from notifications.outbox import enqueue_sms
from notifications.routing import Roster, resolve
from notifications.templates import local_time
from notifications.tokens import sign
from states.access.permissions import authorize
from states.access.scope import require_case_write
from states.audit import chain as audit
from states.deadlines.policy import DeadlinePolicy, DeadlineRule
from states.identity.actors import Actor
from states.kernel.errors import DomainError, InvalidInput, NotFound
from states.lifecycle.case_rows import first_report

SWEEPER = Actor.system("deadline-sweep")


@dataclass(frozen=True)
class Stage:
    at: datetime
    kind: str  # reminder | overdue | escalation
    level: str  # worker | head | chair | province


def ladder(rule: DeadlineRule, policy: DeadlinePolicy, starts_at: datetime, due_at: datetime) -> list[Stage]:
    """The stages of one deadline. For working-day limits, reminders and escalations wait for
    office hours (a limit counted in working days is not chased at night); clock-hour limits
    such as the 12-hour emergency window are chased at any hour."""
    window = due_at - starts_at
    levels = policy.ladder
    out = [Stage(starts_at + window * f, "reminder", "worker") for f in rule.reminders]
    out.append(Stage(due_at, "overdue", levels[0]))
    out += [Stage(due_at + rule.escalate_every * i, "escalation", level)
            for i, level in enumerate(levels[1:], start=1)]
    if rule.unit == "working_days":
        out = [s if s.kind == "overdue" else Stage(policy.calendar.office_hours(s.at), s.kind, s.level)
               for s in out]
    return out


def _receipt(case: Case) -> datetime:
    """Limits counted from receipt count, for a reopened case, from the reopening."""
    return max(case.received_at, case.reopened_at) if case.reopened_at else case.received_at


def _still_to_raise(stages: list[Stage], index: int, acknowledged: bool) -> bool:
    return not acknowledged or stages[index].kind == "overdue"


def _next_at(stages: list[Stage], start: int, acknowledged: bool) -> datetime | None:
    for i in range(start, len(stages)):
        if _still_to_raise(stages, i, acknowledged):
            return stages[i].at
    return None


class DeadlineRow(TypedDict):
    """A deadline opened, without its case: the columns a new `Deadline` row is given."""

    kind: str
    status: str
    opened_at: datetime
    starts_at: datetime
    due_at: datetime
    stage: int
    next_alert_at: datetime | None


def _values(policy: DeadlinePolicy, rule: DeadlineRule, receipt: datetime, now: datetime,
            happened_at: datetime | None = None) -> DeadlineRow:
    start = receipt if rule.counted_from == "received" else (happened_at or now)
    due = rule.due(start, policy.calendar)
    stages = ladder(rule, policy, start, due)
    return {"kind": rule.kind, "status": "open", "opened_at": now, "starts_at": start, "due_at": due,
            "stage": 0, "next_alert_at": stages[0].at}


def _open(session: Session, policy: DeadlinePolicy, case: Case, rule: DeadlineRule, now: datetime,
          happened_at: datetime | None = None) -> Deadline:
    deadline = Deadline(case_id=case.id, **_values(policy, rule, _receipt(case), now,  # type: ignore[arg-type]
                                                   happened_at))
    session.add(deadline)
    return deadline


def for_new_case(policy: DeadlinePolicy, received_at: datetime, now: datetime) -> list[DeadlineRow]:
    """The rows `case.opened` opens, before the case has an id: intake computes them outside its
    write transaction and inserts them in it (`insert_rows`). Same rules as `apply_events`."""
    rows: dict[str, DeadlineRow] = {}
    for rule in policy.opened_by(Event.CASE_OPENED):
        rows.setdefault(rule.kind, _values(policy, rule, received_at, now))
    return list(rows.values())


_INSERT_DEADLINE = Insert(Deadline)


def insert_rows(session: Session, case_id: int, rows: list[DeadlineRow]) -> dict[str, list[Any]]:
    """Insert `for_new_case` rows; returns the changes for the audit event, as `apply_events`."""
    if rows:
        _INSERT_DEADLINE.run_many(session, [{**r, "case_id": case_id} for r in rows])
    opened = [{"kind": r["kind"], "due_at": r["due_at"].isoformat()} for r in rows]
    return {"opened": opened} if opened else {}


def apply_events(session: Session, policy: DeadlinePolicy, case: Case, events: list[str],
                 now: datetime, happened_at: Mapping[str, datetime] | None = None) -> dict[str, list[Any]]:
    """Meet, cancel and open the case's deadlines for what just happened; returns the changes
    for the audit event of the same command. A new case's deadlines come from `for_new_case`.

    `happened_at` gives, for an event recorded after the fact, when it happened (an emergency
    action's `done_at`): a limit it meets is met then (so statistics count it in time or late
    by the deed, not by the typing), and a limit counted from the event starts then."""
    changes: dict[str, list[Any]] = {"met": [], "cancelled": [], "opened": []}
    open_rows = list(session.execute(
        select(Deadline).where(col(Deadline.case_id) == case.id, col(Deadline.status) == "open")).scalars())
    for event in events:
        at = (happened_at or {}).get(event)
        for row in open_rows:
            rule = policy.rules.get(row.kind)
            if row.status != "open" or rule is None:
                continue
            if event in rule.met_by or event in rule.cancelled_by:
                met = event in rule.met_by
                row.status = "met" if met else "cancelled"
                row.closed_at, row.next_alert_at = (at or now) if met else now, None
                session.add(row)
                changes[row.status].append(row.kind)
        for rule in policy.opened_by(event):
            if any(r.kind == rule.kind and r.status == "open" for r in open_rows):
                continue
            row = _open(session, policy, case, rule, now, at)
            open_rows.append(row)
            changes["opened"].append({"kind": rule.kind, "due_at": row.due_at.isoformat()})
    session.flush()
    return {k: v for k, v in changes.items() if v}


def move_due(session: Session, policy: DeadlinePolicy, case: Case, kind: str, due_at: datetime,
             now: datetime) -> dict[str, list[Any]]:
    """Move an open limit's end (a separation extended by the chair): its ladder is drawn again
    over the longer window, from the first stage still ahead and not yet raised; an
    acknowledgement is kept (it stops the reminders; the overdue alert still comes at the new
    end unless it was raised before the extension)."""
    row = session.execute(
        select(Deadline).where(col(Deadline.case_id) == case.id, col(Deadline.kind) == kind,
                               col(Deadline.status) == "open")).scalar_one_or_none()
    rule = policy.rules.get(kind)
    if row is None or rule is None:
        return {}
    previous, due_at = row.due_at, due_at.astimezone(UTC)
    stages = ladder(rule, policy, row.starts_at, due_at)
    row.due_at = due_at
    # Never back to a stage already raised (an alert is unique per stage): a reminder sent
    # before the extension is not sent again.
    ahead = next((i for i, stage in enumerate(stages) if stage.at > now), len(stages))
    row.stage = max(row.stage, ahead)
    row.next_alert_at = _next_at(stages, row.stage, row.acknowledged_at is not None)
    session.add(row)
    session.flush()
    return {"moved": [{"kind": kind, "from": previous.isoformat(), "due_at": due_at.isoformat()}]}


# Rendered inline, not bound: only a literal lets every plan (PostgreSQL's generic plans too)
# use the partial index `WHERE status = 'open'`.
OPEN = literal("open", literal_execute=True)


def due_deadline_ids(session: Session, now: datetime, limit: int) -> list[int]:
    return [i for i in session.execute(
        select(col(Deadline.id)).where(col(Deadline.status) == OPEN, col(Deadline.next_alert_at) <= now)
        .order_by(col(Deadline.next_alert_at)).limit(limit)).scalars() if i is not None]


def next_alert_at(session: Session) -> datetime | None:
    result: datetime | None = session.execute(
        select(func.min(col(Deadline.next_alert_at))).where(col(Deadline.status) == OPEN)).scalar_one_or_none()
    if result is not None and result.tzinfo is None:  # func.min loses the column type on SQLite
        result = result.replace(tzinfo=UTC)
    return result


def _chosen(stages: list[Stage], due_idx: list[int], now: datetime, due_at: datetime) -> list[int]:
    reminders = [i for i in due_idx if stages[i].kind == "reminder"]
    keep_reminder = reminders[-1:] if now < due_at else []
    return [i for i in due_idx if stages[i].kind != "reminder" or i in keep_reminder]


def raise_due_alerts(session: Session, policy: DeadlinePolicy, notify: NotifyConfig,
                     deadline_id: int, now: datetime) -> int:
    """Re-read the deadline under a lock, re-check, raise what is due. Safe to run twice."""
    query = select(Deadline).where(col(Deadline.id) == deadline_id)
    row = session.execute(skip_locked(session, query)).scalar_one_or_none()
    if row is None or row.status != "open" or row.next_alert_at is None or row.next_alert_at > now:
        return 0
    rule = policy.rules.get(row.kind)
    if rule is None:  # the policy no longer knows this limit: stop alerting, keep the row
        row.next_alert_at = None
        session.add(row)
        return 0
    stages = ladder(rule, policy, row.starts_at, row.due_at)
    acknowledged = row.acknowledged_at is not None
    due_idx = [i for i in range(row.stage, len(stages))
               if stages[i].at <= now and _still_to_raise(stages, i, acknowledged)]
    raised = 0
    if due_idx:
        case = session.get(Case, row.case_id)
        assert case is not None
        for i in _chosen(stages, due_idx, now, row.due_at):
            _raise(session, notify, rule, row, case, i, stages[i], now)
            raised += 1
        row.stage = due_idx[-1] + 1
    row.next_alert_at = _next_at(stages, row.stage, acknowledged)
    session.add(row)
    session.flush()
    return raised


def _raise(session: Session, notify: NotifyConfig, rule: DeadlineRule, row: Deadline, case: Case,
           index: int, stage: Stage, now: datetime) -> None:
    alert = Alert(deadline_id=row.id, stage=index, kind=stage.kind, level=stage.level,  # type: ignore[arg-type]
                  due_at=stage.at, raised_at=now)
    session.add(alert)
    session.flush()
    school = first_report(session, case.id).school_agency_id
    recipients = resolve(session, stage.level, assignee_id=case.assignee_id, school_agency_id=school)
    fallback = not recipients
    if fallback:  # nobody holds that position: the administrator must hear, not no one
        recipients = resolve(session, "sysadmin")
    expires = row.due_at if stage.kind == "reminder" else now + notify.sms_validity
    for official in recipients:
        token = sign(notify.link_secret, row.id or 0, official.id or 0, now + notify.ack_link_ttl)
        enqueue_sms(session, notify, dedupe_key=f"alert:{row.id}:{index}:{official.id}",
                    official=official, template=stage.kind, now=now, case_id=case.id,
                    alert_id=alert.id, expires_at=expires, urgent=stage.kind != "reminder", code=case.code,
                    what=rule.label_vi if official.language == "vi" else rule.label_en,
                    due=local_time(row.due_at), link=f"{notify.public_url}/a/{token}")
    audit.record(session, at=now, actor=SWEEPER, action="deadline.alert", case_id=case.id,
                 after={"deadline_id": row.id, "deadline": row.kind, "stage": index,
                        "alert": stage.kind, "level": stage.level, "due_at": row.due_at.isoformat(),
                        "recipients": [o.id for o in recipients], "fallback": fallback})


def _locked_deadline(session: Session, deadline_id: int) -> Deadline:
    row: Deadline | None = session.execute(
        select(Deadline).where(col(Deadline.id) == deadline_id).with_for_update()).scalar_one_or_none()
    if row is None:
        raise NotFound("deadline", str(deadline_id))
    return row


def acknowledge(session: Session, now: datetime, actor: Actor, deadline_id: int,
                policy: DeadlinePolicy) -> Deadline:
    """Someone has it in hand: reminders stop and the ladder stops climbing for this deadline.
    If the limit has not passed yet, its overdue alert still comes when it does.

    Acknowledging silences the head, the chair and the province, so it takes the same right as
    changing the case (`require_case_write`); deadline ids are sequential, so a deadline of a
    case the actor may not see is answered exactly as a deadline that does not exist."""
    authorize(actor, "deadline.acknowledge")
    row = _locked_deadline(session, deadline_id)
    case = session.get_one(Case, row.case_id)
    try:
        require_case_write(session, actor, case, "deadline.acknowledge")
    except NotFound:
        raise NotFound("deadline", str(deadline_id)) from None
    return _acknowledge(session, now, actor, row, policy)


class LinkRevoked(DomainError):
    """The link's official may no longer act on this deadline. Answered like a bad link."""

    def __init__(self) -> None:
        super().__init__(code="link_revoked", message_vi="Liên kết không hợp lệ hoặc đã hết hạn.",
                         message_en="This link is invalid or has expired.")


def _on_ladder(session: Session, policy: DeadlinePolicy, row: Deadline, case: Case) -> set[int]:
    """The officials who hold, right now, a position this deadline's raised alerts went to —
    and those an undeliverable alert was handed over to (flows/jobs.hand_over_alert), while
    they still hold a position on the ladder. A worker taken off the case, or a head replaced,
    drops off with their position. Read from the database, not the routing cache: a
    deactivation must end a link at once."""
    alerts = select(col(Alert.id)).where(col(Alert.deadline_id) == row.id)
    levels = set(session.execute(select(col(Alert.level)).where(col(Alert.deadline_id) == row.id)).scalars())
    handed_over = set(session.execute(
        select(col(OutboxMessage.official_id)).where(col(OutboxMessage.alert_id).in_(alerts),
                                                     col(OutboxMessage.dedupe_key).startswith("handover:"))
    ).scalars())
    roster = Roster.load(session)
    school = first_report(session, case.id).school_agency_id

    def holding(level: str) -> set[int]:
        found = roster.resolve(level, assignee_id=case.assignee_id, school_agency_id=school)
        return {o.id for o in (found or roster.resolve("sysadmin"))}

    out: set[int] = set()
    for level in levels:
        out |= holding(level)
    if handed_over:
        on_ladder = set().union(*(holding(level) for level in policy.ladder))
        out |= handed_over & on_ladder
    return out


def _link_official_may_act(session: Session, policy: DeadlinePolicy, official_id: int, row: Deadline,
                           case: Case) -> bool:
    official = session.get(Official, official_id)
    if official is None or not official.active:
        return False
    accounts = list(session.execute(select(col(User.active)).where(col(User.official_id) == official_id)).scalars())
    if accounts and not any(accounts):  # every account of theirs deactivated: the person has left
        return False
    return official_id in _on_ladder(session, policy, row, case)


def link_actor(official_id: int) -> Actor:
    return Actor.by_link(official_id)


def acknowledge_by_link(session: Session, now: datetime, official_id: int, deadline_id: int,
                        policy: DeadlinePolicy) -> Deadline:
    """The one-tap SMS link. The link proves who it was sent to; it works only while that
    official is active (and so is their account, where they have one) and still on this
    deadline's ladder: the token's own expiry is a week, a person's rights are not."""
    row = _locked_deadline(session, deadline_id)
    if not _link_official_may_act(session, policy, official_id, row, session.get_one(Case, row.case_id)):
        raise LinkRevoked()
    return _acknowledge(session, now, link_actor(official_id), row, policy)


def _acknowledge(session: Session, now: datetime, actor: Actor, row: Deadline, policy: DeadlinePolicy) -> Deadline:
    if row.status != "open":
        raise InvalidInput("deadline_id", "deadline_open", "Thời hạn này đã kết thúc.",
                           "This deadline is no longer open.")
    if row.acknowledged_at is not None:
        return row
    row.acknowledged_at, row.acknowledged_by = now, actor.ref
    rule = policy.rules.get(row.kind)
    row.next_alert_at = None if rule is None else _next_at(
        ladder(rule, policy, row.starts_at, row.due_at), row.stage, True)
    session.add(row)
    session.flush()
    audit.record(session, at=now, actor=actor, action="deadline.acknowledged", case_id=row.case_id,
                 after={"deadline_id": row.id, "deadline": row.kind, "stage": row.stage})
    return row


@dataclass(frozen=True)
class LinkFacts:
    """What the acknowledgement page shows: the facts the SMS already carried (case code, the
    limit, when it is due) and whether someone has it in hand. No child's data: the page is
    reachable without logging in."""

    case_code: str
    label_vi: str
    label_en: str
    due_at: datetime
    overdue: bool
    open: bool
    acknowledged_at: datetime | None
    acknowledged_by: str | None  # the official's name and title, from the staff directory


def _who(session: Session, ref: str | None) -> str | None:
    """An actor ref as a person reads it: `official:N` or `user:N` → name and title."""
    if ref is None:
        return None
    kind, _, ident = ref.partition(":")
    official_id: int | None = int(ident) if kind == "official" and ident.isdigit() else None
    if kind == "user" and ident.isdigit():
        user = session.get(User, int(ident))
        if user is not None and user.official_id is None:
            return user.display_name
        official_id = user.official_id if user is not None else None
    official = session.get(Official, official_id) if official_id is not None else None
    return f"{official.full_name} ({official.title})" if official is not None else None


def link_facts(session: Session, now: datetime, official_id: int, deadline_id: int,
               policy: DeadlinePolicy) -> LinkFacts:
    """The page behind a link, under the same conditions as `acknowledge_by_link`."""
    row = session.get(Deadline, deadline_id)
    if row is None:
        raise LinkRevoked()
    case = session.get_one(Case, row.case_id)
    if not _link_official_may_act(session, policy, official_id, row, case):
        raise LinkRevoked()
    rule = policy.rules.get(row.kind)
    return LinkFacts(case_code=case.code, label_vi=rule.label_vi if rule else row.kind,
                     label_en=rule.label_en if rule else row.kind, due_at=row.due_at,
                     overdue=row.status == "open" and now >= row.due_at, open=row.status == "open",
                     acknowledged_at=row.acknowledged_at,
                     acknowledged_by=_who(session, row.acknowledged_by))


def overdue_case_ids(now: datetime) -> Any:
    """A subquery of cases with an open deadline past its limit (for the worklist filter)."""
    return select(col(Deadline.case_id)).where(col(Deadline.status) == "open", col(Deadline.due_at) < now)


__all__ = ["acknowledge", "acknowledge_by_link", "link_facts", "LinkFacts", "LinkRevoked", "apply_events",
           "for_new_case", "insert_rows", "due_deadline_ids", "ladder", "next_alert_at",
           "move_due", "overdue_case_ids", "raise_due_alerts"]
