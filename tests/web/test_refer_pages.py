"""Referring a case from its page: the form lists the agencies not yet referred; without consent
the referral is refused with the reason on the page and nothing is written; with consent the
agency is on the case and its official can read it."""

from sqlalchemy import func, select

from api.deps import Runtime
from models import Referral
from models.enums import Role
from tests.conftest import Commune
from tests.payloads import CONSENT, FACTORS
from tests.web.conftest import Desk, csrf_of
from tests.web.test_case_pages import done, open_case, step


def referrals(runtime: Runtime) -> int:
    with runtime.db.read() as s:
        return int(s.execute(select(func.count()).select_from(Referral)).scalar_one())


def test_a_case_is_referred_from_its_page_once_consent_is_recorded(desk: Desk, runtime: Runtime,
                                                                   commune: Commune) -> None:
    worker, police = desk.browser(Role.CASE_WORKER), desk.browser(Role.AGENCY_OFFICIAL)
    code = open_case(runtime, commune)
    done(worker, step(worker, code, "assess", {f"factors.{k}": v for k, v in FACTORS["high"].items()}
                      | {"emergency": "no"}))
    page = worker.get(f"/desk/cases/{code}").text
    assert 'action="/desk/cases/' + code + '/referrals"' in page and '<option value="CA">' in page

    refused = worker.post(f"/desk/cases/{code}/referrals", data={"csrf": csrf_of(page), "agency_code": "CA"})
    assert refused.status_code == 422 and "Chưa ghi nhận sự đồng ý chia sẻ thông tin" in refused.text
    assert referrals(runtime) == 0
    assert police.get(f"/desk/cases/{code}").status_code == 404

    done(worker, step(worker, code, "record_consent", CONSENT))
    page = worker.get(f"/desk/cases/{code}").text
    ok = worker.post(f"/desk/cases/{code}/referrals", data={"csrf": csrf_of(page), "agency_code": "CA"})
    assert ok.status_code == 303 and referrals(runtime) == 1
    page = worker.get(ok.headers["location"]).text
    assert '<option value="CA">' not in page  # already referred: not offered again
    assert police.get(f"/desk/cases/{code}").status_code == 200


def test_the_form_is_not_offered_to_those_who_may_not_refer(desk: Desk, runtime: Runtime, commune: Commune) -> None:
    code = open_case(runtime, commune)
    head = desk.browser(Role.HEAD)
    assert "/referrals" in head.get(f"/desk/cases/{code}").text
    police = desk.browser(Role.AGENCY_OFFICIAL)
    home = police.get("/").text
    forged = police.post(f"/desk/cases/{code}/referrals", data={"csrf": csrf_of(home), "agency_code": "CA"})
    assert forged.status_code == 403 and referrals(runtime) == 0  # may not refer, even with a valid token
