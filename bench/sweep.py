"""The deadline sweep as history grows: does `run_sweep` cost follow what is due, not how much
the commune has on file?

For each database (a SQLite file in a temp dir; PostgreSQL in a fresh schema, dropped at the
end) and each size N in --sizes this builds the schema with the real migrations, then seeds
with bulk `INSERT ... SELECT` (a recursive CTE on SQLite, generate_series on PostgreSQL; no API,
no ORM):

- a directory of 4 officials (case_worker, head, chair, province_contact);
- N children, N cases, N reports (one each), N outbox rows (sent) and N audit events;
- closed cases (N - open of them): 3 met deadlines each, and one raised alert on a third of them;
- open cases (open = max(--open-frac x N, --due)): state `received`, assigned, one open
  `initial_assessment` deadline each. Of these, --due (D) have their first reminder 1 h in the
  past (due now); the others' first alert is 1-2 h ahead.

PostgreSQL gets `VACUUM ANALYZE` after seeding (what autovacuum would have done on a live
database); SQLite gets nothing (the service never runs ANALYZE).

Then, with a FrozenClock at the seeding's "now":

- sweep ms: `run_sweep(db, clock, CommunePolicy(...))` raising the D due deadlines (one alert and
  one outbox row each, every deadline in its own transaction, as in production). Between
  repetitions the D deadlines are put back (alerts and their outbox rows deleted, stage and
  next_alert_at restored) outside the timing. Median of --reps.
- empty-sweep ms: `run_sweep` right after, with nothing due: the due-deadlines query alone,
  plus opening a read session. Median of --empty-reps per repetition, over all repetitions.

`EXPLAIN QUERY PLAN` (SQLite) / `EXPLAIN (ANALYZE, BUFFERS)` (PostgreSQL) of the due-deadlines
query, with its parameters bound as the service binds them, is printed once per database at the
largest size; on PostgreSQL also the generic plan (what a prepared statement may fall back to
after psycopg's auto-prepare).

    .venv/bin/python bench/sweep.py                                  # both dbs, 10k and 100k
    .venv/bin/python bench/sweep.py --db sqlite --sizes 10000 --reps 2
    .venv/bin/python bench/sweep.py --sizes 10000,100000,1000000     # 1M: minutes of seeding

Every run is bounded: --budget seconds (default 1200) is checked between cells, and the
remaining cells are skipped once it is spent. Timings on a busy machine are noisy; compare the
columns within one run.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import bindparam, delete, select, text, update
from sqlmodel import col

import models  # noqa: F401  (all tables registered)
from flows.jobs import run_sweep
from models import Alert, Database, Deadline, OutboxMessage, open_database
from models.migrate import upgrade
from states.deadlines import ladder as deadline_queries
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CHUNK = 200_000  # ids per INSERT ... SELECT statement (keeps the SQLite WAL and PG memory modest)
HOUR = 3600
FORMS = '["neglect"]'


# --------------------------------------------------------------------------- databases


@dataclass
class Target:
    kind: str  # sqlite | postgres
    db: Database
    cleanup: Any

from _shared import pg_admin as _pg_admin
from _shared import with_search_path as _with_search_path


def open_target(kind: str, args: argparse.Namespace) -> Target:
    if kind == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="kipthoi-sweep-"))
        db = open_database(f"sqlite:///{folder / 'sweep.db'}")
        upgrade(db.writer)

        def cleanup() -> None:
            db.dispose()
            shutil.rmtree(folder, ignore_errors=True)

        return Target(kind, db, cleanup)
    schema = f"bench_sweep_{os.getpid()}_{secrets.token_hex(3)}"
    _pg_admin(args.pg_url, f'CREATE SCHEMA "{schema}"')
    try:
        db = open_database(_with_search_path(args.pg_url, schema))
        upgrade(db.writer)
    except BaseException:
        _pg_admin(args.pg_url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        raise

    def cleanup_pg() -> None:
        db.dispose()
        _pg_admin(args.pg_url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    return Target(kind, db, cleanup_pg)


# --------------------------------------------------------------------------- seeding


class Sql:
    """The few dialect differences of the seeding SQL."""

    def __init__(self, kind: str, t0: int) -> None:
        self.pg = kind == "postgres"
        self.t0 = t0

    def ts(self, offset: str) -> str:
        """A timestamp `offset` seconds (an SQL expression) from t0, as the column stores it."""
        if self.pg:
            return f"to_timestamp({self.t0} + ({offset}))"
        # SQLAlchemy's SQLite DateTime text format, which the service's comparisons rely on
        return f"(strftime('%Y-%m-%d %H:%M:%S', {self.t0} + ({offset}), 'unixepoch') || '.000000')"

    def mod(self, a: str, b: str) -> str:
        return f"mod({a}, {b})" if self.pg else f"(({a}) % ({b}))"

    def json(self, literal: str) -> str:
        return f"'{literal}'::json" if self.pg else f"'{literal}'"

    def hash(self, expr: str) -> str:
        return f"lpad(({expr})::text, 64, '0')" if self.pg else f"printf('%064d', {expr})"

    def rows(self, lo: int, hi: int, select_sql: str, insert: str) -> str:
        """`insert` followed by `select_sql` over i = lo..hi (select_sql uses `i`, FROM s)."""
        if self.pg:
            return f"{insert} {select_sql.replace('FROM s', f'FROM generate_series({lo}, {hi}) AS s(i)')}"
        return (f"WITH RECURSIVE s(i) AS (SELECT {lo} UNION ALL SELECT i + 1 FROM s WHERE i < {hi}) "
                f"{insert} {select_sql}")


@dataclass
class Seeded:
    cases: int
    open: int
    due: int
    deadlines: int
    due_ids: list[int]
    due_next: dict[int, datetime]
    seconds: float


def seed(target: Target, n: int, due: int, open_frac: float, now: datetime) -> Seeded:
    t_start = time.perf_counter()
    t0 = int(now.timestamp())
    q = Sql(target.kind, t0)
    n_open = min(n, max(round(n * open_frac), due))
    first_open = n - n_open + 1  # cases first_open..n are open; the last `due` of them are due
    first_due = n - due + 1
    span = 3 * 365 * 24 * HOUR  # closed history: spread over three years before the last day
    step = max(1, span // max(1, n))
    # open case j = n - i (0 for the newest): due ones started 7 h (+ j s) ago, so the 50 %
    # reminder (6 h) is 1 h past and the 90 % one (10.8 h) still ahead; the others started
    # 4-5 h ago, so their first reminder is 1-2 h ahead.
    received = (f"CASE WHEN i >= {first_due} THEN -7 * {HOUR} - ({n} - i) "
                f"WHEN i >= {first_open} THEN -5 * {HOUR} + {q.mod(f'{n} - i', str(HOUR))} "
                f"ELSE -86400 - ({n} - i) * {step} END")
    with target.db.writer.begin() as conn:
        conn.execute(text("INSERT INTO place (id, code, name) VALUES (1, 'BENCH', 'Thôn Bench')"))
        conn.execute(text("INSERT INTO agency (id, code, name_vi, name_en, kind) "
                          "VALUES (1, 'VHXH', 'Phòng VHXH', 'Social office', 'culture_social')"))
        for oid, position in enumerate(("case_worker", "head", "chair", "province_contact"), start=1):
            conn.execute(text(
                "INSERT INTO official (id, full_name, agency_id, title, phone, language, active, position) "
                "VALUES (:id, :name, 1, :title, :phone, 'vi', :active, :position)"),
                {"id": oid, "name": f"Cán bộ {oid}", "title": position, "phone": f"+8490000{oid:04d}",
                 "active": True, "position": position})
    for lo in range(1, n + 1, CHUNK):
        hi = min(n, lo + CHUNK - 1)
        stmts = [
            q.rows(lo, hi, "SELECT i, 'unknown', 1 FROM s", "INSERT INTO child (id, sex, place_id)"),
            q.rows(lo, hi,
                   f"SELECT i, 'NH-B-' || i, CASE WHEN i >= {first_open} THEN 'received' ELSE 'closed' END, "
                   f"i, 1, 1, {q.ts(received)}, {q.ts(received)}, {q.ts(received + ' + 600')}, "
                   f"CASE WHEN i >= {first_open} THEN NULL ELSE {q.ts(received + ' + 20 * 86400')} END, "
                   f"CASE WHEN i >= {first_open} THEN NULL ELSE 'no_longer_at_risk' END, "
                   f"{q.json('[]')}, CASE WHEN i >= {first_open} THEN 2 ELSE 9 END FROM s",
                   "INSERT INTO case_file (id, code, state, child_id, place_id, assignee_id, received_at, "
                   "opened_at, updated_at, closed_at, closure_reason, flags, version)"),
            q.rows(lo, hi,
                   f"SELECT i, i, 'hotline_111', {q.ts(received)}, {q.ts(received + ' + 60')}, 1, "
                   f"'Báo cáo giả lập cho bench.', {q.json(FORMS)}, {q.json('{}')}, 'B' || i FROM s",
                   "INSERT INTO report (id, case_id, channel, received_at, recorded_at, place_id, narrative, "
                   "abuse_forms, parents, tracking_code)"),
            # closed cases: initial_assessment, plan_submission, plan_approval, all met
            q.rows(lo, min(hi, first_open - 1),
                   f"SELECT i, k.kind, 'met', {q.ts(received)}, {q.ts(received)}, "
                   f"{q.ts(received + ' + k.off')}, {q.ts(received + ' + k.off - 3600')}, 2, NULL "
                   "FROM s, (SELECT 'initial_assessment' AS kind, 43200 AS off UNION ALL "
                   "SELECT 'plan_submission', 604800 UNION ALL SELECT 'plan_approval', 864000) AS k",
                   "INSERT INTO deadline (case_id, kind, status, opened_at, starts_at, due_at, closed_at, "
                   "stage, next_alert_at)") if lo < first_open else None,
            q.rows(lo, hi,
                   f"SELECT i, {q.ts(received)}, 'system:bench', 'case.opened', i, '{{}}', '{{}}', "
                   f"{q.hash('i - 1')}, {q.hash('i')} FROM s",
                   'INSERT INTO audit_event (seq, "at", actor, action, case_id, before, after, prev_hash, hash)'),
            q.rows(lo, hi,
                   f"SELECT 'event:' || i || ':new_report:1', 'sms', '+84900000001', 1, i, "
                   f"'[kipthoi] Vụ việc mới NH-B-' || i, 1, "
                   f"CASE WHEN i >= {first_open} THEN 'sent' ELSE 'delivered' END, 1, "
                   f"{q.ts(received)}, {q.ts(received)}, {q.ts(received + ' + 14400')}, "
                   f"{q.ts(received + ' + 5')}, 'SMB' || i FROM s",
                   "INSERT INTO outbox (dedupe_key, channel, recipient, official_id, case_id, body, segments, "
                   "status, attempts, next_attempt_at, created_at, expires_at, sent_at, provider_id)"),
        ]
        with target.db.writer.begin() as conn:
            for stmt in stmts:
                if stmt is not None:
                    conn.exec_driver_sql(stmt)
    # open cases: one open initial_assessment each (12 h from received, reminders at 50 %/90 %)
    with target.db.writer.begin() as conn:
        conn.execute(text(q.rows(
            first_open, n,
            f"SELECT i, 'initial_assessment', 'open', {q.ts(received)}, {q.ts(received)}, "
            f"{q.ts(received + ' + 43200')}, NULL, 0, {q.ts(received + ' + 21600')} FROM s",
            "INSERT INTO deadline (case_id, kind, status, opened_at, starts_at, due_at, closed_at, "
            "stage, next_alert_at)")))
        conn.exec_driver_sql(
            "INSERT INTO alert (deadline_id, stage, kind, level, due_at, raised_at) "
            "SELECT id, 0, 'reminder', 'worker', starts_at, starts_at FROM deadline "
            f"WHERE status = 'met' AND kind = 'initial_assessment' AND {q.mod('case_id', '3')} = 0")
        conn.execute(text(f"UPDATE audit_head SET last_seq = {n}, last_hash = {q.hash(str(n))} WHERE id = 1"))
        if q.pg:
            for table in ("child", "case_file", "report", "place", "agency", "official"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))"))
        total = conn.execute(text("SELECT count(*) FROM deadline")).scalar_one()
    if q.pg:
        with target.db.writer.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text("VACUUM ANALYZE"))
    with target.db.read() as session:
        rows = session.execute(select(col(Deadline.id), col(Deadline.next_alert_at)).where(
            col(Deadline.status) == "open", col(Deadline.next_alert_at) <= now)).all()
    due_next = {int(i): at for i, at in rows}
    return Seeded(cases=n, open=n_open, due=len(due_next), deadlines=int(total), due_ids=sorted(due_next),
                  due_next=due_next, seconds=time.perf_counter() - t_start)


def reset_due(target: Target, seeded: Seeded) -> None:
    """Put the due deadlines back as they were before the sweep raised them."""
    ids = seeded.due_ids
    with target.db.writer.begin() as conn:
        alert_ids = select(col(Alert.id)).where(col(Alert.deadline_id).in_(ids))
        conn.execute(delete(OutboxMessage).where(col(OutboxMessage.alert_id).in_(alert_ids)))
        conn.execute(delete(Alert).where(col(Alert.deadline_id).in_(ids)))
        conn.execute(update(Deadline).where(col(Deadline.id) == bindparam("b_id"))
                     .values(stage=0, next_alert_at=bindparam("b_next")),
                     [{"b_id": i, "b_next": seeded.due_next[i]} for i in ids])


# --------------------------------------------------------------------------- plans


def _due_statement(now: datetime, limit: int) -> Any:
    """The statement `deadlines.due_deadline_ids` runs, captured from the real function."""
    captured: list[Any] = []

    class Spy:
        def execute(self, stmt: Any) -> list[Any]:
            captured.append(stmt)

            class Empty:
                def scalars(self) -> list[Any]:
                    return []
            return Empty()  # type: ignore[return-value]

    deadline_queries.due_deadline_ids(Spy(), now, limit)  # type: ignore[arg-type]
    return captured[0]


def _bound(stmt: Any, dialect: Any) -> tuple[str, list[Any] | dict[str, Any]]:
    """The SQL and the parameters as the driver receives them (through the column types)."""
    compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    raw = compiled.construct_params()
    values: dict[str, Any] = {}
    for name, value in raw.items():
        bind = compiled.binds.get(name)
        proc = bind.type._cached_bind_processor(dialect) if bind is not None else None
        values[name] = proc(value) if proc else value
    if compiled.positional:
        return compiled.string, [values[name] for name in compiled.positiontup]
    return compiled.string, values


def explain(target: Target, now: datetime) -> list[str]:
    stmt = _due_statement(now, 500)
    engine = target.db.reader
    sql, params = _bound(stmt, engine.dialect)
    out = [f"query: {' '.join(sql.split())}", f"params: {params}"]
    with engine.connect() as conn:
        if target.kind == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, tuple(params)).all()  # type: ignore[arg-type]
            out += [f"  {r[3]}" for r in rows]
            literal = sql.replace("deadline.status = ?", "deadline.status = 'open'", 1)
            lparams = list(params)[1:] if literal != sql else list(params)
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + literal, tuple(lparams)).all()
            out.append("  (with status = 'open' written as a literal: "
                       + "; ".join(r[3] for r in rows) + ")")
        else:
            rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params).all()  # type: ignore[arg-type]
            out += [f"  {r[0]}" for r in rows]
            # The generic plan, as a server-side prepared statement may use after psycopg's
            # auto-prepare (5 executions) and PostgreSQL's plan cache (5 custom plans).
            assert isinstance(params, dict)
            names = list(params)
            numbered = sql
            for k, name in enumerate(names, start=1):
                numbered = numbered.replace(f"%({name})s", f"${k}")
            conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
            conn.exec_driver_sql(f"PREPARE bench_due AS {numbered}")
            literals = ", ".join(str(v) if isinstance(v, int) else
                                 "'" + (v.isoformat() if isinstance(v, datetime) else str(v)) + "'"
                                 for v in (params[n] for n in names))
            rows = conn.exec_driver_sql(f"EXPLAIN (COSTS ON) EXECUTE bench_due({literals})").all()
            out.append("  generic plan (plan_cache_mode = force_generic_plan):")
            out += [f"    {r[0]}" for r in rows]
            conn.exec_driver_sql("DEALLOCATE bench_due")
            conn.exec_driver_sql("RESET plan_cache_mode")
            conn.rollback()
    return out


# --------------------------------------------------------------------------- measuring


@dataclass
class Cell:
    db: str
    seeded: Seeded
    sweep_ms: list[float]
    empty_ms: list[float]
    alerts: int
    errors: list[str]


def measure(target: Target, seeded: Seeded, now: datetime, reps: int, empty_reps: int) -> Cell:
    policy = CommunePolicy(match_secret=b"bench-match-key")
    clock = FrozenClock(now)
    sweep_ms: list[float] = []
    empty_ms: list[float] = []
    errors: list[str] = []
    alerts = 0
    for _ in range(3):  # warm the empty path (pools, statement caches, page cache)
        run_sweep(target.db, FrozenClock(now - timedelta(days=1)), policy)
    for rep in range(reps):
        if rep:
            reset_due(target, seeded)
        t = time.perf_counter()
        report = run_sweep(target.db, clock, policy)
        sweep_ms.append(1000 * (time.perf_counter() - t))
        alerts += report.alerts
        if report.deadlines != seeded.due or report.alerts != seeded.due:
            errors.append(f"rep {rep}: swept {report.deadlines} deadlines / {report.alerts} alerts, "
                          f"expected {seeded.due}")
        for _ in range(empty_reps):
            t = time.perf_counter()
            report = run_sweep(target.db, clock, policy)
            empty_ms.append(1000 * (time.perf_counter() - t))
            if report.deadlines:
                errors.append(f"rep {rep}: the empty sweep found {report.deadlines} deadlines")
    return Cell(target.kind, seeded, sweep_ms, empty_ms, alerts, errors)


# --------------------------------------------------------------------------- output

COLUMNS = ("db", "cases", "deadlines", "open", "due", "seed s", "sweep ms", "ms/due", "sweep min-max",
           "empty-sweep ms", "empty min-max")
WIDTHS = (8, 9, 10, 7, 5, 7, 9, 7, 15, 14, 13)


def _fmt(values: tuple) -> str:
    return "  ".join(str(v).ljust(w) if i == 0 else str(v).rjust(w)
                     for i, (v, w) in enumerate(zip(values, WIDTHS, strict=True)))


def _row(c: Cell) -> tuple:
    s, e = c.sweep_ms, c.empty_ms
    med = statistics.median(s)
    return (c.db, c.seeded.cases, c.seeded.deadlines, c.seeded.open, c.seeded.due, f"{c.seeded.seconds:.1f}",
            f"{med:.1f}", f"{med / max(1, c.seeded.due):.2f}", f"{min(s):.0f}-{max(s):.0f}",
            f"{statistics.median(e):.2f}", f"{min(e):.2f}-{max(e):.2f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[10_000, 100_000],
                   help="case counts, comma separated (default 10000,100000; 1000000 takes minutes)")
    p.add_argument("--due", type=int, default=100, help="deadlines due now (default 100)")
    p.add_argument("--open-frac", type=float, default=0.01, help="share of cases open (default 0.01)")
    p.add_argument("--reps", type=int, default=3, help="timed sweeps per cell (default 3)")
    p.add_argument("--empty-reps", type=int, default=5, help="empty sweeps after each (default 5)")
    p.add_argument("--pg-url", default=os.environ.get("KIPTHOI_BENCH_PG_URL", PG_URL))
    p.add_argument("--budget", type=float, default=1200.0,
                   help="seconds; cells are skipped once spent (default 1200)")
    p.add_argument("--no-explain", dest="explain", action="store_false")
    args = p.parse_args(argv)
    if args.due < 1 or args.reps < 1 or args.empty_reps < 1 or min(args.sizes) < args.due:
        p.error("--due, --reps, --empty-reps must be >= 1 and every size >= --due")
    if max(args.sizes) > 5_000_000:
        p.error("sizes above 5,000,000 are not supported (bounded runs)")
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    started = time.monotonic()
    cells: list[Cell] = []
    plans: dict[str, list[str]] = {}
    skipped: list[str] = []
    for kind in kinds:
        for size in sorted(args.sizes):
            if time.monotonic() - started > args.budget:
                skipped.append(f"{kind} {size}")
                continue
            now = datetime.now(UTC).replace(microsecond=0)
            try:
                target = open_target(kind, args)
            except Exception as exc:  # noqa: BLE001 - report, go on with the other database
                print(f"{kind}: cannot open ({type(exc).__name__}: {exc}); skipped", file=sys.stderr)
                break
            try:
                print(f"{kind} {size}: seeding ...", file=sys.stderr, flush=True)
                seeded = seed(target, size, args.due, args.open_frac, now)
                print(f"{kind} {size}: {seeded.deadlines} deadlines seeded in {seeded.seconds:.1f} s; "
                      "sweeping ...", file=sys.stderr, flush=True)
                if args.explain and size == max(args.sizes):  # while the D deadlines are due
                    plans[kind] = explain(target, now)
                cell = measure(target, seeded, now, args.reps, args.empty_reps)
                cells.append(cell)
                print("  ... " + _fmt(_row(cell)), file=sys.stderr, flush=True)
            finally:
                target.cleanup()
    print()
    print(_fmt(COLUMNS))
    print("  ".join("-" * w for w in WIDTHS))
    for c in cells:
        print(_fmt(_row(c)))
    print(f"\nsweep ms: run_sweep raising the due deadlines (1 alert + 1 SMS row each), median of {args.reps}; "
          f"ms/due = sweep ms / due. empty-sweep ms: run_sweep with nothing due, median of "
          f"{args.reps}x{args.empty_reps}. deadlines: all rows in the table (3 met per closed case).")
    for c in cells:
        for e in c.errors:
            print(f"  [{c.db} {c.seeded.cases}] {e}")
    if skipped:
        print(f"skipped (budget of {args.budget:.0f} s spent): {', '.join(skipped)}")
    for kind, lines in plans.items():
        print(f"\n{kind}: plan of the due-deadlines query (deadlines.due_deadline_ids)")
        print("\n".join(lines))
    return 1 if any(c.errors for c in cells) else 0


if __name__ == "__main__":
    raise SystemExit(main())
