"""Issue 9, item 3: with no secret configured, development makes its own on first start — a
random secret and data keys in an owner-only file beside the database, shared by every process —
and never uses a value written in the source; it serves loopback only unless told otherwise."""

import hashlib
import hmac
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from kipthoi.settings import Settings
from kipthoi.wiring import build_auth
from models.crypto import derive_key
from tests.browser.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
OLD_CONSTANT = "kipthoi-development-secret-change-me"  # the default of earlier versions


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A fresh working directory with a SQLite database and no KIPTHOI_ settings at all."""
    for key in list(os.environ):
        if key.startswith("KIPTHOI_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KIPTHOI_DB__URL", f"sqlite:///{tmp_path}/kipthoi.db")
    return tmp_path


def _env(home: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIPTHOI_")}
    env.update({"KIPTHOI_DB__URL": f"sqlite:///{home}/kipthoi.db", "KIPTHOI_SMS__PROVIDER": "console"}, **more)
    return env


def _cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kipthoi.cli", *args], capture_output=True, text=True,
                          cwd=home, env=_env(home, **env), timeout=120)


def test_first_start_makes_an_owner_only_file_and_the_next_reuses_it(home: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    first = Settings()
    keys = first.crypto_keys()
    path = home / "kipthoi.db.secrets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    said = capsys.readouterr().err
    assert str(path) in said and "Back this file up" in said
    second = Settings()  # another process, or the next start
    assert second.crypto_keys() == keys and second.signing_secret() == first.signing_secret()
    assert build_auth(second).tokens.signing_key == build_auth(first).tokens.signing_key
    assert capsys.readouterr().err == ""  # said once, by the process that made it
    assert first.signing_secret() not in repr(first) and first.signing_secret() not in repr(first.dev_secrets())


def test_nothing_derives_from_the_old_constant(home: Path) -> None:
    settings = Settings()
    old = OLD_CONSTANT.encode()
    keys = settings.crypto_keys()
    assert hmac.new(old, b"kipthoi development data key", hashlib.sha256).digest() not in keys.data_keys.values()
    assert keys.index_key != hmac.new(old, b"kipthoi development index key", hashlib.sha256).digest()
    assert build_auth(settings).tokens.signing_key != derive_key(OLD_CONSTANT, "access-tokens")
    assert build_auth(settings).throttle_key != derive_key(OLD_CONSTANT, "login-throttle")
    assert settings.commune_policy().notify.link_secret != (OLD_CONSTANT + ":links").encode()
    # Each fresh home draws its own.
    other = home / "other"
    other.mkdir()
    elsewhere = Settings(db={"url": f"sqlite:///{other}/kipthoi.db"})
    assert elsewhere.signing_secret() != settings.signing_secret()
    assert elsewhere.crypto_keys().index_key != keys.index_key


def test_a_file_others_can_read_is_refused(home: Path) -> None:
    Settings().signing_secret()
    path = home / "kipthoi.db.secrets.json"
    path.chmod(0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        Settings().signing_secret()


def test_an_in_memory_database_keeps_its_secrets_in_memory(home: Path) -> None:
    settings = Settings(db={"url": "sqlite://"})
    assert len(settings.signing_secret()) >= 32 and settings.crypto_keys().development
    assert list(home.iterdir()) == []


def test_processes_starting_together_agree_on_one_secret(tmp_path: Path) -> None:
    path = tmp_path / "together.secrets.json"
    start = time.time() + 1.5  # every process waits for the same instant, then creates
    code = ("import sys, time; from pathlib import Path; from kipthoi.devsecrets import load_or_create\n"
            f"while time.time() < {start}: pass\n"
            f"print(load_or_create(Path({str(path)!r})).secret)")
    runs = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(6)]
    outs = [p.communicate(timeout=60) for p in runs]
    assert all(p.returncode == 0 for p in runs), outs
    assert len({out.strip() for out, _ in outs}) == 1
    assert sum("made a random secret" in err for _, err in outs) == 1
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind


def test_the_cli_commands_share_the_file(home: Path) -> None:
    demo = _cli(home, "demo", KIPTHOI_SECURITY__PASSWORD_TIME_COST="1",
                KIPTHOI_SECURITY__PASSWORD_MEMORY_KIB="8", KIPTHOI_SECURITY__PASSWORD_PARALLELISM="1")
    assert demo.returncode == 0, demo.stderr
    assert "kipthoi.db.secrets.json" in demo.stderr
    status = _cli(home, "keys", "status")
    assert status.returncode == 0, status.stderr
    active = re.search(r"active key (dev\w+)", status.stdout)
    assert active is not None and "all values under the active key" in status.stdout, status.stdout
    assert "secrets.json" not in status.stderr  # read, not made again
    assert Settings().crypto_keys().active_key_id == active.group(1)


def test_development_serves_loopback_only_unless_allowed(home: Path) -> None:
    refused = _cli(home, "serve", "--host", "0.0.0.0", "--port", str(free_port()))
    assert refused.returncode == 2 and "refusing to listen on 0.0.0.0" in refused.stderr
    assert "--allow-remote" in refused.stderr
    refused = _cli(home, "serve", "--port", str(free_port()), KIPTHOI_API__HOST="192.0.2.1")
    assert refused.returncode == 2 and "refusing" in refused.stderr
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "kipthoi.cli", "serve", "--host", "0.0.0.0", "--port",
                               str(port), "--workers", "1", "--allow-remote"], cwd=home,
                              env=_env(home, KIPTHOI_SCHEDULER__MODE="off"),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.communicate()[0]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        server.terminate()
        server.communicate(timeout=30)


def test_production_refusals_are_unchanged(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIPTHOI_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="KIPTHOI_SECURITY__SECRET must be set in production"):
        Settings()
    monkeypatch.setenv("KIPTHOI_SECURITY__SECRET", "s" * 31)
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings()
    monkeypatch.setenv("KIPTHOI_SECURITY__SECRET", "s" * 40)
    with pytest.raises(ValueError, match="KIPTHOI_CRYPTO__KEYS.*production"):
        Settings().crypto_keys()
    with pytest.raises(ValueError, match="production never uses generated"):
        Settings().dev_secrets()
    assert list(home.iterdir()) == []  # production wrote no secrets file
