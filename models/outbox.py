"""Outgoing messages, written in the transaction of the event that causes them and sent after
commit by the dispatcher. `dedupe_key` makes each (cause, recipient) exactly one row."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_ready", "next_attempt_at",
              postgresql_where=text("status IN ('pending', 'sending')"),
              sqlite_where=text("status IN ('pending', 'sending')")),
    )
    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=200, unique=True)
    channel: str = Field(max_length=8)  # sms | webhook
    recipient: str = Field(max_length=500)  # E.164 phone or URL
    official_id: int | None = Field(default=None, foreign_key="official.id")
    case_id: int | None = Field(default=None, foreign_key="case_file.id", index=True)
    alert_id: int | None = Field(default=None, foreign_key="alert.id")
    body: str = Field(max_length=2000)
    payload: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    segments: int = Field(default=1)
    # pending -> sending -> sent (-> delivered/undelivered by callback) | failed | dead
    status: str = Field(default="pending", max_length=12, index=True)
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
