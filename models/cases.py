"""The case and what opened it: the child, the reporter and each Mẫu 01 report.

A case can gather several reports (a second report about the same child links to the open
case instead of opening another). The reporter lives in its own row so that it can be
withheld, and left out entirely for anonymous reports.
"""

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class Child(SQLModel, table=True):
    __tablename__ = "child"
    id: int | None = Field(default=None, primary_key=True)
    full_name: str | None = Field(default=None, max_length=120)
    birth_date: date | None = None
    estimated_age: int | None = None
    sex: str = Field(default="unknown", max_length=8)
    place_id: int | None = Field(default=None, foreign_key="place.id")
    # HMAC keys for matching a new report to this child (states/matching.py); no name in clear.
    birth_key: str | None = Field(default=None, max_length=64, index=True)
    place_key: str | None = Field(default=None, max_length=64, index=True)


class Reporter(SQLModel, table=True):
    __tablename__ = "reporter"
    id: int | None = Field(default=None, primary_key=True)
    full_name: str | None = Field(default=None, max_length=120)
    phone: str | None = Field(default=None, max_length=16)
    address: str | None = Field(default=None, max_length=300)
    relation: str | None = Field(default=None, max_length=120)


class Case(SQLModel, table=True):
    __tablename__ = "case_file"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    state: str = Field(max_length=16, index=True)
    child_id: int = Field(foreign_key="child.id", index=True)
    place_id: int | None = Field(default=None, foreign_key="place.id", index=True)
    case_type: str | None = Field(default=None, max_length=32)
    risk_level: str | None = Field(default=None, max_length=8)
    emergency: bool | None = None
    assignee_id: int | None = Field(default=None, foreign_key="official.id", index=True)
    received_at: datetime = Field(sa_type=UTCDateTime, index=True)
    opened_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reopened_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closure_reason: str | None = Field(default=None, max_length=32)
    transferred_to: str | None = Field(default=None, max_length=200)
    previous_case_id: int | None = Field(default=None, foreign_key="case_file.id")
    flags: list[str] = Field(default_factory=list, sa_type=JSON)
    version: int = Field(default=1)


class CaseAbuseForm(SQLModel, table=True):
    """One row per form of abuse named by any report of the case, for filtering."""

    __tablename__ = "case_abuse_form"
    case_id: int = Field(foreign_key="case_file.id", primary_key=True)
    form: str = Field(max_length=32, primary_key=True, index=True)


class Report(SQLModel, table=True):
    """Mẫu 01 as received. `received_at` is when the *first receiver* got it."""

    __tablename__ = "report"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    channel: str = Field(max_length=16)
    received_at: datetime = Field(sa_type=UTCDateTime)
    recorded_at: datetime = Field(sa_type=UTCDateTime)
    place_id: int | None = Field(default=None, foreign_key="place.id")
    place_detail: str | None = Field(default=None, max_length=300)
    narrative: str = Field(max_length=10000)
    abuse_forms: list[str] = Field(default_factory=list, sa_type=JSON)
    case_type: str | None = Field(default=None, max_length=32)
    child_condition: str | None = Field(default=None, max_length=2000)
    likely_consequence: str | None = Field(default=None, max_length=2000)
    parents: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    family_circumstances: str | None = Field(default=None, max_length=2000)
    current_carer: str | None = Field(default=None, max_length=300)
    actions_taken: str | None = Field(default=None, max_length=2000)
    receiving_officer: str | None = Field(default=None, max_length=120)
    hotline_ref: str | None = Field(default=None, max_length=64, unique=True)
    school_agency_id: int | None = Field(default=None, foreign_key="agency.id")
    reporter_id: int | None = Field(default=None, foreign_key="reporter.id")
    tracking_code: str = Field(max_length=16, unique=True)


class CaseCounter(SQLModel, table=True):
    """Next number of a commune's case codes for one year (NH-2026-000123)."""

    __tablename__ = "case_counter"
    __table_args__ = (UniqueConstraint("prefix", "year"),)
    id: int | None = Field(default=None, primary_key=True)
    prefix: str = Field(max_length=8)
    year: int
    last_number: int = Field(default=0)


class IdempotencyRecord(SQLModel, table=True):
    """The first answer given to a request, replayed when the same request comes again."""

    __tablename__ = "idempotency_record"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    request_hash: str = Field(max_length=64)
    response: dict[str, Any] = Field(sa_type=JSON)
    created_at: datetime = Field(sa_type=UTCDateTime)
