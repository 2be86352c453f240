"""`kipthoi serve --workers 2`: two processes share one database; every report sent to either
is received exactly once, and the audit chain stays whole (on SQLite, the writers of the two
processes queue on the file lock beside the database)."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select

from models import Case, Database
from models.enums import Role
from states.audit import chain as audit
from states.kernel.clock import LOCAL_TZ
from tests.conftest import SECRETS_FILE_ENV, Commune, hotline_report

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_worker_processes_receive_every_report_once(db: Database, commune: Commune,
                                                        tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIPTHOI_")}
    env.update({"KIPTHOI_DB__URL": db.url, "KIPTHOI_SMS__PROVIDER": "console",
                "KIPTHOI_SCHEDULER__MODE": "off", **SECRETS_FILE_ENV})
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "kipthoi.cli", "serve", "--workers", "2",
                               "--port", str(port)], cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)

        headers = commune.headers(Role.HOTLINE)
        # Received now, not at the test clock's T0: the server runs on the real clock.
        received = (datetime.now(LOCAL_TZ) - timedelta(minutes=5)).isoformat()

        def send(i: int) -> tuple[int, str]:
            body = hotline_report(f"111-W-{i}", received_at=received,
                                  child={"full_name": f"Trẻ Tiến Trình {i}", "sex": "male"})
            with httpx.Client(base_url=base, timeout=30) as client:
                r = client.post("/reports", json=body, headers=headers)
                again = client.post("/reports", json=body, headers=headers)  # a resend: replayed
                assert again.status_code == 200 and again.json() == r.json(), again.text
                return r.status_code, r.json().get("case_code", r.text)

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(send, range(40)))
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=30)
        log.close()

    assert all(status == 201 for status, _ in answers), answers
    assert len({code for _, code in answers}) == 40
    started = re.findall(r"Started server process \[(\d+)\]", (tmp_path / "serve.log").read_text())
    assert len(set(started)) == 2, (tmp_path / "serve.log").read_text()
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(Case)).scalar_one() == 40
        verdict = audit.verify(s)
    assert verdict.ok, verdict
