"""Engines and sessions.

SQLite (the embedded default) is opened in WAL mode with `synchronous=FULL`: in WAL mode
`NORMAL` may lose the last commits on a power cut, and an acknowledged report must survive
one. Write transactions start with `BEGIN IMMEDIATE` so that two writers queue on the
database lock (with a busy timeout) instead of failing when a read lock cannot be upgraded;
reads use a second engine whose transactions stay deferred, so they never wait on writers.
"""

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlmodel import Session

from models.group_commit import GroupCommit

T = TypeVar("T")

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


class WriterLock:
    """One writer at a time on a SQLite file, across threads and across processes.

    SQLite lets one transaction write at a time; the others wait in its busy handler, which
    polls with sleeps of up to 100 ms and keeps no order, so under load a writer can lose the
    race again and again (multi-second tails). Threads of this process queue on a lock; then
    processes (`kipthoi serve --workers N`) queue on an advisory `flock` on a file beside the
    database, which the kernel hands to the next waiter as soon as it is released. SQLite's own
    lock stays the rule: a writer that does not take this lock (another tool) still meets the
    busy timeout."""

    def __init__(self, lock_path: str | None) -> None:
        self._thread = threading.Lock()
        self._fd: int | None = None
        if lock_path is not None:
            try:
                import fcntl  # noqa: F401  (POSIX only)

                self._fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            except (ImportError, OSError):
                self._fd = None  # no file lock: threads still queue, processes use busy_timeout

    def acquire(self) -> None:
        self._thread.acquire()
        if self._fd is not None:
            import fcntl

            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            except BaseException:
                self._thread.release()
                raise

    def release(self) -> None:
        """May be called from another thread than `acquire` (models/group_commit.py waits for the
        lock on a helper thread and writes on the event loop's)."""
        try:
            if self._fd is not None:
                import fcntl

                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread.release()

    def __enter__(self) -> None:
        self.acquire()

    def __exit__(self, *_: object) -> None:
        self.release()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def sqlite_file(url: str) -> str | None:
    """The database file of a SQLite URL; None for an in-memory database."""
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    return None if not database or database == ":memory:" or database.startswith("file:") else database


@dataclass(frozen=True)
class Database:
    """The write engine and the read engine of one database (the same engine on PostgreSQL)."""

    url: str
    writer: Engine
    reader: Engine
    # SQLite takes one writer at a time anyway: writers queue here instead of polling SQLite's
    # busy handler (see WriterLock). None on PostgreSQL, whose row locks do the queueing.
    _write_lock: WriterLock | None = None
    # SQLite's group commit, made on first use (it lives on the event loop of its callers).
    _group: list[GroupCommit] = field(default_factory=list, repr=False, compare=False)

    @property
    def is_sqlite(self) -> bool:
        return self.writer.dialect.name == "sqlite"

    @property
    def write_lock(self) -> WriterLock | None:
        """What `write` queues on (SQLite); None on PostgreSQL."""
        return self._write_lock

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One command's transaction: commit on success, roll back on any error."""
        with self._write_lock if self._write_lock is not None else nullcontext(), self.transaction() as session:
            yield session

    async def write_batched(self, fn: Callable[[Session], T]) -> T:
        """`fn` in a write transaction, for a caller on the event loop. On SQLite the commands
        that arrive together share one transaction, each in its own savepoint: one write lock
        and one durable commit for the group (models/group_commit.py); on PostgreSQL each has
        its own transaction, as with `write`. Either way `fn`'s result comes back only once its
        writes are committed, and a failing `fn` is rolled back alone."""
        if not self.is_sqlite:
            with self.write() as session:
                return fn(session)
        if not self._group:
            self._group.append(GroupCommit(self))
        return await self._group[0].write(fn)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction for a caller that holds `write_lock` already."""
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
        if self._write_lock is not None:
            self._write_lock.close()
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()


def open_database(url: str, *, echo: bool = False) -> Database:
    writer = _make(url, immediate=True, echo=echo)
    if not url.startswith("sqlite"):
        return Database(url=url, writer=writer, reader=writer)
    reader = _make(url, immediate=False, echo=echo)
    path = sqlite_file(url)
    return Database(url=url, writer=writer, reader=reader,
                    _write_lock=WriterLock(path + ".writelock" if path else None))


__all__ = ["Database", "open_database"]
