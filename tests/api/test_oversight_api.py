"""Oversight over HTTP: the audit trail for the auditor, who read a child's record, statistics,
the worklist as CSV (scoped, and safe from formula injection), and the 111 hotline reading
back the status of its own reports."""

import csv
import io
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from models import AuditEvent, Database
from models.enums import Role
from states.audit import chain as audit
from states.cases.worklist_csv import cell
from states.identity.accounts import UserIn, create_user
from states.identity.actors import SYSTEM
from states.kernel.clock import FrozenClock
from tests.conftest import T0, Commune, hotline_report, staff_report
from tests.payloads import CONSENT, FACTORS, measures

PRIVATE = {
    "child": "Trẻ Giám Sát Giả",
    "birth": "2013-07-08",
    "reporter": "Người Báo Tin",
    "phone": "900000999",
    "narrative": "Tường thuật giám sát giả lập",
    "condition": "Tình trạng giám sát giả lập",
    "father": "Bố Giám Sát Giả",
    "family": "Hoàn cảnh giám sát giả lập",
    "emergency": "Biện pháp khẩn cấp giám sát giả lập",
    "called": "Người được gọi giám sát giả lập",
    "decided": "Quyết định khẩn cấp giám sát giả lập",
    "alternative_care": "Nơi chăm sóc thay thế giám sát giả lập",
    "information": "Thông tin chi tiết giám sát giả lập",
    "needs": "Nhu cầu giám sát giả lập",
    "attendees": "Thành phần họp giám sát giả lập",
    "agreed": "Thống nhất giám sát giả lập",
    "goals": "Mục tiêu giám sát giả lập",
    "measures": "Biện pháp giám sát giả lập",
    "responsible": "Người thực hiện giám sát giả lập",
    "carer_name": "Người Đồng Ý Giám Sát",
    "consent_note": "Ghi chú đồng ý giám sát giả lập",
    "service": "Ghi chú dịch vụ giám sát giả lập",
    "findings": "Rà soát giám sát giả lập",
    "note": "Ghi chú giám sát giả lập",
    "return": "Lý do trả lại giám sát giả lập",
}


def post(client: TestClient, path: str, headers: dict[str, str], body: dict[str, Any],
         status: int = 200) -> dict[str, Any]:
    r = client.post(path, json=body, headers=headers)
    assert r.status_code == status, r.text
    out: dict[str, Any] = r.json()
    return out


def open_case(client: TestClient, commune: Commune, **overrides: Any) -> str:
    return str(post(client, "/reports", commune.headers(Role.INTAKE_OPERATOR), staff_report(**overrides),
                    201)["case_code"])


def fire(client: TestClient, commune: Commune, role: Role, code: str, trigger: str, version: int,
         **data: Any) -> int:
    return int(post(client, f"/cases/{code}/transitions/{trigger}", commune.headers(role),
                    {"expected_version": version, "data": data})["version"])


def all_events(client: TestClient, commune: Commune, **params: Any) -> list[dict[str, Any]]:
    r = client.get("/audit/events", headers=commune.headers(Role.AUDITOR), params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()
    return out


# --- the audit trail -------------------------------------------------------------------------


def test_audit_events_page_in_order_filter_and_are_themselves_recorded(client: TestClient,
                                                                      commune: Commune) -> None:
    a = open_case(client, commune, child={"full_name": "Trẻ Sự Kiện A"})
    b = open_case(client, commune, child={"full_name": "Trẻ Sự Kiện B"})
    post(client, f"/cases/{a}/notes", commune.headers(Role.HEAD), {"text": "x"}, 201)
    everything = all_events(client, commune)
    seqs = [e["seq"] for e in everything]
    assert seqs == sorted(seqs) and seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert all(len(e["hash"]) == 64 for e in everything)
    # Paging: after_seq continues exactly where the last page ended.
    first = all_events(client, commune, limit=3)
    rest = all_events(client, commune, after_seq=first[-1]["seq"])
    assert [e["seq"] for e in first] == seqs[:3]
    assert [e["seq"] for e in rest][: len(seqs) - 3] == seqs[3:]
    # Filters.
    assert [(e["case"], e["action"]) for e in all_events(client, commune, case=a)] == [
        (a, "case.opened"), (a, "case.note_added")]
    assert [e["case"] for e in all_events(client, commune, action="case.opened")] == [a, b]
    r = client.get("/audit/events", headers=commune.headers(Role.AUDITOR), params={"case": "NH-2026-999999"})
    assert r.status_code == 404
    # Every page read is an event of its own, by the auditor.
    reads = all_events(client, commune, action="audit.read")
    assert len(reads) >= 4 and {e["actor"] for e in reads} == {commune.actors[Role.AUDITOR].ref}


def test_bad_audit_parameters_are_422(client: TestClient, commune: Commune) -> None:
    h = commune.headers(Role.AUDITOR)
    for params in ({"limit": 0}, {"limit": 501}, {"after_seq": -1}, {"case": "nh-lower"}):
        r = client.get("/audit/events", headers=h, params=params)
        assert r.status_code == 422, params


def test_audit_event_payloads_carry_no_private_strings(client: TestClient, commune: Commune,
                                                       db: Database) -> None:
    """A case taken through every step that stores private text, read, searched, exported:
    not one private string lands in the trail (the events are kept forever, retention or not)."""
    head, worker = commune.headers(Role.HEAD), commune.headers(Role.CASE_WORKER)
    code = open_case(client, commune, narrative=PRIVATE["narrative"], child_condition=PRIVATE["condition"],
                     child={"full_name": PRIVATE["child"], "birth_date": PRIVATE["birth"]},
                     father={"full_name": PRIVATE["father"]}, family_circumstances=PRIVATE["family"])
    v = post(client, f"/cases/{code}/assign", head,
             {"expected_version": 1, "official_id": commune.officials[Role.CASE_WORKER]})["version"]
    v = fire(client, commune, Role.CASE_WORKER, code, "assess", v, risk_level="high", factors=FACTORS["high"],
             emergency=True, note=PRIVATE["note"], emergency_action={"action_taken": PRIVATE["emergency"],
                                                                     "who_was_called": PRIVATE["called"],
                                                                     "done_at": T0.isoformat()})
    v = fire(client, commune, Role.CHAIR, code, "decide_emergency", v, measures=PRIVATE["decided"],
             decided_at=T0.isoformat(), separation=True, alternative_care=PRIVATE["alternative_care"])
    v = fire(client, commune, Role.CASE_WORKER, code, "detail_assess", v, information=PRIVATE["information"],
             needs=PRIVATE["needs"], meeting_at=T0.isoformat(), attendees=PRIVATE["attendees"],
             agreed=PRIVATE["agreed"])
    v = fire(client, commune, Role.CASE_WORKER, code, "submit_plan", v, goals="g", measures=measures("m"))
    v = fire(client, commune, Role.CHAIR, code, "return_plan", v, reason=PRIVATE["return"])
    v = fire(client, commune, Role.CASE_WORKER, code, "submit_plan", v, goals=PRIVATE["goals"],
             measures=[m | {"responsible": PRIVATE["responsible"]} for m in measures(PRIVATE["measures"])])
    v = fire(client, commune, Role.CHAIR, code, "approve_plan", v, note=PRIVATE["note"])
    v = fire(client, commune, Role.CASE_WORKER, code, "record_consent", v,
             **CONSENT | {"carer_name": PRIVATE["carer_name"], "note": PRIVATE["consent_note"]})
    v = fire(client, commune, Role.CASE_WORKER, code, "start_service", v, kind="medical", agency_code="TYT",
             started_on="2026-03-02", note=PRIVATE["service"], measure_no=1)
    fire(client, commune, Role.CASE_WORKER, code, "review", v, findings=PRIVATE["findings"], risk_level="low",
         factors=FACTORS["low"], outcome="continue")
    post(client, f"/cases/{code}/notes", worker, {"text": PRIVATE["note"]}, 201)
    assert client.get(f"/cases/{code}", headers=head).json()["reporters"]
    for params in ({"child_name": PRIVATE["child"]}, {"reporter_phone": "0900000999"}):
        assert client.get("/search/cases", headers=head, params=params).status_code == 200
    assert client.get(f"/exports/child/{code}", headers=head).status_code == 200
    assert client.get(f"/audit/access/{code}", headers=head).status_code == 200
    r = client.get("/audit/events", headers=commune.headers(Role.AUDITOR), params={"limit": 500})
    assert r.status_code == 200
    actions = {e["action"] for e in r.json()}
    assert {"case.opened", "case.assess", "case.review", "case.note_added", "case.viewed",
            "case.searched", "child.exported", "access_log.read"} <= actions
    for name, secret in PRIVATE.items():
        assert secret not in r.text, name
    # The stored payloads themselves, not only what the endpoint shows.
    with db.read() as s:
        stored = " ".join(e.before + e.after for e in s.execute(select(AuditEvent)).scalars())
    for name, secret in PRIVATE.items():
        assert secret not in stored, name
    with db.read() as s:
        assert audit.verify(s).ok


# --- who read a child's record ---------------------------------------------------------------


def test_access_log_lists_every_read_with_who_which_fields_and_when(client: TestClient, commune: Commune,
                                                                    clock: FrozenClock) -> None:
    code = open_case(client, commune)
    fire(client, commune, Role.HEAD, code, "record_consent", 1, **CONSENT)  # referring needs it
    post(client, f"/cases/{code}/referrals", commune.headers(Role.HEAD), {"agency_code": "CA"}, 201)
    clock.advance(timedelta(minutes=5))
    for role in (Role.HEAD, Role.CHAIR, Role.CASE_WORKER, Role.AGENCY_OFFICIAL):
        assert client.get(f"/cases/{code}", headers=commune.headers(role)).status_code == 200
    assert client.get(f"/exports/child/{code}", headers=commune.headers(Role.CHAIR)).status_code == 200
    for role in (Role.HEAD, Role.AUDITOR):
        r = client.get(f"/audit/access/{code}", headers=commune.headers(role))
        assert r.status_code == 200, r.text
        entries = r.json()
        assert [(e["actor"], e["action"], e["view"]) for e in entries] == [
            (commune.actors[Role.HEAD].ref, "case.viewed", "full"),
            (commune.actors[Role.CHAIR].ref, "case.viewed", "content"),
            (commune.actors[Role.CASE_WORKER].ref, "case.viewed", "content"),
            (commune.actors[Role.AGENCY_OFFICIAL].ref, "case.viewed", "agency"),
            (commune.actors[Role.CHAIR].ref, "child.exported", "content")]
        assert {e["case"] for e in entries} == {code}
        assert {datetime.fromisoformat(e["at"]) for e in entries} == {clock.now()}
        assert "reporter.phone" in entries[0]["fields"]
        assert not any(f.startswith("reporter.") for e in entries[1:] for f in e["fields"])
        for secret in ("Người Báo Tin", "900000999", "Nguyễn Văn Thử", "Hàng xóm nghe thấy"):
            assert secret not in r.text
    # Looking at the log is itself recorded.
    looks = all_events(client, commune, action="access_log.read")
    assert [(e["actor"], e["case"]) for e in looks] == [
        (commune.actors[Role.HEAD].ref, code), (commune.actors[Role.AUDITOR].ref, code)]


def test_access_log_of_an_unknown_case_is_404_for_the_auditor_403_for_others(client: TestClient,
                                                                          commune: Commune) -> None:
    unknown = "/audit/access/NH-2026-999999"
    assert client.get(unknown, headers=commune.headers(Role.AUDITOR)).status_code == 404
    # Refused before the case is looked up: a 403 says nothing about whether it exists.
    assert client.get(unknown, headers=commune.headers(Role.CHAIR)).status_code == 403


# --- statistics ------------------------------------------------------------------------------


def test_statistics_count_cases_without_content(client: TestClient, commune: Commune) -> None:
    a = open_case(client, commune, child={"full_name": "Trẻ Thống Kê A", "sex": "female"},
                  abuse_forms=["violence", "neglect"])
    b = open_case(client, commune, child={"full_name": "Trẻ Thống Kê B", "sex": "male"},
                  abuse_forms=["neglect"], received_at=(T0.replace(day=1)).isoformat())
    hot = post(client, "/reports", commune.headers(Role.HOTLINE),
               hotline_report("111-STATS-1", child={"full_name": "Trẻ Thống Kê C", "sex": "male"},
                              abuse_forms=["sexual_abuse"]), 201)["case_code"]
    fire(client, commune, Role.CHAIR, b, "close", 1, reason="duplicate")
    fire(client, commune, Role.CASE_WORKER, hot, "assess", 1, risk_level="high", factors=FACTORS["high"],
         emergency=True)
    for role in (Role.AUDITOR, Role.HEAD, Role.CHAIR):
        r = client.get("/stats", headers=commune.headers(role))
        assert r.status_code == 200, r.text
        s = r.json()
        assert s["cases"] == 3
        assert s["reports_by_channel"] == {"phone": 2, "hotline_111": 1}
        assert s["cases_by_state"] == {"received": 1, "closed": 1, "assessed": 1}
        assert s["cases_by_abuse_form"] == {"violence": 1, "neglect": 2, "sexual_abuse": 1}
        assert s["children_by_sex"] == {"female": 1, "male": 2}
        assert s["closed_by_reason"] == {"duplicate": 1}
        assert s["emergency_cases"] == 1
        assert "initial_assessment" in s["time_limits"]
        for secret in ("Trẻ Thống Kê", "Hàng xóm nghe thấy", "Người Báo Tin", "900000999", a, b, hot):
            assert secret not in r.text
    # A period counts only the cases received in it.
    r = client.get("/stats", headers=commune.headers(Role.AUDITOR),
                   params={"received_from": T0.replace(day=2, hour=0).isoformat()})
    assert r.json()["cases"] == 2 and r.json()["closed_by_reason"] == {}


# --- the worklist as CSV ---------------------------------------------------------------------

EVIL = {"EQ": '=HYPERLINK("http://x","y")', "PLUS": "+SUM(1,2)", "MINUS": "-2+3", "AT": "@SUM(A1)"}


def parse(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff")  # Excel reads it as UTF-8
    return list(csv.reader(io.StringIO(text[1:])))


def test_worklist_csv_neutralises_formulas_typed_into_names(client: TestClient, commune: Commune) -> None:
    admin, head = commune.headers(Role.ADMIN), commune.headers(Role.HEAD)
    codes = {}
    for n, (code, name) in enumerate(EVIL.items()):
        post(client, "/places", admin, {"code": code, "name": name}, 201)
        codes[code] = open_case(client, commune, place_code=code, child={"full_name": f"Trẻ CSV {n}"})
    official = post(client, "/officials", admin, {
        "full_name": "=cmd|' /C calc'!A0", "agency_code": "VHXH", "title": "Cán bộ",
        "phone": "+84900007777", "position": "case_worker"}, 201)
    post(client, f"/cases/{codes['EQ']}/assign", head, {"expected_version": 1, "official_id": official["id"]})
    fire(client, commune, Role.CHAIR, codes["PLUS"], "close", 1, reason="transferred",
         transferred_to="=1+1 Xã Khác")
    r = client.get("/exports/worklist.csv", headers=head)
    assert r.status_code == 200, r.text
    assert 'filename="kipthoi-worklist.csv"' in r.headers["content-disposition"]
    rows = parse(r.text)
    header, body = rows[0], rows[1:]
    assert header[0] == "Mã vụ việc" and len(header) == 10
    by_code = {row[0]: row for row in body}
    place_col, assignee_col, transferred_col = 4, 8, 9
    for code, name in EVIL.items():
        assert by_code[codes[code]][place_col] == f"'{name} ({code})", code
    assert by_code[codes["EQ"]][assignee_col] == "'=cmd|' /C calc'!A0"
    assert by_code[codes["PLUS"]][transferred_col] == "'=1+1 Xã Khác"
    for row in rows:
        for value in row:
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    for secret in ("Trẻ CSV", "Hàng xóm nghe thấy", "Người Báo Tin", "900000999"):
        assert secret not in r.text


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@A1", "\tX", "\rX"])
def test_a_dangerous_cell_gets_an_apostrophe(value: str) -> None:
    # Tabs and carriage returns cannot come in through the API (text is stripped), so the
    # cell function is checked for them directly.
    assert cell(value) == "'" + value
    assert cell("Thôn " + value) == "Thôn " + value


def test_worklist_csv_is_scoped_filtered_and_recorded(client: TestClient, commune: Commune) -> None:
    mine = open_case(client, commune, child={"full_name": "Trẻ Của Tôi"})
    theirs = open_case(client, commune, child={"full_name": "Trẻ Của Người Khác"}, place_code="TAY-BINH")
    free = open_case(client, commune, child={"full_name": "Trẻ Chưa Giao"}, place_code="TAY-BINH")
    head = commune.headers(Role.HEAD)
    post(client, f"/cases/{mine}/assign", head, {"expected_version": 1,
                                                 "official_id": commune.officials[Role.CASE_WORKER]})
    post(client, f"/cases/{theirs}/assign", head, {"expected_version": 1,
                                                   "official_id": commune.officials[Role.HEAD]})
    worker = commune.headers(Role.CASE_WORKER)
    def codes(h: dict[str, str]) -> set[str]:
        return {row[0] for row in parse(client.get("/exports/worklist.csv", headers=h).text)[1:]}

    assert codes(worker) == {mine, free}
    assert codes(head) == {mine, theirs, free}
    tay_binh = client.get("/exports/worklist.csv", headers=worker, params={"place": "TAY-BINH"})
    assert [row[0] for row in parse(tay_binh.text)[1:]] == [free]
    exported = all_events(client, commune, action="worklist.exported")
    assert [(e["actor"], e["after"]["rows"]) for e in exported] == [
        (commune.actors[Role.CASE_WORKER].ref, 2), (commune.actors[Role.HEAD].ref, 3),
        (commune.actors[Role.CASE_WORKER].ref, 1)]


# --- the 111 hotline reads back its own reports ------------------------------------------------


@pytest.fixture
def second_hotline(db: Database, clock: FrozenClock) -> dict[str, str]:
    with db.write() as s:
        _, key = create_user(s, clock, SYSTEM, UserIn(username="u-hotline-two", display_name="Tổng đài 2",
                                                      role=Role.HOTLINE))
    assert key is not None
    return {"Authorization": f"Bearer {key}"}


def test_hotline_reads_the_status_of_its_own_report_as_it_moves(client: TestClient, commune: Commune) -> None:
    hotline = commune.headers(Role.HOTLINE)
    code = post(client, "/reports", hotline, hotline_report("111-OWN-1"), 201)["case_code"]

    def status() -> dict[str, Any]:
        r = client.get("/hotline/reports/111-OWN-1", headers=hotline)
        assert r.status_code == 200, r.text
        for secret in ("Nguyễn Văn Thử", "Hàng xóm nghe thấy", "2016-05-01"):
            assert secret not in r.text
        out: dict[str, Any] = r.json()
        return out

    first = status()
    assert set(first) == {"hotline_ref", "case_code", "state", "status", "updated_at"}
    assert (first["hotline_ref"], first["case_code"], first["state"], first["status"]) == (
        "111-OWN-1", code, "received", "received")
    v = fire(client, commune, Role.CASE_WORKER, code, "assess", 1, risk_level="low", factors=FACTORS["low"],
             emergency=False)
    assert (status()["state"], status()["status"]) == ("assessed", "in_progress")
    fire(client, commune, Role.CHAIR, code, "close", v, reason="not_substantiated")
    assert (status()["state"], status()["status"]) == ("closed", "closed")


def test_hotline_cannot_read_another_clients_report(client: TestClient, commune: Commune,
                                                    second_hotline: dict[str, str]) -> None:
    hotline = commune.headers(Role.HOTLINE)
    post(client, "/reports", hotline, hotline_report("111-MINE"), 201)
    post(client, "/reports", second_hotline,
         hotline_report("111-THEIRS", child={"full_name": "Trẻ Tổng Đài Hai"}), 201)
    assert client.get("/hotline/reports/111-MINE", headers=hotline).status_code == 200
    assert client.get("/hotline/reports/111-THEIRS", headers=second_hotline).status_code == 200
    for h, ref in ((hotline, "111-THEIRS"), (second_hotline, "111-MINE"), (hotline, "111-NEVER-SENT")):
        r = client.get(f"/hotline/reports/{ref}", headers=h)
        assert r.status_code == 404, (ref, r.text)
        assert "NH-2026" not in r.text  # not even the case code
    for role in Role:
        if role != Role.HOTLINE:
            r = client.get("/hotline/reports/111-MINE", headers=commune.headers(role))
            assert r.status_code == 403, role
    assert client.get("/hotline/reports/111-MINE").status_code == 401


def test_hotline_status_of_a_report_linked_to_an_open_case(client: TestClient, commune: Commune) -> None:
    code = open_case(client, commune)  # staff opened it; the 111 report about the same child links to it
    linked = post(client, "/reports", commune.headers(Role.HOTLINE), hotline_report("111-LINKED"), 201)
    assert linked["linked_to_existing_case"] is True and linked["case_code"] == code
    r = client.get("/hotline/reports/111-LINKED", headers=commune.headers(Role.HOTLINE))
    assert r.status_code == 200 and r.json()["case_code"] == code
