"""Dispatcher liveness: a claim belongs to a dispatcher that proves it is alive.

A lease alone makes a crash cost the lease (two minutes) for every message the dead dispatcher
had claimed. Instead each dispatcher holds, for its whole life, a lock that the operating system
or the database frees the instant its process dies:

* PostgreSQL: a session-level advisory lock `(namespace, dispatcher id)` on a connection kept
  open for the purpose; a probe is a transaction-level "try" of the same lock in the prober's
  transaction (the SQL is in models/dialect.py, whose namespace includes the schema, so two
  schemas of one database — tests, benchmarks — never meet).
* SQLite: an exclusive `flock` on `<file>.dispatcher-<id>.lock` beside the database. Files are
  created, probed and removed only inside a write transaction (under the write lock), so a probe
  never races a dispatcher that is still taking its lock.

If the probe gets the lock, the owner is gone: its row is marked ended and its claims can be
taken over at once."""

import logging
import os
import socket
import weakref
from contextlib import nullcontext, suppress
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, select, text, update
from sqlmodel import Session, col

from models import Database, Dispatcher
from models.db import sqlite_file
from models.dialect import has_advisory_locks, try_session_lock, try_xact_lock

log = logging.getLogger(__name__)

_NAMESPACE = "kipthoi.dispatcher"
# SQLite in memory has no file to lock beside: its (single-process) dispatchers hold nothing.
_NO_LOCK = "no lock"
# Ended rows are kept a day for whoever investigates a crash, then dropped: one row per process
# (per flow run under Prefect) would otherwise grow the table for ever.
KEEP_ENDED = timedelta(days=1)


def _lock_path(db_file: str, dispatcher_id: int) -> str:
    return f"{db_file}.dispatcher-{dispatcher_id}.lock"


def _try_flock(path: str) -> int | None:
    """An fd holding an exclusive lock on `path`, or None if someone else holds it."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _release(resource: Any) -> None:
    """Free a held lock (an fd or a connection). Also run by the finaliser of an identity that
    was never closed, so it must not touch the database beyond closing."""
    try:
        if isinstance(resource, int):
            os.close(resource)
        elif isinstance(resource, Connection):
            resource.invalidate()  # closes the DBAPI connection: the session lock goes with it
            resource.close()
    except Exception:  # noqa: BLE001 - closing what may be broken already
        log.debug("closing a dispatcher lock failed", exc_info=True)


def probe_dead(session: Session, db: Database, ids: set[int]) -> set[int]:
    """Of these dispatchers, the ones whose lock is free: dead. Call inside a write transaction.
    Without a lock to probe (SQLite in memory) nobody is provably dead and the lease decides."""
    dead: set[int] = set()
    if has_advisory_locks(session):
        conn = session.connection()
        dead = {i for i in ids if try_xact_lock(conn, _NAMESPACE, i)}
    elif (db_file := sqlite_file(db.url)) is not None:
        for i in ids:
            path = _lock_path(db_file, i)
            fd = _try_flock(path)
            if fd is not None:
                dead.add(i)
                os.unlink(path)  # under our flock and the write lock: nobody is taking it now
                os.close(fd)
    return dead


def bury(session: Session, ids: set[int], now: datetime) -> None:
    if ids:
        session.execute(update(Dispatcher).where(col(Dispatcher.id).in_(ids),
                                                 col(Dispatcher.ended_at).is_(None)).values(ended_at=now))


class Identity:
    """One dispatcher's row and the lock that proves it alive. `register`, then `alive()`
    before each send, then `close()`."""

    def __init__(self, db: Database, dispatcher_id: int, resource: Any) -> None:
        self.db, self.id, self._resource = db, dispatcher_id, resource
        self._finalizer = weakref.finalize(self, _release, resource)

    @classmethod
    def register(cls, db: Database, now: datetime) -> "Identity":
        """Insert the row and take its lock in the same transaction: nobody can see the row, so
        nobody can probe it, before the lock is held. Dead dispatchers found on the way are
        buried (and their lock files removed)."""
        for _ in range(5):
            with db.write() as session:
                row = Dispatcher(started_at=now, host=socket.gethostname()[:64], pid=os.getpid())
                session.add(row)
                session.flush()
                assert row.id is not None
                resource = cls._hold(db, row.id)
                if resource is None:  # a stale holder of a reused id (a reset test schema)
                    row.ended_at = now
                    continue
                try:
                    others = set(session.execute(select(col(Dispatcher.id)).where(
                        col(Dispatcher.ended_at).is_(None), col(Dispatcher.id) != row.id)).scalars())
                    bury(session, probe_dead(session, db, {i for i in others if i is not None}), now)
                    session.execute(delete(Dispatcher).where(col(Dispatcher.ended_at) < now - KEEP_ENDED))
                except BaseException:
                    _release(resource)
                    raise
            return cls(db, row.id, resource)
        raise RuntimeError("could not take a dispatcher lock")

    @staticmethod
    def _hold(db: Database, dispatcher_id: int) -> Any:
        if has_advisory_locks(db.writer):
            conn: Connection = db.writer.connect().execution_options(isolation_level="AUTOCOMMIT")
            if try_session_lock(conn, _NAMESPACE, dispatcher_id):
                return conn
            conn.close()
            return None
        db_file = sqlite_file(db.url)
        return _try_flock(_lock_path(db_file, dispatcher_id)) if db_file is not None else _NO_LOCK

    def alive(self) -> bool:
        """Whether this dispatcher still holds its lock. On PostgreSQL the lock lives as long as
        its connection: if that broke, take the lock again on a new one, unless someone found
        us dead meanwhile (then our claims are theirs, and we must stop)."""
        if not isinstance(self._resource, Connection):
            return True  # a flock lasts as long as the process
        try:
            self._resource.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - any failure means the lock may be gone
            _release(self._resource)
        try:
            conn = self.db.writer.connect().execution_options(isolation_level="AUTOCOMMIT")
            held = try_session_lock(conn, _NAMESPACE, self.id) and conn.execute(
                select(col(Dispatcher.ended_at)).where(col(Dispatcher.id) == self.id)).scalar() is None
        except Exception:  # noqa: BLE001 - the database is unreachable: not provably alive
            log.warning("dispatcher %d lost its lock and cannot take it again", self.id)
            self._resource = None
            return False
        if not held:
            log.warning("dispatcher %d was found dead by another; it stops", self.id)
            _release(conn)
            self._resource = None
            return False
        log.info("dispatcher %d took its lock again on a new connection", self.id)
        self._resource = conn
        self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _release, conn)
        return True

    @property
    def lost(self) -> bool:
        return self._resource is None

    def close(self, now: datetime) -> None:
        """Mark the row ended, then let the lock go (in that order: a probe between the two
        finds it held and waits, never a live dispatcher's claims up for grabs)."""
        try:
            with self.db.write() as session:
                bury(session, {self.id}, now)
        finally:
            if isinstance(self._resource, int) and (db_file := sqlite_file(self.db.url)) is not None:
                with self.db.write_lock or nullcontext():
                    with suppress(FileNotFoundError):
                        os.unlink(_lock_path(db_file, self.id))
                    self._finalizer()
            else:
                self._finalizer()
            self._resource = None

