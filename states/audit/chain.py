"""Append to and verify the hash-chained audit trail.

Each event's hash covers its own fields and the previous event's hash, so editing, deleting
or reordering any event breaks the chain from that point; `AuditHead` pins the newest seq and
hash, so deleting the tail is detected too. Appending locks the head row: events are totally
ordered by `seq` on SQLite and PostgreSQL alike.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlmodel import Session, col

from models import AuditEvent, AuditHead
from models.crypto import sha256_hex
from models.statements import Query, Statement
from states.identity.actors import Actor

GENESIS_HASH = "0" * 64
HEAD_ID = 1


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def loads(stored: str) -> dict[str, Any]:
    """A stored before/after payload back as a dict."""
    value = json.loads(stored) if stored else {}
    return value if isinstance(value, dict) else {}


def event_hash(prev_hash: str, seq: int, at: datetime, actor: str, action: str,
               case_id: int | None, before: str, after: str) -> str:
    material = "\x1f".join(
        [prev_hash, str(seq), at.isoformat(timespec="microseconds"), actor, action,
         "" if case_id is None else str(case_id), before, after]
    )
    return sha256_hex(material)


_HEAD = AuditHead.__table__  # type: ignore[attr-defined]
_EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]
# Built and compiled once; every command runs them (models/statements.py).


class _Head(NamedTuple):
    last_seq: int
    last_hash: str


_READ_HEAD = Query(select(_HEAD.c.last_seq, _HEAD.c.last_hash).where(_HEAD.c.id == HEAD_ID).with_for_update(), _Head)
_INSERT_EVENT = Statement(_EVENTS.insert())
_MOVE_HEAD = Statement(_HEAD.update().where(_HEAD.c.id == HEAD_ID))


@dataclass(frozen=True)
class Appended:
    """Where an event went on the chain: callers key their notifications by `seq`."""

    seq: int
    hash: str


def record(session: Session, *, at: datetime, actor: Actor, action: str, case_id: int | None,
           before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> Appended:
    """Append one event in the caller's transaction. Never put personal data in before/after.

    Plain Core statements, not ORM objects: this runs in every command, and the event is
    write-once."""
    last_seq, last_hash = _READ_HEAD.one(session)
    before_s, after_s = canonical(before or {}), canonical(after or {})
    seq = last_seq + 1
    digest = event_hash(last_hash, seq, at, actor.ref, action, case_id, before_s, after_s)
    values = {"seq": seq, "at": at, "actor": actor.ref, "action": action, "case_id": case_id,
              "before": before_s, "after": after_s, "prev_hash": last_hash, "hash": digest}
    _INSERT_EVENT.execute(session, values)
    _MOVE_HEAD.execute(session, {"last_seq": seq, "last_hash": digest})
    return Appended(seq, digest)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    checked: int
    broken_seq: int | None = None
    reason: str | None = None


def _stream(session: Session, batch: int = 2000) -> Iterator[AuditEvent]:
    last = 0
    while True:
        rows = session.execute(
            select(AuditEvent).where(col(AuditEvent.seq) > last).order_by(col(AuditEvent.seq)).limit(batch)
        ).scalars().all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


def verify(session: Session) -> Verdict:
    """Walk the whole chain; name the first event that does not fit."""
    prev_hash, expected_seq, checked = GENESIS_HASH, 1, 0
    for ev in _stream(session):
        if ev.seq != expected_seq:
            return Verdict(False, checked, expected_seq, f"event {expected_seq} is missing")
        if ev.prev_hash != prev_hash:
            return Verdict(False, checked, ev.seq, "does not follow the previous event")
        recomputed = event_hash(prev_hash, ev.seq, ev.at, ev.actor, ev.action, ev.case_id,
                                ev.before, ev.after)
        if recomputed != ev.hash:
            return Verdict(False, checked, ev.seq, "content does not match its hash")
        prev_hash, expected_seq, checked = ev.hash, expected_seq + 1, checked + 1
    head = session.get(AuditHead, HEAD_ID)
    if head is None:
        return Verdict(False, checked, None, "audit head is missing")
    if head.last_seq != checked or head.last_hash != prev_hash:
        return Verdict(False, checked, checked + 1,
                       f"events after {checked} are missing (head says {head.last_seq})")
    return Verdict(True, checked)
