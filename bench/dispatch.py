"""Outbox dispatch throughput: how many SMS a second `Dispatcher.run()` hands to Twilio.

For each database (a SQLite file in a temp dir; PostgreSQL in a fresh schema, dropped at the
end) and each number of dispatchers, a fresh database is built with the real migrations, M
pending SMS rows are enqueued (Core executemany, bodies shaped like the alert templates, due
now, valid 4 h), and `Dispatcher(db, SystemClock(), CommunePolicy(...), TwilioProvider(...)).run()`
is called until the outbox is empty. The provider is the real `TwilioProvider` (the `twilio`
client over HTTP) pointed at `tests/fakes/twilio_server.FakeTwilio`, which runs in a child
process by default (as Twilio would be remote: its CPU is not charged to the dispatcher's GIL;
`--fake-in-process` to run it in this process), with TCP_NODELAY set on its sockets (see --nagle:
without it every answer of the fake stalls ~40 ms, an artefact of the fake). With k dispatchers, k
threads each run their own `Dispatcher` with its own provider (its own HTTP connection), as k
worker processes would, except that they share this process's GIL.

A warm-up of 50 messages (connections, statement caches) is sent before the timed run.
Reported per cell: messages sent, messages/s (M / wall time), the share of the wall time spent
inside `sms.send` (HTTP round trip to the fake + the twilio client), and checks: every row
`sent`, the fake got exactly M requests (more would mean a message went out twice).

    .venv/bin/python bench/dispatch.py                          # sqlite x1, postgres x1 and x2
    .venv/bin/python bench/dispatch.py --db sqlite --messages 500
    .venv/bin/python bench/dispatch.py --db postgres --pg-dispatchers 1,2,4 --batch 100

Bounded: --messages is capped at 20000 and each cell at --timeout seconds (default 300).
Timings on a busy machine are noisy.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text
from sqlmodel import col

import models  # noqa: F401  (all tables registered)
from flows.jobs import Dispatcher
from models import Database, OutboxMessage, open_database
from models.migrate import upgrade
from notifications.providers import TwilioConfig, TwilioProvider
from states.kernel.clock import SystemClock
from states.kernel.commune import CommunePolicy

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
FROM_NUMBER = "+15005550006"
STATUS_CALLBACK = "http://127.0.0.1:8000/webhooks/twilio/status"  # as wiring sets it for Twilio
WARMUP = 50
MAX_MESSAGES = 20_000

# --------------------------------------------------------------------------- the fake Twilio

_CHILD = r"""
import socketserver, sys
sys.path.insert(0, sys.argv[1])
if sys.argv[2] == "nodelay":
    socketserver.StreamRequestHandler.disable_nagle_algorithm = True
from tests.fakes.twilio_server import FakeTwilio
fake = FakeTwilio().start()
print(fake.base_url, fake.account_sid, fake.auth_token, flush=True)
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "count":
        with fake._lock:
            bad = sum(1 for r in fake.requests if r.authorization is None)
            print(len(fake.requests), bad, flush=True)
    elif cmd == "reset":
        with fake._lock:
            fake.requests.clear()
        print("ok", flush=True)
    elif cmd == "stop":
        break
fake.stop()
"""


class FakeProcess:
    """FakeTwilio in a child process, driven over its stdin/stdout."""

    def __init__(self, nodelay: bool) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(ROOT), "nodelay" if nodelay else "nagle"],
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if len(line) != 3:
            self.stop()
            raise RuntimeError("the fake Twilio server did not start")
        self.base_url, self.account_sid, self.auth_token = line

    def _ask(self, cmd: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def count(self) -> int:
        return int(self._ask("count").split()[0])

    def reset(self) -> None:
        self._ask("reset")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("stop\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=5)
            except Exception:  # noqa: BLE001
                self.proc.kill()
                self.proc.wait(timeout=5)


class FakeInProcess:
    def __init__(self, nodelay: bool) -> None:
        import socketserver

        if nodelay:
            socketserver.StreamRequestHandler.disable_nagle_algorithm = True
        from tests.fakes.twilio_server import FakeTwilio

        self.fake = FakeTwilio().start()
        self.base_url, self.account_sid, self.auth_token = (self.fake.base_url, self.fake.account_sid,
                                                            self.fake.auth_token)

    def count(self) -> int:
        return len(self.fake.requests)

    def reset(self) -> None:
        self.fake.requests.clear()

    def stop(self) -> None:
        self.fake.stop()


# --------------------------------------------------------------------------- databases

from _shared import pg_admin as _pg_admin


def open_target(kind: str, pg_url: str) -> tuple[Database, Any]:
    if kind == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="kipthoi-dispatch-"))
        db = open_database(f"sqlite:///{folder / 'dispatch.db'}")
        upgrade(db.writer)

        def cleanup() -> None:
            db.dispose()
            shutil.rmtree(folder, ignore_errors=True)

        return db, cleanup
    schema = f"bench_dispatch_{os.getpid()}_{secrets.token_hex(3)}"
    _pg_admin(pg_url, f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in pg_url else "?"
    try:
        db = open_database(f"{pg_url}{sep}options={urllib.parse.quote('-csearch_path=' + schema)}")
        upgrade(db.writer)
    except BaseException:
        _pg_admin(pg_url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        raise

    def cleanup_pg() -> None:
        db.dispose()
        _pg_admin(pg_url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    return db, cleanup_pg


def seed_directory(db: Database) -> None:
    with db.writer.begin() as conn:
        conn.execute(text("INSERT INTO agency (id, code, name_vi, name_en, kind) "
                          "VALUES (1, 'VHXH', 'Phòng VHXH', 'Social office', 'culture_social')"))
        for oid, position in enumerate(("case_worker", "head", "chair", "sysadmin"), start=1):
            conn.execute(text(
                "INSERT INTO official (id, full_name, agency_id, title, phone, language, active, position) "
                "VALUES (:id, :name, 1, :title, :phone, 'vi', :active, :position)"),
                {"id": oid, "name": f"Cán bộ {oid}", "title": position, "phone": f"+8490000{oid:04d}",
                 "active": True, "position": position})


def enqueue(db: Database, count: int, tag: str, history: int = 0) -> None:
    """`count` pending SMS due now (and `history` already delivered ones, not due)."""
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for i in range(history):
        rows.append({
            "dedupe_key": f"hist:{tag}:{i}", "channel": "sms", "recipient": "+84900000001",
            "official_id": 1, "body": "[kipthoi] Vụ việc mới NH-2025-000001.", "segments": 1,
            "status": "delivered", "attempts": 1, "next_attempt_at": now - timedelta(days=30),
            "created_at": now - timedelta(days=30), "expires_at": now - timedelta(days=30),
            "sent_at": now - timedelta(days=30), "provider_id": f"SMH{tag}{i}"})
    for i in range(count):
        oid = 1 + i % 3
        rows.append({
            "dedupe_key": f"bench:{tag}:{i}:{oid}", "channel": "sms", "recipient": f"+8490000{oid:04d}",
            "official_id": oid,
            "body": (f"[kipthoi] QUÁ HẠN: NH-2026-{i:06d} - Đánh giá ban đầu hạn 09:30 02/03. "
                     f"Xác nhận: http://127.0.0.1:8000/a/{secrets.token_urlsafe(24)}"),
            "segments": 2, "status": "pending", "attempts": 0, "next_attempt_at": now - timedelta(seconds=1),
            "created_at": now, "expires_at": now + timedelta(hours=4)})
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    with db.writer.begin() as conn:
        for lo in range(0, len(rows), 1000):
            conn.execute(insert(table), rows[lo:lo + 1000])


def outbox_status(db: Database) -> dict[str, int]:
    with db.read() as session:
        return {s: int(n) for s, n in session.execute(
            select(col(OutboxMessage.status), func.count()).group_by(col(OutboxMessage.status))).all()}


# --------------------------------------------------------------------------- measuring


class TimedProvider:
    """A transparent wrapper that adds up the time spent inside `send`."""

    def __init__(self, inner: TwilioProvider) -> None:
        self.inner, self.name = inner, inner.name
        self.seconds = 0.0
        self.calls = 0

    def send(self, to: str, body: str, *, validity_seconds: int | None, status_callback: str | None) -> str:
        t = time.perf_counter()
        try:
            return self.inner.send(to, body, validity_seconds=validity_seconds, status_callback=status_callback)
        finally:
            self.seconds += time.perf_counter() - t
            self.calls += 1


@dataclass
class Cell:
    db: str
    dispatchers: int
    messages: int
    sent: int = 0
    seconds: float = float("nan")
    send_seconds: float = 0.0
    requests: int = 0
    status: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def make_dispatcher(db: Database, fake: Any, batch: int) -> tuple[Dispatcher, TimedProvider]:
    provider = TimedProvider(TwilioProvider(TwilioConfig(
        account_sid=fake.account_sid, auth_token=fake.auth_token, from_number=FROM_NUMBER,
        base_url=fake.base_url, timeout_seconds=10.0)))
    return Dispatcher(db=db, clock=SystemClock(), policy=CommunePolicy(match_secret=b"bench-match-key"), sms=provider,  # type: ignore[arg-type]
                      status_callback=STATUS_CALLBACK, batch=batch), provider


def drain(dispatcher: Dispatcher, deadline: float, out: dict[str, Any]) -> None:
    """Run the dispatcher until a run claims nothing (or the time is up)."""
    sent = 0
    try:
        while time.monotonic() < deadline:
            report = dispatcher.run()
            sent += report.sent
            out.setdefault("errors", []).extend(report.errors[:3])
            if report.claimed == 0:
                break
    except Exception as exc:  # noqa: BLE001 - reported in the table's notes
        out.setdefault("errors", []).append(f"{type(exc).__name__}: {exc}")
    out["sent"] = sent


def _process_worker(db_url: str, fake_cfg: tuple[str, str, str], batch: int, ready: Any, start: Any,
                    deadline_in: float, queue: Any) -> None:
    """One dispatcher in its own process (`--mode processes`): connects, then waits for the start."""
    db = open_database(db_url)
    fake = argparse.Namespace(base_url=fake_cfg[0], account_sid=fake_cfg[1], auth_token=fake_cfg[2])
    dispatcher, provider = make_dispatcher(db, fake, batch)
    out: dict[str, Any] = {}
    try:
        with db.read() as session:  # connect before the start
            session.execute(text("SELECT 1"))
        ready.put(os.getpid())
        start.wait(60)
        drain(dispatcher, time.monotonic() + deadline_in, out)
    finally:
        db.dispose()
        queue.put({"sent": out.get("sent", 0), "errors": out.get("errors", [])[:3],
                   "send_seconds": provider.seconds})


def run_processes(db: Database, dispatchers: int, args: argparse.Namespace, fake: Any,
                  cell: Cell) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    queue, ready, start = ctx.Queue(), ctx.Queue(), ctx.Event()
    url = db.writer.url.render_as_string(hide_password=False)
    procs = [ctx.Process(target=_process_worker, args=(url, (fake.base_url, fake.account_sid, fake.auth_token),
                                                        args.batch, ready, start, args.timeout, queue))
             for _ in range(dispatchers)]
    for proc in procs:
        proc.start()
    results = []
    try:
        for _ in procs:
            ready.get(timeout=120)
        start_at = time.time()
        start.set()
        for _ in procs:
            results.append(queue.get(timeout=args.timeout + 30))
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
    # wall time: from the common start to the last row sent (read from the database)
    with db.read() as session:
        last = session.execute(select(func.max(OutboxMessage.sent_at)).where(
            col(OutboxMessage.dedupe_key).like("bench:run:%"))).scalar_one()
    if isinstance(last, str):  # func.max loses the column type on SQLite
        last = datetime.fromisoformat(last)
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    cell.seconds = (last.timestamp() - start_at) if last is not None else float("nan")
    cell.sent = sum(r["sent"] for r in results)
    cell.send_seconds = sum(r["send_seconds"] for r in results)
    for r in results:
        cell.errors += r["errors"]


def run_cell(kind: str, dispatchers: int, args: argparse.Namespace, fake: Any) -> Cell:
    cell = Cell(kind, dispatchers, args.messages)
    db, cleanup = open_target(kind, args.pg_url)
    try:
        seed_directory(db)
        workers = [make_dispatcher(db, fake, args.batch) for _ in range(dispatchers)]
        # warm-up: every dispatcher sends a few (connections, statement caches, page cache)
        enqueue(db, WARMUP, "warm", history=args.history)
        warm: list[dict[str, Any]] = [{} for _ in workers]
        threads = [threading.Thread(target=drain, args=(d, time.monotonic() + 60, o))
                   for (d, _), o in zip(workers, warm, strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        fake.reset()
        for _, p in workers:
            p.seconds, p.calls = 0.0, 0
        enqueue(db, args.messages, "run")
        if args.mode == "processes":
            run_processes(db, dispatchers, args, fake, cell)
            return _check(cell, db, fake, args)
        results: list[dict[str, Any]] = [{} for _ in workers]
        deadline = time.monotonic() + args.timeout
        threads = [threading.Thread(target=drain, args=(d, deadline, o))
                   for (d, _), o in zip(workers, results, strict=True)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max(1.0, deadline - time.monotonic() + 5))
        cell.seconds = time.perf_counter() - t0
        if any(t.is_alive() for t in threads):
            cell.errors.append("a dispatcher thread did not finish in time (left running; results partial)")
        cell.sent = sum(o.get("sent", 0) for o in results)
        cell.send_seconds = sum(p.seconds for _, p in workers)
        for o in results:
            cell.errors += o.get("errors", [])[:3]
        return _check(cell, db, fake, args)
    finally:
        cleanup()


def _check(cell: Cell, db: Database, fake: Any, args: argparse.Namespace) -> Cell:
    cell.requests = fake.count()
    cell.status = outbox_status(db)
    if cell.status.get("sent", 0) != args.messages + WARMUP:
        cell.errors.append(f"outbox after the run: {cell.status} (expected {args.messages + WARMUP} sent)")
    if cell.requests != args.messages:
        cell.errors.append(f"the fake got {cell.requests} requests for {args.messages} messages")
    return cell


# --------------------------------------------------------------------------- output

COLUMNS = ("db", "dispatchers", "mode", "batch", "messages", "sent", "seconds", "msg/s", "in send", "ms/msg",
           "requests")
WIDTHS = (8, 11, 9, 5, 8, 6, 7, 7, 7, 6, 8)


def _fmt(values: tuple) -> str:
    return "  ".join(str(v).ljust(w) if i == 0 else str(v).rjust(w)
                     for i, (v, w) in enumerate(zip(values, WIDTHS, strict=True)))


def _row(c: Cell, batch: int, mode: str) -> tuple:
    rate = c.sent / c.seconds if c.seconds else float("nan")
    share = c.send_seconds / (c.seconds * c.dispatchers) if c.seconds else float("nan")
    return (c.db, c.dispatchers, mode, batch, c.messages, c.sent, f"{c.seconds:.2f}", f"{rate:.0f}",
            f"{100 * share:.0f}%", f"{1000 * c.seconds * c.dispatchers / max(1, c.sent):.2f}", c.requests)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--messages", type=int, default=2000, help="SMS to send per cell (default 2000)")
    p.add_argument("--batch", type=int, default=50, help="Dispatcher.batch (default 50, as wired)")
    p.add_argument("--sqlite-dispatchers", type=lambda s: [int(x) for x in s.split(",")], default=[1],
                   help="dispatcher threads on SQLite, comma separated (default 1)")
    p.add_argument("--pg-dispatchers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2],
                   help="dispatcher threads on PostgreSQL (default 1,2)")
    p.add_argument("--mode", choices=["threads", "processes"], default="threads",
                   help="k dispatchers as k threads of this process (default; they share one GIL) or as "
                        "k processes (as k Prefect workers would be; the warm-up is done by threads)")
    p.add_argument("--history", type=int, default=0,
                   help="delivered rows already in the outbox before the run (default 0)")
    p.add_argument("--fake-in-process", action="store_true",
                   help="run the fake Twilio server in this process instead of a child process")
    p.add_argument("--nagle", action="store_true",
                   help="leave Nagle's algorithm on in the fake's sockets (its default): http.server writes "
                        "headers and body separately, so each answer stalls ~40 ms on delayed ACK")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per cell (default 300)")
    p.add_argument("--pg-url", default=os.environ.get("KIPTHOI_BENCH_PG_URL", PG_URL))
    args = p.parse_args(argv)
    if not 1 <= args.messages <= MAX_MESSAGES or args.batch < 1 or args.history > 1_000_000:
        p.error(f"--messages must be 1..{MAX_MESSAGES}, --batch >= 1, --history <= 1000000")
    if max(args.sqlite_dispatchers + args.pg_dispatchers) > 8:
        p.error("at most 8 dispatchers")
    plan = []
    if args.db in ("sqlite", "both"):
        plan += [("sqlite", k) for k in args.sqlite_dispatchers]
    if args.db in ("postgres", "both"):
        plan += [("postgres", k) for k in args.pg_dispatchers]
    fake: Any = (FakeInProcess if args.fake_in_process else FakeProcess)(not args.nagle)
    cells: list[Cell] = []
    try:
        for kind, k in plan:
            print(f"{kind} x{k}: {args.messages} messages ...", file=sys.stderr, flush=True)
            try:
                cell = run_cell(kind, k, args, fake)
            except Exception as exc:  # noqa: BLE001 - report, go on with the next cell
                print(f"{kind} x{k}: failed ({type(exc).__name__}: {exc})", file=sys.stderr)
                continue
            cells.append(cell)
            print("  ... " + _fmt(_row(cell, args.batch, args.mode)), file=sys.stderr, flush=True)
    finally:
        fake.stop()
    print()
    print(_fmt(COLUMNS))
    print("  ".join("-" * w for w in WIDTHS))
    for c in cells:
        print(_fmt(_row(c, args.batch, args.mode)))
    where = "in this process" if args.fake_in_process else "in a child process"
    print(f"\nmsg/s: messages sent / wall time. in send: share of the dispatchers' time inside "
          f"TwilioProvider.send (the HTTP round trip to the fake, {where}); the rest is the outbox's "
          f"database work (claim + one result transaction per message). ms/msg: wall time x "
          f"dispatchers / sent. requests: POSTs the fake received in the timed run.")
    notes = [(c, e) for c in cells for e in c.errors]
    for c, e in notes:
        print(f"  [{c.db} x{c.dispatchers}] {e}")
    return 1 if notes else 0


if __name__ == "__main__":
    raise SystemExit(main())
