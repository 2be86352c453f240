"""Where the bytes of evidence attachments live, behind one seam (`BlobStore`).

A store only ever holds sealed bytes: `seal` encrypts a file under the data keyring
(AES-256-GCM, models/crypto.py) before any store sees it, with the blob's key as associated
data, so a file copied under another key (or another attachment's row) fails to open instead
of being served as something it is not. A store that replaces these two (an object store) gets
ciphertext and keys, never a file name or a case code.

Two stores:
- `DatabaseStore` (the default): a row of `evidence_blob` written in the caller's transaction,
  so a file and its attachment row commit or vanish together, and a backup of the database
  is a backup of the evidence.
- `DirectoryStore`: one file per blob under a directory (`KIPTHOI_EVIDENCE__DIR`). A file is
  written (and fsynced) before the transaction commits, and removed again if it rolls back; a
  deletion waits for the commit, so a transaction that fails never loses a file still named
  by a row.
"""

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from sqlalchemy import LargeBinary, delete, event, select, update
from sqlmodel import Field, Session, SQLModel, col

from models import crypto

KEY = re.compile(r"^[0-9a-f]{32}$")


class BlobMissing(Exception):
    """A row names a blob the store does not hold (deleted, or another store configured)."""


class EvidenceBlob(SQLModel, table=True):
    __tablename__ = "evidence_blob"
    key: str = Field(primary_key=True, max_length=64)
    data: bytes = Field(sa_type=LargeBinary)


def _context(key: str) -> str:
    return f"evidence_blob:{key}"


def seal(key: str, plaintext: bytes) -> bytes:
    return crypto.current().seal(plaintext, _context(key))


def unseal(key: str, sealed: bytes) -> bytes:
    return crypto.current().unseal(sealed, _context(key))


def reseal(keyring: crypto.Keyring, key: str, sealed: bytes) -> bytes:
    """The same bytes sealed again under the keyring's active key (key rotation)."""
    return keyring.seal(keyring.unseal(sealed, _context(key)), _context(key))


def sealed_key_id(sealed: bytes) -> str:
    """The key id a sealed blob names (`v1.<key id>.`)."""
    end = sealed.find(b".", len(crypto.PREFIX), len(crypto.PREFIX) + 18)
    return sealed[len(crypto.PREFIX):end].decode("ascii") if end > 0 else ""


def _check(key: str) -> str:
    if not KEY.match(key):
        raise ValueError("a blob key is 32 lowercase hex digits")
    return key


class BlobStore(Protocol):
    """Sealed bytes by key. Every call runs inside the caller's transaction (`session`)."""

    name: str

    def put(self, session: Session, key: str, sealed: bytes) -> None: ...

    def get(self, session: Session, key: str) -> bytes: ...

    def delete(self, session: Session, key: str) -> None: ...

    def replace(self, session: Session, key: str, sealed: bytes) -> None:
        """Overwrite a blob with the same bytes sealed anew (key rotation): either content
        opens while both keys are held, so it need not wait for the commit."""
        ...


class DatabaseStore:
    name = "database"

    def put(self, session: Session, key: str, sealed: bytes) -> None:
        session.add(EvidenceBlob(key=_check(key), data=sealed))
        session.flush()

    def get(self, session: Session, key: str) -> bytes:
        data = session.execute(select(col(EvidenceBlob.data)).where(col(EvidenceBlob.key) == _check(key))
                               ).scalar_one_or_none()
        if data is None:
            raise BlobMissing(key)
        return bytes(data)

    def delete(self, session: Session, key: str) -> None:
        session.execute(delete(EvidenceBlob).where(col(EvidenceBlob.key) == _check(key)))

    def replace(self, session: Session, key: str, sealed: bytes) -> None:
        session.execute(update(EvidenceBlob).where(col(EvidenceBlob.key) == _check(key)).values(data=sealed))


def _after(session: Session, outcome: str, action: Callable[[], None]) -> None:
    """Run `action` once the session's transaction ends with `outcome` (commit or rollback)."""

    def run(*_: object) -> None:
        action()

    event.listen(session, outcome, run, once=True)


class DirectoryStore:
    name = "directory"

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        return self.directory / _check(key)[:2] / key

    def put(self, session: Session, key: str, sealed: bytes) -> None:
        path = self._write(key, sealed)
        _after(session, "after_rollback", lambda: path.unlink(missing_ok=True))

    def replace(self, session: Session, key: str, sealed: bytes) -> None:
        self._write(key, sealed)

    def _write(self, key: str, sealed: bytes) -> Path:
        """Atomically (a temporary file renamed over), and on disk before returning."""
        path = self._path(key)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = path.with_suffix(".part")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(sealed)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, path)
            _fsync_dir(path.parent)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return path

    def get(self, session: Session, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise BlobMissing(key) from None

    def delete(self, session: Session, key: str) -> None:
        path = self._path(key)
        _after(session, "after_commit", lambda: path.unlink(missing_ok=True))


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["BlobMissing", "BlobStore", "DatabaseStore", "DirectoryStore", "EvidenceBlob", "reseal", "seal",
           "sealed_key_id", "unseal"]
