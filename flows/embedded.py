"""The embedded scheduler: APScheduler inside `kipthoi serve`, running the same jobs as the
Prefect deployments. A short tick sweeps and dispatches; a one-off job is also set for the next
`next_alert_at`, so an alert is raised at its time, not up to a tick later.

Run it in exactly one process: with several API workers, use Prefect (`KIPTHOI_SCHEDULER__MODE=prefect`)
or a separate `kipthoi scheduler` process."""

import logging
import threading
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from flows.jobs import Dispatcher, next_wake, run_sweep
from models import Database
from states.clock import Clock
from states.policy import CommunePolicy

log = logging.getLogger(__name__)


class EmbeddedScheduler:
    def __init__(self, db: Database, clock: Clock, policy: CommunePolicy, dispatcher: Dispatcher,
                 tick_seconds: float = 5.0) -> None:
        self.db, self.clock, self.policy, self.dispatcher = db, clock, policy, dispatcher
        self.tick_seconds = tick_seconds
        self._lock = threading.Lock()
        self._scheduler = BackgroundScheduler(timezone=UTC)
        self._wake_at: datetime | None = None

    def start(self) -> None:
        self._scheduler.add_job(self.run_once, "interval", seconds=self.tick_seconds, id="tick",
                                max_instances=1, coalesce=True, next_run_time=datetime.now(UTC))
        self._scheduler.start()

    def shutdown(self) -> None:
        self._scheduler.shutdown(wait=True)

    def run_once(self) -> None:
        """Sweep, dispatch, then set the wake-up for the next alert. One at a time."""
        if not self._lock.acquire(blocking=False):
            return
        try:
            run_sweep(self.db, self.clock, self.policy)
            self.dispatcher.run()
            self._schedule_wake()
        except Exception:  # a failed run must not kill the scheduler; the next tick retries
            log.exception("scheduled run failed")
        finally:
            self._lock.release()

    def _schedule_wake(self) -> None:
        wake = next_wake(self.db)
        if wake is None or wake == self._wake_at:
            return
        self._wake_at = wake
        self._scheduler.add_job(self.run_once, "date", run_date=max(wake, datetime.now(UTC)),
                                id="wake", replace_existing=True, misfire_grace_time=None)
