"""Key rotation (`states/records/key_rotation.py`, `kipthoi keys ...`) against a real database.

- A new active key, then `rotate`: every value under it, every record still read through the
  API, then the old key can leave the keyring; a second run finds nothing to do.
- Rows from before encryption (written at the previous schema revision, then migrated) are
  read as plaintext, and `rotate` encrypts them and gives them blind indexes.
- A new index key: `rotate` recomputes the indexes, and search and matching work again.
- An interrupted rotation keeps what it committed and finishes when run again.
- The CLI prints usable keys, and rotates and counts with the keys from its environment.
"""

import base64
import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, select, text

from models import AuditEvent, Child, Database, Report, Reporter, crypto, open_database
from models.enums import Role
from models.migrate import alembic_config, upgrade
from states.audit import chain as audit
from states.cases import search
from states.identity.actors import SYSTEM, Actor
from states.intake.opening import submit_report
from states.intake.report_data import StaffReport
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from states.kernel.errors import Forbidden
from states.lifecycle.triggers import INPUTS
from states.lifecycle.workflow import add_note, advance
from states.records import key_rotation as keys
from tests import dbs
from tests.conftest import SECRETS_FILE_ENV, T0, TEST_KEYRING, Commune, staff_report
from tests.payloads import DETAIL, FACTORS, measures

ROOT = Path(__file__).resolve().parents[3]
TEST_KEY = hashlib.sha256(b"kipthoi test data key 1").digest()  # TEST_KEYRING's "test1"
NEW_KEY = bytes(range(32))
HEAD = Actor(ref="user:head", role=Role.HEAD)
NAMES = ["Đỗ Minh Xoay", "Vũ Thị Lượn", "Hồ Văn Quẹo"]


def _open(db: Database, clock: FrozenClock, commune: Commune, policy: CommunePolicy, name: str,
          phone: str = "0900000999") -> str:
    """A case from a staff report, assessed, with a plan and a note: rows in most tables."""
    worker = commune.actors[Role.CASE_WORKER]
    with db.write() as s:
        result = submit_report(s, clock, commune.actors[Role.INTAKE_OPERATOR], policy,
                               StaffReport.model_validate(staff_report(
                                   child={"full_name": name, "birth_date": "2015-02-03", "sex": "male"},
                                   reporter={"full_name": "Người Báo", "phone": phone})))
        code = str(result.response["case_code"])
        version = advance(s, clock, worker, code, "assess",
                          INPUTS["assess"].model_validate({"risk_level": "low", "factors": FACTORS["low"],
                                                           "emergency": False}),
                          1, policy=policy).version
        version = advance(s, clock, worker, code, "detail_assess", INPUTS["detail_assess"].model_validate(DETAIL),
                          version, policy=policy).version
        advance(s, clock, worker, code, "submit_plan", INPUTS["submit_plan"].model_validate(
            {"goals": f"Mục tiêu cho {name}", "measures": measures(f"Thăm {name} hằng tuần")}), version,
                policy=policy)
        add_note(s, clock, worker, code, f"Ghi chú về {name}")
    return code


def _stored(db: Database) -> list[str]:
    """Every non-null value of every encrypted column, as stored."""
    out = []
    with db.read() as s:
        for table, cols in keys.encrypted_columns().items():
            for c in cols:
                out += [v for v in s.execute(text(f'SELECT "{c.name}" FROM "{table.name}"')).scalars()
                        if v is not None]
    return out


def _status(db: Database, index_key: bytes) -> dict[str, dict[str, int]]:
    with db.read() as s:
        return {t: dict(c) for t, c in keys.status(s, SYSTEM, index_key).items() if c}


def _rotations(db: Database) -> list[dict[str, Any]]:
    with db.read() as s:
        events = s.execute(select(AuditEvent).where(AuditEvent.action == "keys.rotated")
                           .order_by(AuditEvent.seq)).scalars().all()
    return [json.loads(e.after) for e in events]


def test_rotation_to_a_new_key_keeps_every_record_readable_and_frees_the_old_key(
        db: Database, clock: FrozenClock, commune: Commune, policy: CommunePolicy,
        client: TestClient) -> None:
    codes = [_open(db, clock, commune, policy, name) for name in NAMES]
    assert set(_status(db, policy.match_secret)["child"]) == {"test1"}

    both = crypto.Keyring({"test1": TEST_KEY, "k2": NEW_KEY}, "k2")
    crypto.configure(both)
    report = keys.rotate(db, clock, SYSTEM, both, policy.match_secret, batch=2)
    assert report.complete and report.skipped == 0
    assert report.reencrypted["child"] == 6 and report.reencrypted["note"] == 3  # name + birth date
    assert report.reencrypted["plan"] == 3 and report.reencrypted["reporter"] == 6  # a plan's goals
    # Its measures are rows of their own (description and responsible); Mẫu 03 has four texts.
    assert report.reencrypted["plan_measure"] == 6 and report.reencrypted["detailed_assessment"] == 12
    assert not report.from_plaintext and not report.reindexed
    assert all(v.startswith("v1.k2.") for v in _stored(db))
    assert all(set(by_key) == {"k2"} for by_key in _status(db, policy.match_secret).values())

    again = keys.rotate(db, clock, SYSTEM, both, policy.match_secret)
    assert (sum(again.reencrypted.values()), sum(again.from_plaintext.values()), again.skipped) == (0, 0, 0)

    crypto.configure(crypto.Keyring({"k2": NEW_KEY}, "k2"))  # the old key is gone
    for code, name in zip(codes, NAMES, strict=True):
        shown = client.get(f"/cases/{code}", headers=commune.headers(Role.HEAD)).json()
        assert shown["child"]["full_name"] == name
        assert shown["child"]["birth_date"] == "2015-02-03"
        assert shown["plans"][0]["goals"] == f"Mục tiêu cho {name}"
        assert f"Ghi chú về {name}" in [n["text"] for n in shown["notes"]]

    events = _rotations(db)
    assert [e["reencrypted"].get("child", 0) for e in events] == [6, 0]
    assert events[0]["active_key_id"] == "k2" and events[0]["complete"] is True
    assert not any(name in json.dumps(events, ensure_ascii=False) for name in NAMES)
    with db.read() as s:
        assert audit.verify(s).ok


def test_only_the_administrator_rotates(db: Database, clock: FrozenClock, commune: Commune,
                                        policy: CommunePolicy) -> None:
    with pytest.raises(Forbidden):
        keys.rotate(db, clock, commune.actors[Role.HEAD], TEST_KEYRING, policy.match_secret)
    with db.read() as s, pytest.raises(Forbidden):
        keys.status(s, commune.actors[Role.CASE_WORKER], policy.match_secret)


def test_a_new_index_key_is_applied_by_rotate_and_search_and_matching_follow(
        db: Database, clock: FrozenClock, commune: Commune, policy: CommunePolicy) -> None:
    code = _open(db, clock, commune, policy, NAMES[0], phone="0912000111")
    new_policy = CommunePolicy(code_prefix="NH", match_secret=b"a-new-index-key-of-32-bytes-len!")

    def found(p: CommunePolicy, **term: str) -> list[str]:
        with db.write() as s:
            return [i["code"] for i in search.search_cases(s, clock, HEAD, p, **term).items]

    assert found(policy, child_name=NAMES[0]) == [code]
    assert found(new_policy, child_name=NAMES[0]) == []  # the index is under the old key
    assert _status(db, new_policy.match_secret)["child"][keys.STALE_INDEX] == 1

    report = keys.rotate(db, clock, SYSTEM, TEST_KEYRING, new_policy.match_secret)
    assert dict(report.reindexed) == {"child": 1, "reporter": 1}
    assert not report.reencrypted
    assert found(new_policy, child_name=NAMES[0]) == [code]
    assert found(new_policy, reporter_phone="+84912000111") == [code]
    assert keys.STALE_INDEX not in _status(db, new_policy.match_secret)["child"]
    with db.write() as s:  # the matching keys were recomputed too: a second report links
        again = submit_report(s, clock, commune.actors[Role.INTAKE_OPERATOR], new_policy,
                              StaffReport.model_validate(staff_report(
                                  child={"full_name": NAMES[0], "birth_date": "2015-02-03"})))
    assert again.response["case_code"] == code and again.response["linked_to_existing_case"]


def test_an_interrupted_rotation_keeps_its_batches_and_finishes_when_run_again(
        db: Database, clock: FrozenClock, commune: Commune, policy: CommunePolicy) -> None:
    for name in NAMES:
        _open(db, clock, commune, policy, name)
    with db.read() as s:
        ids = s.execute(text("SELECT id, full_name FROM child ORDER BY id")).all()
    damaged_id, good_value = ids[1]
    with db.write() as s:  # the second child's name cannot be decrypted
        s.execute(text("UPDATE child SET full_name = :v WHERE id = :i"),
                  {"v": good_value[:-3] + ("AAA" if good_value[-3:] != "AAA" else "BBB"), "i": damaged_id})
    both = crypto.Keyring({"test1": TEST_KEY, "k2": NEW_KEY}, "k2")
    with pytest.raises(crypto.DecryptionFailed, match=r"child\.full_name"):
        keys.rotate(db, clock, SYSTEM, both, policy.match_secret, batch=1)
    assert _rotations(db)[-1]["complete"] is False
    assert _status(db, policy.match_secret)["child"] == {"k2": 2, "test1": 4}  # first child done

    with db.write() as s:
        s.execute(text("UPDATE child SET full_name = :v WHERE id = :i"), {"v": good_value, "i": damaged_id})
    done = keys.rotate(db, clock, SYSTEM, both, policy.match_secret, batch=1)
    assert done.complete and done.reencrypted["child"] == 4
    assert all(v.startswith("v1.k2.") for v in _stored(db))


# -- rows from before encryption ---------------------------------------------------------------

BEFORE = "a7c1e0f10001"  # the revision before `encrypt_private_fields`


@pytest.fixture
def legacy_db(tmp_path: Path) -> Iterator[Database]:
    """A database at the revision before encryption, to be filled with plaintext rows."""
    if dbs.IS_PG:
        schema = f"t_legacy_{uuid.uuid4().hex[:10]}"
        admin = create_engine(dbs.TEST_DB, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        database = open_database(dbs.pg_url(schema))
    else:
        database = open_database(f"sqlite:///{tmp_path / 'legacy.db'}")
    cfg = alembic_config(database.url)
    with database.writer.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, BEFORE)
    yield database
    database.dispose()
    if dbs.IS_PG:
        dbs.pg_drop_schema(schema)


LEGACY_NAME, LEGACY_BIRTH, LEGACY_PHONE = "Tạ Thị Cũkỹ", date(2013, 9, 14), "+84987654321"
LEGACY_NARRATIVE = "Báo cáo cũ chưa mã hoá QXLEG-1193"
LEGACY_FATHER = "Đàm Văn Xưacũ"


def _t(table: str, /, **cols: Any) -> Any:
    return sa.table(table, *(sa.column(c, t) for c, t in cols.items()))


def _fill_legacy(db: Database) -> None:
    at = T0 - timedelta(days=30)
    tz = sa.DateTime(timezone=True)
    with db.writer.begin() as conn:
        conn.execute(_t("place", id=sa.Integer, code=sa.String, name=sa.String).insert(),
                     {"id": 1, "code": "DONG-AN", "name": "Thôn Đông An"})
        conn.execute(_t("child", id=sa.Integer, full_name=sa.String, birth_date=sa.Date, sex=sa.String,
                        place_id=sa.Integer, birth_key=sa.String, place_key=sa.String).insert(),
                     {"id": 1, "full_name": LEGACY_NAME, "birth_date": LEGACY_BIRTH, "sex": "female",
                      "place_id": 1, "birth_key": "ab" * 32, "place_key": "cd" * 32})
        conn.execute(_t("case_file", id=sa.Integer, code=sa.String, state=sa.String, child_id=sa.Integer,
                        place_id=sa.Integer, received_at=tz, opened_at=tz, updated_at=tz, flags=sa.JSON,
                        version=sa.Integer).insert(),
                     {"id": 1, "code": "NH-2026-000001", "state": "received", "child_id": 1, "place_id": 1,
                      "received_at": at, "opened_at": at, "updated_at": at, "flags": [], "version": 1})
        conn.execute(_t("reporter", id=sa.Integer, full_name=sa.String, phone=sa.String).insert(),
                     {"id": 1, "full_name": "Người Báo Cũ", "phone": LEGACY_PHONE})
        conn.execute(_t("report", id=sa.Integer, case_id=sa.Integer, channel=sa.String, received_at=tz,
                        recorded_at=tz, place_id=sa.Integer, narrative=sa.String, abuse_forms=sa.JSON,
                        parents=sa.JSON, reporter_id=sa.Integer, tracking_code=sa.String).insert(),
                     {"id": 1, "case_id": 1, "channel": "phone", "received_at": at, "recorded_at": at,
                      "place_id": 1, "narrative": LEGACY_NARRATIVE, "abuse_forms": ["neglect"],
                      "parents": {"father": {"full_name": LEGACY_FATHER}}, "reporter_id": 1,
                      "tracking_code": "LEGACY01"})


def test_rows_from_before_encryption_are_read_then_encrypted_and_indexed_by_rotate(
        legacy_db: Database, clock: FrozenClock, policy: CommunePolicy) -> None:
    db = legacy_db
    _fill_legacy(db)
    upgrade(db.writer)  # the migration changes the columns' types, not the rows

    with db.read() as s:
        child = s.execute(select(Child)).scalar_one()
        report = s.execute(select(Report)).scalar_one()
        reporter = s.execute(select(Reporter)).scalar_one()
    assert (child.full_name, child.birth_date) == (LEGACY_NAME, LEGACY_BIRTH)
    assert (report.narrative, report.parents) == (LEGACY_NARRATIVE, {"father": {"full_name": LEGACY_FATHER}})
    assert reporter.phone == LEGACY_PHONE
    assert _status(db, policy.match_secret)["child"] == {keys.PLAINTEXT: 2, keys.STALE_INDEX: 1}

    def found(**term: str) -> list[str]:
        with db.write() as s:
            return [i["code"] for i in search.search_cases(s, clock, HEAD, policy, **term).items]

    assert found(child_name=LEGACY_NAME) == []  # no index yet

    report_ = keys.rotate(db, clock, SYSTEM, TEST_KEYRING, policy.match_secret)
    assert dict(report_.from_plaintext) == {"child": 2, "reporter": 2, "report": 2}
    assert dict(report_.reindexed) == {"child": 1, "reporter": 1}

    with db.read() as s:
        stored = s.execute(text("SELECT full_name, birth_date, birth_key FROM child")).one()
        narrative, parents = s.execute(text("SELECT narrative, parents FROM report")).one()
    assert stored[0].startswith("v1.test1.") and stored[1].startswith("v1.test1.")
    assert stored[2] != "ab" * 32
    assert narrative.startswith("v1.test1.") and parents.startswith("v1.test1.")
    assert LEGACY_FATHER not in parents
    assert found(child_name=LEGACY_NAME.upper()) == ["NH-2026-000001"]
    assert found(reporter_phone="0987 654 321") == ["NH-2026-000001"]
    with db.read() as s:
        assert s.execute(select(Child)).scalar_one().birth_date == LEGACY_BIRTH
        assert s.execute(select(Report)).scalar_one().parents == {"father": {"full_name": LEGACY_FATHER}}
    assert "anonymised_at" in {c["name"] for c in inspect(db.writer).get_columns("case_file")}


def test_the_migration_will_not_downgrade_over_encrypted_values(legacy_db: Database) -> None:
    upgrade(legacy_db.writer)
    with legacy_db.write() as s:
        s.add(Child(full_name=LEGACY_NAME, sex="female"))
    cfg = alembic_config(legacy_db.url)
    with (pytest.raises(RuntimeError, match=r"child\.full_name holds encrypted values"),
          legacy_db.writer.begin() as conn):
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, BEFORE)
    with legacy_db.read() as s:  # nothing was undone
        assert s.execute(select(Child)).scalar_one().full_name == LEGACY_NAME


# -- the command line ----------------------------------------------------------------------------

INDEX_KEY = bytes(range(100, 132))


def _cli(db: Database, *args: str, keys_env: dict[str, bytes], active: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIPTHOI_")}
    env.update({
        "KIPTHOI_DB__URL": db.url, **SECRETS_FILE_ENV,
        "KIPTHOI_CRYPTO__KEYS": json.dumps({k: base64.b64encode(v).decode() for k, v in keys_env.items()}),
        "KIPTHOI_CRYPTO__ACTIVE_KEY_ID": active,
        "KIPTHOI_CRYPTO__INDEX_KEY": base64.b64encode(INDEX_KEY).decode(),
    })
    return subprocess.run([sys.executable, "-m", "kipthoi.cli", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


def test_keys_generate_prints_a_usable_key(capsys: pytest.CaptureFixture[str]) -> None:
    from kipthoi.cli import main

    assert main(["keys", "generate"]) == 0
    out = capsys.readouterr().out
    kid = out.split("id:", 1)[1].split()[0]
    key = base64.b64decode(out.split("key:", 1)[1].split()[0], validate=True)
    assert len(key) == 32 and crypto.Keyring({kid: key}, kid).active_key_id == kid
    assert "KIPTHOI_CRYPTO__ACTIVE_KEY_ID" in out and "kipthoi keys rotate" in out


def test_cli_status_and_rotate_use_the_keys_from_the_environment(
        db: Database, clock: FrozenClock, commune: Commune) -> None:
    policy = CommunePolicy(code_prefix="NH", match_secret=INDEX_KEY)
    _open(db, clock, commune, policy, NAMES[0])
    both = {"test1": TEST_KEY, "k2": NEW_KEY}

    before = _cli(db, "keys", "status", keys_env=both, active="k2")
    assert before.returncode == 0, before.stderr
    assert "test1" in before.stdout and "keys rotate" in before.stdout

    rotated = _cli(db, "keys", "rotate", "--batch", "2", keys_env=both, active="k2")
    assert rotated.returncode == 0, rotated.stderr
    assert "active key k2" in rotated.stdout and "done" in rotated.stdout

    after = _cli(db, "keys", "status", keys_env={"k2": NEW_KEY}, active="k2")
    assert after.returncode == 0, after.stderr
    assert "all values under the active key" in after.stdout and "test1" not in after.stdout.split("\n", 1)[1]
    crypto.configure(crypto.Keyring({"k2": NEW_KEY}, "k2"))
    with db.read() as s:
        assert s.execute(select(Child)).scalar_one().full_name == NAMES[0]
    assert _rotations(db)[-1]["reencrypted"]["child"] == 2
