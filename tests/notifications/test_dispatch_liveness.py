"""A dispatcher that dies, or loses its database, while sending: the real `kipthoi scheduler`
process killed with SIGKILL mid-send against the wire-level Twilio fake, a surviving dispatcher
taking its claims over at once (not after the two-minute lease), and a connection lost between
Twilio's answer and the recording of it (a TCP proxy in front of PostgreSQL, cut)."""

import contextlib
import os
import select as selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from flows.jobs import Dispatcher
from models import Database, Official, OutboxMessage, open_database
from models import Dispatcher as DispatcherRow
from notifications.dispatch import DispatchReport
from notifications.outbox import enqueue_sms
from notifications.providers import TwilioConfig, TwilioProvider
from states.kernel.clock import SystemClock
from states.kernel.commune import CommunePolicy
from tests import dbs
from tests.conftest import Commune
from tests.fakes.twilio_server import FakeTwilio

ROOT = Path(__file__).resolve().parents[2]
SENDER = "+15005550006"


@dataclass
class GatedTwilio(FakeTwilio):
    """The fake, holding the `hold_at`-th request (1-based) until the gate opens, or running a
    hook before answering it: a send that is in flight at the moment of our choosing."""

    hold_at: int = 0
    on_request: Callable[[int], None] | None = None
    held: threading.Event = field(default_factory=threading.Event)
    gate: threading.Event = field(default_factory=threading.Event)

    def _next(self) -> str:
        n = len(self.requests)
        if n == self.hold_at:
            self.held.set()
            self.gate.wait(30)
        if self.on_request is not None:
            self.on_request(n)
        return super()._next()


@pytest.fixture
def fake() -> Iterator[GatedTwilio]:
    server = GatedTwilio()
    server.start()
    yield server
    server.gate.set()
    server.stop()


def enqueue(db: Database, official_ids: list[int], n: int, now: datetime) -> None:
    with db.write() as s:
        officials = [s.get(Official, i) for i in official_ids]
        for i in range(n):
            official = officials[i % len(officials)]
            assert official is not None
            enqueue_sms(s, CommunePolicy(match_secret=b"test-secret").notify, dedupe_key=f"live:{i}", official=official,
                        template="new_report", now=now, code=f"NH-2026-{i:06d}", due="17:00 02/03")


def outbox(db: Database) -> list[OutboxMessage]:
    with db.read() as s:
        rows = list(s.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars())
        s.expunge_all()
        return rows


def dispatcher_rows(db: Database) -> list[DispatcherRow]:
    with db.read() as s:
        rows = list(s.execute(select(DispatcherRow).order_by(DispatcherRow.id)).scalars())
        s.expunge_all()
        return rows


def wait_for(what: Callable[[], bool], seconds: float, explain: Callable[[], str]) -> None:
    deadline = time.monotonic() + seconds
    while not what():
        assert time.monotonic() < deadline, explain()
        time.sleep(0.05)


def start_scheduler(db: Database, fake: FakeTwilio, tmp_path: Path, name: str) -> subprocess.Popen[bytes]:
    """`kipthoi scheduler` as deployed: the embedded scheduler alone, sending through Twilio."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIPTHOI_")}
    env.update({"KIPTHOI_DB__URL": db.url, "KIPTHOI_SECURITY__SECRET": "liveness-test-secret-" + "x" * 32,
                "KIPTHOI_SMS__TWILIO_ACCOUNT_SID": fake.account_sid,
                "KIPTHOI_SMS__TWILIO_AUTH_TOKEN": fake.auth_token, "KIPTHOI_SMS__TWILIO_FROM": SENDER,
                "KIPTHOI_SMS__TWILIO_BASE_URL": fake.base_url, "KIPTHOI_SCHEDULER__TICK_SECONDS": "0.5",
                "KIPTHOI_SMS__TIMEOUT_SECONDS": "40",  # the held send must outlast the test's wait
                "PYTHONPATH": str(ROOT)})
    log = (tmp_path / f"{name}.log").open("wb")
    return subprocess.Popen([sys.executable, "-m", "kipthoi.cli", "scheduler"], cwd=tmp_path, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
    process.wait(timeout=20)


def test_kill_9_mid_send_repeats_only_the_message_in_flight_and_the_survivor_sends_the_rest_at_once(
        db: Database, commune: Commune, fake: GatedTwilio, tmp_path: Path) -> None:
    """Dispatcher A claims every message and is killed (SIGKILL) while Twilio holds its first
    send. Dispatcher B, alive all along, sends the rest within a tick or two — not when A's
    claims' lease runs out two minutes later — and repeats only the message A had in flight."""
    messages = 12
    enqueue(db, list(commune.officials.values()), messages, datetime.now(UTC))
    fake.hold_at = 1
    logs = lambda: "\n".join(p.read_text(errors="replace") for p in tmp_path.glob("*.log"))  # noqa: E731
    a = start_scheduler(db, fake, tmp_path, "a")
    b: subprocess.Popen[bytes] | None = None
    try:
        assert fake.held.wait(25), logs()
        assert {r.status for r in outbox(db)} == {"sending"}  # A claimed the whole batch
        b = start_scheduler(db, fake, tmp_path, "b")
        wait_for(lambda: b"scheduler running" in (tmp_path / "b.log").read_bytes(), 20, logs)
        time.sleep(1.5)  # B has been through its claims a few times: A is alive, B takes nothing
        assert len(fake.requests) == 1 and {r.status for r in outbox(db)} == {"sending"}
        killed_at = time.time()
        os.killpg(a.pid, signal.SIGKILL)
        a.wait(timeout=10)
        fake.gate.set()  # the held request was received: to Twilio the message has gone out
        wait_for(lambda: len({r.form["Body"] for r in fake.requests}) == messages, 15, logs)
        wait_for(lambda: {r.status for r in outbox(db)} == {"sent"}, 10, logs)
    finally:
        fake.gate.set()
        stop(a, signal.SIGKILL)
        if b is not None:
            stop(b)
    first = {}
    for r in fake.requests:
        first.setdefault(r.form["Body"], r.at)
    delay = max(first.values()) - killed_at
    assert delay < 5.0, delay  # with the lease alone: about 118 s
    repeats = Counter(r.form["Body"] for r in fake.requests)
    in_flight = fake.requests[0].form["Body"]
    assert repeats[in_flight] == 2  # at most one repeat per message per crash: this one
    assert all(count == 1 for body, count in repeats.items() if body != in_flight), repeats
    a_row = dispatcher_rows(db)[0]
    assert a_row.pid == a.pid and a_row.ended_at is not None  # found dead, buried by B
    assert {r.claimed_by for r in outbox(db)} == {None}


def test_a_live_dispatchers_claims_are_not_taken(db: Database, commune: Commune, fake: GatedTwilio) -> None:
    """The other side of taking over at once: a dispatcher slow in a send is alive, and its
    claims stay its own (until their lease), so nothing goes out twice."""
    enqueue(db, list(commune.officials.values()), 5, datetime.now(UTC))
    fake.hold_at = 1
    policy = CommunePolicy(match_secret=b"test-secret")
    sms = TwilioProvider(TwilioConfig(account_sid=fake.account_sid, auth_token=fake.auth_token,
                                      from_number=SENDER, base_url=fake.base_url))
    slow = Dispatcher(db=db, clock=SystemClock(), policy=policy, sms=sms)
    other = Dispatcher(db=db, clock=SystemClock(), policy=policy, sms=sms)
    result: list[DispatchReport] = []
    thread = threading.Thread(target=lambda: result.append(slow.run()))
    thread.start()
    try:
        assert fake.held.wait(10)
        assert other.run().claimed == 0
    finally:
        fake.gate.set()
        thread.join(30)
    assert result[0].sent == 5 and len(fake.requests) == 5
    assert other.run().claimed == 0
    slow.close()
    other.close()
    assert all(d.ended_at is not None for d in dispatcher_rows(db))


class CuttableProxy:
    """A TCP relay to PostgreSQL that can drop every connection and refuse new ones for a while:
    the network between us and the database going away, as seen from our side."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.refuse_until = 0.0
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if time.monotonic() < self.refuse_until:
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            with self.lock:
                self.pairs.append((client, server))
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                ready, _, _ = selectors.select([a, b], [], [], 1.0)
                for src in ready:
                    data = src.recv(65536)
                    if not data:
                        return
                    (b if src is a else a).sendall(data)
        except OSError:
            return
        finally:
            for s in (a, b):
                s.close()

    def cut(self, seconds: float) -> None:
        self.refuse_until = time.monotonic() + seconds
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for s in pair:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.closed = True
        self.listener.close()
        self.cut(0)


@pytest.mark.skipif(not dbs.IS_PG, reason="a lost connection to a database server: PostgreSQL")
def test_a_connection_lost_before_a_result_is_recorded_neither_aborts_the_run_nor_repeats(
        db: Database, commune: Commune, fake: GatedTwilio) -> None:
    """Twilio accepts message 2; before the dispatcher can record that, every connection to
    PostgreSQL drops and new ones are refused for 1.5 s. The result is recorded on a fresh
    connection once the database is back, the dispatcher takes its lock again, and the rest of
    the batch goes out in the same run, each message once."""
    url = make_url(db.url)
    proxy = CuttableProxy(url.host or "127.0.0.1", url.port or 5432)
    proxied = open_database(url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
    messages = 6
    enqueue(db, list(commune.officials.values()), messages, datetime.now(UTC))
    fake.on_request = lambda n: proxy.cut(1.5) if n == 2 else None
    sms = TwilioProvider(TwilioConfig(account_sid=fake.account_sid, auth_token=fake.auth_token,
                                      from_number=SENDER, base_url=fake.base_url))
    d = Dispatcher(db=proxied, clock=SystemClock(), policy=CommunePolicy(match_secret=b"test-secret"), sms=sms)
    try:
        report = d.run()
        d.close()
    finally:
        proxied.dispose()
        proxy.close()
    assert (report.sent, report.stopped) == (messages, False)
    assert len(fake.requests) == messages and len({r.form["Body"] for r in fake.requests}) == messages
    assert {(r.status, r.attempts) for r in outbox(db)} == {("sent", 1)}
