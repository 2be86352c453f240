"""The schema the migration builds, and what a committed write survives.

- `alembic upgrade head` on an empty database yields exactly the tables, columns, types and
  indexes the models declare (no autogenerate drift), and the drift check does see a drift.
- Migration files import no application code (they must keep working when the models move on).
- SQLite connections run in WAL with `synchronous=FULL` and foreign keys enforced.
- A committed report is on disk: another process and a brand-new engine both read it.
"""

import ast
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic import TypeAdapter
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from models import Case, Database, Report, open_database
from models.enums import Role
from models.migrate import alembic_config, upgrade
from states.intake import opening as intake
from states.intake.report_data import AnyReport
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from tests import dbs
from tests.conftest import Commune, hotline_report, staff_report

ROOT = Path(__file__).resolve().parent.parent
VERSIONS = ROOT / "migrations" / "versions"
REPORT = TypeAdapter(AnyReport)


@pytest.fixture
def empty_db(tmp_path: Path) -> Iterator[Database]:
    """A database that starts empty and is brought to head by the migration alone."""
    if dbs.IS_PG:
        schema = f"t_mig_{uuid.uuid4().hex[:10]}"
        url = dbs.pg_create_schema(schema)  # creates the schema, then `upgrade` to head
        database = open_database(url)
        yield database
        database.dispose()
        dbs.pg_drop_schema(schema)
    else:
        database = open_database(f"sqlite:///{tmp_path / 'empty.db'}")
        assert inspect(database.writer).get_table_names() == []
        upgrade(database.writer)
        yield database
        database.dispose()


def _drift(database: Database) -> list:
    with database.writer.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, SQLModel.metadata)


def _head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_migration_from_empty_matches_the_models(empty_db: Database) -> None:
    assert _drift(empty_db) == []
    with empty_db.writer.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == _head_revision()
    tables = set(inspect(empty_db.writer).get_table_names())
    assert {t.name for t in SQLModel.metadata.sorted_tables} <= tables
    with empty_db.read() as s:  # the migration seeds the chain's head at the genesis hash
        head = s.execute(text("SELECT last_seq, last_hash FROM audit_head WHERE id = 1")).one()
    assert tuple(head) == (0, "0" * 64)


def test_test_databases_have_no_drift_either(db: Database) -> None:
    assert _drift(db) == []


def test_drift_check_sees_a_missing_index(empty_db: Database) -> None:
    """Guard against a comparison that always answers 'no drift'."""
    with empty_db.writer.begin() as conn:
        conn.execute(text("DROP INDEX ix_case_file_state"))
    diff = _drift(empty_db)
    assert [(d[0], d[1].name) for d in diff if d[0] == "add_index"] == [("add_index", "ix_case_file_state")]


def test_downgrade_to_base_and_upgrade_again(empty_db: Database) -> None:
    cfg = alembic_config(empty_db.url)
    with empty_db.writer.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(empty_db.writer).get_table_names()) <= {"alembic_version"}
    upgrade(empty_db.writer)
    assert _drift(empty_db) == []


def test_111_replay_keys_from_before_per_account_references_still_replay(
        db: Database, commune: Commune, clock: FrozenClock, policy: CommunePolicy) -> None:
    """Keys were '111:<ref>'; the migration that scoped references by account rewrites them to
    '111:<account>:<ref>', so a transfer resent after the upgrade still replays its first answer."""
    hotline = commune.actors[Role.HOTLINE]
    report = REPORT.validate_python(hotline_report("111-MIG-1"))
    with db.write() as s:
        first = intake.submit_report(s, clock, hotline, policy, report).response
    with db.writer.begin() as conn:
        conn.execute(text("UPDATE idempotency_record SET key = '111:111-MIG-1'"))
    cfg = alembic_config(db.url)
    with db.writer.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "a7c1e0f10003")
        command.upgrade(cfg, "head")
    with db.read() as s:
        keys = list(s.execute(text("SELECT key FROM idempotency_record")).scalars())
    assert keys == [f"111:{hotline.ref}:111-MIG-1"]
    with db.write() as s:
        again = intake.submit_report(s, clock, hotline, policy, report)
    assert again.response == first and again.replayed
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(Case)).scalar_one() == 1


ALLOWED_IMPORTS = {"sqlalchemy", "alembic"} | set(sys.stdlib_module_names)


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import"
            roots.add((node.module or "").split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            roots.add("__import__")  # a dynamic import hides what is imported: refuse it
    return roots


def test_migrations_import_no_application_code() -> None:
    files = sorted(VERSIONS.glob("*.py"))
    assert files, "no migration files found"
    for path in files:
        roots = _imported_roots(path)
        assert roots <= ALLOWED_IMPORTS, f"{path.name} imports {sorted(roots - ALLOWED_IMPORTS)}"
        assert {"sqlalchemy", "alembic"} & roots


@pytest.mark.skipif(dbs.IS_PG, reason="SQLite pragmas")
def test_sqlite_connections_use_wal_full_sync_and_foreign_keys(db: Database) -> None:
    for engine in (db.writer, db.reader):
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    # WAL is a property of the file: a plain sqlite3 connection sees it too.
    raw = sqlite3.connect(db.writer.url.database or "")
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        raw.close()


@pytest.mark.skipif(dbs.IS_PG, reason="SQLite pragmas")
def test_sqlite_enforces_foreign_keys(db: Database) -> None:
    with pytest.raises(IntegrityError), db.write() as s:
        s.execute(text("INSERT INTO case_abuse_form (case_id, form) VALUES (424242, 'violence')"))


def test_committed_report_is_read_by_another_process_and_a_new_engine(
        db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune) -> None:
    report = REPORT.validate_python(staff_report(narrative="Bền vững sau khi ghi (dữ liệu giả lập)."))
    with db.write() as s:
        result = intake.submit_report(s, clock, commune.actors[Role.INTAKE_OPERATOR], policy, report)
    code = result.response["case_code"]

    # Another process, while this one still holds its engine open.
    probe = (
        "import sys\n"
        "from sqlalchemy import select\n"
        "from models import Case, Report, crypto, open_database\n"
        "from tests.conftest import TEST_KEYRING\n"
        "crypto.configure(TEST_KEYRING)  # as every entry point does (kipthoi.wiring.open_db)\n"
        "db = open_database(sys.argv[1])\n"
        "with db.read() as s:\n"
        "    row = s.execute(select(Case.code, Report.narrative).join(Report, Report.case_id == Case.id)"
        ".where(Case.code == sys.argv[2])).one()\n"
        "print(row[0] + '|' + row[1])\n"
        "db.dispose()\n"
    )
    out = subprocess.run([sys.executable, "-c", probe, db.url, code], check=False, cwd=ROOT,
                         capture_output=True, text=True, timeout=60, env=_env())
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"{code}|Bền vững sau khi ghi (dữ liệu giả lập)."

    # A brand-new engine after the first one is gone.
    db.dispose()
    fresh = open_database(db.url)
    try:
        with fresh.read() as s:
            case_id, state, version = s.execute(
                select(Case.id, Case.state, Case.version).where(Case.code == code)).one()
            narratives = s.execute(select(Report.narrative).where(Report.case_id == case_id)).scalars().all()
        assert (state, version) == ("received", 1)
        assert narratives == ["Bền vững sau khi ghi (dữ liệu giả lập)."]
    finally:
        fresh.dispose()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env
