"""What the two databases say differently, in one place.

Kipthoi runs on SQLite (the embedded default: one file, one writer at a time) and on PostgreSQL
(many writers, row locks). Domain code states what it needs — insert unless present, claim rows
nobody else is claiming, queue two transactions on one key — and this module says it in each
database's SQL. Nothing else names a dialect: a statement that differs is built here (or through
`PerDialect`) and run by the caller like any other."""

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Table, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql import Executable
from sqlalchemy.sql.selectable import Select
from sqlmodel import Session

POSTGRESQL, SQLITE = "postgresql", "sqlite"

S = TypeVar("S", bound=Select[Any])


def name_of(session: Session | Connection | Engine) -> str:
    """The dialect's name ("sqlite", "postgresql") of what the session, connection or engine
    talks to."""
    bind = session.get_bind() if isinstance(session, Session) else session
    return bind.dialect.name


class PerDialect:
    """A statement whose SQL differs between the databases: `build(dialect name)` is called once
    per dialect, on first use. `models/statements.py` runs it like any statement; elsewhere,
    `statement(session)` is the one for the session's database."""

    def __init__(self, build: Callable[[str], Executable]) -> None:
        self._build = build
        self._built: dict[str, Executable] = {}

    def for_dialect(self, name: str) -> Executable:
        built = self._built.get(name)
        if built is None:
            built = self._built[name] = self._build(name)
        return built

    def __call__(self, session: Session | Connection) -> Executable:
        return self.for_dialect(name_of(session))


# --- INSERT … ON CONFLICT --------------------------------------------------------------------


def _insert(name: str) -> Callable[[Table], Any]:
    """The INSERT construct that knows `ON CONFLICT`. Both databases spell it the same way (and
    both have `RETURNING`: SQLite since 3.35), but SQLAlchemy has one construct per dialect."""
    if name == POSTGRESQL:
        return pg_insert
    if name == SQLITE:
        return sqlite_insert
    raise NotImplementedError(f"no ON CONFLICT insert for {name}")


def insert_or_ignore(table: Table, index_elements: Iterable[str]) -> PerDialect:
    """INSERT … ON CONFLICT (index_elements) DO NOTHING: the statement's row count says whether
    the row was new (1) or there already (0)."""
    keys = list(index_elements)
    return PerDialect(lambda name: _insert(name)(table).on_conflict_do_nothing(index_elements=keys))


def upsert(table: Table, index_elements: Iterable[str], *, values: Mapping[str, Any],
           set_: Mapping[str, Any], returning: Iterable[Any] = ()) -> PerDialect:
    """INSERT `values` … ON CONFLICT (index_elements) DO UPDATE SET `set_` [RETURNING …]: one
    statement, so two transactions never both insert, and the row stays locked (PostgreSQL) or
    the database does (SQLite) to the end of the transaction."""
    keys, cols = list(index_elements), list(returning)

    def build(name: str) -> Executable:
        statement: Executable = _insert(name)(table).values(**values).on_conflict_do_update(
            index_elements=keys, set_=dict(set_))
        return statement.returning(*cols) if cols else statement  # type: ignore[attr-defined]

    return PerDialect(build)


# --- locks -----------------------------------------------------------------------------------


def skip_locked(session: Session, query: S) -> S:
    """`query` made to claim its rows: on PostgreSQL `FOR UPDATE SKIP LOCKED`, so that two
    dispatchers or sweeps running at once each take rows the other has not; on SQLite as it is,
    since the write transaction (`BEGIN IMMEDIATE`) already holds the whole database and nobody
    else can claim anything until it ends (and SQLite has no `FOR UPDATE`)."""
    if name_of(session) == POSTGRESQL:
        return query.with_for_update(skip_locked=True)
    return query


def lock_keys(session: Session, *keys: str) -> None:
    """Serialise the write transactions that name the same key (an idempotency key, a child).

    On PostgreSQL, a transaction-scoped advisory lock per key, all taken in one round trip, in
    ascending order of lock id, so that two transactions wanting overlapping keys queue instead
    of deadlocking; so two requests with the same idempotency key, or for the same child, queue
    instead of both inserting. On SQLite nothing to do: every write transaction already holds
    the database's one write lock (`BEGIN IMMEDIATE`)."""
    if not keys or name_of(session) != POSTGRESQL:
        return
    ids = sorted({int.from_bytes(hashlib.blake2b(k.encode(), digest_size=8).digest(), "big", signed=True)
                  for k in keys})
    # One row, evaluated left to right.
    calls = ", ".join(f"pg_advisory_xact_lock(:k{i})" for i in range(len(ids)))
    session.execute(text(f"SELECT {calls}"), {f"k{i}": v for i, v in enumerate(ids)})


# Session-level and transaction-level "try" advisory locks of PostgreSQL, in a namespace of the
# current schema, so that two schemas of one database (tests, benchmarks) never meet. SQLite has
# no such locks: notifications/liveness.py takes a `flock` on a file beside the database instead.
_NAMESPACE = "hashtext(CAST(:namespace AS text) || ':' || current_schema())"
_TRY_SESSION_LOCK = text(f"SELECT pg_try_advisory_lock({_NAMESPACE}, CAST(:id AS integer))")
_TRY_XACT_LOCK = text(f"SELECT pg_try_advisory_xact_lock({_NAMESPACE}, CAST(:id AS integer))")


def has_advisory_locks(session: Session | Connection | Engine) -> bool:
    """Whether the database has advisory locks (PostgreSQL) — a lock that dies with its holder's
    connection; SQLite has none."""
    return name_of(session) == POSTGRESQL


def try_session_lock(conn: Connection, namespace: str, lock_id: int) -> bool:
    """PostgreSQL: take `(namespace, lock_id)` for as long as `conn` lives, if nobody holds it."""
    return bool(conn.execute(_TRY_SESSION_LOCK, {"namespace": namespace, "id": lock_id}).scalar())


def try_xact_lock(conn: Connection, namespace: str, lock_id: int) -> bool:
    """PostgreSQL: whether `(namespace, lock_id)` is free, holding it to the end of the transaction."""
    return bool(conn.execute(_TRY_XACT_LOCK, {"namespace": namespace, "id": lock_id}).scalar())


# --- SQL spelled differently -------------------------------------------------------------------


@dataclass(frozen=True)
class Spelling:
    """SQL functions the two databases name differently, for hand-written statements."""

    least: str  # the smaller of two values: LEAST(a, b) / min(a, b)
    greatest: str  # GREATEST(a, b) / max(a, b)
    epoch_template: str  # seconds since 1970 of a stored UTC date-time, as a float; "{}" is the column

    def epoch(self, column: str) -> str:
        return self.epoch_template.format(column)


_SPELLINGS = {
    POSTGRESQL: Spelling("LEAST", "GREATEST", "EXTRACT(EPOCH FROM {})"),
    # Date-times are stored as ISO text (models/types.py): julianday reads them.
    SQLITE: Spelling("min", "max", "(julianday({}) - 2440587.5) * 86400.0"),
}


def spelling(name: str) -> Spelling:
    return _SPELLINGS[name]


__all__ = ["PerDialect", "Spelling", "has_advisory_locks", "insert_or_ignore", "lock_keys", "name_of",
           "skip_locked", "spelling", "try_session_lock", "try_xact_lock", "upsert"]
