"""Throughput and latency of intake (`POST /reports`) and of one transition (`assess`).

For each database (a SQLite file in a temp dir, then PostgreSQL in a fresh schema) this starts
`kipthoi serve` as a subprocess on a free 127.0.0.1 port, seeds it with `kipthoi demo`, and runs
closed-loop clients against it:

- intake (new case)      at 1, 8 and 32 clients: every request a new hotline_ref and a new child;
- intake (linked)        at 8 clients: new hotline_ref, but the child is one of 8 that already
                         have an open case, so the report is linked to that case;
- assess                 at 8 clients: `POST /cases/{code}/transitions/assess` on the cases the
                         intake runs opened (each case once, expected_version 1).

The load generator is a minimal HTTP/1.1 keep-alive client on raw asyncio streams (uvloop when
installed), one connection per client, in this one process: about 0.2 ms of CPU per request
(httpx's AsyncClient: ~1.3 ms), so it leaves the 2 cores to the server. Each loop ends at
--duration seconds or --max-requests, whichever comes first. Non-2xx answers (and broken
connections) count as errors; the first few bodies are printed under the table.

    .venv/bin/python bench/intake.py                      # both databases, 10 s per cell
    .venv/bin/python bench/intake.py --db sqlite --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
from _shared import ServedProcess
from _shared import free_port as _free_port
from _shared import pg_plain as _pg_plain
from _shared import with_search_path as _with_search_path

HOST = "127.0.0.1"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ICT = timezone(timedelta(hours=7))
MAX_ERROR_BODIES = 5


# --------------------------------------------------------------------------- the HTTP client


class HttpError(Exception):
    pass


class Conn:
    """One keep-alive HTTP/1.1 connection; enough for uvicorn's JSON answers."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, method: str, path: str, token: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None:
            await self._open()
        assert self.reader is not None and self.writer is not None
        head = (f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        self.writer.write(head + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise HttpError(f"bad status line {lines[0]!r}")
        status = int(parts[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            data = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                chunks.append(chunk[:-2])
            data = b"".join(chunks)
        else:
            raise HttpError("answer without Content-Length or chunked encoding")
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, data


# --------------------------------------------------------------------------- measuring


@dataclass
class Cell:
    db: str
    operation: str
    clients: int
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests only
    errors: int = 0
    error_bodies: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    server_cpu: float = 0.0  # seconds of CPU the server process used during the cell
    client_cpu: float = 0.0
    host_busy: float = 0.0  # fraction of all cores busy during the cell (0..1)

    @property
    def requests(self) -> int:
        return len(self.latencies) + self.errors

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        xs = sorted(self.latencies)
        k = max(0, min(len(xs) - 1, math.ceil(p * len(xs)) - 1))  # nearest rank
        return xs[k] * 1000


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _proc_cpu(pid: int) -> float:
    """CPU seconds of the server: the process and its live descendants (`--workers N` runs
    the requests in child processes)."""
    stats = {int(d.name): st for d in Path("/proc").iterdir() if d.name.isdigit() and (st := _stat(int(d.name)))}
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, st in stats.items():
            if int(st[1]) == parent and child not in tree:  # field 4 of stat: ppid
                tree.add(child)
                frontier.append(child)
    ticks = sum(int(stats[p][11]) + int(stats[p][12]) for p in tree if p in stats)  # utime + stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _host_cpu() -> tuple[float, float]:
    vals = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = vals[3] + vals[4]
    return sum(vals) - idle, sum(vals)




def wait_quiet(max_wait: float, threshold: float = 0.25) -> float:
    """Wait (at most max_wait s) until the rest of the host uses under `threshold` of all cores,
    so that other jobs on a shared machine disturb the cell less. Returns the last load seen."""
    deadline = time.monotonic() + max_wait
    warned = False
    while True:
        b0, t0 = _host_cpu()
        time.sleep(1.0)
        b1, t1 = _host_cpu()
        load = (b1 - b0) / max(1, t1 - t0)
        if load < threshold or time.monotonic() >= deadline:
            if warned or load >= threshold:
                print(f"  (host load before the cell: {100 * load:.0f}% of all cores)", file=sys.stderr,
                      flush=True)
            return load
        if not warned:
            print(f"  waiting for the host to be quiet (now {100 * load:.0f}% of all cores busy)...",
                  file=sys.stderr, flush=True)
            warned = True


async def run_cell(cell: Cell, port: int, make, duration: float, max_requests: int,
                   server_pid: int, on_ok=None, timeout: float = 30.0, quiet: float = 0.0) -> Cell:
    """Closed loop: `cell.clients` workers, each with its own keep-alive connection."""
    if quiet > 0:
        await asyncio.to_thread(wait_quiet, quiet)
    counter = iter(range(max_requests))
    deadline = time.perf_counter() + duration

    async def worker() -> None:
        conn = Conn(port)
        try:
            while time.perf_counter() < deadline:
                n = next(counter, None)
                if n is None:
                    return
                req = make(n)
                if req is None:  # nothing left to work on (e.g. no more cases to assess)
                    return
                path, body, token = req
                t0 = time.perf_counter()
                try:
                    status, data = await asyncio.wait_for(conn.request("POST", path, token, body), timeout)
                except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                        HttpError) as exc:
                    conn.close()
                    cell.errors += 1
                    if len(cell.error_bodies) < MAX_ERROR_BODIES:
                        cell.error_bodies.append(f"{type(exc).__name__}: {exc}")
                    continue
                dt = time.perf_counter() - t0
                if 200 <= status < 300:
                    cell.latencies.append(dt)
                    if on_ok is not None:
                        on_ok(data)
                else:
                    cell.errors += 1
                    if len(cell.error_bodies) < MAX_ERROR_BODIES:
                        cell.error_bodies.append(f"{status} {path}: {data[:400].decode(errors='replace')}")
        finally:
            conn.close()

    srv0, cli0, (busy0, tot0) = _proc_cpu(server_pid), time.process_time(), _host_cpu()
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(cell.clients)))
    cell.elapsed = time.perf_counter() - t0
    busy1, tot1 = _host_cpu()
    cell.server_cpu = _proc_cpu(server_pid) - srv0
    cell.client_cpu = time.process_time() - cli0
    cell.host_busy = (busy1 - busy0) / max(1, tot1 - tot0)
    return cell


# --------------------------------------------------------------------------- the server


def _kipthoi_cmd(python: str, source: Path) -> list[str]:
    script = Path(python).parent / "kipthoi"
    if source == ROOT and script.exists():
        return [str(script)]
    return [python, "-m", "kipthoi.cli"]  # the package run from the source tree (PYTHONPATH)


_SECRETS_DIR: list[Path] = []


def _secrets_dir() -> Path:
    if not _SECRETS_DIR:
        _SECRETS_DIR.append(Path(tempfile.mkdtemp(prefix="kipthoi-bench-secrets-")))
    return _SECRETS_DIR[0]


def _env(db_url: str, source: Path, scheduler: str | None = None, workers: int | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIPTHOI_")}
    if workers is not None:
        env["KIPTHOI_API__WORKERS"] = str(workers)
    env["KIPTHOI_DB__URL"] = db_url
    # Development secrets of this run, beside its SQLite file or in a temp dir (PostgreSQL).
    env["KIPTHOI_SECURITY__SECRETS_FILE"] = str(_secrets_dir() / "kipthoi.secrets.json")
    env["KIPTHOI_SMS__PROVIDER"] = "console"  # alerts go to the server log, never out of the machine
    env["KIPTHOI_SECURITY__ACCESS_TOKEN_MINUTES"] = "1440"  # the case worker's token lasts the run
    if scheduler:
        env["KIPTHOI_SCHEDULER__MODE"] = scheduler
    env["PYTHONPATH"] = str(source) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


class Server(ServedProcess):
    def __init__(self, python: str, source: Path, db_url: str, workdir: Path,
                 scheduler: str | None = None, workers: int | None = None) -> None:
        self.cmd = _kipthoi_cmd(python, source)
        self.env = _env(db_url, source, scheduler, workers)
        self.workdir = workdir
        self.port = _free_port()
        self.log_path = workdir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(self.serve_argv(), cwd=self.workdir, env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kipthoi serve exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=1) as s:
                    s.sendall(f"GET /health HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
                    if b" 200 " in s.recv(4096):
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"kipthoi serve did not answer /health in {timeout} s:\n{self.log_tail()}")

    def serve_argv(self) -> list[str]:
        return [*self.cmd, "serve", "--host", HOST, "--port", str(self.port), "--log-level", "warning"]

    def seed(self) -> dict[str, str]:
        out = subprocess.run([*self.cmd, "demo"], cwd=self.workdir, env=self.env, capture_output=True,
                             text=True, timeout=120, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"kipthoi demo failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
        # Lines "  <role> <username> <credential>": the hotline's API key (kt_...), people's passwords.
        rows = re.findall(r"^\s+(\w+)\s+(\S+)\s+(\S+)\s*$", out.stdout, re.MULTILINE)
        keys = {role: cred for role, _, cred in rows if cred.startswith("kt_")}
        people = {role: (user, cred) for role, user, cred in rows if not cred.startswith("kt_")}
        if "case_worker" in people:
            keys["case_worker"] = self.log_in(*people["case_worker"])
        missing = {"hotline", "case_worker"} - keys.keys()
        if missing:
            raise RuntimeError(f"no credential for {sorted(missing)} in `kipthoi demo` output:\n{out.stdout}")
        return keys

    def log_in(self, username: str, password: str) -> str:
        """An access token (OAuth2 password flow); the env makes it outlive the run."""
        import urllib.parse
        import urllib.request

        form = urllib.parse.urlencode({"grant_type": "password", "username": username,
                                       "password": password}).encode()
        with urllib.request.urlopen(f"http://{HOST}:{self.port}/auth/token", form, timeout=30) as r:
            return str(json.loads(r.read())["access_token"])

class BaselineServer(Server):
    """bench/baseline_app.py: a bare FastAPI endpoint doing one durable SQLite insert."""

    def __init__(self, python: str, workdir: Path) -> None:
        super().__init__(python, ROOT, "sqlite://", workdir)
        self.cmd = [python, "-m", "uvicorn", "baseline_app:app", "--app-dir", str(ROOT / "bench")]
        self.env["BENCH_BASELINE_DB"] = str(workdir / "baseline.db")

    def serve_argv(self) -> list[str]:
        return [*self.cmd, "--host", HOST, "--port", str(self.port), "--log-level", "warning",
                "--no-access-log"]

    def seed(self) -> dict[str, str]:
        return {"hotline": "kt_baseline", "case_worker": "kt_baseline"}


# --------------------------------------------------------------------------- PostgreSQL schema


def pg_create_schema(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(_pg_plain(url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')


def pg_drop_schema(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(_pg_plain(url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# --------------------------------------------------------------------------- the workload


class Workload:
    def __init__(self, keys: dict[str, str], run_id: str) -> None:
        self.hotline = keys["hotline"]
        self.worker = keys["case_worker"]
        self.run_id = run_id
        self.seq = 0
        self.received_at = (datetime.now(ICT) - timedelta(hours=1)).replace(microsecond=0).isoformat()
        self.new_cases: list[str] = []  # codes of cases opened (version 1, state received)
        self.next_case = 0
        self.places = ["DONG-AN", "TAY-BINH", "NAM-HOA", "BAC-SON", "TRUNG-THANH"]

    def _report(self, child_name: str, place: str) -> bytes:
        self.seq += 1
        return json.dumps({
            "channel": "hotline_111", "hotline_ref": f"B-{self.run_id}-{self.seq}",
            "received_at": self.received_at, "place_code": place,
            "narrative": "Báo cáo thử tải (dữ liệu giả lập): trẻ bị đánh nhiều lần, hàng xóm nghe thấy.",
            "abuse_forms": ["violence"],
            "child": {"full_name": child_name, "birth_date": "2015-01-01", "sex": "male"},
        }, ensure_ascii=False).encode()

    def new_case(self, n: int) -> tuple[str, bytes, str]:
        name = f"Trẻ Thử Tải {self.run_id} {self.seq + 1}"
        return "/reports", self._report(name, self.places[self.seq % 5]), self.hotline

    def linked(self, n: int) -> tuple[str, bytes, str]:
        name = f"Trẻ Liên Kết {self.run_id} {n % 8}"
        return "/reports", self._report(name, self.places[n % 5]), self.hotline

    def collect(self, data: bytes) -> None:
        body = json.loads(data)
        if not body.get("linked_to_existing_case"):
            self.new_cases.append(body["case_code"])

    def assess(self, n: int) -> tuple[str, bytes, str] | None:
        if self.next_case >= len(self.new_cases):
            return None
        code = self.new_cases[self.next_case]
        self.next_case += 1
        body = json.dumps({"expected_version": 1, "data": {"factors": {
            "severity": "medium", "abuser_access": "medium", "safety_obstacles": "low", "self_protection": "medium"},
            "emergency": False}})
        return f"/cases/{code}/transitions/assess", body.encode(), self.worker


async def bench_db(db: str, server: Server, keys: dict[str, str], args: argparse.Namespace) -> list[Cell]:
    w = Workload(keys, secrets.token_hex(3))
    pid = server.proc.pid  # type: ignore[union-attr]
    port = server.port
    cells: list[Cell] = []
    # warm-up (not reported): imports, pools, SQLite page cache; its cases feed `assess` too
    await run_cell(Cell(db, "warmup", 4), port, w.new_case, min(2.0, args.duration), 200, pid, w.collect)
    for clients in args.clients:
        cell = await run_cell(Cell(db, "intake (new case)", clients), port, w.new_case, args.duration,
                              args.max_requests, pid, w.collect, quiet=args.quiet_wait)
        cells.append(cell)
        _print_row(cell)
    # linked path: open the 8 children's cases first, then report about them again and again
    await run_cell(Cell(db, "seed-linked", 1), port, w.linked, 10, 8, pid)
    cell = await run_cell(Cell(db, "intake (linked)", 8), port, w.linked, args.duration,
                          args.max_requests, pid, quiet=args.quiet_wait)
    cells.append(cell)
    _print_row(cell)
    cell = await run_cell(Cell(db, "assess", 8), port, w.assess, args.duration,
                          min(args.max_requests, len(w.new_cases)), pid, quiet=args.quiet_wait)
    if w.next_case >= len(w.new_cases) and cell.elapsed < args.duration - 0.5:
        cell.error_bodies.append(f"(note: ran out of cases to assess after {w.next_case}; "
                                 "the cell ended early)")
    cells.append(cell)
    _print_row(cell)
    return cells


async def bench_baseline(server: Server, keys: dict[str, str], args: argparse.Namespace) -> list[Cell]:
    w = Workload(keys, secrets.token_hex(3))
    pid = server.proc.pid  # type: ignore[union-attr]
    await run_cell(Cell("baseline", "warmup", 4), server.port, w.new_case, min(2.0, args.duration), 200, pid)
    cells = []
    for clients in args.clients:
        cell = await run_cell(Cell("baseline", "bare insert", clients), server.port, w.new_case,
                              args.duration, args.max_requests, pid, quiet=args.quiet_wait)
        cells.append(cell)
        _print_row(cell)
    return cells


# --------------------------------------------------------------------------- output

COLUMNS = ("db", "operation", "clients", "requests", "errors", "req/s", "p50 ms", "p99 ms",
           "srv ms/req", "srv cpu", "bench cpu", "other cpu")
WIDTHS = (8, 17, 7, 8, 6, 6, 7, 7, 10, 7, 9, 9)
NCPU = os.cpu_count() or 1


def _fmt(values: tuple) -> str:
    return "  ".join(str(v).ljust(w) if i < 2 else str(v).rjust(w)
                     for i, (v, w) in enumerate(zip(values, WIDTHS, strict=True)))


def _row(c: Cell) -> tuple:
    t = c.elapsed or float("nan")
    rate = len(c.latencies) / t
    srv, cli = 100 * c.server_cpu / t, 100 * c.client_cpu / t
    other = 100 * NCPU * c.host_busy - srv - cli
    return (c.db, c.operation, c.clients, c.requests, c.errors, f"{rate:.0f}", f"{c.pct(0.50):.1f}",
            f"{c.pct(0.99):.1f}", f"{1000 * c.server_cpu / max(1, c.requests):.2f}", f"{srv:.0f}%",
            f"{cli:.0f}%", f"{max(0.0, other):.0f}%")


def _print_row(c: Cell) -> None:
    print("  ... " + _fmt(_row(c)), file=sys.stderr, flush=True)


def print_table(cells: list[Cell]) -> None:
    print()
    print(_fmt(COLUMNS))
    print("  ".join("-" * w for w in WIDTHS))
    for c in cells:
        print(_fmt(_row(c)))
    print(f"\nreq/s: 2xx answers per second. srv ms/req: CPU time of the server per request, its worker "
          f"processes included. "
          f"srv/bench/other cpu: % of one core used by the server process, by this load generator, and by "
          f"everything else on the host ({NCPU} cores = {100 * NCPU}%; PostgreSQL's backends and any other "
          f"jobs on the machine count as other).")
    bodies = [(c, b) for c in cells for b in c.error_bodies]
    if bodies:
        print("\nerrors and notes (first few per cell):")
        for c, b in bodies:
            print(f"  [{c.db} {c.operation} x{c.clients}] {b}")


# --------------------------------------------------------------------------- main


def run_one(db: str, args: argparse.Namespace) -> list[Cell]:
    workdir = Path(tempfile.mkdtemp(prefix=f"kipthoi-bench-{db}-"))
    schema = None
    server: Server | None = None
    try:
        if db == "baseline":
            server = BaselineServer(args.python, workdir)
            print(f"baseline: starting bench/baseline_app.py on {HOST}:{server.port}", file=sys.stderr,
                  flush=True)
            server.start()
            return asyncio.run(bench_baseline(server, server.seed(), args))
        if db == "sqlite":
            url = f"sqlite:///{workdir / 'bench.db'}"
        else:
            schema = f"bench_{os.getpid()}_{secrets.token_hex(3)}"
            try:
                pg_create_schema(args.pg_url, schema)
            except Exception as exc:  # noqa: BLE001 - report and go on with the other database
                print(f"postgres: cannot create a schema at {args.pg_url}: {exc}; skipped", file=sys.stderr)
                schema = None
                return []
            url = _with_search_path(args.pg_url, schema)
        server = Server(args.python, args.source, url, workdir, args.scheduler, args.workers)
        print(f"{db}: starting kipthoi serve on {HOST}:{server.port} ({' '.join(server.cmd)})",
              file=sys.stderr, flush=True)
        server.start()
        keys = server.seed()
        if args.hold:
            pid = server.proc.pid  # type: ignore[union-attr]
            print(f"{db}: server pid {pid}", file=sys.stderr, flush=True)
        return asyncio.run(bench_db(db, server, keys, args))
    finally:
        if server is not None:
            server.stop()
            if server.proc is not None and server.proc.returncode not in (0, None, -signal.SIGINT):
                print(f"{db}: server exited with {server.proc.returncode}:\n{server.log_tail()}",
                      file=sys.stderr)
        if schema is not None:
            pg_drop_schema(args.pg_url, schema)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per cell (default 10)")
    p.add_argument("--max-requests", type=int, default=50_000, help="cap on requests per cell")
    p.add_argument("--clients", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8, 32],
                   help="intake concurrency levels, comma separated (default 1,8,32)")
    p.add_argument("--pg-url", default=os.environ.get("KIPTHOI_BENCH_PG_URL", PG_URL))
    p.add_argument("--python", default=sys.executable, help="interpreter of the venv to serve from")
    p.add_argument("--source", type=lambda s: Path(s).resolve(), default=ROOT,
                   help="source tree to serve (default: this repo's work tree; e.g. a `git archive` "
                        "export of a commit, to bench it while the work tree changes)")
    p.add_argument("--quiet-wait", type=float, default=30.0,
                   help="before each cell, wait up to this many seconds for other jobs on the host to "
                        "quiet down (under 25%% of all cores); 0 to skip (default 30)")
    p.add_argument("--no-baseline", dest="baseline", action="store_false",
                   help="skip the yardstick: bench/baseline_app.py, a bare FastAPI endpoint doing one "
                        "durable SQLite insert, measured at the same concurrency levels before SQLite")
    p.add_argument("--scheduler", choices=["embedded", "off"], default=None,
                   help="KIPTHOI_SCHEDULER__MODE for the server (default: the service's own default, "
                        "embedded: the alert sweep and outbox dispatch run inside the server)")
    p.add_argument("--workers", type=int, default=None,
                   help="KIPTHOI_API__WORKERS for the server (default: the service's own default, one "
                        "process per core, at most 4)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (server log, SQLite file)")
    p.add_argument("--hold", action="store_true", help="print the server pid (to attach a profiler)")
    args = p.parse_args(argv)
    if args.duration <= 0 or args.max_requests <= 0:
        p.error("--duration and --max-requests must be positive")
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    cells: list[Cell] = []
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    if args.baseline and "sqlite" in dbs:
        dbs.insert(dbs.index("sqlite"), "baseline")
    for db in dbs:
        cells += run_one(db, args)
    print_table(cells)
    return 0 if cells else 1


if __name__ == "__main__":
    raise SystemExit(main())
