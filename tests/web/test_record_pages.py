"""The Nghị định 56 records through the desk's generated forms: the four factors as a nested
fieldset, special-circumstance groups as checkboxes, the plan's measures as rows (an error in
the second row shown at that row, with every typed row kept), the chair's emergency decision,
consent, and a service that names its measure — and the case page that shows them."""


from sqlalchemy import select
from sqlmodel import col

from api.deps import Runtime
from models import Case, PlanMeasure
from models.enums import Role
from tests.conftest import Commune
from tests.payloads import DETAIL
from tests.web.conftest import Desk
from tests.web.test_case_pages import done, open_case, state_of
from tests.web.test_case_pages import step as post

FACTORS = {"factors.severity": "high", "factors.abuser_access": "medium", "factors.safety_obstacles": "low",
           "factors.self_protection": "medium"}
ROW = {"kind": "medical_psychological", "description": "Khám và trị liệu tâm lý (giả lập)",
       "agency_code": "TYT", "starts_on": "2026-03-05", "ends_on": "2026-04-30"}


def rows(measures: list[dict[str, str]]) -> dict[str, str]:
    return {f"measures.{i}.{k}": v for i, m in enumerate(measures) for k, v in m.items()}


def test_the_whole_record_through_the_forms(desk: Desk, runtime: Runtime, commune: Commune) -> None:
    worker, chair = desk.browser(Role.CASE_WORKER), desk.browser(Role.CHAIR)
    code = open_case(runtime, commune)

    form = worker.get(f"/desk/cases/{code}/do/assess").text
    assert 'name="factors.severity"' in form and form.count('name="special_groups"') == 14
    missing = post(worker, code, "assess", {"emergency": "yes", **{k: v for k, v in FACTORS.items()
                                                                   if k != "factors.self_protection"}})
    assert missing.status_code == 422 and "khả năng tự bảo vệ" in missing.text
    assert 'value="high" selected' in missing.text  # what was chosen is kept
    done(worker, post(worker, code, "assess", {"emergency": "yes", "case_type": "special_circumstances",
                                               "special_groups": ["disabled", "harmed_by_violence"], **FACTORS}))
    assert state_of(runtime, code) == "assessed"

    decided = post(chair, code, "decide_emergency", {"measures": "Đưa trẻ đến Trạm Y tế (giả lập)",
                                                     "decided_at": "2026-03-02T08:30", "separation": "on"})
    done(chair, decided)

    refused = post(worker, code, "submit_plan", {"goals": "Trẻ an toàn", **rows([ROW])})
    assert refused.status_code == 422 and "Mẫu 03" in refused.text
    done(worker, post(worker, code, "detail_assess", {
        k: (v[:16] if k == "meeting_at" else v) for k, v in DETAIL.items()}))

    second = ROW | {"description": "Tư vấn cho gia đình", "agency_code": "", "responsible": "",
                    "ends_on": "2026-03-01"}
    bad = post(worker, code, "submit_plan", {"goals": "Trẻ an toàn", **rows([ROW, second])})
    assert bad.status_code == 422
    assert 'id="measures.1.responsible"' in bad.text or 'name="measures.1.responsible"' in bad.text
    assert "Biện pháp 2: cần nêu cơ quan hoặc người thực hiện." in bad.text
    assert "Khám và trị liệu tâm lý (giả lập)" in bad.text and "Tư vấn cho gia đình" in bad.text
    done(worker, post(worker, code, "submit_plan", {"goals": "Trẻ an toàn", **rows(
        [ROW, second | {"responsible": "Công chức VH-XH", "ends_on": "2026-05-31"}])}))
    with runtime.db.read() as s:
        case_id = s.execute(select(col(Case.id)).where(col(Case.code) == code)).scalar_one()
        assert [m.responsible for m in s.execute(select(PlanMeasure).where(
            col(PlanMeasure.case_id) == case_id).order_by(col(PlanMeasure.number))).scalars()] == [
            None, "Công chức VH-XH"]

    done(chair, post(chair, code, "approve_plan", {"note": "Đồng ý"}))
    service_form = worker.get(f"/desk/cases/{code}/do/start_service").text
    assert '<option value="2"' in service_form and "1 · Chăm sóc y tế, trị liệu tâm lý, phục hồi · " in service_form
    no_consent = post(worker, code, "start_service", {"kind": "medical", "agency_code": "TYT",
                                                      "started_on": "2026-03-05", "measure_no": "1"})
    assert no_consent.status_code == 422 and "đồng ý chia sẻ" in no_consent.text
    done(worker, post(worker, code, "record_consent", {"child_answer": "given", "carer_answer": "given",
                                                       "carer_name": "Người giám hộ giả lập"}))
    done(worker, post(worker, code, "start_service", {"kind": "medical", "agency_code": "TYT",
                                                      "started_on": "2026-03-05", "measure_no": "1"}))

    page = worker.get(f"/desk/cases/{code}").text
    for shown in ("Đánh giá nguy cơ ban đầu (Mẫu 02)", "Khuyết tật", "Quyết định của Chủ tịch",
                  "Đánh giá chi tiết và họp về nhu cầu của trẻ (Mẫu 03)", DETAIL["attendees"],
                  "1/QĐ-UBND", "Tư vấn cho gia đình", "Biện pháp số", "Người giám hộ giả lập"):
        assert shown in page, shown
