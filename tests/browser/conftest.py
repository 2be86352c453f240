"""Browser tests: a real `kipthoi serve` and the system's Chromium, driven by Playwright.

Reusable fixtures (the web desk's page tests build on them):

- `kipthoi_server`: a `kipthoi serve` subprocess on a free 127.0.0.1 port, over the test's own
  database (a fresh SQLite file, or the run's PostgreSQL schema emptied), with the scheduler
  off and SMS to the console. `start_kipthoi` starts one with other settings or arguments;
  `server.cli("demo")` runs a CLI command against the same database and secrets.
- `browser`: one headless Chromium per test module (`/usr/bin/chromium`, `--no-sandbox`).
- `guarded_page`: a fresh browser context whose every request to a host other than 127.0.0.1
  is aborted and recorded (`guarded.blocked`), with the console's errors and CSP violations
  collected (`guarded.problems`) and `guarded.shoot(name)` saving screenshots at 360 px and
  1280 px width under tests/.output/screenshots/.

Without Chromium (or Playwright) every browser test is skipped with one line saying how to
install it; Playwright's own browser download is never used."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from models import Database

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "tests" / ".output" / "screenshots"
CHROMIUM = os.environ.get("KIPTHOI_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
INSTALL_HINT = "browser tests need Chromium: apt-get install -y chromium (and playwright: make install)"
LOCAL_HOSTS = {"127.0.0.1"}
WIDTHS = (360, 1280)
# Cheap password hashing for accounts made through the CLI in these tests.
CHEAP_HASH = {"KIPTHOI_SECURITY__PASSWORD_TIME_COST": "1", "KIPTHOI_SECURITY__PASSWORD_MEMORY_KIB": "8",
              "KIPTHOI_SECURITY__PASSWORD_PARALLELISM": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class KipthoiServer:
    base_url: str
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes]

    def url(self, path: str) -> str:
        return self.base_url + path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """A `kipthoi` command on the server's database and secrets (e.g. `demo`, `user create`)."""
        return subprocess.run([sys.executable, "-m", "kipthoi.cli", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=120, input=stdin)


def server_env(db_url: str, folder: Path, **settings: str) -> dict[str, str]:
    """The environment of a test server: none of the caller's KIPTHOI_ settings leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIPTHOI_")}
    env.update({"KIPTHOI_DB__URL": db_url, "KIPTHOI_SMS__PROVIDER": "console",
                "KIPTHOI_SCHEDULER__MODE": "off",
                # Development secrets of this test, not a file in the working tree.
                "KIPTHOI_SECURITY__SECRETS_FILE": str(folder / "kipthoi.secrets.json"), **CHEAP_HASH})
    env.update(settings)
    return env


@contextmanager
def start_kipthoi(env: dict[str, str], folder: Path, *args: str, ready_timeout: float = 60) -> Iterator[KipthoiServer]:
    """`kipthoi serve ARGS` until the block ends (SIGINT, as Ctrl-C); ready when /health answers."""
    port = free_port()
    log = folder / f"serve-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "kipthoi.cli", "serve", "--port", str(port), *args],
                                   cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = KipthoiServer(f"http://127.0.0.1:{port}", env, log, process)
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            assert process.poll() is None, server.log_text()
            try:
                if httpx.get(server.url("/health"), timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, server.log_text()
            time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture
def kipthoi_server(db: Database, tmp_path: Path) -> Iterator[KipthoiServer]:
    with start_kipthoi(server_env(db.url, tmp_path), tmp_path, "--workers", "1") as server:
        yield server


# Module scope, not session: Playwright's sync API keeps an event loop running in this thread
# while it is open, and Prefect's sync-compatible calls (`State.result()`) then hand back a
# coroutine to the other tests this xdist worker runs meanwhile.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(INSTALL_HINT)
    if not Path(CHROMIUM).exists():
        pytest.skip(INSTALL_HINT)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--no-proxy-server", "--disable-background-networking",
                                           "--disable-component-update", "--disable-domain-reliability"])
        yield chromium
        chromium.close()


@dataclass
class GuardedPage:
    page: Any  # playwright.sync_api.Page
    blocked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def shoot(self, name: str, *, full_page: bool = False) -> list[Path]:
        """Screenshots (the first 800 px, or the whole page) at each of WIDTHS, named
        `<name>-<width>.png`; the viewport is restored afterwards."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        before = self.page.viewport_size
        paths = []
        for width in WIDTHS:
            self.page.set_viewport_size({"width": width, "height": 800})
            self.page.wait_for_timeout(300)  # let the layout settle at the new width
            path = SCREENSHOTS / f"{name}-{width}.png"
            self.page.screenshot(path=str(path), full_page=full_page)
            paths.append(path)
        self.page.set_viewport_size(before)
        return paths


@pytest.fixture
def guarded_page(browser: Any) -> Iterator[GuardedPage]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="vi-VN",
                                  service_workers="block")
    page = context.new_page()
    guarded = GuardedPage(page)

    def route(r: Any) -> None:
        url = r.request.url
        parts = urlsplit(url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOCAL_HOSTS:
            guarded.blocked.append(url)
            r.abort("blockedbyclient")
        else:
            r.continue_()

    context.route("**/*", route)
    page.on("console", lambda m: guarded.problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: guarded.problems.append(f"page error: {e}"))
    yield guarded
    context.close()
