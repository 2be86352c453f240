"""The yardstick for bench/intake.py: a bare FastAPI endpoint doing one durable SQLite insert.

Same settings as kipthoi's writer (WAL, synchronous=FULL, BEGIN IMMEDIATE, 10 s busy timeout),
a sync endpoint (so FastAPI's thread pool, as in kipthoi), the same request body and bearer
header; no ORM, no validation model, no auth lookup. Served by `bench/intake.py --baseline`:

    BENCH_BASELINE_DB=/tmp/x.db .venv/bin/python -m uvicorn baseline_app:app --app-dir bench
"""

import json
import os
import sqlite3
import threading
import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

DB = os.environ.get("BENCH_BASELINE_DB", "baseline.db")
_local = threading.local()


def _conn() -> sqlite3.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(DB, isolation_level=None, timeout=10, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=10000")
        _local.conn = conn
    return conn


_setup = sqlite3.connect(DB, isolation_level=None)
_setup.execute("PRAGMA journal_mode=WAL")
_setup.execute("CREATE TABLE IF NOT EXISTS report (id INTEGER PRIMARY KEY, ref TEXT UNIQUE, "
               "received_at TEXT, body TEXT)")
_setup.close()

app = FastAPI()


@app.get("/health")
def health() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@app.post("/reports", status_code=201)
def post_report(body: dict, request: Request) -> JSONResponse:  # type: ignore[type-arg]
    conn = _conn()
    conn.execute("BEGIN IMMEDIATE")
    try:
        cur = conn.execute("INSERT INTO report (ref, received_at, body) VALUES (?, ?, ?)",
                           (body.get("hotline_ref"), time.time(), json.dumps(body)))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return JSONResponse({"report_id": cur.lastrowid, "linked_to_existing_case": True}, status_code=201)
