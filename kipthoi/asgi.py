"""The app of one worker process of `kipthoi serve --workers N`: uvicorn imports `create` by
name in each process it starts.

The supervising `kipthoi serve` has migrated the database and runs the scheduler already, so a
worker does neither; it reads the same settings (the environment and `.env`)."""

from fastapi import FastAPI

from kipthoi.settings import Settings
from kipthoi.wiring import build_app, build_runtime


def create() -> FastAPI:
    settings = Settings()
    return build_app(settings, build_runtime(settings, migrate=False))
