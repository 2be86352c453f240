"""Build the running parts from settings: the one place that reads configuration."""

from api.deps import Runtime
from kipthoi.settings import Settings
from models import Database, open_database
from models.migrate import upgrade
from states.clock import Clock, SystemClock


def open_db(settings: Settings, *, migrate: bool = True) -> Database:
    db = open_database(settings.db.url, echo=settings.db.echo)
    if migrate:
        upgrade(db.writer)
    return db


def build_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    return Runtime(db=open_db(settings), clock=clock or SystemClock(), policy=settings.policy())
