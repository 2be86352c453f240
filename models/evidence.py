"""Evidence attached to a case: photos, scans of signed paper forms, medical notes.

The row holds what the procedure and the access log need in clear (the kind, the type the
content was found to be, its size and SHA-256, who uploaded it and when, where its bytes are);
what a person wrote or named (the label, the original file name) is encrypted like any private
field. The bytes themselves are sealed and kept by a `BlobStore` (models/blobs.py)."""

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from models.crypto import EncryptedStr
from models.types import EnumText, UTCDateTime


class AttachmentKind(StrEnum):
    PHOTO = "photo"
    SCAN = "scan"  # a scan of a signed paper form
    MEDICAL = "medical"
    OTHER = "other"


class Attachment(SQLModel, table=True):
    __tablename__ = "attachment"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    kind: AttachmentKind = Field(sa_type=EnumText(AttachmentKind, 16))
    label: str | None = Field(default=None, sa_type=EncryptedStr("attachment.label"))
    file_name: str | None = Field(default=None, sa_type=EncryptedStr("attachment.file_name"))
    # Detected from the bytes (states/records/evidence.py), never taken from the client.
    content_type: str = Field(max_length=64)
    size: int
    sha256: str = Field(max_length=64)
    storage: str = Field(max_length=16)
    storage_key: str = Field(max_length=64, unique=True, index=True)
    # The data key the bytes are sealed under (`kipthoi keys status` counts them, `rotate`
    # re-seals those under an older key) without opening any blob.
    key_id: str = Field(max_length=16)
    uploaded_by: str = Field(max_length=64)
    uploaded_at: datetime = Field(sa_type=UTCDateTime)
