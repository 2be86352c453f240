"""Sending under crashes and failures (issue 9, items 4 and 5). Prints two tables.

**Crash.** For each database (a SQLite file in a temp dir; PostgreSQL in a fresh schema, dropped
at the end), M SMS are enqueued and a real `kipthoi scheduler` process (tick 0.5 s) sends them
through the real `twilio` client to `tests/fakes/twilio_server.FakeTwilio`. The fake holds the
k-th request; while it is held the dispatcher is killed with SIGKILL. Two ways to go on:
`survivor` (a second `kipthoi scheduler`, started before the kill, is running) and `restart`
(a new one is started after the kill). Reported: messages repeated (bodies the fake received
twice), the delay from the kill to the last claimed message reaching the fake, and whether
every row ended `sent`. Before this change the delay was the claim's lease (about 118 s).

**Flaky provider.** In process, on a stepping clock (no sleeping): C cases whose initial
assessment runs out at the same moment, so C overdue alerts are raised; the fake fails every
third request (HTTP 500). The dispatcher runs, the clock jumps to the next retry, until nothing
is pending. Reported per retry schedule: alerts, the worst and median lateness of the first
delivery of each alert (to its official or, handed up the ladder, to the next), messages dead,
hand-overs. `old schedule` is the 30 s base / 30 min cap backoff every message had before.

    .venv/bin/python bench/dispatch_failures.py                 # both databases
    .venv/bin/python bench/dispatch_failures.py --db sqlite --cases 50
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import _shared  # noqa: E402
from pydantic import TypeAdapter  # noqa: E402
from sqlalchemy import select  # noqa: E402

from flows.jobs import Dispatcher, run_sweep  # noqa: E402
from models import Alert, Database, Official, OutboxMessage, crypto, open_database  # noqa: E402
from models.enums import AgencyKind, Role  # noqa: E402
from models.migrate import upgrade  # noqa: E402
from notifications.dispatch import RetryPolicy  # noqa: E402
from notifications.outbox import enqueue_sms  # noqa: E402
from notifications.providers import TwilioConfig, TwilioProvider  # noqa: E402
from states.identity.accounts import UserIn, create_user  # noqa: E402
from states.identity.actors import SYSTEM, Actor  # noqa: E402
from states.intake import opening as intake  # noqa: E402
from states.intake.report_data import AnyReport  # noqa: E402
from states.kernel.clock import LOCAL_TZ, FrozenClock  # noqa: E402
from states.kernel.commune import CommunePolicy  # noqa: E402
from states.records import directory  # noqa: E402
from tests.fakes.twilio_server import FakeTwilio  # noqa: E402

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SENDER = "+15005550006"
crypto.configure(crypto.Keyring({"bench": b"b" * 32}, "bench"))


@dataclass
class HeldTwilio(FakeTwilio):
    hold_at: int = 0
    held: threading.Event = field(default_factory=threading.Event)
    gate: threading.Event = field(default_factory=threading.Event)

    def _next(self) -> str:
        if len(self.requests) == self.hold_at:
            self.held.set()
            self.gate.wait(60)
        return super()._next()


def fresh_db(kind: str, folder: Path, pg_url: str) -> tuple[Database, str | None]:
    if kind == "sqlite":
        db = open_database(f"sqlite:///{folder / 'bench.db'}")
        schema = None
    else:
        schema = f"bench_fail_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        _shared.pg_admin(pg_url, f'CREATE SCHEMA "{schema}"')
        db = open_database(_shared.with_search_path(pg_url, schema))
    upgrade(db.writer)
    return db, schema


def seed(db: Database, clock: FrozenClock) -> tuple[list[int], Actor]:
    """A commune's directory: a worker, a head, a chair (the ladder), the police; an operator."""
    with db.write() as s:
        directory.create_place(s, clock, SYSTEM, directory.PlaceIn(code="DONG-AN", name="Thôn Đông An"))
        for code, kind in (("VHXH", AgencyKind.CULTURE_SOCIAL), ("CA", AgencyKind.POLICE),
                           ("UBND", AgencyKind.LEADERSHIP)):
            directory.create_agency(s, clock, SYSTEM, directory.AgencyIn(code=code, name_vi=code, name_en=code,
                                                                         kind=kind))
        ids = [directory.create_official(s, clock, SYSTEM, directory.OfficialIn(
            full_name=f"Cán bộ {n}", agency_code=agency, title="Cán bộ", phone=f"+8490000{n:04d}",
            position=position)).id or 0
            for n, (agency, position) in enumerate((("VHXH", "case_worker"), ("VHXH", "head"),
                                                    ("UBND", "chair"), ("CA", "agency_contact")))]
        user, _ = create_user(s, clock, SYSTEM, UserIn(username="operator", display_name="Operator",
                                                       role=Role.INTAKE_OPERATOR))
    return ids, Actor(ref=f"user:{user.id}", role=Role.INTAKE_OPERATOR)


# --------------------------------------------------------------------------- crash

def start_scheduler(db: Database, fake: FakeTwilio, folder: Path, name: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIPTHOI_")}
    env.update({"KIPTHOI_DB__URL": db.url, "KIPTHOI_SECURITY__SECRET": "bench-secret-" + "y" * 32,
                "KIPTHOI_SMS__TWILIO_ACCOUNT_SID": fake.account_sid, "KIPTHOI_SMS__TWILIO_AUTH_TOKEN": fake.auth_token,
                "KIPTHOI_SMS__TWILIO_FROM": SENDER, "KIPTHOI_SMS__TWILIO_BASE_URL": fake.base_url,
                "KIPTHOI_SCHEDULER__TICK_SECONDS": "0.5", "KIPTHOI_SMS__TIMEOUT_SECONDS": "60",
                "PYTHONPATH": str(ROOT)})
    log = (folder / f"{name}.log").open("wb")
    return subprocess.Popen([sys.executable, "-m", "kipthoi.cli", "scheduler"], cwd=folder, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def crash_cell(kind: str, how: str, messages: int, hold_at: int, pg_url: str, timeout: float) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="kipthoi-crash-"))
    db, schema = fresh_db(kind, folder, pg_url)
    fake = HeldTwilio(hold_at=hold_at).start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        ids, _ = seed(db, FrozenClock(datetime.now(UTC)))
        with db.write() as s:
            officials = [s.get(Official, i) for i in ids]
            for i in range(messages):
                official = officials[i % len(officials)]
                assert official is not None
                enqueue_sms(s, CommunePolicy(match_secret=b"bench").notify, dedupe_key=f"crash:{i}", official=official,
                            template="new_report", now=datetime.now(UTC), code=f"NH-2026-{i:06d}", due="17:00")
        a = start_scheduler(db, fake, folder, "a")
        procs.append(a)
        if not fake.held.wait(60):
            raise RuntimeError("the dispatcher never sent: " + (folder / "a.log").read_text()[-2000:])
        if how == "survivor":
            procs.append(start_scheduler(db, fake, folder, "b"))
            end = time.monotonic() + 30
            while b"scheduler running" not in (folder / "b.log").read_bytes() and time.monotonic() < end:
                time.sleep(0.05)
            time.sleep(1.5)
        killed = time.time()
        os.killpg(a.pid, signal.SIGKILL)
        a.wait(10)
        fake.gate.set()
        if how == "restart":
            procs.append(start_scheduler(db, fake, folder, "b"))
        end = time.monotonic() + timeout
        while len({r.form["Body"] for r in fake.requests}) < messages and time.monotonic() < end:
            time.sleep(0.05)
        first: dict[str, float] = {}
        for r in fake.requests:
            first.setdefault(r.form["Body"], r.at)
        repeated = sum(c - 1 for c in Counter(r.form["Body"] for r in fake.requests).values())
        time.sleep(0.5)
        with db.read() as s:
            statuses = set(s.execute(select(OutboxMessage.status)).scalars())
        return {"db": kind, "after the kill": how, "messages": messages, "repeated": repeated,
                "delay s": (f"{max(first.values()) - killed:.2f}" if len(first) == messages
                            else f">{timeout:.0f} ({messages - len(first)} not sent)"),
                "all sent": statuses == {"sent"}}
    finally:
        fake.gate.set()
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(20)
        fake.stop()
        db.dispose()
        if schema:
            _shared.pg_admin(pg_url, f'DROP SCHEMA "{schema}" CASCADE')


# --------------------------------------------------------------------------- flaky provider

def flaky_cell(kind: str, schedule: str, cases: int, pg_url: str) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="kipthoi-flaky-"))
    db, schema = fresh_db(kind, folder, pg_url)
    fake = FakeTwilio().start()
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=LOCAL_TZ)
    clock = FrozenClock(t0)
    try:
        policy = CommunePolicy(match_secret=b"bench")
        _, operator = seed(db, clock)
        report = TypeAdapter(AnyReport)
        for i in range(cases):
            body = {"channel": "phone", "received_at": (t0 - timedelta(hours=1)).isoformat(),
                    "place_code": "DONG-AN", "narrative": "Dữ liệu giả lập.", "abuse_forms": ["neglect"],
                    "case_type": "abused", "child": {"full_name": f"Trẻ Giả Lập {i}", "sex": "male",
                                                     "birth_date": "2016-05-01"}}
            with db.write() as s:
                intake.submit_report(s, clock, operator, policy, report.validate_python(body))
        retry = RetryPolicy() if schedule == "urgent (new)" else replace(
            RetryPolicy(), urgent_base=RetryPolicy().base, urgent_cap=RetryPolicy().cap)
        sms = TwilioProvider(TwilioConfig(account_sid=fake.account_sid, auth_token=fake.auth_token,
                                          from_number=SENDER, base_url=fake.base_url))
        d = Dispatcher(db=db, clock=clock, policy=policy, sms=sms, retry=retry)
        d.run()  # the new-case messages, before the provider turns flaky
        clock.set(t0 + timedelta(hours=11))  # the 12-hour initial assessments run out
        run_sweep(db, clock, policy)
        fake.script(["ok", "ok", "500"] * (50 * cases))
        handed = 0
        for _ in range(100 * cases):
            handed += d.run().handed_over
            with db.read() as s:
                waits = list(s.execute(select(OutboxMessage.next_attempt_at)
                                       .where(OutboxMessage.status == "pending")).scalars())
            if not waits:
                break
            clock.set(max(clock.now(), min(waits)))
        d.close()
        with db.read() as s:
            due = {a.id: a.due_at for a in s.execute(select(Alert)).scalars()}
            rows = list(s.execute(select(OutboxMessage).where(OutboxMessage.alert_id.is_not(None))).scalars())  # type: ignore[union-attr]
        first: dict[int, datetime] = {}
        for r in rows:
            if r.status == "sent" and r.sent_at is not None and r.alert_id is not None:
                first[r.alert_id] = min(first.get(r.alert_id, r.sent_at), r.sent_at)
        late = [(first[i] - due[i]).total_seconds() for i in due if i in first]
        return {"db": kind, "schedule": schedule, "alerts": len(due), "delivered": len(first),
                "worst late s": f"{max(late):.1f}", "median late s": f"{statistics.median(late):.1f}",
                "dead": sum(r.status == "dead" for r in rows), "handed over": handed,
                "requests": len(fake.requests)}
    finally:
        fake.stop()
        db.dispose()
        if schema:
            _shared.pg_admin(pg_url, f'DROP SCHEMA "{schema}" CASCADE')


def table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in keys}
    print(" | ".join(k.ljust(widths[k]) for k in keys))
    print("-+-".join("-" * widths[k] for k in keys))
    for r in rows:
        print(" | ".join(str(r[k]).ljust(widths[k]) for k in keys))
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--hold-at", type=int, default=5, help="the request the kill interrupts")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait after a kill")
    parser.add_argument("--cases", type=int, default=30)
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    table([crash_cell(k, how, min(args.messages, 500), args.hold_at, args.pg_url, args.timeout)
           for k in kinds for how in ("survivor", "restart")])
    table([flaky_cell(k, schedule, min(args.cases, 500), args.pg_url)
           for k in kinds for schedule in ("urgent (new)", "old schedule")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
