"""Alembic environment. The URL comes from the caller (`kipthoi db upgrade`, the service at
start, the tests) through `config.attributes["url"]` or `-x url=...`, else from settings."""

from typing import Any

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from models.types import UTCDateTime

config = context.config
target_metadata = SQLModel.metadata


def _url() -> str:
    url = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    if url:
        return str(url)
    from kipthoi.settings import Settings

    return Settings().db.url


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Migrations must not import application code: render our column types as plain SQLAlchemy."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and type(obj).__name__ == "AutoString":
        length = getattr(obj, "length", None)
        return f"sa.String(length={length})" if length else "sa.String()"
    return False


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = create_engine(_url())
    with engine.connect() as conn:
        _migrate(conn)
    engine.dispose()


def _migrate(connection: Any) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_item=render_item, compare_type=True,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


run()
