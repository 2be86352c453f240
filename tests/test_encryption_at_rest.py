"""Encryption at rest: what the database holds after real intake and casework, and how a stored
value refuses to be read when it was altered, moved or written under an unknown key.

- After a report and every step of a case through the API, no synthetic private string (names,
  phone, address, narrative, family, plan, notes, birth date) is anywhere in any table read with
  raw SQL; on SQLite, not in the database file or its WAL either.
- The API still reads everything back as it was written.
- A stored value names its format and key; a tampered byte, a value copied into another column,
  or an unknown key id is a clear error naming the column, never garbage.
- The composition root: development keys come from the secret; production refuses to run
  without its own keys; malformed keys are refused when settings load.
"""

import base64
import json
import os
import re
import unicodedata
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import inspect, select, text
from sqlmodel import Session

from kipthoi.settings import Settings
from kipthoi.wiring import build_keyring
from models import Child, Database, Report, Reporter, crypto
from models.enums import Role
from tests.conftest import TEST_KEYRING, Commune, staff_report
from tests.payloads import CONSENT, FACTORS, measures

W, HEAD, CHAIR = Role.CASE_WORKER, Role.HEAD, Role.CHAIR

# Synthetic private data, each string distinctive enough that finding it anywhere is a leak.
CHILD = "Phạm Thị Bíẩn Mật"
BIRTH = "2014-07-23"
REPORTER = "Lê Văn Kínđáo"
PHONE_LOCAL, PHONE_E164 = "0912 345 678", "+84912345678"
ADDRESS = "Số 7 ngõ Khuấtlấp"
RELATION = "bà con xa Zyqvư"
NARRATIVE = "Cháu kể bị bỏ đói nhiều ngày QXNARR-7781"
PLACE_DETAIL = "sau nhà kho QXPLACE-2231"
CONDITION = "gầy yếu, sợ hãi QXCOND-4410"
CONSEQUENCE = "suy dinh dưỡng QXCONS-5521"
FATHER = "Trần Văn Chagiả"
FAMILY = "bố nghiện rượu QXFAM-6632"
CARER = "bà nội Quáchtrú"
ACTIONS = "đã báo trưởng thôn QXACT-7743"
EMERGENCY_ACTION = "đưa cháu sang nhà cô QXEMER-8854"
WHO_CALLED = "Công an xã QXWHO-9965"
ASSESS_NOTE = "ghi chú đánh giá QXASN-1076"
DECIDED = "chủ tịch quyết định cách ly QXCHAIR-1187"
ALTERNATIVE_CARE = "nhà cô ruột QXALT-1298"
INFORMATION = "gặp cháu ở trường QXINFO-1309"
NEEDS = "cần chăm sóc dinh dưỡng QXNEED-1410"
ATTENDEES = "y tế, công an, trưởng thôn QXATT-1521"
AGREED = "thống nhất lập kế hoạch QXAGR-1632"
GOALS = "cháu được ăn đủ QXGOAL-2187"
MEASURES = "thăm nhà hằng tuần QXMEAS-3298"
RESPONSIBLE = "cán bộ Thửnghiệm QXRESP-3309"
CONSENT_CARER = "Đinh Thị Đồngý"
CONSENT_NOTE = "mẹ đồng ý qua điện thoại QXCONS-3410"
GROUP = "harmed_by_violence"  # a special-circumstance group: private too
DECISION = "đồng ý kế hoạch QXDEC-4309"
SERVICE_NOTE = "tư vấn tâm lý QXSERV-5410"
FINDINGS = "cháu tăng cân QXFIND-6521"
NOTE = "cô giáo xác nhận QXNOTE-7632"
SECRETS = [CHILD, BIRTH, REPORTER, PHONE_E164, PHONE_E164[3:], ADDRESS, RELATION, NARRATIVE,
           PLACE_DETAIL, CONDITION, CONSEQUENCE, FATHER, FAMILY, CARER, ACTIONS, EMERGENCY_ACTION,
           WHO_CALLED, ASSESS_NOTE, GOALS, MEASURES, DECISION, SERVICE_NOTE, FINDINGS, NOTE, DECIDED,
           ALTERNATIVE_CARE, INFORMATION, NEEDS, ATTENDEES, AGREED, RESPONSIBLE, CONSENT_CARER, CONSENT_NOTE,
           GROUP]


def _forms(secret: str) -> set[str]:
    """The ways a string could sit in a database: as is, case-folded, decomposed, JSON-escaped."""
    forms = {secret, secret.casefold(), unicodedata.normalize("NFD", secret)}
    forms.add(json.dumps(secret)[1:-1])  # \\u escapes, as JSON columns write non-ASCII
    return forms


def _post(client: TestClient, commune: Commune, role: Role, path: str, body: dict[str, Any]) -> Any:
    r = client.post(path, headers=commune.headers(role), json=body)
    assert r.status_code in (200, 201), r.text
    return r.json()


def _case_with_everything(client: TestClient, commune: Commune) -> str:
    """A staff report with every private field, then assessment with an emergency action, the
    chair's decision, the detailed assessment, a plan with a measure, its approval, consent, a
    service, a review and a note: every encrypted column gets a value."""
    report = staff_report(
        narrative=NARRATIVE, place_detail=PLACE_DETAIL, child_condition=CONDITION,
        likely_consequence=CONSEQUENCE, father={"full_name": FATHER, "age": 40},
        family_circumstances=FAMILY, current_carer=CARER, actions_taken=ACTIONS,
        child={"full_name": CHILD, "birth_date": BIRTH, "sex": "female"},
        reporter={"full_name": REPORTER, "phone": PHONE_LOCAL, "address": ADDRESS, "relation": RELATION})
    code = _post(client, commune, Role.INTAKE_OPERATOR, "/reports", report)["case_code"]
    steps: list[tuple[Role, str, dict[str, Any]]] = [
        (W, "assess", {"risk_level": "high", "factors": FACTORS["high"], "emergency": True, "note": ASSESS_NOTE,
                       "special_groups": [GROUP],
                       "emergency_action": {"action_taken": EMERGENCY_ACTION, "who_was_called": WHO_CALLED,
                                            "done_at": "2026-03-02T08:30:00+07:00"}}),
        (CHAIR, "decide_emergency", {"measures": DECIDED, "decided_at": "2026-03-02T08:40:00+07:00",
                                     "separation": True, "alternative_care": ALTERNATIVE_CARE}),
        (W, "detail_assess", {"information": INFORMATION, "needs": NEEDS, "meeting_at": "2026-03-02T08:50:00+07:00",
                              "attendees": ATTENDEES, "agreed": AGREED}),
        (W, "submit_plan", {"goals": GOALS,
                            "measures": [m | {"responsible": RESPONSIBLE} for m in measures(MEASURES)]}),
        (CHAIR, "approve_plan", {"note": DECISION}),
        (W, "record_consent", CONSENT | {"carer_name": CONSENT_CARER, "note": CONSENT_NOTE}),
        (W, "start_service", {"kind": "psychological", "agency_code": "TYT", "started_on": "2026-03-03",
                              "note": SERVICE_NOTE, "measure_no": 1}),
        (W, "review", {"findings": FINDINGS, "risk_level": "low", "factors": FACTORS["low"], "outcome": "continue"}),
    ]
    version = 1
    for role, trigger, data in steps:
        version = _post(client, commune, role, f"/cases/{code}/transitions/{trigger}",
                        {"expected_version": version, "data": data})["version"]
    _post(client, commune, W, f"/cases/{code}/notes", {"text": NOTE})
    return str(code)


def _dump(db: Database) -> str:
    """Every value of every table, read with raw SQL (no column types, no decryption)."""
    out = []
    with db.writer.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.exec_driver_sql(f'SELECT * FROM "{table}"'):
                out.extend(v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in row)
    return "\n".join(out)


def test_no_private_string_is_stored_in_clear_and_the_api_reads_them_all(
        client: TestClient, commune: Commune, db: Database) -> None:
    code = _case_with_everything(client, commune)

    dump = _dump(db)
    assert "v1.test1." in dump and code in dump  # the values are there, encrypted
    assert "Thôn Đông An" in dump  # and the dump does show text stored in clear
    leaks = [s for s in SECRETS for form in _forms(s) if form in dump]
    assert leaks == []

    if db.is_sqlite:  # the file itself, and its write-ahead log
        db.dispose()
        path = Path(db.writer.url.database or "")
        raw = path.read_bytes() + (Path(f"{path}-wal").read_bytes() if Path(f"{path}-wal").exists() else b"")
        assert b"v1.test1." in raw and "Thôn Đông An".encode() in raw
        assert [s for s in SECRETS for form in _forms(s) if form.encode() in raw] == []

    shown = client.get(f"/cases/{code}", headers=commune.headers(HEAD)).json()
    assert shown["child"]["full_name"] == CHILD and shown["child"]["birth_date"] == BIRTH
    report = shown["reports"][0]
    assert (report["narrative"], report["place_detail"], report["family_circumstances"]) == (
        NARRATIVE, PLACE_DETAIL, FAMILY)
    assert report["parents"]["father"]["full_name"] == FATHER
    assert shown["plans"][0]["goals"] == GOALS and shown["plans"][0]["decision_note"] == DECISION
    assert shown["emergency_actions"][0]["who_was_called"] == WHO_CALLED
    assert shown["services"][0]["note"] == SERVICE_NOTE and shown["reviews"][0]["findings"] == FINDINGS
    assert NOTE in [n["text"] for n in shown["notes"]]
    assert shown["special_groups"] == [GROUP]
    assert (shown["emergency_decisions"][0]["measures"], shown["emergency_decisions"][0]["alternative_care"]) == (
        DECIDED, ALTERNATIVE_CARE)
    detail = shown["detailed_assessments"][0]
    assert (detail["information"], detail["needs"], detail["attendees"], detail["agreed"]) == (
        INFORMATION, NEEDS, ATTENDEES, AGREED)
    [measure] = shown["plans"][0]["measures"]
    assert (measure["description"], measure["responsible"]) == (MEASURES, RESPONSIBLE)
    assert (shown["consents"][0]["carer_name"], shown["consents"][0]["note"]) == (CONSENT_CARER, CONSENT_NOTE)
    with db.read() as s:
        reporter = s.execute(select(Reporter)).scalar_one()
    assert (reporter.full_name, reporter.phone, reporter.address) == (REPORTER, PHONE_E164, ADDRESS)


def _intake(client: TestClient, commune: Commune, **overrides: Any) -> str:
    return str(_post(client, commune, Role.INTAKE_OPERATOR, "/reports", staff_report(**overrides))["case_code"])


def _raw(db: Database, table: str, column: str) -> str:
    with db.read() as s:
        return str(s.execute(text(f'SELECT "{column}" FROM "{table}" ORDER BY id LIMIT 1')).scalar_one())


def _set_raw(db: Database, table: str, column: str, value: str) -> None:
    with db.write() as s:
        s.execute(text(f'UPDATE "{table}" SET "{column}" = :v'), {"v": value})


def _child(db: Database) -> Child:
    with db.read() as s:
        return s.execute(select(Child)).scalar_one()


def test_stored_values_name_format_and_key_and_types_round_trip(
        client: TestClient, commune: Commune, db: Database) -> None:
    _intake(client, commune, father={"full_name": FATHER}, child={"full_name": CHILD, "birth_date": BIRTH})
    for table, column in [("child", "full_name"), ("child", "birth_date"), ("report", "narrative"),
                          ("report", "parents"), ("reporter", "phone")]:
        assert re.fullmatch(r"v1\.test1\.[A-Za-z0-9_-]{40,}", _raw(db, table, column)), (table, column)
    child = _child(db)
    assert child.full_name == CHILD and child.birth_date == date.fromisoformat(BIRTH)
    with db.read() as s:
        report = s.execute(select(Report)).scalar_one()
    assert report.parents == {"father": {"full_name": FATHER}}
    # A random nonce: the same plaintext is stored differently each time.
    one, two = (TEST_KEYRING.encrypt(b"same", "child.full_name") for _ in range(2))
    assert one != two
    # The cost of a value: ~4/3 of its bytes plus a fixed ~50 characters.
    narrative = staff_report()["narrative"].encode()
    assert len(_raw(db, "report", "narrative")) <= len(narrative) * 4 / 3 + 50


def test_a_tampered_value_is_a_clear_error_not_garbage(client: TestClient, commune: Commune,
                                                       db: Database) -> None:
    code = _intake(client, commune)
    stored = _raw(db, "child", "full_name")
    flipped = stored[:-5] + ("A" if stored[-5] != "A" else "B") + stored[-4:]
    _set_raw(db, "child", "full_name", flipped)
    with pytest.raises(crypto.DecryptionFailed, match=r"child\.full_name.*key id 'test1'"):
        _child(db)
    r = client.get(f"/cases/{code}", headers=commune.headers(HEAD))
    assert r.status_code == 500 and r.json()["code"] == "internal_error"
    assert "Nguyễn" not in r.text and stored not in r.text


def test_a_value_moved_to_another_column_does_not_decrypt(client: TestClient, commune: Commune,
                                                          db: Database) -> None:
    _intake(client, commune)
    _set_raw(db, "child", "full_name", _raw(db, "reporter", "full_name"))  # both strings
    with pytest.raises(crypto.DecryptionFailed, match=r"child\.full_name"):
        _child(db)


def test_an_unknown_key_id_is_named_in_the_error(client: TestClient, commune: Commune,
                                                 db: Database) -> None:
    _intake(client, commune)
    other = crypto.Keyring({"k2": bytes(32)}, "k2")
    crypto.configure(other)
    with pytest.raises(crypto.UnknownKey, match=r"child\.full_name.*'test1'.*KIPTHOI_CRYPTO__KEYS"):
        _child(db)
    crypto.configure(TEST_KEYRING)
    _set_raw(db, "child", "full_name", _raw(db, "child", "full_name").replace("v1.test1.", "v1.gone.", 1))
    with pytest.raises(crypto.UnknownKey, match="'gone'"):
        _child(db)


def test_plaintext_is_read_until_the_keyring_refuses_it(db: Database, commune: Commune) -> None:
    with db.write() as s:
        s.add(Child(sex="male"))
    _set_raw(db, "child", "full_name", "Tên cũ chưa mã hoá")
    assert _child(db).full_name == "Tên cũ chưa mã hoá"
    crypto.configure(crypto.Keyring({"test1": bytes(32)}, "test1", accept_plaintext=False))
    with pytest.raises(crypto.PlaintextRefused, match=r"child\.full_name.*keys rotate"):
        _child(db)


def test_null_stays_null_and_no_keyring_means_no_write(db: Database) -> None:
    with db.write() as s:
        s.add(Child(sex="male"))
    with db.read() as s:
        assert s.execute(text("SELECT full_name, birth_date FROM child")).one() == (None, None)
    crypto.configure(None)
    with pytest.raises(Exception, match="no keyring"), db.write() as s:
        s.add(Child(full_name="Ai đó", sex="male"))


def test_an_encrypted_column_cannot_be_compared_in_sql(db: Database) -> None:
    with pytest.raises(TypeError, match="blind index"):
        select(Child).where(Child.full_name == CHILD)  # type: ignore[arg-type]
    with Session(db.reader) as s:  # IS NULL is fine: it does not look at the value
        s.execute(select(Child).where(Child.birth_date.is_(None)))  # type: ignore[union-attr]


KEY_A = base64.b64encode(bytes(range(32))).decode()
KEY_B = base64.b64encode(bytes(range(1, 33))).decode()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in list(os.environ):
        if key.startswith("KIPTHOI_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(Path(__file__).parent)  # no .env file here
    return monkeypatch


def test_development_keys_come_from_the_secret_and_production_refuses_them(env: pytest.MonkeyPatch) -> None:
    # A configured secret (without one, development keys are random: tests/test_first_start_secret.py)
    env.setenv("KIPTHOI_SECURITY__SECRET", "a-local-secret-of-at-least-32-characters")
    dev = Settings().crypto_keys()
    assert dev.development and dev.active_key_id == "dev" and dev.data_keys["dev"] != dev.index_key
    env.setenv("KIPTHOI_SECURITY__SECRET", "another-local-secret-of-at-least-32-characters")
    assert Settings().crypto_keys().data_keys["dev"] != dev.data_keys["dev"]
    env.setenv("KIPTHOI_ENVIRONMENT", "production")
    with pytest.raises(ValueError, match="KIPTHOI_CRYPTO__KEYS.*production"):
        build_keyring(Settings())
    with pytest.raises(ValueError, match="production"):
        Settings().commune_policy()
    env.setenv("KIPTHOI_CRYPTO__KEYS", json.dumps({"k1": KEY_A}))
    env.setenv("KIPTHOI_CRYPTO__ACTIVE_KEY_ID", "k1")
    env.setenv("KIPTHOI_CRYPTO__INDEX_KEY", KEY_B)
    keyring = build_keyring(Settings())
    assert (keyring.key_ids, keyring.active_key_id) == (("k1",), "k1")
    assert Settings().commune_policy().match_secret == base64.b64decode(KEY_B)
    assert KEY_A not in repr(keyring) and KEY_A not in repr(Settings())


@pytest.mark.parametrize(("keys", "active", "index", "error"), [
    ({"k1": "not base64!"}, "k1", KEY_B, "not base64"),
    ({"k1": base64.b64encode(bytes(16)).decode()}, "k1", KEY_B, "32 bytes"),
    ({"k1": KEY_A}, "k9", KEY_B, "ACTIVE_KEY_ID"),
    ({"k1": KEY_A}, "k1", "short", "INDEX_KEY"),
])
def test_malformed_keys_are_refused_when_settings_load(env: pytest.MonkeyPatch, keys: dict[str, str],
                                                       active: str, index: str, error: str) -> None:
    env.setenv("KIPTHOI_CRYPTO__KEYS", json.dumps(keys))
    env.setenv("KIPTHOI_CRYPTO__ACTIVE_KEY_ID", active)
    env.setenv("KIPTHOI_CRYPTO__INDEX_KEY", index)
    with pytest.raises(ValidationError, match=error):
        Settings()
