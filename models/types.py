"""Column types shared by every table.

Timestamps are stored in UTC and always come back timezone-aware, whichever database is
underneath: SQLite returns naive datetimes, PostgreSQL aware ones, and the audit hash must
be computed from the same text on both.
"""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import DateTime, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return cast(datetime, value.replace(tzinfo=UTC))
        return cast(datetime, value.astimezone(UTC))


E = TypeVar("E", bound=StrEnum)


class EnumText(TypeDecorator[E], Generic[E]):
    """A status stored as its plain value in a VARCHAR (no database enum type, so adding a
    value needs no migration) but read back as the enum, and checked on the way in: a typo in
    a status written anywhere (ORM, Core update, the driver-cursor statements) fails loudly
    instead of leaving a row that no query ever finds."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)
