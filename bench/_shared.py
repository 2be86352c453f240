"""What the benchmark scripts share: loopback ports, PostgreSQL admin statements for their
throwaway schemas, and stopping a `kipthoi serve` they started. Scripts run as
`python bench/<name>.py`, so this module is imported by its plain name."""

import signal
import socket
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def pg_plain(url: str) -> str:
    """SQLAlchemy's URL as psycopg wants it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def with_search_path(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={urllib.parse.quote('-csearch_path=' + schema)}"


def pg_admin(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(pg_plain(url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)


class ServedProcess:
    """A server subprocess with a log file: `proc` and `log_path` are set by the subclass."""

    proc: "subprocess.Popen[Any] | None"
    log_path: Path

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
