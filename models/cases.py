"""The case and what opened it: the child, the reporter and each Mẫu 01 report.

A case can gather several reports (a second report about the same child links to the open
case instead of opening another). The reporter lives in its own row so that it can be
withheld, and left out entirely for anonymous reports.
"""

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.crypto import EncryptedDate, EncryptedJSON, EncryptedList, EncryptedStr
from models.enums import CaseState
from models.types import EnumText, UTCDateTime

# Blind indexes (states/intake/matching.py): "<index key id>.<HMAC-SHA256 hex>", never a name in clear.
INDEX_LENGTH = 80


class Child(SQLModel, table=True):
    __tablename__ = "child"
    id: int | None = Field(default=None, primary_key=True)
    # Encrypted at rest (models/crypto.py); lengths are checked on input (states/intake/report_data.py).
    full_name: str | None = Field(default=None, sa_type=EncryptedStr("child.full_name"))
    birth_date: date | None = Field(default=None, sa_type=EncryptedDate("child.birth_date"))
    estimated_age: int | None = None
    sex: str = Field(default="unknown", max_length=8)
    place_id: int | None = Field(default=None, foreign_key="place.id")
    # HMAC keys for matching a new report to this child and for search by name
    # (states/intake/matching.py); no name in clear.
    birth_key: str | None = Field(default=None, max_length=INDEX_LENGTH, index=True)
    place_key: str | None = Field(default=None, max_length=INDEX_LENGTH, index=True)
    name_index: str | None = Field(default=None, max_length=INDEX_LENGTH, index=True)


class Reporter(SQLModel, table=True):
    __tablename__ = "reporter"
    id: int | None = Field(default=None, primary_key=True)
    # The reporter's identity is confidential (Luật Tố cáo 2018): all of it encrypted at rest.
    full_name: str | None = Field(default=None, sa_type=EncryptedStr("reporter.full_name"))
    phone: str | None = Field(default=None, sa_type=EncryptedStr("reporter.phone"))
    address: str | None = Field(default=None, sa_type=EncryptedStr("reporter.address"))
    relation: str | None = Field(default=None, sa_type=EncryptedStr("reporter.relation"))
    # HMAC of the phone in E.164, for search by the head (states/cases/search.py).
    phone_index: str | None = Field(default=None, max_length=INDEX_LENGTH, index=True)


class Case(SQLModel, table=True):
    __tablename__ = "case_file"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    state: CaseState = Field(sa_type=EnumText(CaseState, 16), index=True)
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
    # The child's special-circumstance groups (Luật Trẻ em Art. 10(1)): a disability or HIV is
    # health data, so the list is encrypted like the other private fields.
    special_groups: list[str] | None = Field(default=None, sa_type=EncryptedList("case_file.special_groups"))
    version: int = Field(default=1)
    # When the retention policy replaced the case's private data; the row itself stays.
    anonymised_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def current_since(self) -> datetime:
        """Since when the case's records count: a reopened case needs its own assessment,
        meeting, consent and emergency measures, not those from before it was closed."""
        return self.reopened_at or self.received_at


class CaseAbuseForm(SQLModel, table=True):
    """One row per form of abuse named by any report of the case, for filtering."""

    __tablename__ = "case_abuse_form"
    case_id: int = Field(foreign_key="case_file.id", primary_key=True)
    form: str = Field(max_length=32, primary_key=True, index=True)


class Report(SQLModel, table=True):
    """Mẫu 01 as received. `received_at` is when the *first receiver* got it."""

    __tablename__ = "report"
    # A 111 reference is the hotline account's own: two accounts may use the same one.
    __table_args__ = (UniqueConstraint("submitted_by", "hotline_ref", name="uq_report_submitter_ref"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    channel: str = Field(max_length=16)
    received_at: datetime = Field(sa_type=UTCDateTime)
    recorded_at: datetime = Field(sa_type=UTCDateTime)
    place_id: int | None = Field(default=None, foreign_key="place.id")
    place_detail: str | None = Field(default=None, sa_type=EncryptedStr("report.place_detail"))
    narrative: str = Field(sa_type=EncryptedStr("report.narrative"))
    abuse_forms: list[str] = Field(default_factory=list, sa_type=JSON)
    case_type: str | None = Field(default=None, max_length=32)
    child_condition: str | None = Field(default=None, sa_type=EncryptedStr("report.child_condition"))
    likely_consequence: str | None = Field(default=None,
                                           sa_type=EncryptedStr("report.likely_consequence"))
    parents: dict[str, Any] = Field(default_factory=dict, sa_type=EncryptedJSON("report.parents"))
    family_circumstances: str | None = Field(default=None,
                                             sa_type=EncryptedStr("report.family_circumstances"))
    current_carer: str | None = Field(default=None, sa_type=EncryptedStr("report.current_carer"))
    actions_taken: str | None = Field(default=None, sa_type=EncryptedStr("report.actions_taken"))
    receiving_officer: str | None = Field(default=None, max_length=120)
    hotline_ref: str | None = Field(default=None, max_length=64)
    school_agency_id: int | None = Field(default=None, foreign_key="agency.id")
    reporter_id: int | None = Field(default=None, foreign_key="reporter.id")
    tracking_code: str = Field(max_length=16, unique=True)
    # Who sent it (an actor ref such as "user:7"): a machine client may read back only its own.
    submitted_by: str | None = Field(default=None, max_length=64)


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
