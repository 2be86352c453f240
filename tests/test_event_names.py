"""Event names are one vocabulary (models/enums.py): the deadline policy and the routing table
may only name what the service raises, and a file that names anything else is refused when it
is loaded — by the loaders, and by the service, which will not start — with the file, the key
and the unknown name. A typo would otherwise silently disable a legal limit or an alert."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from models.enums import DEADLINE_EVENTS, ROUTE_EVENTS, Event, Trigger
from notifications.routing import ROUTES_FILE, load_routes
from states.deadlines.policy import DEFAULT_FILE, load_policy
from states.lifecycle.machine import TRIGGERS
from tests.conftest import SECRETS_FILE_ENV

ROOT = Path(__file__).resolve().parent.parent


def test_the_trigger_names_are_the_machines() -> None:
    assert set(Trigger) == set(TRIGGERS)


def test_the_shipped_files_use_only_known_names() -> None:
    policy, routes = load_policy(), load_routes()
    named = {n for r in policy.rules.values() for n in (*r.starts, *r.met_by, *r.cancelled_by)}
    assert named <= DEADLINE_EVENTS and Event.CASE_OPENED in named
    assert {e for r in routes for e in r.on} <= ROUTE_EVENTS


def _copy(source: Path, folder: Path, old: str, new: str) -> Path:
    text = source.read_text(encoding="utf-8")
    assert old in text
    path = folder / source.name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize("key,old,new", [
    ("met_by", 'met_by = ["assess"]', 'met_by = ["asess"]'),
    ("starts", 'starts = ["case.opened"]', 'starts = ["case.open"]'),
    ("cancelled_by", 'cancelled_by = ["close"]', 'cancelled_by = ["closed"]'),
])
def test_a_policy_file_naming_an_unknown_event_is_refused(tmp_path: Path, key: str, old: str, new: str) -> None:
    bad = _copy(DEFAULT_FILE, tmp_path, old, new)
    with pytest.raises(ValueError) as refused:
        load_policy(bad)
    unknown = new.split('"')[1]
    assert str(bad) in str(refused.value) and f"deadlines.initial_assessment.{key}" in str(refused.value)
    assert f"unknown event '{unknown}'" in str(refused.value)


def test_an_override_naming_an_unknown_event_is_refused_and_says_so() -> None:
    with pytest.raises(ValueError, match=r"KIPTHOI_POLICY__OVERRIDES: deadlines\.plan_approval\.met_by: "
                                         r"unknown event 'approve'"):
        load_policy(overrides={"plan_approval": {"met_by": ["approve"]}})


def test_events_a_limit_never_sees_are_refused_too() -> None:
    """`case.referred` is a real event, but only routing hears it: as a limit's start it would
    never fire."""
    with pytest.raises(ValueError, match="unknown event 'case.referred'"):
        load_policy(overrides={"plan_approval": {"starts": ["case.referred"]}})


@pytest.mark.parametrize("old,new,message", [
    ('on = ["case.referred"]', 'on = ["case.refered"]', "route 5: on: unknown event 'case.refered'"),
    ('on = ["emergency_decided"]', 'on = ["emergency"]', "route 3: on: unknown event 'emergency'"),
    ('when_abuse_forms = ["school_violence"]', 'when_abuse_forms = ["school_violense"]',
     "route 4: when_abuse_forms: unknown form of abuse 'school_violense'"),
    ('to = ["agency:police"]', 'to = ["agency:polices"]', "route 2: to: unknown kind of agency 'agency:polices'"),
    ('template = "referral"', 'template = "referal"', "route 5: template: unknown template 'referal'"),
])
def test_a_routing_file_naming_something_unknown_is_refused(tmp_path: Path, old: str, new: str,
                                                            message: str) -> None:
    bad = _copy(ROUTES_FILE, tmp_path, old, new)
    with pytest.raises(ValueError) as refused:
        load_routes(bad)
    assert str(refused.value).startswith(f"{bad}: {message}"), refused.value


@pytest.mark.parametrize("setting,source,old,new", [
    ("KIPTHOI_POLICY__FILE", DEFAULT_FILE, 'met_by = ["assess"]', 'met_by = ["asess"]'),
    ("KIPTHOI_NOTIFY__ROUTING_FILE", ROUTES_FILE, 'on = ["case.referred"]', 'on = ["case.refered"]'),
])
def test_the_service_refuses_to_start_with_a_typo_in_an_override_file(
        tmp_path: Path, setting: str, source: Path, old: str, new: str) -> None:
    bad = _copy(source, tmp_path, old, new)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIPTHOI_")}
    env.update({"KIPTHOI_DB__URL": f"sqlite:///{tmp_path / 'kipthoi.db'}", "KIPTHOI_SCHEDULER__MODE": "off",
                setting: str(bad), **SECRETS_FILE_ENV})
    done = subprocess.run([sys.executable, "-m", "kipthoi.cli", "serve", "--port", "0"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert str(bad) in done.stderr and new.split('"')[1] in done.stderr
    assert "Traceback" not in done.stderr
