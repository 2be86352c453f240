"""Legal time limits as rows, and the alerts raised about them.

The sweep reads open deadlines whose `next_alert_at` has come, through a partial index, so its
cost follows what is due, not how much history the commune has."""

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from models.enums import AlertKind, DeadlineStatus
from models.types import EnumText, UTCDateTime


class Deadline(SQLModel, table=True):
    __tablename__ = "deadline"
    __table_args__ = (
        Index("ix_deadline_due_alerts", "next_alert_at",
              postgresql_where=text("status = 'open'"), sqlite_where=text("status = 'open'")),
        # The home pages list open limits soonest first (states/cases/desk.py): walked in this
        # order, the first 30 visible ones are found without reading every open deadline.
        Index("ix_deadline_status_due", "status", "due_at", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    kind: str = Field(max_length=32)
    status: DeadlineStatus = Field(default=DeadlineStatus.OPEN, sa_type=EnumText(DeadlineStatus, 12))
    opened_at: datetime = Field(sa_type=UTCDateTime)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    due_at: datetime = Field(sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Index of the next stage of the alert ladder to raise, and when it is due (None: no more).
    stage: int = Field(default=0)
    next_alert_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by: str | None = Field(default=None, max_length=64)


class Alert(SQLModel, table=True):
    """One raised stage of one deadline's ladder; unique, so two sweeps cannot raise it twice."""

    __tablename__ = "alert"
    __table_args__ = (UniqueConstraint("deadline_id", "stage"),)
    id: int | None = Field(default=None, primary_key=True)
    deadline_id: int = Field(foreign_key="deadline.id", index=True)
    stage: int
    kind: AlertKind = Field(sa_type=EnumText(AlertKind, 16))
    level: str = Field(max_length=16)  # who it went to: worker | head | chair | province
    due_at: datetime = Field(sa_type=UTCDateTime)
    raised_at: datetime = Field(sa_type=UTCDateTime)
