"""The composition root: settings refuse what is unsafe, choose the SMS provider, apply policy
overrides; the command line does what the README says."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from kipthoi.settings import DEV_SECRET, Settings
from kipthoi.wiring import build_sms
from models import Database
from notifications.providers import ConsoleProvider, TwilioProvider

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("KIPTHOI_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(ROOT / "tests")  # no .env file is read from here


def test_production_refuses_the_development_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIPTHOI_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="KIPTHOI_SECURITY__SECRET"):
        Settings()
    monkeypatch.setenv("KIPTHOI_SECURITY__SECRET", "a-real-secret-from-the-vault")
    assert Settings().security.secret != DEV_SECRET


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


def _cli(db: Database, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIPTHOI_")}
    env["KIPTHOI_DB__URL"] = db.url
    return subprocess.run([sys.executable, "-m", "kipthoi.cli", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


def test_user_create_prints_a_key_once_and_refuses_a_bad_role(db: Database) -> None:
    made = _cli(db, "user", "create", "quantri", "--role", "admin")
    assert made.returncode == 0, made.stderr
    assert "kt_" in made.stdout
    again = _cli(db, "user", "create", "quantri", "--role", "admin")
    assert again.returncode == 2 and "username" in again.stderr
    bad = _cli(db, "user", "create", "someone", "--role", "emperor")
    assert bad.returncode == 2 and "role" in bad.stderr


def test_diagram_prints_the_lifecycle() -> None:
    out = subprocess.run([sys.executable, "-m", "kipthoi.cli", "diagram"], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert out.returncode == 0
    assert "stateDiagram-v2" in out.stdout and "closed --> received: reopen" in out.stdout
