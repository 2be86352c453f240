"""The composition root: settings refuse what is unsafe, choose the SMS provider, apply policy
overrides; the command line does what the README says."""

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.app import create_app
from api.deps import Runtime
from kipthoi.settings import PUBLISHED_SECRET, Settings
from kipthoi.wiring import build_auth, build_rate_limits, build_sms
from models import Database
from models.enums import Role
from notifications.providers import ConsoleProvider, TwilioProvider
from states.identity.login import AuthConfig
from states.identity.passwords import HashCost, Passwords
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from tests.conftest import T0

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("KIPTHOI_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(ROOT / "tests")  # no .env file is read from here
    # Development secrets generated here go to the test's folder, not the working tree.
    monkeypatch.setenv("KIPTHOI_SECURITY__SECRETS_FILE", str(tmp_path / "kipthoi.secrets.json"))


def test_production_refuses_the_development_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIPTHOI_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="KIPTHOI_SECURITY__SECRET"):
        Settings()
    monkeypatch.setenv("KIPTHOI_SECURITY__SECRET", PUBLISHED_SECRET)  # the old default, public
    with pytest.raises(ValidationError, match="published"):
        Settings()
    monkeypatch.setenv("KIPTHOI_SECURITY__SECRET", "a-real-secret-from-the-vault-0123456789")
    assert Settings().signing_secret() == "a-real-secret-from-the-vault-0123456789"


def test_the_published_secret_is_refused_in_development_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIPTHOI_SECURITY__SECRET", PUBLISHED_SECRET)
    with pytest.raises(ValidationError, match="published in kipthoi's source"):
        Settings()


def test_production_refuses_a_secret_shorter_than_32_characters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIPTHOI_SECURITY__SECRET", "s" * 31)
    assert Settings().signing_secret() == "s" * 31  # development takes it
    monkeypatch.setenv("KIPTHOI_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings()
    monkeypatch.setenv("KIPTHOI_SECURITY__SECRET", "s" * 32)
    assert Settings().environment == "production"


def test_token_keys_come_from_the_secret_one_per_purpose(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIPTHOI_SECURITY__SECRET", "x" * 40)
    one, two = build_auth(Settings()), build_auth(Settings())  # two worker processes agree
    assert one.tokens.signing_key == two.tokens.signing_key
    assert one.tokens.signing_key not in (one.throttle_key, b"x" * 40)
    assert one.tokens.access_ttl == timedelta(minutes=15) and one.tokens.refresh_ttl == timedelta(hours=12)
    monkeypatch.setenv("KIPTHOI_SECURITY__SECRET", "y" * 40)
    monkeypatch.setenv("KIPTHOI_SECURITY__ACCESS_TOKEN_MINUTES", "5")
    monkeypatch.setenv("KIPTHOI_SECURITY__LOGIN_LOCKOUT_AFTER", "6")
    other = build_auth(Settings())
    assert other.tokens.signing_key != one.tokens.signing_key
    assert other.tokens.access_ttl == timedelta(minutes=5) and other.throttle.lockout_after == 6


def test_rate_limits_and_cors_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    limits = build_rate_limits(Settings())
    assert (limits.public_intake.per_minute, limits.public_intake.burst) == (10, 20)
    assert Settings().api.cors_origin_list == ()
    monkeypatch.setenv("KIPTHOI_API__RATE_LOGIN_PER_USERNAME_BURST", "3")
    monkeypatch.setenv("KIPTHOI_API__CORS_ORIGINS", "https://kipthoi.example.vn, http://localhost:5173")
    assert build_rate_limits(Settings()).login_per_username.burst == 3
    assert Settings().api.cors_origin_list == ("https://kipthoi.example.vn", "http://localhost:5173")
    monkeypatch.setenv("KIPTHOI_API__CORS_ORIGINS", "*")
    with pytest.raises(ValidationError, match="CORS origin"):
        Settings()


def test_sms_goes_to_the_console_unless_twilio_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(build_sms(Settings()), ConsoleProvider)
    monkeypatch.setenv("KIPTHOI_SMS__TWILIO_ACCOUNT_SID", "AC" + "1" * 32)
    monkeypatch.setenv("KIPTHOI_SMS__TWILIO_AUTH_TOKEN", "token")
    monkeypatch.setenv("KIPTHOI_SMS__TWILIO_FROM", "+15005550006")
    monkeypatch.setenv("KIPTHOI_SMS__TWILIO_BASE_URL", "http://127.0.0.1:9/")
    provider = build_sms(Settings())
    assert isinstance(provider, TwilioProvider)
    assert provider.client.api.base_url == "http://127.0.0.1:9"


def test_twilio_asked_for_without_credentials_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIPTHOI_SMS__PROVIDER", "twilio")
    with pytest.raises(ValueError, match="TWILIO"):
        build_sms(Settings())


def test_policy_overrides_and_calendar_setting_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIPTHOI_POLICY__OVERRIDES", '{"plan_approval": {"limit": 3}}')
    monkeypatch.setenv("KIPTHOI_POLICY__CULTURE_DAY_OFF", "false")
    policy = Settings().commune_policy()
    assert policy.deadlines.rules["plan_approval"].limit == 3
    assert policy.deadlines.calendar.culture_day_off is False
    monkeypatch.setenv("KIPTHOI_POLICY__OVERRIDES", '{"no_such_limit": {"limit": 3}}')
    with pytest.raises(ValueError, match="no_such_limit"):
        Settings().commune_policy()


CHEAP_HASH = {"KIPTHOI_SECURITY__PASSWORD_TIME_COST": "1", "KIPTHOI_SECURITY__PASSWORD_MEMORY_KIB": "8",
              "KIPTHOI_SECURITY__PASSWORD_PARALLELISM": "1"}


def _cli(db: Database, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIPTHOI_")}
    env["KIPTHOI_DB__URL"] = db.url
    env["KIPTHOI_SECURITY__SECRETS_FILE"] = os.environ["KIPTHOI_SECURITY__SECRETS_FILE"]  # clean_env's
    env.update(CHEAP_HASH)
    return subprocess.run([sys.executable, "-m", "kipthoi.cli", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120, input=stdin or "")


def _token(db: Database, username: str, password: str) -> str:
    cheap = Passwords(HashCost(time_cost=1, memory_kib=8, parallelism=1))
    runtime = Runtime(db=db, clock=FrozenClock(T0), policy=CommunePolicy(code_prefix="NH", match_secret=b"t"),
                      auth=AuthConfig(passwords=cheap))
    with TestClient(create_app(runtime)) as client:
        r = client.post("/auth/token", data={"grant_type": "password", "username": username,
                                             "password": password})
        assert r.status_code == 200, r.text
        me = client.get("/auth/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
        return str(me.json()["role"])


def test_user_create_takes_a_password_from_stdin_and_prints_how_to_log_in(db: Database) -> None:
    made = _cli(db, "user", "create", "quantri", "--role", "admin", "--password-stdin",
                stdin="mật khẩu quản trị dài\n")
    assert made.returncode == 0, made.stderr
    assert "kt_" not in made.stdout and "/auth/token" in made.stdout and "dài" not in made.stdout
    assert _token(db, "quantri", "mật khẩu quản trị dài") == "admin"
    again = _cli(db, "user", "create", "quantri", "--role", "admin", "--password-stdin", stdin="x" * 20)
    assert again.returncode == 2 and "username" in again.stderr
    bad = _cli(db, "user", "create", "someone", "--role", "emperor")
    assert bad.returncode == 2 and "role" in bad.stderr
    short = _cli(db, "user", "create", "someone", "--role", "head", "--password-stdin", stdin="ngắn\n")
    assert short.returncode == 2 and "password" in short.stderr


def test_user_create_gives_the_hotline_an_api_key_and_no_password(db: Database) -> None:
    made = _cli(db, "user", "create", "tongdai111", "--role", "hotline")
    assert made.returncode == 0, made.stderr
    assert re.search(r"API key \(shown once\): kt_\S+", made.stdout)


def test_demo_prints_a_login_for_each_role_and_the_hotlines_key(db: Database) -> None:
    out = _cli(db, "demo")
    assert out.returncode == 0, out.stderr
    # "  <role> <username> <password or key>", as bench/intake.py reads it
    rows = re.findall(r"^\s+(\w+)\s+(\S+)\s+(\S+)\s*$", out.stdout, re.MULTILINE)
    logins = {role: (user, cred) for role, user, cred in rows}
    assert set(logins) == {r.value for r in Role}
    assert [r for r, (_, cred) in logins.items() if cred.startswith("kt_")] == ["hotline"]
    assert out.stdout.count("/auth/token -d grant_type=password") == len(Role) - 1
    assert _token(db, *logins["case_worker"]) == "case_worker"


def test_diagram_prints_the_lifecycle() -> None:
    out = subprocess.run([sys.executable, "-m", "kipthoi.cli", "diagram"], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert out.returncode == 0
    assert "stateDiagram-v2" in out.stdout and "closed --> received: reopen" in out.stdout
