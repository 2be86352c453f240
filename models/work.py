"""What is done on a case: emergency actions, the plan, services, reviews and notes.

Free text about the child and the family is encrypted at rest (models/crypto.py); what the
procedure's clocks, routing and statistics need (dates, kinds, risk levels, agency ids) is not.
Input lengths are checked by the commands (states/lifecycle/commands.py), not by these columns."""

from datetime import date, datetime

from sqlmodel import Field, SQLModel

from models.crypto import EncryptedStr
from models.enums import PlanStatus
from models.types import EnumText, UTCDateTime


class EmergencyAction(SQLModel, table=True):
    """Emergency protection (Nghị định 56 Art. 26(3), 31): what was done, who was called, when."""

    __tablename__ = "emergency_action"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    action_taken: str = Field(sa_type=EncryptedStr("emergency_action.action_taken"))
    who_was_called: str = Field(sa_type=EncryptedStr("emergency_action.who_was_called"))
    done_at: datetime = Field(sa_type=UTCDateTime)
    separated_from_carer: bool = Field(default=False)
    recorded_by: str = Field(max_length=64)


class Plan(SQLModel, table=True):
    """Mẫu 04 plan and its decision (Mẫu 05)."""

    __tablename__ = "plan"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    status: PlanStatus = Field(sa_type=EnumText(PlanStatus, 16))
    goals: str = Field(sa_type=EncryptedStr("plan.goals"))
    # Free text of plans made before measures had rows of their own (models/records.py PlanMeasure).
    measures: str | None = Field(default=None, sa_type=EncryptedStr("plan.measures"))
    submitted_at: datetime = Field(sa_type=UTCDateTime)
    submitted_by: str = Field(max_length=64)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_by: str | None = Field(default=None, max_length=64)
    decision_note: str | None = Field(default=None, sa_type=EncryptedStr("plan.decision_note"))
    # Mẫu 05: the approving decision's number, counted per commune and year ("12/QĐ-UBND").
    decision_no: int | None = None
    decision_year: int | None = None


class Service(SQLModel, table=True):
    __tablename__ = "service"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    kind: str = Field(max_length=32)
    agency_id: int = Field(foreign_key="agency.id")
    started_on: date
    ended_on: date | None = None
    # The plan's measure this service carries out (models/records.py PlanMeasure).
    measure_id: int | None = Field(default=None, foreign_key="plan_measure.id")
    note: str | None = Field(default=None, sa_type=EncryptedStr("service.note"))


class Review(SQLModel, table=True):
    """A periodic review (Mẫu 06)."""

    __tablename__ = "review"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    reviewed_at: datetime = Field(sa_type=UTCDateTime)
    findings: str = Field(sa_type=EncryptedStr("review.findings"))
    risk_level: str = Field(max_length=8)
    outcome: str = Field(max_length=16)
    reviewed_by: str = Field(max_length=64)


class Note(SQLModel, table=True):
    __tablename__ = "note"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    author: str = Field(max_length=64)
    text: str = Field(sa_type=EncryptedStr("note.text"))
    written_at: datetime = Field(sa_type=UTCDateTime)
