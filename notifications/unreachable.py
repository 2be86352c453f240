"""Telling the head that messages cannot reach an official.

Two things find out: the dispatcher (Twilio refused the number, or an alert could not be
delivered in time) and Twilio's status callback (the handset never received it). Both tell the
head the same way, here, once per failed message: the dedupe key carries the message."""

from datetime import datetime

from sqlmodel import Session

from notifications.config import NotifyConfig
from notifications.outbox import enqueue_sms
from notifications.routing import resolve


def tell_unreachable(session: Session, config: NotifyConfig, now: datetime, *, official_id: int,
                     reason: str | None, key: str) -> list[int]:
    """Enqueue the `unreachable` message to every head but the official themself (a head
    whose own number fails learns nothing from an SMS to it; the alert's hand-over goes on up
    the ladder). `key` names the failed message and must start with one of the operational
    prefixes (`notifications.outbox.OPERATIONAL_KEYS`), so that this message failing in turn
    raises nothing. Returns the heads told."""
    heads = [h for h in resolve(session, "head") if h.id != official_id]
    for head in heads:
        enqueue_sms(session, config, dedupe_key=f"{key}:{head.id}", official=head, template="unreachable",
                    now=now, who=official_id, reason=reason)
    return [h.id for h in heads]
