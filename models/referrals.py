"""Referrals: which agencies a case has been handed to (police, health station, school...).

An agency official sees a case only while it is referred to their agency, and only the part of
it that agency's work needs (states/cases/views.py). A referral is withdrawn, never deleted, so the
record of who could see the case, and when, stays.
"""

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class Referral(SQLModel, table=True):
    __tablename__ = "referral"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    referred_at: datetime = Field(sa_type=UTCDateTime)
    referred_by: str = Field(max_length=64)
    withdrawn_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    withdrawn_by: str | None = Field(default=None, max_length=64)
