"""Field-level confidentiality: what each view of a case holds, the reporter's identity, what
each kind of agency sees of a case referred to it, the access log, the child's export, and how
referrals open and close an agency's access.

A "rich" case is built through the API with a distinct marker in every private field, so a
test can say exactly which text reached which reader."""

import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlmodel import col

from models import AuditEvent, Case, Database, OutboxMessage
from models.enums import AgencyKind, Role
from states.identity.accounts import UserIn, create_user
from states.identity.actors import SYSTEM
from states.kernel.clock import FrozenClock
from states.records import directory
from tests.conftest import Commune, hotline_report, staff_report
from tests.payloads import CONSENT, DETAIL, FACTORS, measures

REPORTER_SECRETS = ("Người Báo Tin", "900000999")
# One marker per private field of the rich case.
M = {
    "child": "Trẻ Bảo Mật Giả",
    "narrative": "Tường thuật giả lập: trẻ bị đánh bằng roi",
    "place_detail": "Nhà số 9 ngõ Giả Lập",
    "child_condition": "Tình trạng giả lập: vết bầm ở tay",
    "likely_consequence": "Hậu quả giả lập: trẻ sợ hãi",
    "father": "Bố Giả Lập Thử",
    "family": "Hoàn cảnh giả lập: gia đình nợ nần",
    "carer": "Bà Nội Giả Lập",
    "actions_taken": "Đã báo trưởng thôn (giả lập)",
    "emergency": "Đưa trẻ sang nhà bà ngoại (giả lập)",
    "who_called": "Công an xã trực ban (giả lập)",
    "decided": "Quyết định khẩn cấp của chủ tịch giả lập",
    "alternative_care": "Nhà bà ngoại giả lập",
    "information": "Thông tin chi tiết giả lập",
    "needs": "Nhu cầu của trẻ giả lập",
    "attendees": "Thành phần họp giả lập",
    "agreed": "Nội dung thống nhất giả lập",
    "goals": "Mục tiêu kế hoạch giả lập",
    "measures": "Biện pháp kế hoạch giả lập",
    "responsible": "Người thực hiện biện pháp giả lập",
    "carer_name": "Người Đồng Ý Giả Lập",
    "consent_note": "Ghi chú về sự đồng ý giả lập",
    "service_note": "Ghi chú dịch vụ y tế giả lập",
    "findings": "Kết quả rà soát giả lập",
    "head_note": "Ghi chú của trưởng phòng giả lập",
}
POLICE_NOTE = "Ghi chú của công an giả lập"
HEALTH_NOTE = "Ghi chú của trạm y tế giả lập"


def rich_report() -> dict[str, Any]:
    return staff_report(
        narrative=M["narrative"], place_detail=M["place_detail"],
        child={"full_name": M["child"], "birth_date": "2015-04-03", "sex": "female"},
        child_condition=M["child_condition"], likely_consequence=M["likely_consequence"],
        father={"full_name": M["father"], "age": 40}, family_circumstances=M["family"],
        current_carer=M["carer"], actions_taken=M["actions_taken"])


def post(client: TestClient, path: str, headers: dict[str, str], body: dict[str, Any],
         status: int = 200) -> dict[str, Any]:
    r = client.post(path, json=body, headers=headers)
    assert r.status_code == status, r.text
    result: dict[str, Any] = r.json()
    return result


def fire(client: TestClient, commune: Commune, role: Role, code: str, trigger: str, version: int,
         **data: Any) -> int:
    body = post(client, f"/cases/{code}/transitions/{trigger}", commune.headers(role),
                {"expected_version": version, "data": data})
    return int(body["version"])


def open_case(client: TestClient, commune: Commune, body: dict[str, Any] | None = None) -> str:
    return str(post(client, "/reports", commune.headers(Role.INTAKE_OPERATOR),
                    body or staff_report(), 201)["case_code"])


def consent(client: TestClient, commune: Commune, code: str, version: int = 1, **data: Any) -> int:
    """Record consent (both given) to share the child's data: a referral needs it."""
    return fire(client, commune, Role.HEAD, code, "record_consent", version, **CONSENT | data)


def read(client: TestClient, headers: dict[str, str], code: str) -> httpx.Response:
    r: httpx.Response = client.get(f"/cases/{code}", headers=headers)
    return r


@dataclass
class Health:
    """An official of the commune health station (TYT) with an agency_official account."""

    headers: dict[str, str]
    ref: str


@pytest.fixture
def health(db: Database, clock: FrozenClock, commune: Commune) -> Health:
    with db.write() as s:
        official = directory.create_official(s, clock, SYSTEM, directory.OfficialIn(
            full_name="Y Sĩ Thử", agency_code="TYT", title="Y sĩ", phone="+84900004321",
            position="agency_contact"))
        user, key = create_user(s, clock, SYSTEM, UserIn(
            username="u-tyt", display_name="Y sĩ thử", role=Role.AGENCY_OFFICIAL,
            official_id=official.id))
    assert key is not None
    return Health(headers={"Authorization": f"Bearer {key}"}, ref=f"user:{user.id}")


@pytest.fixture
def rich(client: TestClient, commune: Commune, health: Health) -> str:
    """Assigned to the case worker; assessed with an emergency action, and the chair's decision;
    the detailed assessment (Mẫu 03); plan approved; consent recorded; a medical service with the
    health station (which refers the case to it); reviewed; referred to the police; a note each
    by the head, the police and the health station."""
    code = open_case(client, commune, rich_report())
    v = post(client, f"/cases/{code}/assign", commune.headers(Role.HEAD),
             {"expected_version": 1, "official_id": commune.officials[Role.CASE_WORKER]})["version"]
    v = fire(client, commune, Role.CASE_WORKER, code, "assess", v, risk_level="high", factors=FACTORS["high"],
             special_groups=["harmed_by_violence"], emergency=True,
             emergency_action={"action_taken": M["emergency"], "who_was_called": M["who_called"],
                               "done_at": "2026-03-02T08:30:00+07:00"})
    v = fire(client, commune, Role.CHAIR, code, "decide_emergency", v, measures=M["decided"],
             decided_at="2026-03-02T08:40:00+07:00", separation=True, alternative_care=M["alternative_care"])
    v = fire(client, commune, Role.CASE_WORKER, code, "detail_assess", v, information=M["information"],
             needs=M["needs"], meeting_at="2026-03-02T08:50:00+07:00", attendees=M["attendees"],
             agreed=M["agreed"])
    v = fire(client, commune, Role.CASE_WORKER, code, "submit_plan", v, goals=M["goals"],
             measures=[m | {"responsible": M["responsible"]} for m in measures(M["measures"])])
    v = fire(client, commune, Role.CHAIR, code, "approve_plan", v)
    v = consent(client, commune, code, v, carer_name=M["carer_name"], note=M["consent_note"])
    v = fire(client, commune, Role.CASE_WORKER, code, "start_service", v, kind="medical",
             agency_code="TYT", started_on="2026-03-02", note=M["service_note"], measure_no=1)
    fire(client, commune, Role.CASE_WORKER, code, "review", v, findings=M["findings"], risk_level="low",
         factors=FACTORS["low"], outcome="continue")
    post(client, f"/cases/{code}/referrals", commune.headers(Role.HEAD), {"agency_code": "CA"}, 201)
    post(client, f"/cases/{code}/notes", commune.headers(Role.HEAD), {"text": M["head_note"]}, 201)
    post(client, f"/cases/{code}/notes", commune.headers(Role.AGENCY_OFFICIAL), {"text": POLICE_NOTE}, 201)
    post(client, f"/cases/{code}/notes", health.headers, {"text": HEALTH_NOTE}, 201)
    return code


def events(db: Database, action: str) -> list[tuple[str, dict[str, Any]]]:
    with db.read() as s:
        rows = s.execute(select(AuditEvent).where(col(AuditEvent.action) == action)
                         .order_by(col(AuditEvent.seq))).scalars().all()
        return [(e.actor, json.loads(e.after)) for e in rows]


# --- the views -------------------------------------------------------------------------------


def test_head_reads_everything_including_who_reported(client: TestClient, commune: Commune,
                                                     rich: str) -> None:
    r = read(client, commune.headers(Role.HEAD), rich)
    body = r.json()
    assert body["view"] == "full" and body["withheld"] == []
    for marker in M.values():
        assert marker in r.text, marker
    assert [(p["full_name"], p["phone"], p["relation"]) for p in body["reporters"]] == [
        ("Người Báo Tin", "+84900000999", "hàng xóm")]
    assert {n["text"] for n in body["notes"]} == {M["head_note"], POLICE_NOTE, HEALTH_NOTE}


def test_assigned_worker_reads_full_and_loses_it_when_reassigned(client: TestClient, commune: Commune,
                                                                 rich: str) -> None:
    worker = commune.headers(Role.CASE_WORKER)
    r = read(client, worker, rich)
    assert r.status_code == 200 and r.json()["view"] == "full"
    assert r.json()["reporters"][0]["phone"] == "+84900000999"
    version = r.json()["version"]
    post(client, f"/cases/{rich}/assign", commune.headers(Role.HEAD),
         {"expected_version": version, "official_id": commune.officials[Role.HEAD]})
    r = read(client, worker, rich)
    assert r.status_code == 404 and r.json()["code"] == "not_found"  # as if no such case
    for secret in (*REPORTER_SECRETS, M["narrative"], M["child"]):
        assert secret not in r.text


def test_chair_reads_the_content_without_the_reporter(client: TestClient, commune: Commune,
                                                      rich: str) -> None:
    r = read(client, commune.headers(Role.CHAIR), rich)
    body = r.json()
    assert body["view"] == "content" and body["withheld"] == ["reporters"] and body["reporters"] == []
    for marker in M.values():  # everything of the case file but who reported
        assert marker in r.text, marker
    for secret in REPORTER_SECRETS:
        assert secret not in r.text
    assert body["reports"][0]["has_reporter"] is True


def test_worker_reads_an_unassigned_case_without_the_reporter(client: TestClient, commune: Commune) -> None:
    code = open_case(client, commune, rich_report())
    r = read(client, commune.headers(Role.CASE_WORKER), code)
    assert r.status_code == 200
    assert r.json()["view"] == "content" and r.json()["withheld"] == ["reporters"]
    assert M["narrative"] in r.text and M["father"] in r.text
    for secret in REPORTER_SECRETS:
        assert secret not in r.text


# --- what each kind of agency sees -----------------------------------------------------------

NEVER_TO_AN_AGENCY = (*REPORTER_SECRETS, M["father"], M["family"], M["carer"], M["goals"],
                      M["measures"], M["findings"], M["head_note"], M["likely_consequence"],
                      # the Nghị định 56 records: the chair's decision, Mẫu 03, the measures, consent
                      M["decided"], M["alternative_care"], M["information"], M["needs"], M["attendees"],
                      M["agreed"], M["responsible"], M["carer_name"], M["consent_note"])


def test_police_see_the_facts_and_emergency_actions_but_not_the_family(
        client: TestClient, commune: Commune, rich: str) -> None:
    r = read(client, commune.headers(Role.AGENCY_OFFICIAL), rich)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["view"] == "agency" and body["allowed_triggers"] == []
    [report] = body["reports"]
    assert report["narrative"] == M["narrative"]
    assert report["place_detail"] == M["place_detail"] and report["actions_taken"] == M["actions_taken"]
    for field in ("child_condition", "parents", "family_circumstances", "current_carer",
                  "likely_consequence"):
        assert field not in report, field
    assert [e["action_taken"] for e in body["emergency_actions"]] == [M["emergency"]]
    assert [n["text"] for n in body["notes"]] == [POLICE_NOTE]  # their own notes only
    assert body["services"] == []  # the health station's service is not theirs
    assert {"reporters", "plans", "reviews"} <= set(body["withheld"])
    assert body["reporters"] == body["plans"] == body["reviews"] == []
    for secret in (*NEVER_TO_AN_AGENCY, M["child_condition"], M["service_note"], HEALTH_NOTE):
        assert secret not in r.text, secret


def test_health_station_sees_the_childs_condition_but_not_the_narrative(
        client: TestClient, commune: Commune, rich: str, health: Health) -> None:
    r = read(client, health.headers, rich)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["view"] == "agency"
    [report] = body["reports"]
    assert report["child_condition"] == M["child_condition"]
    assert "narrative" not in report and "place_detail" not in report
    assert [(s["agency_code"], s["note"]) for s in body["services"]] == [("TYT", M["service_note"])]
    assert [n["text"] for n in body["notes"]] == [HEALTH_NOTE]
    assert {"reporters", "plans", "reviews"} <= set(body["withheld"])
    for secret in (*NEVER_TO_AN_AGENCY, M["narrative"], M["place_detail"], POLICE_NOTE):
        assert secret not in r.text, secret


def test_a_school_sees_the_child_and_the_dates_but_no_report_text(client: TestClient, commune: Commune,
                                                                  db: Database, clock: FrozenClock,
                                                                  rich: str) -> None:
    """An agency kind with no part in the facts (a school) gets the child, the dates and the
    forms of abuse: no narrative, no condition, no emergency actions."""
    with db.write() as s:
        directory.create_agency(s, clock, SYSTEM, directory.AgencyIn(
            code="THCS", name_vi="Trường THCS Thử", name_en="Test lower secondary school",
            kind=AgencyKind.SCHOOL))
        official = directory.create_official(s, clock, SYSTEM, directory.OfficialIn(
            full_name="Giáo Viên Thử", agency_code="THCS", title="Giáo viên", phone="+84900005678",
            position="agency_contact"))
        _, key = create_user(s, clock, SYSTEM, UserIn(username="u-thcs", display_name="Giáo viên thử",
                                                      role=Role.AGENCY_OFFICIAL, official_id=official.id))
    school = {"Authorization": f"Bearer {key}"}
    assert read(client, school, rich).status_code == 404
    post(client, f"/cases/{rich}/referrals", commune.headers(Role.HEAD), {"agency_code": "THCS"}, 201)
    r = read(client, school, rich)
    assert r.status_code == 200 and r.json()["view"] == "agency"
    body = r.json()
    assert body["child"]["full_name"] == M["child"]
    [report] = body["reports"]
    assert set(report) == {"id", "channel", "received_at", "recorded_at", "abuse_forms", "case_type",
                           "withheld"}
    # Every field of the report's text is named as withheld, none is answered as empty.
    assert {"narrative", "child_condition", "place_detail", "parents"} <= set(report["withheld"])
    assert "emergency_actions" in body["withheld"] and body["emergency_actions"] == []
    for name, marker in M.items():
        if name != "child":
            assert marker not in r.text, name
    for secret in (*REPORTER_SECRETS, POLICE_NOTE, HEALTH_NOTE):
        assert secret not in r.text


def test_withheld_names_exactly_the_sections_left_out(client: TestClient, commune: Commune,
                                                      rich: str, health: Health) -> None:
    for h in (commune.headers(Role.AGENCY_OFFICIAL), health.headers):
        body = read(client, h, rich).json()
        for section in body["withheld"]:
            assert body[section] == [], section
        # Sections it does get are not listed as withheld.
        assert "reports" not in body["withheld"] and "notes" not in body["withheld"]


# --- the reporter's identity across every endpoint --------------------------------------------


def test_reporter_identity_reaches_no_one_but_the_head_and_the_assigned_worker(
        client: TestClient, commune: Commune, rich: str, health: Health) -> None:
    """Every endpoint of the case, as every reader who is not entitled to know who reported.
    The head reads the full view first, so the audit trail has the reads on it too."""
    assert read(client, commune.headers(Role.HEAD), rich).json()["view"] == "full"
    unassigned = open_case(client, commune, staff_report(child={"full_name": "Trẻ Chưa Giao"}))
    readers: list[tuple[str, dict[str, str]]] = [
        (role.value, commune.headers(role)) for role in Role if role not in (Role.HEAD, Role.CASE_WORKER)]
    readers += [("health", health.headers), ("public", {})]
    version = read(client, commune.headers(Role.HEAD), rich).json()["version"]
    for name, h in readers:
        responses = [
            read(client, h, rich), client.get("/cases", headers=h),
            client.get(f"/exports/child/{rich}", headers=h), client.get("/exports/worklist.csv", headers=h),
            client.get(f"/audit/access/{rich}", headers=h),
            client.get("/audit/events", headers=h, params={"limit": 500}),
            client.get("/stats", headers=h), client.get("/hotline/reports/111-NONE", headers=h),
            client.post(f"/cases/{rich}/notes", headers=h, json={"text": "x"}),
            client.post(f"/cases/{rich}/referrals", headers=h, json={"agency_code": "VHXH"}),
            client.post(f"/cases/{rich}/transitions/review", headers=h,
                        json={"expected_version": version, "data": {}}),
            client.post(f"/cases/{rich}/assign", headers=h,
                        json={"expected_version": version, "official_id": commune.officials[Role.CHAIR]}),
        ]
        for r in responses:
            for secret in REPORTER_SECRETS:
                assert secret not in r.text, (name, r.request.method, r.request.url, r.status_code)
    # The case worker is entitled on their own case only, not on one waiting to be picked up.
    worker = commune.headers(Role.CASE_WORKER)
    for r in (read(client, worker, unassigned), client.get(f"/exports/child/{unassigned}", headers=worker),
              client.get("/exports/worklist.csv", headers=worker), client.get("/cases", headers=worker)):
        for secret in REPORTER_SECRETS:
            assert secret not in r.text, (r.request.url, r.status_code)


def test_intake_answer_does_not_echo_the_reporter(client: TestClient, commune: Commune) -> None:
    r = client.post("/reports", json=staff_report(), headers=commune.headers(Role.INTAKE_OPERATOR))
    assert r.status_code == 201
    for secret in (*REPORTER_SECRETS, "Nguyễn Văn Thử"):
        assert secret not in r.text


# --- the access log --------------------------------------------------------------------------


def test_each_read_of_private_fields_is_one_access_event(client: TestClient, commune: Commune, db: Database,
                                                         rich: str, health: Health) -> None:
    readers = [(commune.headers(Role.HEAD), commune.actors[Role.HEAD].ref, "full"),
               (commune.headers(Role.CASE_WORKER), commune.actors[Role.CASE_WORKER].ref, "full"),
               (commune.headers(Role.CHAIR), commune.actors[Role.CHAIR].ref, "content"),
               (commune.headers(Role.AGENCY_OFFICIAL), commune.actors[Role.AGENCY_OFFICIAL].ref, "agency"),
               (health.headers, health.ref, "agency")]
    assert events(db, "case.viewed") == []
    for n, (h, ref, view) in enumerate(readers, start=1):
        assert read(client, h, rich).status_code == 200
        logged = events(db, "case.viewed")
        assert len(logged) == n, view  # exactly one more event per read
        actor, after = logged[-1]
        assert (actor, after["case"], after["view"]) == (ref, rich, view)
    fields = {actor: set(after["fields"]) for actor, after in events(db, "case.viewed")}
    head, chair = fields[commune.actors[Role.HEAD].ref], fields[commune.actors[Role.CHAIR].ref]
    police, tyt = fields[commune.actors[Role.AGENCY_OFFICIAL].ref], fields[health.ref]
    assert {"child.full_name", "child.birth_date", "report.narrative", "reporter.full_name",
            "reporter.phone", "note.text", "plan.goals", "review.findings", "plan_measure.description",
            "detailed_assessment.information", "emergency_decision.measures", "consent.carer_name",
            "case_file.special_groups"} <= head
    assert fields[commune.actors[Role.CASE_WORKER].ref] == head
    assert chair == head - {f for f in head if f.startswith("reporter.")}
    assert not any(f.startswith("reporter.") for f in chair)
    assert {"report.narrative", "emergency_action.action_taken", "child.full_name"} <= police
    assert "report.child_condition" not in police and "plan.goals" not in police
    assert "report.child_condition" in tyt and "report.narrative" not in tyt
    assert not any(f.startswith("reporter.") for f in police | tyt)


def test_refused_reads_and_state_only_paths_write_no_access_event(client: TestClient, commune: Commune,
                                                                 db: Database) -> None:
    code = open_case(client, commune)
    for role in (Role.AGENCY_OFFICIAL, Role.AUDITOR, Role.ADMIN, Role.INTAKE_OPERATOR, Role.HOTLINE):
        assert read(client, commune.headers(role), code).status_code == (404 if role == Role.AGENCY_OFFICIAL else 403)
    assert read(client, {}, code).status_code == 401
    # An unknown trigger answers with the triggers allowed now: the state, no private field.
    r = client.post(f"/cases/{code}/transitions/teleport", headers=commune.headers(Role.HEAD),
                    json={"expected_version": 1, "data": {}})
    assert r.status_code == 404 and r.json()["allowed_triggers"] == [
        "assess", "decide_emergency", "record_emergency", "record_consent", "close", "propose_closure",
        "extend_separation", "end_separation"]
    assert client.get("/cases", headers=commune.headers(Role.HEAD)).status_code == 200
    assert events(db, "case.viewed") == []
    assert read(client, commune.headers(Role.HEAD), code).status_code == 200
    assert len(events(db, "case.viewed")) == 1


# --- the child's export ----------------------------------------------------------------------


def test_export_holds_the_child_and_the_case_without_the_reporter_and_is_recorded(
        client: TestClient, commune: Commune, db: Database, rich: str) -> None:
    r = client.get(f"/exports/child/{rich}", headers=commune.headers(Role.HEAD))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["child"] == {"full_name": M["child"], "birth_date": "2015-04-03", "estimated_age": None,
                             "sex": "female"}
    [case] = body["cases"]
    assert case["code"] == rich and case["reports"][0]["narrative"] == M["narrative"]
    for marker in M.values():  # the whole file is the child's data ...
        assert marker in r.text, marker
    for secret in REPORTER_SECRETS:  # ... except who reported
        assert secret not in r.text
    assert "reporters" not in case and "reporter_identity" in body["not_included"]
    assert body["exported_by"] == commune.actors[Role.HEAD].ref
    [(actor, after)] = events(db, "child.exported")
    assert (actor, after["case"]) == (commune.actors[Role.HEAD].ref, rich)
    assert "child.full_name" in after["fields"]
    assert not any(f.startswith("reporter.") for f in after["fields"])
    # The export's own access log ends with this export.
    assert [(e["action"], e["actor"]) for e in body["access_log"]][-1] == (
        "child.exported", commune.actors[Role.HEAD].ref)


def test_export_holds_every_case_about_the_child(client: TestClient, commune: Commune, db: Database) -> None:
    """Two cases about one child row, each recorded as exported (the second case is moved onto
    the first one's child in the database, whatever its name)."""
    first = open_case(client, commune, staff_report(child={"full_name": "Trẻ Hai Vụ"}))
    second = open_case(client, commune, staff_report(child={"full_name": "Trẻ Khác Tên"},
                                                     narrative="Lần báo thứ hai (giả lập)."))
    other = open_case(client, commune, staff_report(child={"full_name": "Trẻ Không Liên Quan"}))
    with db.write() as s:
        child_id = s.execute(select(col(Case.child_id)).where(col(Case.code) == first)).scalar_one()
        s.execute(update(Case).where(col(Case.code) == second).values(child_id=child_id))
    r = client.get(f"/exports/child/{second}", headers=commune.headers(Role.CHAIR))
    assert r.status_code == 200, r.text
    assert r.json()["child"]["full_name"] == "Trẻ Hai Vụ"
    assert [c["code"] for c in r.json()["cases"]] == [first, second]
    assert "Lần báo thứ hai" in r.text and other not in r.text and "Trẻ Không Liên Quan" not in r.text
    assert sorted(after["case"] for _, after in events(db, "child.exported")) == sorted([first, second])
    for secret in REPORTER_SECRETS:
        assert secret not in r.text


def test_export_of_a_re_reported_child_holds_the_earlier_case(client: TestClient, commune: Commune) -> None:
    child = {"full_name": "Trẻ Báo Lại", "birth_date": "2014-02-02", "sex": "male"}
    first = open_case(client, commune, staff_report(child=child))
    fire(client, commune, Role.CHAIR, first, "close", 1, reason="not_substantiated")
    second = open_case(client, commune, staff_report(child=child, narrative="Báo lại (giả lập)."))
    assert second != first
    r = client.get(f"/exports/child/{second}", headers=commune.headers(Role.HEAD))
    assert r.status_code == 200
    assert [c["code"] for c in r.json()["cases"]] == [first, second]


# --- referrals -------------------------------------------------------------------------------


def test_withdrawing_a_referral_ends_the_agencys_access_at_once(client: TestClient, commune: Commune) -> None:
    code = open_case(client, commune)
    consent(client, commune, code)
    police = commune.headers(Role.AGENCY_OFFICIAL)
    head = commune.headers(Role.HEAD)
    referral = post(client, f"/cases/{code}/referrals", head, {"agency_code": "CA"}, 201)
    assert read(client, police, code).status_code == 200
    assert [i["code"] for i in client.get("/cases", headers=police).json()["items"]] == [code]
    withdrawn = post(client, f"/cases/{code}/referrals/{referral['id']}/withdraw",
                     commune.headers(Role.HEAD), {})
    assert withdrawn["withdrawn_at"] is not None
    r = read(client, police, code)
    assert r.status_code == 404 and "Hàng xóm" not in r.text
    assert client.get("/cases", headers=police).json()["items"] == []
    assert client.post(f"/cases/{code}/notes", headers=police, json={"text": "x"}).status_code == 404
    # The referral stays on record, withdrawn; withdrawing again is refused.
    again = client.post(f"/cases/{code}/referrals/{referral['id']}/withdraw", headers=head)
    assert again.status_code == 422 and again.json()["rule"] == "not_already_withdrawn"
    [row] = read(client, commune.headers(Role.HEAD), code).json()["referrals"]
    assert row["agency_code"] == "CA" and row["withdrawn_at"] is not None
    # Referring again opens access again.
    post(client, f"/cases/{code}/referrals", commune.headers(Role.HEAD), {"agency_code": "CA"}, 201)
    assert read(client, police, code).status_code == 200


def test_referring_twice_to_one_agency_or_to_an_unknown_one_is_422(client: TestClient,
                                                                   commune: Commune) -> None:
    code = open_case(client, commune)
    consent(client, commune, code)
    head = commune.headers(Role.HEAD)
    post(client, f"/cases/{code}/referrals", head, {"agency_code": "CA"}, 201)
    r = client.post(f"/cases/{code}/referrals", headers=head, json={"agency_code": "CA"})
    assert r.status_code == 422 and r.json()["rule"] == "not_already_referred"
    r = client.post(f"/cases/{code}/referrals", headers=head, json={"agency_code": "NOPE"})
    assert r.status_code == 422 and (r.json()["field"], r.json()["rule"]) == ("agency_code", "known_agency")


def test_starting_a_service_refers_the_case_to_the_agency(client: TestClient, commune: Commune,
                                                         health: Health, db: Database) -> None:
    code = open_case(client, commune)
    assert read(client, health.headers, code).status_code == 404
    v = fire(client, commune, Role.CASE_WORKER, code, "assess", 1, risk_level="high", factors=FACTORS["high"],
             emergency=False)
    v = fire(client, commune, Role.CASE_WORKER, code, "detail_assess", v, **DETAIL)
    v = fire(client, commune, Role.CASE_WORKER, code, "submit_plan", v, goals="An toàn",
             measures=measures("Tư vấn", agency_code="TYT"))
    v = fire(client, commune, Role.CHAIR, code, "approve_plan", v)
    v = consent(client, commune, code, v)
    assert read(client, health.headers, code).status_code == 404  # planned and consented: not yet referred
    fire(client, commune, Role.CASE_WORKER, code, "start_service", v, kind="medical", agency_code="TYT",
         started_on="2026-03-02", measure_no=1)
    r = read(client, health.headers, code)
    assert r.status_code == 200 and r.json()["view"] == "agency"
    assert [i["code"] for i in client.get("/cases", headers=health.headers).json()["items"]] == [code]
    referrals = read(client, commune.headers(Role.HEAD), code).json()["referrals"]
    assert [(x["agency_code"], x["withdrawn_at"]) for x in referrals] == [("TYT", None)]
    # The police, not referred, still see nothing.
    assert read(client, commune.headers(Role.AGENCY_OFFICIAL), code).status_code == 404
    # The health station's contact is told, by SMS, with the code and nothing about the child.
    assert referral_sms(db, code) == [("+84900004321", True)]


def referral_sms(db: Database, code: str) -> list[tuple[str, bool]]:
    """(recipient, body names the case and no child) of each referral SMS about the case."""
    with db.read() as s:
        case_id = s.execute(select(col(Case.id)).where(col(Case.code) == code)).scalar_one()
        rows = s.execute(select(OutboxMessage).where(col(OutboxMessage.case_id) == case_id,
                                                     col(OutboxMessage.dedupe_key).contains(":referral:"))
                         .order_by(col(OutboxMessage.id))).scalars().all()
        return [(m.recipient, code in m.body and "Thử" not in m.body) for m in rows]


def test_a_referral_tells_the_agency_by_sms(client: TestClient, commune: Commune, db: Database) -> None:
    code = open_case(client, commune)
    consent(client, commune, code)
    post(client, f"/cases/{code}/referrals", commune.headers(Role.HEAD), {"agency_code": "CA"}, 201)
    police_phone = "+8490000" + f"{list(Role).index(Role.AGENCY_OFFICIAL):04d}"
    assert referral_sms(db, code) == [(police_phone, True)]


def test_a_referral_without_consent_or_after_a_refusal_is_422_and_tells_no_one(
        client: TestClient, commune: Commune, db: Database) -> None:
    code = open_case(client, commune)
    head, police = commune.headers(Role.HEAD), commune.headers(Role.AGENCY_OFFICIAL)
    r = client.post(f"/cases/{code}/referrals", headers=head, json={"agency_code": "CA"})
    assert r.status_code == 422 and (r.json()["field"], r.json()["rule"]) == (
        "consent", "consent_or_legal_ground_required")
    v = consent(client, commune, code, carer_answer="refused")
    r = client.post(f"/cases/{code}/referrals", headers=head, json={"agency_code": "CA"})
    assert r.status_code == 422 and (r.json()["field"], r.json()["rule"]) == ("consent", "consent_refused")
    assert read(client, police, code).status_code == 404 and referral_sms(db, code) == []
    assert read(client, head, code).json()["referrals"] == []
    # A legal ground (criminal procedure, for the police) lets the case be referred after all.
    fire(client, commune, Role.HEAD, code, "record_consent", v, legal_ground="criminal_procedure")
    post(client, f"/cases/{code}/referrals", head, {"agency_code": "CA"}, 201)
    assert read(client, police, code).status_code == 200


def test_hotline_report_without_a_reporter_has_no_reporter_section(client: TestClient,
                                                                   commune: Commune) -> None:
    sent = post(client, "/reports", commune.headers(Role.HOTLINE), hotline_report("111-CONF-1"), 201)
    code = sent["case_code"]
    body = read(client, commune.headers(Role.HEAD), code).json()
    assert body["view"] == "full" and body["reporters"] == [] and body["reports"][0]["has_reporter"] is False
