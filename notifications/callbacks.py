"""Twilio's status callbacks: signed, deduplicated, and only ever moving a message forward.

Escalation never waits on these (Vietnamese networks often send no delivery receipt); they
only keep the record honest and catch numbers that cannot receive."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Table, select
from sqlmodel import Session, col
from twilio.request_validator import RequestValidator

from models import DeliveryReceipt, OutboxMessage
from models.dialect import insert_or_ignore
from notifications.outbox import is_operational
from notifications.providers import PERMANENT_CODES

RANK = {"accepted": 0, "queued": 0, "scheduled": 0, "sending": 1, "sent": 2,
        "delivered": 3, "undelivered": 3, "failed": 3, "read": 4, "canceled": 3}


class SignatureRefused(Exception):
    pass


def check_signature(auth_token: str | None, url: str, params: dict[str, str], signature: str | None) -> None:
    """Without a configured token we cannot tell Twilio from anyone: refuse, never accept."""
    if not auth_token:
        raise SignatureRefused("no auth token configured")
    if not signature or not RequestValidator(auth_token).validate(url, params, signature):
        raise SignatureRefused("bad signature")


@dataclass(frozen=True)
class CallbackResult:
    duplicate: bool
    updated: bool
    unreachable_official: int | None = None


_RECEIPTS: Table = DeliveryReceipt.__table__  # type: ignore[attr-defined]
# A receipt Twilio sends again (it retries until answered) is recognised by (sid, status).
_INSERT_RECEIPT = insert_or_ignore(_RECEIPTS, ["provider_id", "status"])


def record_status(session: Session, now: datetime, sid: str, status: str, error_code: str | None) -> CallbackResult:
    inserted = session.execute(_INSERT_RECEIPT(session), {
        "provider_id": sid, "status": status, "error_code": error_code, "received_at": now,
    }).rowcount  # type: ignore[attr-defined]
    if not inserted:
        return CallbackResult(duplicate=True, updated=False)
    msg = session.execute(
        select(OutboxMessage).where(col(OutboxMessage.provider_id) == sid).with_for_update()
    ).scalar_one_or_none()
    if msg is None:
        return CallbackResult(duplicate=False, updated=False)
    current = RANK.get(msg.delivery_status or "", -1)
    if RANK.get(status, -1) <= current:
        return CallbackResult(duplicate=False, updated=False)
    msg.delivery_status = status
    session.add(msg)
    unreachable = None
    if status in ("failed", "undelivered") and error_code and error_code.isdigit() \
            and int(error_code) in PERMANENT_CODES and not is_operational(msg.dedupe_key):
        unreachable = msg.official_id
    return CallbackResult(duplicate=False, updated=True, unreachable_official=unreachable)
