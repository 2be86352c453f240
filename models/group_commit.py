"""Group commit on SQLite (`Database.write_batched`, used by intake): the commands that arrive
together share one write transaction, each in its own savepoint.

SQLite has one writer at a time, and every write transaction pays for taking the write lock
(across worker processes) and for a durable commit (`synchronous=FULL`: the WAL is synced to
disk). Under load those dominate a report's time in the lock, and the lock is what every
intake queues on. So, per worker process:

- a report is checked and worked out first (`intake.prepare`, on a read session);
- its write (`intake.apply`) joins the batch waiting to be written;
- a helper thread waits for the write lock (other processes may hold it) while the loop goes
  on preparing the next reports, which join the batch;
- the batch is written in one transaction on the event loop's thread: a savepoint per report,
  so a report that fails (a twin that committed first, say) is rolled back alone and gets its
  own error, while the others go on;
- after the one commit, each report's answer is sent. Nobody is told "received" before the
  commit that makes it durable.

Writing the batch on the event loop, not on a thread, is deliberate: on a thread it would hold
SQLite's write lock while competing for the GIL with the loop preparing the next reports, and
the lock would be held longer. The loop is blocked for the batch only (its reports' statements:
figures in bench/README.md, "Group commit"), never while waiting for the lock.

Not on PostgreSQL: there each report gets its own transaction, as every command does. A batch
would hold the audit trail's head row from its first report to its last, while a later report
waits for a child's advisory lock held by another process that waits for that head row: a
deadlock. PostgreSQL commits concurrent transactions in parallel anyway."""

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlmodel import Session

if TYPE_CHECKING:  # models.db builds one of these per SQLite database
    from models.db import Database

T = TypeVar("T")

# Bounds the time a batch holds the write lock (and the loop), which grows with each report.
MAX_BATCH = 32


class GroupCommit:
    def __init__(self, db: "Database", max_batch: int = MAX_BATCH) -> None:
        self.db = db
        self.max_batch = max_batch
        self._pending: list[tuple[Callable[[Session], Any], asyncio.Future[Any]]] = []
        self._running = False
        self._task: asyncio.Task[None] | None = None  # held: the loop keeps only weak references

    async def write(self, fn: Callable[[Session], T]) -> T:
        """Run `fn` in the next batch's transaction; its result once that has committed."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((fn, future))
        if not self._running:
            self._running = True
            self._task = asyncio.ensure_future(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        lock = self.db.write_lock
        try:
            while self._pending:
                # Wait for the write lock on a helper thread, not on the loop: meanwhile this
                # process goes on reading and checking the next reports, which join the batch.
                if lock is not None:
                    acquiring = loop.run_in_executor(None, lock.acquire)
                    try:
                        await asyncio.shield(acquiring)
                    except asyncio.CancelledError:  # shutting down: give the lock back once held
                        acquiring.add_done_callback(lambda _: lock.release())
                        raise
                try:
                    batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
                    self._write(batch)
                finally:
                    if lock is not None:
                        lock.release()
        finally:
            self._running = False

    def _write(self, batch: list[tuple[Callable[[Session], Any], asyncio.Future[Any]]]) -> None:
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        try:
            with self.db.transaction() as session:
                for fn, future in batch:
                    if len(batch) == 1:  # its own transaction: no savepoint needed
                        outcomes.append((future, fn(session), None))
                        continue
                    savepoint = session.begin_nested()
                    try:
                        result = fn(session)
                        savepoint.commit()
                    except Exception as exc:  # this report alone is rolled back
                        savepoint.rollback()
                        outcomes.append((future, None, exc))
                    else:
                        outcomes.append((future, result, None))
        except Exception as exc:  # the commit failed (or a lone report did): nothing was written
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for future, result, error in outcomes:
            if future.done():  # the client went away
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)


__all__ = ["GroupCommit"]
