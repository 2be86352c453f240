"""Alert latency in the embedded mode: from the instant a deadline stage falls due to the
instant its SMS reaches (a fake) Twilio.

The script starts `tests/fakes/twilio_server.FakeTwilio` in this process (TCP_NODELAY on its
sockets, see --nagle), then in a temp dir: `kipthoi demo` (migrates and seeds a commune, prints
API keys) and `kipthoi serve` on a free 127.0.0.1 port with the embedded scheduler
(APScheduler: a sweep+dispatch tick every KIPTHOI_SCHEDULER__TICK_SECONDS, 5 s by default, and a
one-off wake-up at the next `next_alert_at`) and Twilio pointed at the fake
(KIPTHOI_SMS__PROVIDER=twilio, KIPTHOI_SMS__TWILIO_BASE_URL=<fake>).

Once the demo's own catch-up alerts have gone out, it files --count 111-hotline reports through
`POST /reports` (abuse form "neglect", so only the worker and the head hear of them), report k
with `received_at` = due_k - 12 h, where due_k = start + --lead + k x --spread / --count. The
initial-assessment limit is 12 clock hours from receipt, so the "overdue" stage of report k's
deadline falls due at due_k (its two reminders are already past: the next tick raises the 90 %
one as catch-up and the scheduler then sets its wake-up for the overdue stage).

Per alert: latency = (time the fake received the "QUÁ HẠN: <case code>" SMS) - due_k.
Also, from the database after the run: raise delay = alert.raised_at - due_k (the sweep's clock
reading), which splits the latency into "sweep started late" and "sending took long".
Reports filed less than one tick before their due instant are left out (their overdue stage
could only be seen by a tick) and counted as `late`.

    .venv/bin/python bench/alerts.py                         # 40 alerts over 25 s, tick 5 s
    .venv/bin/python bench/alerts.py --count 20 --spread 10 --tick 2
    .venv/bin/python bench/alerts.py --db postgres           # a fresh schema, dropped at the end
    .venv/bin/python bench/alerts.py --twilio-delay 0.3      # Twilio ~300 ms away, as from Vietnam

Target: p99 <= 2 s. Bounded: the run ends --grace seconds after the last due instant (default
20) at the latest; the server is stopped (SIGINT, then SIGKILL) and the temp dir removed
(--keep to keep it, with server.log). Timings on a busy machine are noisy.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import secrets
import shutil
import socketserver
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _shared import ServedProcess
from _shared import free_port as _free_port
from _shared import pg_admin as _pg_admin
from _shared import pg_plain as _pg_plain

HOST = "127.0.0.1"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
LIMIT = timedelta(hours=12)  # initial_assessment in states/deadlines/policy.toml
OVERDUE = re.compile(r"QUÁ HẠN: (\S+) - ")  # the vi "overdue" template (not "QUÁ HẠN, chưa xử lý")
PLACES = ["DONG-AN", "TAY-BINH", "NAM-HOA", "BAC-SON", "TRUNG-THANH"]


# --------------------------------------------------------------------------- the server


class Server(ServedProcess):
    def __init__(self, workdir: Path, db_url: str, fake: Any, tick: float) -> None:
        script = Path(sys.executable).parent / "kipthoi"
        self.cmd = [str(script)] if script.exists() else [sys.executable, "-m", "kipthoi.cli"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("KIPTHOI_")}
        env.update({
            "KIPTHOI_DB__URL": db_url,
            "KIPTHOI_SECURITY__SECRETS_FILE": str(workdir / "kipthoi.secrets.json"),
            "KIPTHOI_SMS__PROVIDER": "twilio",
            "KIPTHOI_SMS__TWILIO_ACCOUNT_SID": fake.account_sid,
            "KIPTHOI_SMS__TWILIO_AUTH_TOKEN": fake.auth_token,
            "KIPTHOI_SMS__TWILIO_FROM": "+15005550006",
            "KIPTHOI_SMS__TWILIO_BASE_URL": fake.base_url,
            "KIPTHOI_SCHEDULER__MODE": "embedded",
            "KIPTHOI_SCHEDULER__TICK_SECONDS": str(tick),
            "PYTHONPATH": str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""),
        })
        self.env, self.workdir = env, workdir
        self.port = _free_port()
        self.log_path = workdir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def demo(self) -> dict[str, str]:
        out = subprocess.run([*self.cmd, "demo"], cwd=self.workdir, env=self.env, capture_output=True, check=False,
                             text=True, timeout=180)
        if out.returncode != 0:
            raise RuntimeError(f"kipthoi demo failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
        keys = {m.group(1): m.group(2) for m in re.finditer(r"^\s+(\w+)\s+\S+\s+(kt_\S+)\s*$",
                                                             out.stdout, re.MULTILINE)}
        if "hotline" not in keys:
            raise RuntimeError(f"no hotline API key in `kipthoi demo` output:\n{out.stdout}")
        return keys

    def start(self, timeout: float = 90.0) -> None:
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen([*self.cmd, "serve", "--host", HOST, "--port", str(self.port),
                                      "--log-level", "warning"], cwd=self.workdir, env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kipthoi serve exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                status, _ = self.request("GET", "/health", None, None, timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"kipthoi serve did not answer /health in {timeout} s:\n{self.log_tail()}")

    def request(self, method: str, path: str, token: str | None, body: dict[str, Any] | None,
                timeout: float = 30) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            headers = {"Content-Type": "application/json"}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            conn.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                         headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

# --------------------------------------------------------------------------- the run


@dataclass
class Filed:
    k: int
    code: str
    due: float  # epoch seconds
    filed_at: float


@dataclass
class Result:
    db: str
    tick: float
    expected: int
    latencies: list[float] = field(default_factory=list)
    raise_delays: list[float] = field(default_factory=list)
    late: int = 0
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    worst: list[tuple[float, str, float]] = field(default_factory=list)


def wait_quiet(fake: Any, quiet: float, limit: float) -> int:
    """Wait until the fake has had no request for `quiet` seconds (at most `limit` seconds)."""
    end = time.monotonic() + limit
    last_n, last_change = -1, time.monotonic()
    while time.monotonic() < end:
        n = len(fake.requests)
        if n != last_n:
            last_n, last_change = n, time.monotonic()
        elif time.monotonic() - last_change >= quiet:
            break
        time.sleep(0.1)
    return last_n


def file_reports(server: Server, token: str, args: argparse.Namespace, run_id: str) -> tuple[list[Filed], list[str]]:
    start = time.time()
    step = args.spread / max(1, args.count - 1) if args.count > 1 else 0.0
    filed: list[Filed] = []
    errors: list[str] = []
    for k in range(args.count):
        due = round(start + args.lead + k * step, 3)
        received = datetime.fromtimestamp(due, UTC) - LIMIT
        body = {
            "channel": "hotline_111", "hotline_ref": f"AL-{run_id}-{k}",
            "received_at": received.isoformat(), "place_code": PLACES[k % len(PLACES)],
            "narrative": "Báo cáo thử độ trễ cảnh báo (dữ liệu giả lập): trẻ bị bỏ mặc.",
            "abuse_forms": ["neglect"],
            "child": {"full_name": f"Trẻ Hẹn Giờ {run_id} {k}", "birth_date": "2016-05-01", "sex": "female"},
        }
        status, data = server.request("POST", "/reports", token, body)
        if status != 201:
            errors.append(f"report {k}: HTTP {status} {data[:200]!r}")
            continue
        filed.append(Filed(k, json.loads(data)["case_code"], due, time.time()))
    return filed, errors


def raise_delays(db_url: str, codes: dict[str, Filed]) -> dict[str, float]:
    """alert.raised_at - due for the overdue alert of each of our cases, read from the database."""
    sql = ("SELECT c.code, a.raised_at FROM alert a JOIN deadline d ON d.id = a.deadline_id "
           "JOIN case_file c ON c.id = d.case_id WHERE a.kind = 'overdue' AND d.kind = 'initial_assessment'")
    out: dict[str, float] = {}
    rows: list[tuple[str, Any]] = []
    if db_url.startswith("sqlite"):
        with sqlite3.connect(db_url.split("///", 1)[1], timeout=10) as conn:
            rows = conn.execute(sql).fetchall()
        parsed = [(c, datetime.fromisoformat(r).replace(tzinfo=UTC)) for c, r in rows]
    else:
        import psycopg

        with psycopg.connect(_pg_plain(db_url), connect_timeout=5) as conn:
            parsed = list(conn.execute(sql).fetchall())
    for code, at in parsed:
        if code in codes:
            out[code] = at.timestamp() - codes[code].due
    return out


def run(args: argparse.Namespace) -> Result:
    if not args.nagle:
        socketserver.StreamRequestHandler.disable_nagle_algorithm = True
    from tests.fakes.twilio_server import FakeTwilio

    fake = FakeTwilio().start()
    if args.twilio_delay > 0:  # answer after a delay, as a remote Twilio would (arrival is stamped before)
        def slow_ok() -> str:
            time.sleep(args.twilio_delay)
            return "ok"

        fake._next = slow_ok  # type: ignore[method-assign]
    workdir = Path(tempfile.mkdtemp(prefix="kipthoi-alerts-"))
    schema = None
    if args.db == "sqlite":
        db_url = f"sqlite:///{workdir / 'kipthoi.db'}"
    else:
        schema = f"bench_alerts_{os.getpid()}_{secrets.token_hex(3)}"
        _pg_admin(args.pg_url, f'CREATE SCHEMA "{schema}"')
        sep = "&" if "?" in args.pg_url else "?"
        db_url = f"{args.pg_url}{sep}options={urllib.parse.quote('-csearch_path=' + schema)}"
    server = Server(workdir, db_url, fake, args.tick)
    result = Result(args.db, args.tick, args.count)
    try:
        print(f"{args.db}: kipthoi demo ...", file=sys.stderr, flush=True)
        keys = server.demo()
        print(f"{args.db}: kipthoi serve on {HOST}:{server.port} (tick {args.tick} s) ...", file=sys.stderr,
              flush=True)
        server.start()
        n = wait_quiet(fake, quiet=max(2.0, args.tick + 1), limit=60)
        print(f"{args.db}: the demo's catch-up sent {n} SMS; filing {args.count} reports due over "
              f"{args.spread} s from now + {args.lead} s ...", file=sys.stderr, flush=True)
        run_id = secrets.token_hex(3)
        before = len(fake.requests)
        filed, errors = file_reports(server, keys["hotline"], args, run_id)
        result.notes += errors[:5]
        if not filed:
            raise RuntimeError("no report was filed")
        last_due = max(f.due for f in filed)
        by_code = {f.code: f for f in filed}
        # wait for the overdue SMS of every case, or until --grace after the last due instant
        got: dict[str, float] = {}
        while time.time() < last_due + args.grace:
            with fake._lock:
                reqs = list(fake.requests[before:])
            for r in reqs:
                m = OVERDUE.search(r.form.get("Body", ""))
                if m and m.group(1) in by_code and m.group(1) not in got:
                    got[m.group(1)] = r.at
            if len(got) == len(by_code):
                break
            time.sleep(0.2)
        # the burst of new_report + catch-up reminder SMS, and when it ended
        with fake._lock:
            burst = [r.at for r in fake.requests[before:] if not OVERDUE.search(r.form.get("Body", ""))]
        first_due = min(f.due for f in filed)
        if burst and max(burst) > first_due:
            result.notes.append(f"the new-report/reminder burst ({len(burst)} SMS) ended "
                                f"{max(burst) - first_due:.1f} s after the first due instant: raise --lead")
        server.stop()
        delays = raise_delays(db_url, by_code)
        for f in filed:
            if f.due - f.filed_at < args.tick:
                result.late += 1
                continue
            if f.code not in got:
                result.missing.append(f.code)
                continue
            lat = got[f.code] - f.due
            result.latencies.append(lat)
            if f.code in delays:
                result.raise_delays.append(delays[f.code])
            result.worst.append((lat, f.code, delays.get(f.code, float("nan"))))
        result.worst = sorted(result.worst, reverse=True)[:5]
        if result.late:
            result.notes.append(f"{result.late} reports were filed less than one tick before their due "
                                f"instant (left out): raise --lead")
        return result
    finally:
        server.stop()
        fake.stop()
        if schema is not None:
            _pg_admin(args.pg_url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------------- output


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * len(s) + 0.5) - 1))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--count", type=int, default=40, help="alerts (reports filed), default 40")
    p.add_argument("--spread", type=float, default=25.0, help="seconds the due instants span (default 25)")
    p.add_argument("--tick", type=float, default=5.0,
                   help="KIPTHOI_SCHEDULER__TICK_SECONDS (default 5, the service's default)")
    p.add_argument("--lead", type=float, default=None,
                   help="seconds from filing to the first due instant "
                        "(default 2 x tick + 10 + 3 x count x twilio-delay)")
    p.add_argument("--grace", type=float, default=20.0,
                   help="seconds to wait after the last due instant for missing SMS (default 20)")
    p.add_argument("--target", type=float, default=2.0, help="p99 target in seconds (default 2)")
    p.add_argument("--nagle", action="store_true",
                   help="leave Nagle's algorithm on in the fake's sockets (its default; ~40 ms per answer)")
    p.add_argument("--twilio-delay", type=float, default=0.0,
                   help="seconds the fake waits before answering each SMS (a remote Twilio's round trip, "
                        "e.g. 0.3); the arrival time used for latency is taken before the wait")
    p.add_argument("--pg-url", default=os.environ.get("KIPTHOI_BENCH_PG_URL", PG_URL))
    p.add_argument("--keep", action="store_true", help="keep the temp dir (server.log, SQLite file)")
    args = p.parse_args(argv)
    if not 1 <= args.count <= 500 or not 0 <= args.spread <= 300 or not 0.5 <= args.tick <= 60:
        p.error("--count 1..500, --spread 0..300, --tick 0.5..60")
    if not 0 <= args.twilio_delay <= 2:
        p.error("--twilio-delay 0..2")
    if args.lead is None:  # the first tick after filing sends ~3 SMS per report (new case x2, reminder)
        args.lead = 2 * args.tick + 10 + 3 * args.count * args.twilio_delay
    args.grace = min(max(args.grace, 1.0), 120.0)
    r = run(args)
    lat = r.latencies
    cols = ("db", "tick s", "alerts", "measured", "late", "missing", "p50 s", "p99 s", "max s",
            "raise p50 s", "raise max s", f"p99<={args.target:g}s")
    widths = (8, 6, 6, 8, 4, 7, 6, 6, 6, 11, 11, 9)
    ok = bool(lat) and not r.missing and _pct(lat, 0.99) <= args.target
    row = (r.db, f"{r.tick:g}", r.expected, len(lat), r.late, len(r.missing), f"{_pct(lat, 0.50):.3f}",
           f"{_pct(lat, 0.99):.3f}", f"{max(lat) if lat else float('nan'):.3f}",
           f"{_pct(r.raise_delays, 0.5):.3f}", f"{max(r.raise_delays) if r.raise_delays else float('nan'):.3f}",
           "yes" if ok else "NO")

    def fmt(vals: tuple[Any, ...]) -> str:
        return "  ".join(str(v).ljust(w) if i == 0 else str(v).rjust(w)
                         for i, (v, w) in enumerate(zip(vals, widths, strict=True)))

    print()
    print(fmt(cols))
    print("  ".join("-" * w for w in widths))
    print(fmt(row))
    print("\nlatency: fake Twilio received the overdue SMS - the stage's due instant. raise: alert.raised_at "
          "(the sweep's clock) - due instant. late: filed < 1 tick before due (left out).")
    if lat:
        print(f"mean {statistics.fmean(lat):.3f} s; worst: " + ", ".join(
            f"{c} {v:.3f} s (raised +{d:.3f} s)" for v, c, d in r.worst))
    for n in r.notes:
        print(f"  note: {n}")
    if r.missing:
        print(f"  missing overdue SMS for: {', '.join(r.missing[:10])}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
