"""Outgoing messages, written in the transaction of the event that causes them and sent after
commit by the dispatcher. `dedupe_key` makes each (cause, recipient) exactly one row."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from models.enums import OutboxStatus
from models.types import EnumText, UTCDateTime

# Messages that rang (or will): a held message waits for a digest, a digested one never rings.
RANG_CONDITION = "status NOT IN ('held', 'digested')"


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_ready", "next_attempt_at",
              postgresql_where=text("status IN ('pending', 'sending')"),
              sqlite_where=text("status IN ('pending', 'sending')")),
        # The per-official hourly ceiling counts one official's recent messages that rang at
        # every enqueue (notifications/outbox.py), from this index alone.
        Index("ix_outbox_official_rang", "official_id", "created_at",
              postgresql_where=text(RANG_CONDITION), sqlite_where=text(RANG_CONDITION)),
    )
    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=200, unique=True)
    channel: str = Field(max_length=8)  # sms | webhook
    recipient: str = Field(max_length=500)  # E.164 phone or URL
    official_id: int | None = Field(default=None, foreign_key="official.id")
    case_id: int | None = Field(default=None, foreign_key="case_file.id", index=True)
    alert_id: int | None = Field(default=None, foreign_key="alert.id")
    # The template it was written from (new_case, overdue, digest...): what a digest counts.
    kind: str | None = Field(default=None, max_length=32)
    # An emergency or an overdue/escalation alert: retried within seconds, exempt from the
    # per-official ceiling and from digests.
    urgent: bool = Field(default=False)
    body: str = Field(max_length=2000)
    payload: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    segments: int = Field(default=1)
    # pending -> sending -> sent (-> delivered/undelivered by callback) | failed | dead;
    # held (over the official's ceiling, or an anonymous report) -> digested (told in a digest)
    status: OutboxStatus = Field(default=OutboxStatus.PENDING, sa_type=EnumText(OutboxStatus, 12), index=True)
    # The dispatcher (`Dispatcher.id`) whose claim this `sending` row is under.
    claimed_by: int | None = Field(default=None)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    provider_id: str | None = Field(default=None, max_length=64, index=True)
    delivery_status: str | None = Field(default=None, max_length=16)
    last_error: str | None = Field(default=None, max_length=300)


class DeliveryReceipt(SQLModel, table=True):
    """A provider's status callback, once per (message id, status)."""

    __tablename__ = "delivery_receipt"
    __table_args__ = (UniqueConstraint("provider_id", "status"),)
    id: int | None = Field(default=None, primary_key=True)
    provider_id: str = Field(max_length=64)
    status: str = Field(max_length=16)
    error_code: str | None = Field(default=None, max_length=16)
    received_at: datetime = Field(sa_type=UTCDateTime)


class Dispatcher(SQLModel, table=True):
    """One sending run's identity. While it lives it holds a lock the operating system or the
    database frees the moment it dies (notifications/dispatch.py), so its claims are taken over
    at once instead of after their lease."""

    __tablename__ = "dispatcher"
    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = Field(sa_type=UTCDateTime)
    host: str = Field(max_length=64)
    pid: int
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RateBucket(SQLModel, table=True):
    """A token bucket shared by every worker process (api/ratelimit.py)."""

    __tablename__ = "rate_bucket"
    key: str = Field(max_length=128, primary_key=True)
    tokens: float
    updated_at: datetime = Field(sa_type=UTCDateTime)
