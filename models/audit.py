"""The append-only, hash-chained audit trail.

`AuditHead` holds the seq and hash of the newest event: it is the row writers lock to append
in order, and it is what reveals a deleted tail (the chain alone cannot).
`before` and `after` are stored as the exact canonical JSON text that was hashed.
"""

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    seq: int = Field(primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=64)
    case_id: int | None = Field(default=None, foreign_key="case_file.id", index=True)
    before: str = Field(max_length=20000)
    after: str = Field(max_length=20000)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    __tablename__ = "audit_head"
    id: int = Field(primary_key=True)
    last_seq: int = Field(default=0)
    last_hash: str = Field(max_length=64)
