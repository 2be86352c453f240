"""POST /reports and public tracking through the HTTP API: every intake channel, the Mẫu 01
rules, idempotency, linking a report to an open case, and that a refused request writes nothing."""

import unicodedata
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from models import AuditEvent, Case, Child, Database, IdempotencyRecord, Report, Reporter
from models.enums import Role
from states.identity.accounts import UserIn, create_user
from states.identity.actors import SYSTEM
from states.kernel.clock import FrozenClock
from tests.conftest import T0, Commune, hotline_report, staff_report
from tests.payloads import FACTORS

ROWS = (Case, Report, AuditEvent, Child, Reporter, IdempotencyRecord)


def counts(db: Database) -> dict[str, int]:
    with db.read() as s:
        return {str(m.__tablename__): s.execute(select(func.count()).select_from(m)).scalar_one()
                for m in ROWS}


def post(client: TestClient, body: dict[str, Any], headers: dict[str, str] | None = None,
         key: str | None = None) -> Any:
    h = dict(headers or {})
    if key is not None:
        h["Idempotency-Key"] = key
    return client.post("/reports", json=body, headers=h)


def online_report(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"channel": "online", "place_code": "TAY-BINH",
                            "narrative": "Em bé bị bỏ đói nhiều ngày (dữ liệu giả lập).",
                            "abuse_forms": ["neglect"],
                            "child": {"full_name": "Trần Thị Mẫu", "birth_date": "2015-01-10"}}
    body.update(overrides)
    return body


def detail(client: TestClient, commune: Commune, code: str) -> dict[str, Any]:
    r = client.get(f"/cases/{code}", headers=commune.headers(Role.HEAD))
    assert r.status_code == 200, r.json()
    return r.json()


def assert_error(r: Any, status: int, field: str, rule: str | None = None) -> None:
    assert r.status_code == status, r.json()
    body = r.json()
    assert {"code", "message", "message_en"} <= body.keys()
    assert body["field"] == field
    if rule is not None:
        assert body["rule"] == rule


@pytest.fixture
def staff(commune: Commune) -> dict[str, str]:
    return commune.headers(Role.INTAKE_OPERATOR)


# --- each channel -------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["phone", "in_person", "third_party"])
def test_staff_channels_open_a_case_and_answer_201_with_the_case(
        client: TestClient, commune: Commune, staff: dict[str, str], channel: str) -> None:
    r = post(client, staff_report(channel=channel), staff)
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["case_code"] == "NH-2026-000001" and body["state"] == "received"
    assert body["linked_to_existing_case"] is False
    assert detail(client, commune, body["case_code"])["reports"][0]["channel"] == channel


def test_hotline_transfer_is_accepted_with_the_hotline_key_and_keeps_its_ref(
        client: TestClient, commune: Commune) -> None:
    r = post(client, hotline_report("111-2026-0042"), commune.headers(Role.HOTLINE))
    assert r.status_code == 201, r.json()
    report = detail(client, commune, r.json()["case_code"])["reports"][0]
    assert report["channel"] == "hotline_111" and report["hotline_ref"] == "111-2026-0042"


def test_hotline_transfer_needs_its_ref(client: TestClient, commune: Commune) -> None:
    body = hotline_report()
    body.pop("hotline_ref")
    assert_error(post(client, body, commune.headers(Role.HOTLINE)), 422, "hotline_ref", "missing")


def test_anonymous_online_report_answers_only_a_tracking_code_and_stores_no_reporter(
        client: TestClient, commune: Commune, db: Database) -> None:
    r = post(client, online_report())
    assert r.status_code == 201, r.json()
    assert set(r.json()) == {"tracking_code"}
    assert counts(db)["reporter"] == 0
    [item] = client.get("/cases", headers=commune.headers(Role.HEAD)).json()["items"]
    report = detail(client, commune, item["code"])["reports"][0]
    assert report["channel"] == "online" and report["has_reporter"] is False
    assert report["received_at"].startswith("2026-03-02T02:00:00")  # the server's clock, in UTC


def test_online_report_that_links_to_an_open_case_still_reveals_only_a_tracking_code(
        client: TestClient, commune: Commune, staff: dict[str, str]) -> None:
    child = staff_report()["child"]
    post(client, staff_report(), staff)
    r = post(client, online_report(child=child), staff)
    assert r.status_code == 201 and set(r.json()) == {"tracking_code"}
    assert len(detail(client, commune, "NH-2026-000001")["reports"]) == 2


# --- who may post what ---------------------------------------------------------------------


@pytest.mark.parametrize("body", [staff_report(), hotline_report()], ids=["staff", "hotline"])
def test_keyed_channels_without_a_key_are_401(client: TestClient, commune: Commune,
                                              db: Database, body: dict[str, Any]) -> None:
    before = counts(db)
    r = post(client, body)
    assert r.status_code == 401, r.json()
    assert r.headers["WWW-Authenticate"] == "Bearer" and r.json()["code"] == "http_401"
    assert counts(db) == before


def test_an_unknown_key_is_401_even_on_the_public_channel(client: TestClient, commune: Commune) -> None:
    r = post(client, online_report(), {"Authorization": "Bearer kt_not-a-real-key"})
    assert r.status_code == 401


@pytest.mark.parametrize("body", [staff_report(), online_report()], ids=["staff", "online"])
def test_hotline_key_cannot_post_other_channels_as_itself(client: TestClient, commune: Commune,
                                                          db: Database, body: dict[str, Any]) -> None:
    before = counts(db)
    r = post(client, body, commune.headers(Role.HOTLINE))
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert counts(db) == before


def test_staff_key_cannot_pose_as_the_hotline(client: TestClient, commune: Commune,
                                              staff: dict[str, str]) -> None:
    assert post(client, hotline_report(), staff).status_code == 403


def test_hotline_key_cannot_read_cases(client: TestClient, commune: Commune) -> None:
    code = post(client, hotline_report(), commune.headers(Role.HOTLINE)).json()["case_code"]
    assert client.get("/cases", headers=commune.headers(Role.HOTLINE)).status_code == 403
    assert client.get(f"/cases/{code}", headers=commune.headers(Role.HOTLINE)).status_code == 403


# --- input rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(("override", "field", "rule"), [
    ({"colour": "red"}, "colour", "extra_forbidden"),
    ({"child": {"full_name": "A", "nickname": "B"}}, "child.nickname", "extra_forbidden"),
    ({"abuse_forms": "violence"}, "abuse_forms", "list_type"),
    ({"abuse_forms": ["beating"]}, "abuse_forms.0", "enum"),
    ({"abuse_forms": ["violence", "violence"]}, "abuse_forms", "value_error"),
    ({"abuse_forms": []}, "abuse_forms", "too_short"),
    ({"child": {"full_name": "A", "birth_date": "hôm qua"}}, "child.birth_date",
     "date_from_datetime_parsing"),
    ({"child": {"full_name": "A", "estimated_age": 18}}, "child.estimated_age", "less_than_equal"),
    ({"received_at": "2026-03-02T08:00:00"}, "received_at", "value_error"),
    ({"reporter": {"phone": "12345"}}, "reporter.phone", "value_error"),
    ({"reporter": {"phone": "+84 not a phone"}}, "reporter.phone", "value_error"),
    ({"narrative": "x" * 10001}, "narrative", "string_too_long"),
    ({"narrative": "   "}, "narrative", "string_too_short"),
    ({"narrative": "trẻ bị đánh\x00"}, "narrative", "value_error"),
    ({"place_detail": "x" * 301}, "place_detail", "string_too_long"),
    ({"channel": "fax"}, "body", "union_tag_invalid"),
])
def test_a_report_breaking_a_field_rule_is_422_naming_the_field(
        client: TestClient, commune: Commune, staff: dict[str, str], db: Database,
        override: dict[str, Any], field: str, rule: str) -> None:
    before = counts(db)
    r = post(client, staff_report(**override), staff)
    assert_error(r, 422, field, rule)
    assert r.json()["code"] == "validation_error"
    assert counts(db) == before


def test_online_narrative_is_capped_at_5000(client: TestClient, commune: Commune) -> None:
    assert_error(post(client, online_report(narrative="x" * 5001)), 422, "narrative", "string_too_long")
    assert post(client, online_report(narrative="x" * 5000)).status_code == 201


def test_narrative_of_exactly_10000_characters_is_accepted(client: TestClient, commune: Commune,
                                                           staff: dict[str, str]) -> None:
    r = post(client, staff_report(narrative="ệ" * 10000), staff)
    assert r.status_code == 201, r.json()
    assert detail(client, commune, r.json()["case_code"])["reports"][0]["narrative"] == "ệ" * 10000


@pytest.mark.parametrize(("ahead", "status"), [(timedelta(minutes=4), 201), (timedelta(minutes=6), 422)])
def test_received_at_may_run_ahead_of_our_clock_by_the_skew_only(
        client: TestClient, commune: Commune, staff: dict[str, str], ahead: timedelta, status: int) -> None:
    r = post(client, staff_report(received_at=(T0 + ahead).isoformat()), staff)
    assert r.status_code == status, r.json()
    if status == 422:
        assert_error(r, 422, "received_at", "not_in_future")


def test_unknown_place_is_422_known_place(client: TestClient, commune: Commune, staff: dict[str, str],
                                          db: Database) -> None:
    before = counts(db)
    r = post(client, staff_report(place_code="NOWHERE"), staff)
    assert_error(r, 422, "place_code", "known_place")
    assert r.json()["code"] == "invalid_input"
    assert counts(db) == before


@pytest.mark.parametrize(("birth_date", "accepted", "flagged"), [
    ("2008-03-02", False, None),   # 18 today
    ("2008-03-03", True, True),    # 17, turns 18 tomorrow
    ("2010-03-02", True, True),    # 16 today
    ("2010-03-03", True, False),   # 15
])
def test_child_age_on_the_receipt_day_decides_refusal_and_the_16_17_flag(
        client: TestClient, commune: Commune, staff: dict[str, str], db: Database,
        birth_date: str, accepted: bool, flagged: bool | None) -> None:
    before = counts(db)
    r = post(client, staff_report(child={"full_name": "Lê Văn Tuổi", "birth_date": birth_date}), staff)
    if not accepted:
        assert_error(r, 422, "child.birth_date", "child_must_be_under_18")
        assert counts(db) == before
        return
    assert r.status_code == 201, r.json()
    assert ("aged_16_or_17" in detail(client, commune, r.json()["case_code"])["flags"]) is flagged


def test_age_is_counted_on_the_local_day_of_receipt_not_the_utc_day(
        client: TestClient, commune: Commune, staff: dict[str, str]) -> None:
    # 2026-03-01 17:30 UTC is already 2 March in Vietnam: the child born 2 March 2008 is 18.
    body = staff_report(received_at="2026-03-01T17:30:00+00:00",
                        child={"full_name": "Lê Văn Tuổi", "birth_date": "2008-03-02"})
    assert_error(post(client, body, staff), 422, "child.birth_date", "child_must_be_under_18")


def test_estimated_age_of_16_is_flagged(client: TestClient, commune: Commune, staff: dict[str, str]) -> None:
    r = post(client, staff_report(child={"full_name": "Không Rõ Tuổi", "estimated_age": 16}), staff)
    assert r.status_code == 201, r.json()
    assert detail(client, commune, r.json()["case_code"])["flags"] == ["aged_16_or_17"]


def test_decomposed_vietnamese_is_stored_as_nfc_and_phone_as_e164(
        client: TestClient, commune: Commune, staff: dict[str, str], db: Database) -> None:
    name, narrative = "Nguyễn Thị Ánh", "Trẻ bị bỏ mặc ở nhà một mình."
    nfd = {"name": unicodedata.normalize("NFD", name), "narrative": unicodedata.normalize("NFD", narrative)}
    assert nfd["name"] != name and nfd["narrative"] != narrative
    r = post(client, staff_report(narrative=nfd["narrative"],
                                  child={"full_name": f"  {nfd['name']} ", "birth_date": "2016-01-01"},
                                  reporter={"phone": "0900001234"}), staff)
    assert r.status_code == 201, r.json()
    case = detail(client, commune, r.json()["case_code"])
    assert case["child"]["full_name"] == name
    assert case["reports"][0]["narrative"] == narrative
    with db.read() as s:
        assert s.execute(select(Reporter.phone)).scalar_one() == "+84900001234"


# --- case codes and linking ----------------------------------------------------------------


def test_case_codes_count_up_and_take_the_year_of_the_local_receipt_day(
        client: TestClient, commune: Commune, staff: dict[str, str]) -> None:
    def code(name: str, received_at: str) -> str:
        r = post(client, staff_report(received_at=received_at, child={"full_name": name}), staff)
        assert r.status_code == 201, r.json()
        return str(r.json()["case_code"])

    assert code("Trẻ Một", "2026-03-02T08:00:00+07:00") == "NH-2026-000001"
    assert code("Trẻ Hai", "2026-03-02T08:00:00+07:00") == "NH-2026-000002"
    # 31 Dec 17:30 UTC is New Year's Day in Vietnam; 16:30 UTC is still 31 December.
    assert code("Trẻ Ba", "2025-12-31T17:30:00+00:00") == "NH-2026-000003"
    assert code("Trẻ Bốn", "2025-12-31T16:30:00+00:00") == "NH-2025-000001"


def test_reports_on_any_channel_about_the_same_child_link_to_the_open_case(
        client: TestClient, commune: Commune, staff: dict[str, str], db: Database) -> None:
    first = post(client, staff_report(), staff).json()
    # Same child: name typed decomposed, in capitals, with extra spaces; reported in another thôn.
    messy = unicodedata.normalize("NFD", "  NGUYỄN   văn thử ")
    child = {"full_name": messy, "birth_date": "2016-05-01"}
    second = post(client, hotline_report(place_code="TAY-BINH", child=child), commune.headers(Role.HOTLINE))
    assert second.status_code == 201, second.json()
    assert second.json()["linked_to_existing_case"] is True
    assert second.json()["case_code"] == first["case_code"]
    assert post(client, online_report(child=child)).status_code == 201
    case = detail(client, commune, first["case_code"])
    assert [e["action"] for e in case["timeline"]] == ["case.opened", "report.linked", "report.linked"]
    assert [r["channel"] for r in case["reports"]] == ["phone", "hotline_111", "online"]
    assert counts(db)["case_file"] == 1 and counts(db)["child"] == 1


def test_same_name_with_another_birth_date_opens_a_new_case(client: TestClient, commune: Commune,
                                                             staff: dict[str, str]) -> None:
    post(client, staff_report(), staff)
    r = post(client, staff_report(child={"full_name": "Nguyễn Văn Thử", "birth_date": "2017-05-01"}), staff)
    assert r.json()["linked_to_existing_case"] is False
    assert r.json()["case_code"] == "NH-2026-000002"


def test_after_the_case_is_closed_a_new_report_opens_a_new_case(
        client: TestClient, commune: Commune, staff: dict[str, str]) -> None:
    post(client, staff_report(), staff)
    r = client.post("/cases/NH-2026-000001/transitions/close", headers=commune.headers(Role.CHAIR),
                    json={"expected_version": 1, "data": {"reason": "not_substantiated"}})
    assert r.status_code == 200, r.json()
    again = post(client, staff_report(), staff).json()
    assert again["case_code"] == "NH-2026-000002" and again["linked_to_existing_case"] is False


def test_a_child_reported_again_after_closure_keeps_their_record_for_later_matching(
        client: TestClient, commune: Commune, staff: dict[str, str]) -> None:
    """The child was first recorded in Tây Bình with a birth date. Reported again (in Đông An)
    after the case closed, the new case is about the same child record; a later report with
    the name but no birth date, in Tây Bình, is that child: it joins the open case."""
    child = {"full_name": "Nguyễn Văn Thử", "birth_date": "2016-05-01"}
    post(client, staff_report(place_code="TAY-BINH", child=child), staff)
    r = client.post("/cases/NH-2026-000001/transitions/close", headers=commune.headers(Role.CHAIR),
                    json={"expected_version": 1, "data": {"reason": "not_substantiated"}})
    assert r.status_code == 200, r.json()
    second = post(client, staff_report(place_code="DONG-AN", child=child), staff).json()
    assert (second["case_code"], second["linked_to_existing_case"]) == ("NH-2026-000002", False)
    third = post(client, staff_report(place_code="TAY-BINH", child={"full_name": "Nguyễn Văn Thử"}), staff).json()
    assert (third["case_code"], third["linked_to_existing_case"]) == ("NH-2026-000002", True)


# --- idempotency ---------------------------------------------------------------------------


def test_repeated_hotline_ref_replays_the_first_answer_and_writes_nothing(
        client: TestClient, commune: Commune, db: Database) -> None:
    hotline = commune.headers(Role.HOTLINE)
    first = post(client, hotline_report("111-REPLAY"), hotline)
    assert first.status_code == 201
    after_first = counts(db)
    again = post(client, hotline_report("111-REPLAY"), hotline)
    assert again.status_code == 200 and again.json() == first.json()
    assert counts(db) == after_first
    conflict = post(client, hotline_report("111-REPLAY", narrative="Khác hẳn."), hotline)
    assert_error(conflict, 409, "hotline_ref", "same_key_same_request")
    assert conflict.json()["code"] == "idempotency_conflict"
    assert counts(db) == after_first


def test_two_hotline_accounts_have_their_own_references(client: TestClient, commune: Commune,
                                                        db: Database, clock: FrozenClock) -> None:
    """A second 111 account posting the first's reference must not be answered with the first's
    case code and tracking code: references are each account's own."""
    with db.write() as s:
        _, key = create_user(s, clock, SYSTEM, UserIn(username="u-hotline-2", display_name="Tổng đài thử 2",
                                                      role=Role.HOTLINE))
    first_account, second_account = commune.headers(Role.HOTLINE), {"Authorization": f"Bearer {key}"}
    first = post(client, hotline_report("111-SHARED-1"), first_account)
    other_child = {"full_name": "Trẻ Khác Thử", "birth_date": "2014-01-02", "sex": "female"}
    second = post(client, hotline_report("111-SHARED-1", child=other_child), second_account)
    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert second.json()["case_code"] != first.json()["case_code"]
    assert second.json()["tracking_code"] != first.json()["tracking_code"]
    for headers, answer in ((first_account, first), (second_account, second)):
        r = client.get("/hotline/reports/111-SHARED-1", headers=headers)
        assert r.status_code == 200 and r.json()["case_code"] == answer.json()["case_code"]
    again = post(client, hotline_report("111-SHARED-1", child=other_child), second_account)
    assert again.status_code == 200 and again.json() == second.json()  # still a replay of its own


@pytest.mark.parametrize("make", [staff_report, online_report], ids=["staff", "online"])
def test_repeated_idempotency_key_replays_and_a_changed_body_conflicts(
        client: TestClient, commune: Commune, staff: dict[str, str], db: Database, make: Any) -> None:
    first = post(client, make(), staff, key="req-7f3a")
    assert first.status_code == 201
    after_first = counts(db)
    again = post(client, make(), staff, key="req-7f3a")
    assert again.status_code == 200 and again.json() == first.json()
    assert counts(db) == after_first
    conflict = post(client, make(narrative="Một nội dung khác."), staff, key="req-7f3a")
    assert_error(conflict, 409, "Idempotency-Key", "same_key_same_request")
    assert counts(db) == after_first


def test_idempotency_keys_belong_to_one_client(client: TestClient, commune: Commune,
                                               staff: dict[str, str]) -> None:
    post(client, staff_report(), staff, key="shared-key")
    other = post(client, staff_report(), commune.headers(Role.CASE_WORKER), key="shared-key")
    assert other.status_code == 201  # not a replay of someone else's request...
    assert other.json()["linked_to_existing_case"] is True  # ...but the same child, so linked


def test_without_a_key_a_repeated_staff_report_is_a_new_report(client: TestClient, commune: Commune,
                                                               staff: dict[str, str], db: Database) -> None:
    post(client, staff_report(), staff)
    r = post(client, staff_report(), staff)
    assert r.status_code == 201 and r.json()["linked_to_existing_case"] is True
    assert counts(db)["report"] == 2


# --- public tracking -----------------------------------------------------------------------


def test_public_tracking_follows_the_case_from_received_to_closed(
        client: TestClient, commune: Commune) -> None:
    tracking = post(client, online_report()).json()["tracking_code"]

    def status(code: str = tracking) -> str:
        r = client.get(f"/public/reports/{code}")
        assert r.status_code == 200, r.json()
        assert set(r.json()) == {"status", "label_vi", "label_en"}
        return str(r.json()["status"])

    assert status() == "received"
    assert status(tracking.lower()) == "received"
    case = client.get("/cases", headers=commune.headers(Role.HEAD)).json()["items"][0]["code"]
    worker = commune.headers(Role.CASE_WORKER)
    r = client.post(f"/cases/{case}/transitions/assess", headers=worker,
                    json={"expected_version": 1, "data": {"risk_level": "low", "factors": FACTORS["low"],
                                                          "emergency": False}})
    assert r.status_code == 200, r.json()
    assert status() == "in_progress"
    r = client.post(f"/cases/{case}/transitions/close", headers=commune.headers(Role.CHAIR),
                    json={"expected_version": 2, "data": {"reason": "not_substantiated"}})
    assert r.status_code == 200, r.json()
    assert status() == "closed"


def test_unknown_tracking_code_is_404_with_the_error_shape(client: TestClient, commune: Commune) -> None:
    r = client.get("/public/reports/ZZZZ-ZZZZ-ZZZZ")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
