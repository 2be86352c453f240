"""Distributed mode, end to end: a real `prefect server start`, the repository's `prefect.yaml`
deployed with `prefect deploy --all`, a process worker polling `kipthoi-process`, and a run of
`deadline-sweep/deadline-sweep` triggered from the CLI that raises the alert in the test
database, then a run of `dispatch-notifications/dispatch-notifications` that sends it.

Everything Prefect keeps (its SQLite database, profiles) lives in a temporary PREFECT_HOME. The
worker runs outside the repository, so the deployment's pull step (`set_working_directory` to
`$KIPTHOI_HOME`) is what lets the flow find its code. The server runs without its scheduler so
the only runs are the ones this test triggers."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import TypeAdapter
from sqlalchemy import func, select

from models import Alert, Case, Database, Deadline, OutboxMessage
from models.enums import Role
from states.intake import opening as intake
from states.intake.report_data import AnyReport
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from tests.conftest import Commune, staff_report

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PREFECT = [sys.executable, "-m", "prefect"]
POOL = "kipthoi-process"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


class Processes:
    """The long-running processes this test starts, each in its own process group."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.env = folder, env
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, args: list[str], cwd: Path) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("wb")
        proc = subprocess.Popen([*PREFECT, *args], cwd=cwd, env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.started.append((name, proc))
        return proc

    def log(self, name: str) -> str:
        return _tail(self.folder / f"{name}.log")

    def stop_all(self) -> None:
        for _, proc in reversed(self.started):  # the worker first, then the server
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _, proc in reversed(self.started):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@pytest.fixture
def prefect_env(db: Database, tmp_path: Path) -> dict[str, str]:
    port = _free_port()
    home = tmp_path / "prefect-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "KIPTHOI_"))}
    env.update({
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "COLUMNS": "200",
        "KIPTHOI_HOME": str(REPO),
        "KIPTHOI_DB__URL": db.url,
    })
    return env


@pytest.fixture
def processes(prefect_env: dict[str, str], tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path, prefect_env)
    try:
        yield procs
    finally:
        procs.stop_all()


def _cli(env: dict[str, str], *args: str, cwd: Path, timeout: float = 90) -> str:
    result = subprocess.run([*PREFECT, *args], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"prefect {' '.join(args)} exited {result.returncode}:\n{output[-4000:]}"
    return output


def _wait_healthy(procs: Processes, server: subprocess.Popen[bytes], api: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, f"prefect server exited:\n{procs.log('server')}"
        try:
            with urllib.request.urlopen(f"{api}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"prefect server not healthy after {timeout}s:\n{procs.log('server')}")


def _count(db: Database, model: type, *where: object) -> int:
    with db.read() as s:
        return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()  # type: ignore[arg-type]


def test_deployed_flows_run_by_a_process_worker_raise_and_send_the_alert(
        db: Database, commune: Commune, policy: CommunePolicy, prefect_env: dict[str, str],
        processes: Processes, tmp_path: Path) -> None:
    # A report received 13 h ago: its 12-hour initial assessment is overdue.
    report = TypeAdapter(AnyReport).validate_python(
        staff_report(received_at=(datetime.now(UTC) - timedelta(hours=13)).isoformat()))
    with db.write() as s:
        code = intake.submit_report(s, FrozenClock(datetime.now(UTC)), commune.actors[Role.INTAKE_OPERATOR],
                                    policy, report).response["case_code"]
        case_id = s.execute(select(Case.id).where(Case.code == code)).scalar_one()
    assert _count(db, Alert) == 0

    env = prefect_env
    server = processes.start("server", ["server", "start", "--host", "127.0.0.1", "--port",
                                        env["PREFECT_SERVER_API_PORT"], "--no-ui", "--no-scheduler",
                                        "--analytics-off"], cwd=tmp_path)
    _wait_healthy(processes, server, env["PREFECT_API_URL"])

    _cli(env, "work-pool", "create", POOL, "--type", "process", cwd=tmp_path)
    deployed = _cli(env, "--no-prompt", "deploy", "--all", cwd=REPO)
    assert "deadline-sweep/deadline-sweep" in deployed and "dispatch-notifications/dispatch-notifications" in deployed

    workdir = tmp_path / "worker"  # not the repository: the pull step must take the run there
    workdir.mkdir()
    worker = processes.start("worker", ["worker", "start", "--pool", POOL, "--type", "process"], cwd=workdir)

    def run(deployment: str) -> str:
        try:
            out = _cli(env, "deployment", "run", deployment, "--watch", "--watch-timeout", "60",
                       cwd=tmp_path, timeout=90)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- worker ---\n{processes.log('worker')}") from None
        assert worker.poll() is None, f"worker exited:\n{processes.log('worker')}"
        assert "Flow run finished successfully in 'Completed'" in out, out
        return out

    run("deadline-sweep/deadline-sweep")
    with db.read() as s:
        alerts = s.execute(select(Alert.id, Alert.kind, Alert.level).join(Deadline, Deadline.id == Alert.deadline_id)
                           .where(Deadline.case_id == case_id, Deadline.kind == "initial_assessment")).all()
        assert [tuple(a[1:]) for a in alerts] == [("overdue", "worker")]
        messages = s.execute(select(OutboxMessage.official_id, OutboxMessage.status)
                             .where(OutboxMessage.alert_id == alerts[0][0])).all()
    assert [tuple(m) for m in messages] == [(commune.officials[Role.CASE_WORKER], "pending")]
    assert _count(db, Alert) == 1

    run("dispatch-notifications/dispatch-notifications")
    with db.read() as s:
        status, provider_id = s.execute(select(OutboxMessage.status, OutboxMessage.provider_id)
                                        .where(OutboxMessage.alert_id == alerts[0][0])).one()
    assert status == "sent" and provider_id is not None and provider_id.startswith("console-")
    assert _count(db, OutboxMessage, OutboxMessage.status != "sent") == 0
