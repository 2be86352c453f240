"""Column types shared by every table.

Timestamps are stored in UTC and always come back timezone-aware, whichever database is
underneath: SQLite returns naive datetimes, PostgreSQL aware ones, and the audit hash must
be computed from the same text on both.
"""

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import DateTime
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
