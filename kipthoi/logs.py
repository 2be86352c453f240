"""Logging, configured once per process: the CLI's commands, `kipthoi serve` and each of its
worker processes (uvicorn applies the same dictionary in every process it starts).

INFO is meant to be read by an operator: one line per thing that happened (alerts raised,
messages sent, failed or dead, a key rotation step, a retention run), with case codes only and
no personal data. The libraries' routine chatter — APScheduler's every job start and finish,
uvicorn's startup steps — is demoted to DEBUG, where it helps whoever is chasing a problem."""

import logging
from typing import Any

LEVELS = ("debug", "info", "warning", "error")
FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

# uvicorn's lines that only narrate its start and stop; the banner says where it listens. Kept
# at INFO: a worker process (re)started, a child died, a signal received, shutting down.
UVICORN_CHATTER = ("Waiting for application", "Application startup complete", "Application shutdown complete",
                   "Uvicorn running on", "Started parent process", "Waiting for child process",
                   "Waiting for connections to close", "Waiting for background tasks",
                   "Stopping parent process", "Terminated child process")
# Libraries whose INFO lines are chatter (or may carry a phone number: Twilio's request log).
QUIET = {"transitions": "WARNING", "alembic": "WARNING", "twilio": "WARNING", "httpx": "WARNING",
         "httpcore": "WARNING", "urllib3": "WARNING"}


class Demote(logging.Filter):
    """Turns a library's INFO records into DEBUG ones (all of them, or those starting with one
    of `prefixes`), dropped unless the logger they came from is enabled for DEBUG."""

    def __init__(self, logger: str, prefixes: list[str] | None = None) -> None:
        super().__init__()
        self.logger = logger
        self.prefixes = tuple(prefixes or ())

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not (record.name == self.logger
                                                  or record.name.startswith(self.logger + ".")):
            return True
        if self.prefixes and not str(record.msg).startswith(self.prefixes):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def config(level: str = "info", *, access_log: bool = False) -> dict[str, Any]:
    """A `logging.config.dictConfig` dictionary, also handed to uvicorn as its `log_config`."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": FORMAT}},
        "filters": {
            "apscheduler": {"()": "kipthoi.logs.Demote", "logger": "apscheduler"},
            "uvicorn": {"()": "kipthoi.logs.Demote", "logger": "uvicorn.error", "prefixes": list(UVICORN_CHATTER)},
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain",
                                 "filters": ["apscheduler", "uvicorn"]}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "uvicorn": {"level": level},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"level": level if access_log else "WARNING", "propagate": access_log},
            **{name: {"level": quiet} for name, quiet in QUIET.items()},
        },
    }


def configure(level: str = "info") -> None:
    import logging.config

    logging.config.dictConfig(config(level))
