"""Evidence attached to a case (photos, scans of signed paper forms, medical notes): upload,
list, download, and erasure by retention.

- Who: uploading is changing the case (`case.attachment.upload`: the case's writers, within
  their scope); listing and downloading is reading its full or content view
  (`case.attachment.read`). Agency officials get neither: what their agency needs of a case is a
  part of it, and a scanned form or a medical note is not cut into parts.
- What is accepted is decided by the bytes, never by the file name or the type the browser
  claims: JPEG, PNG or PDF, recognised by their signatures and a light check of their
  structure (a JPEG ends with its end-of-image marker, a PNG starts with its header chunk and
  ends with its end chunk, a PDF has its header and an end-of-file marker). The type served
  back is the one detected.
- Where: the bytes are sealed under the data keyring (models/blobs.py) and handed to the
  commune's `BlobStore`; the row keeps the label and the original name encrypted.
- Every download is an event of the access log (`case.attachment.downloaded`, naming the
  attachment); listing names and labels is logged like reading the case's fields.
"""

import hashlib
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlmodel import Session, col

from models import Attachment, AttachmentKind, Case, Database
from models.blobs import BlobStore, reseal, seal, sealed_key_id, unseal
from models.crypto import Keyring
from states.access import log as access_log
from states.access.permissions import authorize
from states.access.scope import View, view_for
from states.audit import chain as audit
from states.cases.case_views import Private, fields_read
from states.identity.actors import Actor
from states.kernel.clock import Clock
from states.kernel.errors import InvalidInput, NotFound
from states.lifecycle.case_rows import case_to_change

MAX_LABEL = 200
MAX_FILE_NAME = 255
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}
JPEG_SECOND_MARKER = re.compile(rb"[\xc0-\xcf\xdb\xdd\xe0-\xef\xfe]")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def sniff(data: bytes) -> str | None:
    """The content type the bytes are, among those accepted; None for anything else."""
    # JPEG: start of image, then a marker (APPn, a table, a frame, a comment), and an end of image
    # somewhere after: phones append data after it (a motion photo's video), so not at the end.
    if data[:3] == b"\xff\xd8\xff" and len(data) > 4 and JPEG_SECOND_MARKER.match(data[3:4]) \
            and data.rfind(b"\xff\xd9") > 3:
        return "image/jpeg"
    if (data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR" and data[8:12] == b"\x00\x00\x00\x0d"
            and PNG_END in data[-1024:]):
        return "image/png"
    if data[:5] == b"%PDF-" and data[5:8] in (b"1.0", b"1.1", b"1.2", b"1.3", b"1.4", b"1.5", b"1.6",
                                              b"1.7", b"2.0") and b"%%EOF" in data[-1024:]:
        return "application/pdf"
    return None


class AttachmentInfo(BaseModel):
    """An attachment as a list shows it (no bytes). Its private fields are marked like the case
    view's (states/cases/case_views.py), and the access log names those a list gave."""

    id: int
    kind: AttachmentKind
    label: Annotated[str | None, Private("attachment.label")]
    file_name: Annotated[str | None, Private("attachment.file_name")]
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


@dataclass(frozen=True)
class Download:
    info: AttachmentInfo
    data: bytes
    # What the file is called when saved: the case code, the attachment id and the extension of
    # the detected type; never the uploader's file name (private, and a header's to forge).
    filename: str


def _info(row: Attachment) -> AttachmentInfo:
    return AttachmentInfo(id=row.id or 0, kind=row.kind, label=row.label, file_name=row.file_name,
                          content_type=row.content_type, size=row.size, sha256=row.sha256,
                          uploaded_by=row.uploaded_by, uploaded_at=row.uploaded_at)


def _kind(value: str) -> AttachmentKind:
    try:
        return AttachmentKind(value)
    except ValueError:
        raise InvalidInput("kind", "one_of", "Loại tệp phải là: " + ", ".join(AttachmentKind) + ".",
                           "kind must be one of: " + ", ".join(AttachmentKind) + ".") from None


def _text(name: str, value: str | None, limit: int) -> str | None:
    value = (value or "").strip()
    if len(value) > limit:
        raise InvalidInput(name, "max_length", f"Tối đa {limit} ký tự.", f"{name}: at most {limit} characters.")
    if "\x00" in value:
        raise InvalidInput(name, "no_nul", "Có ký tự không hợp lệ.", f"{name} holds a NUL character.")
    return value or None


def check_file(data: bytes, max_bytes: int) -> str:
    """The detected content type of an upload, or the refusal naming the field and the rule."""
    if len(data) == 0:
        raise InvalidInput("file", "required", "Hãy chọn một tệp.", "file: choose a file to upload.")
    if len(data) > max_bytes:
        mb = max_bytes / (1024 * 1024)
        raise InvalidInput("file", "max_size", f"Tệp lớn hơn giới hạn {mb:g} MB.",
                           f"file: larger than the limit of {mb:g} MB ({max_bytes} bytes).")
    content_type = sniff(data)
    if content_type is None:
        raise InvalidInput("file", "content_type",
                           "Tệp phải là ảnh JPEG, PNG hoặc PDF (kiểm tra theo nội dung, không theo tên tệp).",
                           "file: must be a JPEG, PNG or PDF, as its content shows (the file name "
                           "does not count).")
    return content_type


def upload(session: Session, clock: Clock, actor: Actor, store: BlobStore, code: str, *, kind: str,
           data: bytes, label: str | None = None, file_name: str | None = None,
           max_bytes: int = 10 * 1024 * 1024) -> AttachmentInfo:
    """Attach a file to a case. The caller commits; with the directory store the file is
    written now and removed again if the transaction rolls back."""
    case = case_to_change(session, actor, code, "case.attachment.upload")
    checked_kind = _kind(kind)
    label, file_name = _text("label", label, MAX_LABEL), _text("file_name", file_name, MAX_FILE_NAME)
    content_type = check_file(data, max_bytes)
    if case.anonymised_at is not None:
        raise InvalidInput("code", "case_not_anonymised",
                           "Vụ việc đã được ẩn danh theo quy định lưu trữ, không thể đính kèm tệp.",
                           "The case was anonymised under the retention policy: nothing can be attached.")
    key = uuid.uuid4().hex
    sealed = seal(key, data)
    store.put(session, key, sealed)
    now = clock.now()
    row = Attachment(case_id=case.id or 0, kind=checked_kind, label=label, file_name=file_name,
                     content_type=content_type, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                     storage=store.name, storage_key=key, key_id=sealed_key_id(sealed),
                     uploaded_by=actor.ref, uploaded_at=now)
    session.add(row)
    session.flush()
    audit.record(session, at=now, actor=actor, action="case.attachment.uploaded", case_id=case.id,
                 after={"case": case.code, "attachment": row.id, "kind": row.kind,
                        "content_type": content_type, "size": row.size, "sha256": row.sha256})
    return _info(row)


def _readable(session: Session, actor: Actor, code: str) -> tuple[Case, View]:
    authorize(actor, "case.attachment.read")
    case = session.execute(select(Case).where(col(Case.code) == code)).scalar_one_or_none()
    if case is None:
        raise NotFound("case", code)
    view = view_for(session, actor, case, "case.attachment.read")
    if view not in (View.FULL, View.CONTENT):
        raise NotFound("case", code)
    return case, view


def list_attachments(session: Session, clock: Clock, actor: Actor, code: str) -> list[AttachmentInfo]:
    """The case's attachments, oldest first. Labels and original names are private fields: a
    list that gives any is a read on the access log, naming them (the caller commits)."""
    case, view = _readable(session, actor, code)
    rows = list(session.execute(select(Attachment).where(col(Attachment.case_id) == case.id)
                                .order_by(col(Attachment.id))).scalars())
    shown = [_info(r) for r in rows]
    fields = sorted({name for info in shown for name in fields_read(info)})
    if fields:
        access_log.record_read(session, clock.now(), actor, case, "case.viewed", view, fields)
    return shown


def download(session: Session, clock: Clock, actor: Actor, store: BlobStore, code: str,
             attachment_id: int) -> Download:
    """One attachment's bytes, opened; the read is on the access log (the caller commits)."""
    case, view = _readable(session, actor, code)
    row = session.execute(select(Attachment).where(col(Attachment.id) == attachment_id,
                                                   col(Attachment.case_id) == case.id)).scalar_one_or_none()
    if row is None:
        raise NotFound("attachment", str(attachment_id))
    _same_store(row, store)
    data = unseal(row.storage_key, store.get(session, row.storage_key))
    audit.record(session, at=clock.now(), actor=actor, action="case.attachment.downloaded", case_id=case.id,
                 after={"case": case.code, "view": view, "fields": [f"attachment:{row.id}"],
                        "attachment": row.id, "kind": row.kind, "sha256": row.sha256})
    return Download(info=_info(row), data=data,
                    filename=f"{case.code}-{row.id}.{EXTENSIONS.get(row.content_type, 'bin')}")


def _same_store(row: Attachment, store: BlobStore) -> None:
    if row.storage != store.name:
        raise RuntimeError(f"attachment {row.id} is kept by the {row.storage!r} store, but the "
                           f"{store.name!r} store is configured (KIPTHOI_EVIDENCE__STORAGE)")


def sealed_keys(session: Session) -> Counter[str]:
    """How many attachments' bytes are sealed under each key id (`kipthoi keys status`)."""
    rows = session.execute(select(col(Attachment.key_id), func.count()).group_by(col(Attachment.key_id))).all()
    return Counter({str(kid): int(n) for kid, n in rows})


def reseal_all(db: Database, keyring: Keyring, store: BlobStore, batch: int = 50) -> int:
    """Key rotation: seal again under the active key every attachment's bytes sealed under an
    older one, a batch per transaction (a blob is megabytes). Safe to interrupt and rerun."""
    moved, last = 0, 0
    while True:
        with db.write() as session:
            rows = list(session.execute(
                select(Attachment).where(col(Attachment.id) > last,
                                         col(Attachment.key_id) != keyring.active_key_id)
                .order_by(col(Attachment.id)).limit(batch).with_for_update()).scalars())
            for row in rows:
                _same_store(row, store)
                store.replace(session, row.storage_key,
                              reseal(keyring, row.storage_key, store.get(session, row.storage_key)))
                row.key_id = keyring.active_key_id
                session.add(row)
            session.flush()
        if not rows:
            return moved
        moved += len(rows)
        last = rows[-1].id or 0


def erase_case(session: Session, store: BlobStore, case: Case) -> int:
    """Retention: remove every attachment of a case, its row and its bytes. Returns how many."""
    rows = list(session.execute(select(Attachment).where(col(Attachment.case_id) == case.id)).scalars())
    for row in rows:
        _same_store(row, store)
        store.delete(session, row.storage_key)
        session.delete(row)
    session.flush()
    return len(rows)


__all__ = ["AttachmentInfo", "Download", "check_file", "download", "erase_case", "list_attachments",
           "reseal_all", "sealed_keys", "sniff", "upload"]
