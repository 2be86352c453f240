"""Statements on the intake's write path, run on SQLite straight on the driver's cursor.

On SQLite every write waits for the one write lock, and during intake the lock is held mostly
by SQLAlchemy's per-statement work (building the execution context, cache-key lookup, result
set-up: about 50 µs a statement here, against 15–20 µs for SQLite itself). A report costs some
fifteen statements, so that overhead decides how many reports a second the commune's database
takes. `Statement` compiles a Core statement once per dialect, applies the columns' own bind
processors (so encryption at rest, UTC date-times and JSON are exactly as through the ORM), and
on SQLite hands the SQL and the processed values to the sqlite3 cursor. On PostgreSQL, which
has no single writer, it is the ordinary `Connection.execute`.

Limits, by design: plain values back (no result processors: use it for ids, counts, keys and
hashes, not for encrypted or JSON columns), and SQLAlchemy's statement events do not see these
statements (nor does `echo`)."""

import sqlite3
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Dialect
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlmodel import Session

# (bind name, the type's bind processor or None, (the value written in the statement,) or None)
Processors = list[tuple[str, Any, tuple[Any] | None]]


_CONNECTION = "kipthoi.connection"


def connection(session: Session) -> Connection:
    """`session.connection()`, remembered for the rest of the session's transaction: asking
    the session each time costs more than SQLite takes to run the statement."""
    conn: Connection | None = session.info.get(_CONNECTION)
    if conn is None or conn.closed or not conn.in_transaction():
        conn = session.info[_CONNECTION] = session.connection()
    return conn


class Statement:
    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        # SQL and bind processors, by the set of values given (an INSERT names those columns)
        self._sqlite: dict[tuple[str, ...], tuple[str, Processors]] = {}

    def _compiled_for(self, dialect: Dialect, keys: tuple[str, ...]) -> tuple[str, Processors]:
        found = self._sqlite.get(keys)
        if found is None:
            compiled = self.statement.compile(dialect=dialect, column_keys=list(keys))  # type: ignore[attr-defined]
            assert isinstance(compiled, SQLCompiler)
            processors = []
            for name in compiled.positiontup or []:
                bind = compiled.binds[name]
                processors.append((name, bind.type.dialect_impl(dialect).bind_processor(dialect),
                                   None if name in keys else (bind.effective_value,)))
            found = self._sqlite[keys] = (compiled.string, processors)
        return found

    @staticmethod
    def _params(processors: Processors, values: dict[str, Any]) -> tuple[Any, ...]:
        out = []
        for name, proc, fixed in processors:
            value = values[name] if fixed is None else fixed[0]  # fixed: a value in the statement
            out.append(value if proc is None else proc(value))
        return tuple(out)

    def run(self, session: Session, values: dict[str, Any]) -> Any:
        """Execute once: a sqlite3 cursor on SQLite, a SQLAlchemy result elsewhere. Both have
        `fetchone`, `fetchall` and `rowcount`."""
        conn = connection(session)
        if conn.dialect.name != "sqlite":
            return conn.execute(self.statement, values)
        sql, processors = self._compiled_for(conn.dialect, tuple(values))
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        return dbapi.execute(sql, self._params(processors, values))

    def run_many(self, session: Session, rows: Sequence[dict[str, Any]]) -> None:
        """Execute for each row (all rows with the same keys)."""
        conn = connection(session)
        if conn.dialect.name != "sqlite":
            conn.execute(self.statement, list(rows))
            return
        sql, processors = self._compiled_for(conn.dialect, tuple(rows[0]))
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        dbapi.executemany(sql, [self._params(processors, row) for row in rows])

    def insert(self, session: Session, values: dict[str, Any]) -> int:
        """Run an INSERT; the new row's id."""
        result = self.run(session, values)
        new_id = result.lastrowid if isinstance(result, sqlite3.Cursor) else result.inserted_primary_key[0]
        assert new_id is not None
        return int(new_id)


__all__ = ["Statement", "connection"]
