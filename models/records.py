"""The Nghị định 56/2017 records beyond the report and the plan's header: the rated risk
factors (Mẫu 02, 03, 06), the detailed assessment and its meeting (Mẫu 03), the plan's measures
(Mẫu 04), the chair's emergency decision, and the consent to share the child's data.

What the clocks, statistics and guards need (ratings, kinds, dates, answers) is plain; what
describes the child or the family is encrypted at rest (models/crypto.py)."""

from datetime import date, datetime

from sqlmodel import Field, SQLModel

from models.crypto import EncryptedStr
from models.types import UTCDateTime


class RiskRating(SQLModel, table=True):
    """The four risk factors rated high / medium / low, and the overall level: stated by the
    worker, or else derived (the highest factor). `source_id` is the detailed assessment's or
    the review's id; an initial assessment has none (the case holds its result)."""

    __tablename__ = "risk_rating"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    source: str = Field(max_length=16)
    source_id: int | None = None
    rated_at: datetime = Field(sa_type=UTCDateTime)
    rated_by: str = Field(max_length=64)
    severity: str = Field(max_length=8)
    abuser_access: str = Field(max_length=8)
    safety_obstacles: str = Field(max_length=8)
    self_protection: str = Field(max_length=8)
    derived_level: str = Field(max_length=8)
    stated_level: str | None = Field(default=None, max_length=8)


class DetailedAssessment(SQLModel, table=True):
    """Mẫu 03: the detailed information gathered, the child's needs, and the minutes of the
    meeting on them (Nghị định 56/2017 Art. 27)."""

    __tablename__ = "detailed_assessment"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    recorded_at: datetime = Field(sa_type=UTCDateTime)
    recorded_by: str = Field(max_length=64)
    information: str = Field(sa_type=EncryptedStr("detailed_assessment.information"))
    needs: str = Field(sa_type=EncryptedStr("detailed_assessment.needs"))
    meeting_at: datetime = Field(sa_type=UTCDateTime)
    attendees: str = Field(sa_type=EncryptedStr("detailed_assessment.attendees"))
    agreed: str = Field(sa_type=EncryptedStr("detailed_assessment.agreed"))


class PlanMeasure(SQLModel, table=True):
    """One measure of a plan (Mẫu 04): its kind (Luật Trẻ em Art. 50(2)), who carries it out
    (an agency of the directory, a person, or both) and when."""

    __tablename__ = "plan_measure"
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    number: int  # 1, 2, … within the plan: what a service and the printed form refer to
    kind: str = Field(max_length=32)
    description: str = Field(sa_type=EncryptedStr("plan_measure.description"))
    agency_id: int | None = Field(default=None, foreign_key="agency.id")
    responsible: str | None = Field(default=None, sa_type=EncryptedStr("plan_measure.responsible"))
    starts_on: date
    ends_on: date


class EmergencyDecision(SQLModel, table=True):
    """The chair's decision on emergency protection (Nghị định 56/2017 Art. 26(3), 31), and
    whether it separates the child from the carer for now (Art. 32)."""

    __tablename__ = "emergency_decision"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    decided_at: datetime = Field(sa_type=UTCDateTime)
    decided_by: str = Field(max_length=64)
    recorded_at: datetime = Field(sa_type=UTCDateTime)
    measures: str = Field(sa_type=EncryptedStr("emergency_decision.measures"))
    separation: bool = Field(default=False)
    alternative_care: str | None = Field(default=None, sa_type=EncryptedStr("emergency_decision.alternative_care"))


class Consent(SQLModel, table=True):
    """Consent to share the child's private data with the agencies of the plan (Luật Trẻ em
    Art. 6(11), 21): the child's (7 or older) and the parent's or carer's, or the legal ground
    for sharing without it. The latest record of a case is the one in force."""

    __tablename__ = "consent"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    recorded_at: datetime = Field(sa_type=UTCDateTime)
    recorded_by: str = Field(max_length=64)
    child_answer: str | None = Field(default=None, max_length=16)
    carer_answer: str | None = Field(default=None, max_length=16)
    carer_name: str | None = Field(default=None, sa_type=EncryptedStr("consent.carer_name"))
    legal_ground: str | None = Field(default=None, max_length=32)
    note: str | None = Field(default=None, sa_type=EncryptedStr("consent.note"))
