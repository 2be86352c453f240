"""Where one intake's CPU goes, in process (no HTTP server, no load generator).

Seeds a fresh SQLite file (as `kipthoi demo` does), then times, per report, one at a time:

  validate    the JSON body into a HotlineReport (what FastAPI does with the request body)
  auth        the API-key lookup (a read transaction, as the `actor_or_public` dependency does)
  prepare     `intake.prepare` on a read session: checks, lookups, the rows worked out
  apply       `intake.apply` inside the write transaction (what holds SQLite's one write
              lock), without the commit
  commit      the commit (WAL fsync with synchronous=FULL)
  asgi        the whole FastAPI app called as ASGI (middleware, dependencies, thread pool,
              validation, auth, prepare, apply, commit, response), without uvicorn's HTTP parsing
              (the API key is cached there, so `auth` is not part of it)

and counts the SQL statements per report. With --cprofile it also prints the top functions of
the ASGI path. Compare `asgi` with `srv ms/req` of bench/intake.py (1 client) to see uvicorn's
share.

    .venv/bin/python bench/profile_intake.py [--source DIR] [-n 1000] [--cprofile]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import io
import json
import os
import pstats
import re
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ICT = timezone(timedelta(hours=7))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", type=lambda s: Path(s).resolve(), default=ROOT)
    p.add_argument("-n", type=int, default=1000, help="reports per measurement (default 1000)")
    p.add_argument("--cprofile", action="store_true", help="print cProfile's top functions (ASGI path)")
    p.add_argument("--top", type=int, default=40)
    args = p.parse_args()
    sys.path.insert(0, str(args.source))
    workdir = tempfile.mkdtemp(prefix="kipthoi-profile-")
    os.environ["KIPTHOI_DB__URL"] = f"sqlite:///{workdir}/profile.db"

    import logging

    logging.disable(logging.INFO)
    from pydantic import TypeAdapter
    from sqlalchemy import event
    from sqlmodel import Session

    from api.app import create_app
    from kipthoi.demo import seed
    from kipthoi.settings import Settings
    from kipthoi.wiring import build_runtime
    from states.identity.accounts import actor_for_key
    from states.intake import opening as intake
    from states.intake.report_data import AnyReport

    settings = Settings()
    rt = build_runtime(settings)
    out = seed(rt.db, rt.policy)
    key = re.search(r"hotline\s+\S+\s+(kt_\S+)", out).group(1)  # type: ignore[union-attr]
    app = create_app(rt)
    adapter: TypeAdapter = TypeAdapter(AnyReport)
    received = (datetime.now(ICT) - timedelta(hours=1)).replace(microsecond=0).isoformat()
    seq = iter(range(10**9))

    def body() -> bytes:
        i = next(seq)
        return json.dumps({
            "channel": "hotline_111", "hotline_ref": f"P-{i}", "received_at": received,
            "place_code": "DONG-AN", "narrative": "Báo cáo thử tải (dữ liệu giả lập).",
            "abuse_forms": ["violence"],
            "child": {"full_name": f"Trẻ Thử {i}", "birth_date": "2015-01-01", "sex": "male"},
        }, ensure_ascii=False).encode()

    statements: collections.Counter[str] = collections.Counter()

    # SQLite's own trace: it sees every statement, including those models/statements.py runs
    # on the driver's cursor, which SQLAlchemy's events do not.
    def trace(statement: str) -> None:
        words = statement.split()  # the SQL as run, values included: keep the verb and table
        statements[" ".join(words[:4] if words[0] == "SELECT" else words[:3])[:70]] += 1

    def on_checkout(dbapi_conn, _record, _proxy) -> None:
        dbapi_conn.set_trace_callback(trace)

    event.listen(rt.db.writer, "checkout", on_checkout)
    if rt.db.reader is not rt.db.writer:
        event.listen(rt.db.reader, "checkout", on_checkout)

    parts = collections.defaultdict(lambda: [0.0, 0.0])  # name -> [wall, cpu]

    def timed(name: str, fn, *a):
        w, c = time.perf_counter(), time.process_time()
        r = fn(*a)
        parts[name][0] += time.perf_counter() - w
        parts[name][1] += time.process_time() - c
        return r

    def auth():
        with rt.db.read() as s:
            return actor_for_key(s, key)

    def one_direct() -> None:
        report = timed("validate", adapter.validate_json, body())
        actor = timed("auth", auth)
        # As the API does it: the checks and lookups on a read session, then the write.
        with rt.db.read() as reader:
            prepared = timed("prepare (read)", intake.prepare, reader, rt.clock, actor, rt.policy, report)
        session = Session(rt.db.writer, expire_on_commit=False)
        try:
            timed("apply (write lock)", intake.apply, session, prepared)
            timed("commit", session.commit)
        finally:
            session.close()

    async def asgi_call(payload: bytes) -> int:
        status = 0
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/reports", "raw_path": b"/reports", "root_path": "",
                 "query_string": b"", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
                 "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                             (b"authorization", f"Bearer {key}".encode()),
                             (b"content-length", str(len(payload)).encode())]}
        sent = False

        async def receive():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": payload, "more_body": False}
            await asyncio.sleep(3600)

        async def send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(scope, receive, send)
        return status

    async def run_asgi(n: int) -> None:
        for _ in range(n):
            status = await asgi_call(body())
            if status != 201:
                raise SystemExit(f"ASGI call answered {status}")

    # warm up both paths
    for _ in range(100):
        one_direct()
    asyncio.run(run_asgi(100))
    parts.clear()
    statements.clear()

    n = args.n
    for _ in range(n):
        one_direct()
    per_report = sum(statements.values()) / n
    by_statement = statements.most_common()
    w, c = time.perf_counter(), time.process_time()
    asyncio.run(run_asgi(n))
    parts["asgi (whole app)"] = [time.perf_counter() - w, time.process_time() - c]

    print(f"per report, mean of {n} (SQLite, WAL, synchronous=FULL; source {args.source}):")
    print(f"  {'part':22} {'wall ms':>8} {'cpu ms':>8}")
    for name in ("validate", "auth", "prepare (read)", "apply (write lock)", "commit", "asgi (whole app)"):
        wall, cpu = parts[name]
        print(f"  {name:22} {1000 * wall / n:8.2f} {1000 * cpu / n:8.2f}")
    direct = sum(parts[k][1] for k in ("validate", "auth", "prepare (read)", "apply (write lock)", "commit"))
    print(f"  {'app minus the parts':22} {'':8} {1000 * (parts['asgi (whole app)'][1] - direct) / n:8.2f}"
          "   (FastAPI/Starlette, middleware, event loop, response)")
    print(f"\nSQL statements per report: {per_report:.1f}")
    for stmt, k in by_statement:
        print(f"  {k / n:4.1f}  {stmt}")

    if args.cprofile:
        # The whole app as ASGI: on SQLite, intake runs on the event loop's thread (the group
        # commit), which is the thread cProfile follows.
        prof = cProfile.Profile()
        prof.enable()
        asyncio.run(run_asgi(n))
        prof.disable()
        buf = io.StringIO()
        stats = pstats.Stats(prof, stream=buf)
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)
        print(buf.getvalue())
    rt.db.dispose()
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
