"""Engines and sessions.

SQLite (the embedded default) is opened in WAL mode with `synchronous=FULL`: in WAL mode
`NORMAL` may lose the last commits on a power cut, and an acknowledged report must survive
one. Write transactions start with `BEGIN IMMEDIATE` so that two writers queue on the
database lock (with a busy timeout) instead of failing when a read lock cannot be upgraded;
reads use a second engine whose transactions stay deferred, so they never wait on writers.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlmodel import Session

SQLITE_BUSY_TIMEOUT_MS = 10_000


def _sqlite_pragmas(immediate: bool) -> tuple[Any, Any]:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        # Overwrite deleted content: plaintext replaced by `keys rotate` or erased by retention
        # must not linger in free pages of the file.
        cur.execute("PRAGMA secure_delete=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.close()

    def on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return on_connect, on_begin


def _make(url: str, *, immediate: bool, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=16,
            max_overflow=16,
        )
        on_connect, on_begin = _sqlite_pragmas(immediate)
        event.listen(engine, "connect", on_connect)
        event.listen(engine, "begin", on_begin)
        return engine
    return create_engine(url, echo=echo, pool_size=16, max_overflow=16, pool_pre_ping=True)


@dataclass(frozen=True)
class Database:
    """The write engine and the read engine of one database (the same engine on PostgreSQL)."""

    url: str
    writer: Engine
    reader: Engine
    # SQLite takes one writer at a time anyway. Queueing this process's writers on a lock,
    # instead of letting them poll SQLite's busy handler (sleeps of up to 100 ms, no order),
    # turns multi-second tails into a short queue. Other processes still meet the busy timeout.
    _write_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def is_sqlite(self) -> bool:
        return self.writer.dialect.name == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One command's transaction: commit on success, roll back on any error."""
        with self._write_lock if self.is_sqlite else nullcontext():
            with Session(self.writer, expire_on_commit=False) as session:
                try:
                    yield session
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session. Closing (not rolling back) keeps loaded rows usable after."""
        with Session(self.reader, expire_on_commit=False) as session:
            yield session

    def dispose(self) -> None:
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()


def open_database(url: str, *, echo: bool = False) -> Database:
    writer = _make(url, immediate=True, echo=echo)
    reader = _make(url, immediate=False, echo=echo) if url.startswith("sqlite") else writer
    return Database(url=url, writer=writer, reader=reader)


__all__ = ["Database", "open_database"]
