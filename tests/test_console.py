"""Issue 13, item 2: the console of `kipthoi serve` is worth reading — one banner on start, then
INFO only when something happens; an idle service with its real scheduler says nothing for a
minute (the scheduler's ticks and job runs are DEBUG, and so shown only at --log-level debug)."""

import re
import time
from pathlib import Path

import httpx
import pytest

from models import Database
from tests.browser.conftest import server_env, start_kipthoi

IDLE_SECONDS = 60


def _wait_for(server_log: Path, pattern: str, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(re.findall(pattern, server_log.read_text())) < count:
        assert time.monotonic() < deadline, server_log.read_text()
        time.sleep(0.2)


@pytest.mark.slow
def test_an_idle_serve_writes_no_info_line_for_a_minute(db: Database, tmp_path: Path) -> None:
    env = server_env(db.url, tmp_path, KIPTHOI_SCHEDULER__MODE="embedded")
    with start_kipthoi(env, tmp_path) as quiet, start_kipthoi(env, tmp_path, "--log-level", "debug",
                                                             "--workers", "1") as chatty:
        start = quiet.log_text()
        banner = re.search(r"^  workers    (\d+) process", start, re.MULTILINE)
        assert banner is not None, start
        workers = int(banner.group(1))
        # Each worker process says it started (a line worth having: uvicorn restarts dead ones).
        _wait_for(quiet.log, r"INFO uvicorn\.error Started server process", workers)
        assert f"url        {quiet.base_url}" in start
        assert re.search(r"^  database   (SQLite /|postgresql\+psycopg://)", start, re.MULTILINE), start
        assert "scheduler  embedded, in this process" in start and "sms        console" in start
        assert "secrets    " in start and "kipthoi.secrets.json" in start  # development, generated
        assert "log        info; access log off" in start
        before = len(quiet.log_text())

        assert httpx.get(quiet.url("/health")).status_code == 200  # no access log line in development
        time.sleep(IDLE_SECONDS)
        after = quiet.log_text()[before:]
        debug = chatty.log_text()

    assert [line for line in after.splitlines() if " INFO " in line] == [], after
    assert not re.search(r" (WARNING|ERROR) ", after), after
    # The same ticks are there at debug, demoted from APScheduler's INFO.
    assert re.search(r" DEBUG apscheduler\.executors\.default Running job \"EmbeddedScheduler\.sweep_once",
                     debug), debug
    assert not re.search(r" INFO apscheduler", debug)
