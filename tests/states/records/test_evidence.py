"""Evidence attachments below HTTP (states/records/evidence.py, models/blobs.py).

- The type is decided by the content: JPEG, PNG and PDF pass; a file that only starts like one,
  HTML, an executable, SVG or GIF are refused naming the field and the rule, whatever its name.
- The bytes are sealed before any store sees them: neither the database (raw rows, and on
  SQLite the file and its WAL) nor the blob directory holds the plaintext marker; a sealed blob
  moved under another key does not open.
- The directory store writes before the commit and removes its file when the transaction rolls
  back; a deletion waits for the commit.
- Each download is on the access log, naming the attachment, and among the child's reads.
- Retention removes a closed case's attachments, rows and bytes, in either store.
- Key rotation seals the files again under the active key; `keys status` counts them by key.
"""

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select
from sqlmodel import Session, col

from flows.jobs import run_retention
from models import Attachment, AuditEvent, Case, Database, EvidenceBlob, crypto
from models.blobs import BlobStore, DatabaseStore, DirectoryStore, seal, unseal
from models.enums import Role
from states.access.log import reads_of_child
from states.intake.opening import submit_report
from states.intake.report_data import StaffReport
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from states.kernel.errors import InvalidInput
from states.lifecycle import workflow
from states.lifecycle.triggers import INPUTS
from states.records import evidence, key_rotation
from tests.conftest import Commune, staff_report
from tests.evidence_samples import FAKES, MARKER, jpeg, pdf, png

FIVE_YEARS = timedelta(days=1827)


def open_case(db: Database, clock: FrozenClock, commune: Commune, policy: CommunePolicy,
              name: str = "Trẻ Bằng Chứng") -> str:
    with db.write() as s:
        body = staff_report(child={"full_name": name, "birth_date": "2015-01-02"})
        result = submit_report(s, clock, commune.actors[Role.INTAKE_OPERATOR], policy,
                               StaffReport.model_validate(body))
    return str(result.response["case_code"])


def attach(db: Database, clock: FrozenClock, commune: Commune, store: BlobStore, code: str,
           data: bytes, name: str = "anh.jpg") -> evidence.AttachmentInfo:
    with db.write() as s:
        return evidence.upload(s, clock, commune.actors[Role.HEAD], store, code, kind="photo", data=data,
                               label="Vết bầm ở tay", file_name=name)


def raw_bytes(db: Database) -> bytes:
    """Every value of every table, read with raw SQL, and on SQLite the file and its WAL."""
    out = []
    with db.writer.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.exec_driver_sql(f'SELECT * FROM "{table}"'):
                out += [v if isinstance(v, bytes) else bytes(v) if isinstance(v, memoryview)
                        else str(v).encode() for v in row]
    if db.is_sqlite:
        db.dispose()
        path = Path(db.writer.url.database or "")
        for p in (path, Path(f"{path}-wal")):
            if p.exists():
                out.append(p.read_bytes())
    return b"\n".join(out)


@pytest.mark.parametrize("make,content_type", [(jpeg, "image/jpeg"), (png, "image/png"), (pdf, "application/pdf")])
def test_accepted_types_are_known_by_their_content(make: object, content_type: str) -> None:
    assert callable(make)
    assert evidence.sniff(make()) == content_type
    assert evidence.check_file(make(), 10_000) == content_type


def test_a_phone_photo_with_data_after_its_end_marker_is_still_a_jpeg() -> None:
    # A motion photo: the JPEG, then a short video appended after its end-of-image marker.
    assert evidence.sniff(jpeg() + b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 4096) == "image/jpeg"


@pytest.mark.parametrize("name", list(FAKES))
def test_a_file_that_is_not_what_it_claims_is_refused(name: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        evidence.check_file(FAKES[name], 10_000)
    assert (refused.value.field, refused.value.rule) == ("file", "content_type")
    assert "JPEG, PNG or PDF" in refused.value.message_en


def test_empty_and_oversize_files_are_refused_with_their_rule() -> None:
    with pytest.raises(InvalidInput) as empty:
        evidence.check_file(b"", 100)
    assert (empty.value.field, empty.value.rule) == ("file", "required")
    with pytest.raises(InvalidInput) as big:
        evidence.check_file(pdf() + b" " * 2048, 1024)
    assert (big.value.field, big.value.rule) == ("file", "max_size")


def test_a_sealed_blob_names_its_key_and_does_not_open_under_another() -> None:
    key, other = "a" * 32, "b" * 32
    sealed = seal(key, b"plain QX")
    assert sealed.startswith(b"v1.test1.") and b"plain QX" not in sealed
    assert unseal(key, sealed) == b"plain QX"
    with pytest.raises(crypto.DecryptionFailed):
        unseal(other, sealed)
    with pytest.raises(crypto.DecryptionFailed):
        unseal(key, sealed[:-1] + bytes([sealed[-1] ^ 1]))


def test_database_store_keeps_only_ciphertext_and_reads_back(
        db: Database, clock: FrozenClock, commune: Commune, policy: CommunePolicy) -> None:
    code = open_case(db, clock, commune, policy)
    files = [jpeg(), png(), pdf()]
    infos = [attach(db, clock, commune, DatabaseStore(), code, f) for f in files]
    assert [i.content_type for i in infos] == ["image/jpeg", "image/png", "application/pdf"]
    assert infos[0].sha256 == hashlib.sha256(files[0]).hexdigest() and infos[0].size == len(files[0])
    raw = raw_bytes(db)
    assert b"v1.test1." in raw and code.encode() in raw
    assert MARKER not in raw and "Vết bầm".encode() not in raw and b"anh.jpg" not in raw
    with db.write() as s:
        got = evidence.download(s, clock, commune.actors[Role.HEAD], DatabaseStore(), code, infos[1].id)
    assert got.data == files[1] and got.filename == f"{code}-{infos[1].id}.png"
    assert (got.info.label, got.info.file_name) == ("Vết bầm ở tay", "anh.jpg")


def test_directory_store_keeps_only_ciphertext_and_cleans_up_after_a_rollback(
        db: Database, clock: FrozenClock, commune: Commune, policy: CommunePolicy, tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path / "blobs")
    code = open_case(db, clock, commune, policy)
    info = attach(db, clock, commune, store, code, pdf())
    files = [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
    assert len(files) == 1 and MARKER not in files[0].read_bytes()
    assert files[0].read_bytes().startswith(b"v1.test1.") and files[0].stat().st_mode & 0o077 == 0
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(EvidenceBlob)).scalar_one() == 0
    with db.write() as s:
        assert evidence.download(s, clock, commune.actors[Role.HEAD], store, code, info.id).data == pdf()

    with pytest.raises(RuntimeError, match="rolled back on purpose"), db.write() as s:
        attach_in = evidence.upload(s, clock, commune.actors[Role.HEAD], store, code, kind="scan", data=png())
        assert attach_in.id and len([p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]) == 2
        raise RuntimeError("rolled back on purpose")
    assert [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == files


def test_every_download_is_on_the_access_log_naming_the_attachment(
        db: Database, clock: FrozenClock, commune: Commune, policy: CommunePolicy) -> None:
    code = open_case(db, clock, commune, policy)
    info = attach(db, clock, commune, DatabaseStore(), code, jpeg())
    chair = commune.actors[Role.CHAIR]
    for _ in range(2):
        with db.write() as s:
            evidence.download(s, clock, chair, DatabaseStore(), code, info.id)
    with db.read() as s:
        events = s.execute(select(AuditEvent).where(col(AuditEvent.action) == "case.attachment.downloaded")
                           ).scalars().all()
        child_id = s.execute(select(col(Case.child_id)).where(col(Case.code) == code)).scalar_one()
        reads = reads_of_child(s, child_id)
    assert len(events) == 2 and {e.actor for e in events} == {chair.ref}
    assert all(f'"attachment":{info.id}' in e.after for e in events)
    downloads = [r for r in reads if r["action"] == "case.attachment.downloaded"]
    assert len(downloads) == 2 and downloads[0]["fields"] == [f"attachment:{info.id}"]
    assert downloads[0]["view"] == "content"


def _close(db: Database, clock: FrozenClock, commune: Commune, policy: CommunePolicy, code: str) -> None:
    with db.write() as s:
        workflow.advance(s, clock, commune.actors[Role.CHAIR], code, "close",
                         INPUTS["close"].model_validate({"reason": "not_substantiated"}), 1, policy)


def _count(s: Session, model: type[Attachment] | type[EvidenceBlob]) -> int:
    return int(s.execute(select(func.count()).select_from(model)).scalar_one())


@pytest.mark.parametrize("where", ["database", "directory"])
def test_retention_removes_a_closed_cases_attachments_rows_and_bytes(
        db: Database, clock: FrozenClock, commune: Commune, where: str, tmp_path: Path) -> None:
    store: BlobStore = DatabaseStore() if where == "database" else DirectoryStore(tmp_path / "blobs")
    policy = CommunePolicy(code_prefix="NH", match_secret=b"test-secret", evidence_store=store)
    code = open_case(db, clock, commune, policy)
    kept = open_case(db, clock, commune, policy, name="Trẻ Còn Mở")  # still open: kept
    for c in (code, kept):
        attach(db, clock, commune, store, c, png())
    _close(db, clock, commune, policy, code)
    clock.advance(FIVE_YEARS)
    assert run_retention(db, clock, policy) == [code]
    with db.read() as s:
        left = s.execute(select(Attachment)).scalars().all()
        assert [a.case_id for a in left] == [s.execute(select(col(Case.id)).where(col(Case.code) == kept)).scalar_one()]
        assert _count(s, EvidenceBlob) == (1 if where == "database" else 0)
        after = s.execute(select(col(AuditEvent.after)).where(col(AuditEvent.action) == "case.anonymised")
                          ).scalars().all()
    assert len(after) == 1 and '"attachments":1' in after[0]
    files = [p for p in tmp_path.rglob("*") if p.is_file() and "blobs" in p.parts]
    assert len(files) == (0 if where == "database" else 1) and left[0].storage_key in [p.name for p in files] + (
        [left[0].storage_key] if where == "database" else [])
    with db.write() as s:  # the open case's file still opens
        got = evidence.download(s, clock, commune.actors[Role.HEAD], store, kept, left[0].id or 0)
    assert got.data == png()


def test_an_anonymised_case_takes_no_attachment(
        db: Database, clock: FrozenClock, commune: Commune, policy: CommunePolicy) -> None:
    code = open_case(db, clock, commune, policy)
    _close(db, clock, commune, policy, code)
    clock.advance(FIVE_YEARS)
    run_retention(db, clock, policy)
    with pytest.raises(InvalidInput) as refused:
        attach(db, clock, commune, DatabaseStore(), code, jpeg())
    assert refused.value.rule == "case_not_anonymised"


@pytest.mark.parametrize("where", ["database", "directory"])
def test_key_rotation_seals_the_files_again_under_the_active_key(
        db: Database, clock: FrozenClock, commune: Commune, policy: CommunePolicy, where: str,
        tmp_path: Path, test_keyring: crypto.Keyring) -> None:
    store: BlobStore = DatabaseStore() if where == "database" else DirectoryStore(tmp_path / "blobs")
    code = open_case(db, clock, commune, policy)
    info = attach(db, clock, commune, store, code, jpeg())
    admin = commune.actors[Role.ADMIN]
    with db.read() as s:
        assert key_rotation.status(s, admin, b"i" * 32)[key_rotation.EVIDENCE] == {"test1": 1}
    new = hashlib.sha256(b"kipthoi test data key 2").digest()
    old = hashlib.sha256(b"kipthoi test data key 1").digest()
    both = crypto.Keyring({"test1": old, "test2": new}, "test2")
    crypto.configure(both)
    report = key_rotation.rotate(db, clock, admin, both, b"i" * 32, evidence_store=store)
    assert report.reencrypted[key_rotation.EVIDENCE] == 1
    with db.read() as s:
        assert key_rotation.status(s, admin, b"i" * 32)[key_rotation.EVIDENCE] == {"test2": 1}
    assert key_rotation.rotate(db, clock, admin, both, b"i" * 32, evidence_store=store).reencrypted[
        key_rotation.EVIDENCE] == 0
    crypto.configure(crypto.Keyring({"test2": new}, "test2"))  # the old key is gone: still opens
    with db.write() as s:
        assert evidence.download(s, clock, commune.actors[Role.HEAD], store, code, info.id).data == jpeg()
