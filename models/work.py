"""What is done on a case: emergency actions, the plan, services, reviews and notes."""

from datetime import date, datetime

from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class EmergencyAction(SQLModel, table=True):
    """Emergency protection (Nghị định 56 Art. 26(3), 31): what was done, who was called, when."""

    __tablename__ = "emergency_action"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    action_taken: str = Field(max_length=2000)
    who_was_called: str = Field(max_length=500)
    done_at: datetime = Field(sa_type=UTCDateTime)
    separated_from_carer: bool = Field(default=False)
    recorded_by: str = Field(max_length=64)


class Plan(SQLModel, table=True):
    """Mẫu 04 plan and its decision (Mẫu 05)."""

    __tablename__ = "plan"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    status: str = Field(max_length=16)
    goals: str = Field(max_length=5000)
    measures: str = Field(max_length=5000)
    submitted_at: datetime = Field(sa_type=UTCDateTime)
    submitted_by: str = Field(max_length=64)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_by: str | None = Field(default=None, max_length=64)
    decision_note: str | None = Field(default=None, max_length=2000)


class Service(SQLModel, table=True):
    __tablename__ = "service"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    kind: str = Field(max_length=32)
    agency_id: int = Field(foreign_key="agency.id")
    started_on: date
    ended_on: date | None = None
    note: str | None = Field(default=None, max_length=2000)


class Review(SQLModel, table=True):
    """A periodic review (Mẫu 06)."""

    __tablename__ = "review"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    reviewed_at: datetime = Field(sa_type=UTCDateTime)
    findings: str = Field(max_length=5000)
    risk_level: str = Field(max_length=8)
    outcome: str = Field(max_length=16)
    reviewed_by: str = Field(max_length=64)


class Note(SQLModel, table=True):
    __tablename__ = "note"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    author: str = Field(max_length=64)
    text: str = Field(max_length=5000)
    written_at: datetime = Field(sa_type=UTCDateTime)
