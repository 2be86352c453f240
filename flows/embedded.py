"""The embedded scheduler: APScheduler inside `kipthoi serve`, running the same jobs as the
Prefect deployments.

Sweeping and sending are separate jobs with separate locks, so a backlog of messages (say,
Twilio down and a retry queue building) never delays raising an alert. The sweep runs on a
short tick and is also woken at the next `next_alert_at`, so an alert is raised at its time,
not up to a tick later; a wake that finds a sweep already running asks it to go round again
rather than being lost.

Run it in exactly one process: with several API workers, use Prefect
(`KIPTHOI_SCHEDULER__MODE=prefect`) or a separate `kipthoi scheduler` process."""

import logging
import threading
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from flows.jobs import Dispatcher, next_wake, run_retention, run_sweep
from models import Database
from states.kernel.clock import Clock
from states.kernel.commune import CommunePolicy

log = logging.getLogger(__name__)


class EmbeddedScheduler:
    def __init__(self, db: Database, clock: Clock, policy: CommunePolicy, dispatcher: Dispatcher,
                 tick_seconds: float = 5.0) -> None:
        self.db, self.clock, self.policy, self.dispatcher = db, clock, policy, dispatcher
        self.tick_seconds = tick_seconds
        self._sweep_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._again = threading.Event()
        self._stopping = threading.Event()
        self._scheduler = BackgroundScheduler(timezone=UTC)

    def start(self) -> None:
        now = datetime.now(UTC)
        self._scheduler.add_job(self.sweep_once, "interval", seconds=self.tick_seconds, id="sweep",
                                max_instances=1, coalesce=True, next_run_time=now)
        self._scheduler.add_job(self.send_once, "interval", seconds=self.tick_seconds, id="send",
                                max_instances=1, coalesce=True, next_run_time=now)
        # Retention once a night, in the commune's time, when nobody is working cases.
        self._scheduler.add_job(self.retention_once, "cron", hour=2, minute=30,
                                timezone="Asia/Ho_Chi_Minh", id="retention", max_instances=1,
                                coalesce=True)
        self._scheduler.start()

    def shutdown(self) -> None:
        # APScheduler's shutdown(wait=True) holds its job-store lock while waiting for running
        # jobs; a job that then adds a job would wait on that lock for ever. So: first stop our
        # jobs from adding any (the flag is set under both locks), then shut down.
        with self._sweep_lock, self._send_lock:
            self._stopping.set()
        self._scheduler.shutdown(wait=True)

    def retention_once(self) -> None:
        try:
            run_retention(self.db, self.clock, self.policy)
        except Exception:  # the next night tries again; the scheduler must not die of it
            log.exception("retention run failed")

    def run_once(self) -> None:
        """One sweep and one send, as a tick does (used by tests and `kipthoi sweep`)."""
        self.sweep_once()
        self.send_once()

    def sweep_once(self) -> None:
        if not self._sweep_lock.acquire(blocking=False):
            self._again.set()  # the running sweep goes round once more: no wake is lost
            return
        try:
            while True:
                self._again.clear()
                try:
                    report = run_sweep(self.db, self.clock, self.policy)
                except Exception:  # a failed sweep must not stop the scheduler; the next tick retries
                    log.exception("deadline sweep failed")
                    break
                if report.alerts:
                    self._kick_sender()
                if not self._again.is_set():
                    break
            self._schedule_wake()
        finally:
            self._sweep_lock.release()

    def send_once(self) -> None:
        if not self._send_lock.acquire(blocking=False):
            return
        try:
            self.dispatcher.run()
        except Exception:
            log.exception("dispatch failed")
        finally:
            self._send_lock.release()

    def _kick_sender(self) -> None:
        if self._scheduler.running and not self._stopping.is_set():
            self._scheduler.add_job(self.send_once, "date", run_date=datetime.now(UTC), id="send-now",
                                    replace_existing=True, misfire_grace_time=None)

    def _schedule_wake(self) -> None:
        try:
            wake = next_wake(self.db)
        except Exception:
            log.exception("could not read the next alert time")
            return
        if wake is None or not self._scheduler.running or self._stopping.is_set():
            return
        # Always (re)set the wake job: comparing with the last value loses a wake that fired
        # while a sweep held the lock.
        self._scheduler.add_job(self.sweep_once, "date", run_date=max(wake, datetime.now(UTC)),
                                id="wake", replace_existing=True, misfire_grace_time=None)
