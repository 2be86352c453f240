"""Statements on the intake's write path, run on SQLite straight on the driver's cursor.

On SQLite every write waits for the one write lock, and during intake the lock is held mostly by
SQLAlchemy's per-statement work (building the execution context, cache-key lookup, result
set-up), which costs several times what SQLite itself takes to run the statement. A report costs
some fifteen statements, so that overhead decides how many reports a second the commune's
database takes (figures: bench/README.md, "Per-statement overhead"). `Statement` compiles a Core
statement once per dialect, applies the columns' own bind processors (so encryption at rest, UTC
date-times and JSON are exactly as through the ORM), and on SQLite hands the SQL and the
processed values to the sqlite3 cursor. On PostgreSQL, which has no single writer, it is the
ordinary `Connection.execute`.

Reads come back as the caller's typed rows (`Query(statement, SomeNamedTuple)`), writes as a row
count or the new id. Limits, by design: plain values back (no result processors: use it for ids,
counts, keys and hashes, not for encrypted or JSON columns), and SQLAlchemy's statement events do
not see these statements (nor does `echo`). A statement whose SQL differs between the databases
is a `models.dialect.PerDialect`, built for each on first use."""

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Connection, Dialect, Table
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlmodel import Session, SQLModel

from models.dialect import PerDialect

# (bind name, the type's bind processor or None, (the value written in the statement,) or None)
Processors = list[tuple[str, Any, tuple[Any] | None]]
Values = Mapping[str, Any]
R = TypeVar("R")


class _Cursor(Protocol):
    """What both a sqlite3 cursor and a SQLAlchemy `CursorResult` offer."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> Sequence[Any]: ...


_CONNECTION = "kipthoi.connection"


def connection(session: Session) -> Connection:
    """`session.connection()`, remembered for the rest of the session's transaction: asking
    the session each time costs more than SQLite takes to run the statement."""
    conn: Connection | None = session.info.get(_CONNECTION)
    if conn is None or conn.closed or not conn.in_transaction():
        conn = session.info[_CONNECTION] = session.connection()
    return conn


class Statement:
    """A write (INSERT, UPDATE, DELETE) compiled once: `execute` gives the row count, `insert`
    the new row's id."""

    def __init__(self, statement: Executable | PerDialect) -> None:
        self.statement = statement
        # SQL and bind processors, by the set of values given (an INSERT names those columns)
        self._sqlite: dict[tuple[str, ...], tuple[str, Processors]] = {}

    def _statement_for(self, dialect: Dialect) -> Executable:
        return self.statement.for_dialect(dialect.name) if isinstance(self.statement, PerDialect) \
            else self.statement

    def _compiled_for(self, dialect: Dialect, keys: tuple[str, ...]) -> tuple[str, Processors]:
        found = self._sqlite.get(keys)
        if found is None:
            compiled = self._statement_for(dialect).compile(  # type: ignore[attr-defined]
                dialect=dialect, column_keys=list(keys))
            assert isinstance(compiled, SQLCompiler)
            processors = []
            for name in compiled.positiontup or []:
                bind = compiled.binds[name]
                processors.append((name, bind.type.dialect_impl(dialect).bind_processor(dialect),
                                   None if name in keys else (bind.effective_value,)))
            found = self._sqlite[keys] = (compiled.string, processors)
        return found

    @staticmethod
    def _params(processors: Processors, values: Values) -> tuple[Any, ...]:
        out = []
        for name, proc, fixed in processors:
            value = values[name] if fixed is None else fixed[0]  # fixed: a value in the statement
            out.append(value if proc is None else proc(value))
        return tuple(out)

    def _run(self, session: Session, values: Values) -> _Cursor:
        """Execute once: a sqlite3 cursor on SQLite, a SQLAlchemy result elsewhere."""
        conn = connection(session)
        if conn.dialect.name != "sqlite":
            return conn.execute(self._statement_for(conn.dialect), values)
        sql, processors = self._compiled_for(conn.dialect, tuple(values))
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        cursor: sqlite3.Cursor = dbapi.execute(sql, self._params(processors, values))
        return cursor

    def execute(self, session: Session, values: Values) -> int:
        """Run once; how many rows it inserted, changed or deleted."""
        return self._run(session, values).rowcount

    def run_many(self, session: Session, rows: Sequence[Values]) -> None:
        """Execute for each row (all rows with the same keys)."""
        conn = connection(session)
        if conn.dialect.name != "sqlite":
            conn.execute(self._statement_for(conn.dialect), list(rows))
            return
        sql, processors = self._compiled_for(conn.dialect, tuple(rows[0]))
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        dbapi.executemany(sql, [self._params(processors, row) for row in rows])

    def insert(self, session: Session, values: Values) -> int:
        """Run an INSERT; the new row's id."""
        result = self._run(session, values)
        new_id = result.lastrowid if isinstance(result, sqlite3.Cursor) \
            else result.inserted_primary_key[0]  # type: ignore[attr-defined]
        assert new_id is not None
        return int(new_id)


class Insert(Statement):
    """`INSERT INTO <model's table>` with every column named: values not given are the model's
    own defaults (its fields' `default` or `default_factory`), so one compiled statement serves
    every row, whichever optional values a row has."""

    def __init__(self, model: type[SQLModel]) -> None:
        table: Table = model.__table__  # type: ignore[attr-defined]
        super().__init__(table.insert())
        self.defaults = model_defaults(model)

    def _run(self, session: Session, values: Values) -> _Cursor:
        return super()._run(session, {**self.defaults, **values})

    def run_many(self, session: Session, rows: Sequence[Values]) -> None:
        super().run_many(session, [{**self.defaults, **r} for r in rows])


def model_defaults(model: type[SQLModel]) -> dict[str, Any]:
    """The values a model gives the columns a row leaves out; not the primary key (the database
    gives it), not the fields that have no default."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    primary = {c.name for c in table.primary_key.columns}
    return {name: field.get_default(call_default_factory=True) for name, field in model.model_fields.items()
            if not field.is_required() and name not in primary and name in table.c}


class Query(Statement, Generic[R]):
    """A SELECT (or a write with RETURNING) whose rows come back as `row` (a NamedTuple class,
    its fields in the order of the statement's columns)."""

    def __init__(self, statement: Executable | PerDialect, row: Callable[..., R]) -> None:
        super().__init__(statement)
        self.row = row

    def first(self, session: Session, values: Values | None = None) -> R | None:
        found = self._run(session, values or {}).fetchone()
        return None if found is None else self.row(*found)

    def one(self, session: Session, values: Values | None = None) -> R:
        found = self.first(session, values)
        if found is None:
            raise LookupError("no row")
        return found

    def all(self, session: Session, values: Values | None = None) -> list[R]:
        make = self.row
        return [make(*r) for r in self._run(session, values or {}).fetchall()]


__all__ = ["Insert", "Query", "Statement", "connection", "model_defaults"]
