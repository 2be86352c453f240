"""The handover package on the desk (web/pages/handover.py): the case page of a case closed as
transferred offers it, and it downloads as the ZIP the receiving commune gets; a case closed for
another reason does not offer it, and a role that does not change cases is refused it."""

import io
import json
import zipfile

from sqlalchemy import select
from sqlmodel import col

from api.deps import Runtime
from models import Case
from models.enums import Role
from states.lifecycle import workflow
from states.lifecycle.triggers import INPUTS
from tests.conftest import Commune
from tests.web.conftest import Desk
from tests.web.test_case_pages import open_case
from web.i18n import COOKIE as LANG_COOKIE

LINK = "Tải gói bàn giao (chuyển xã)"
RECEIVING = "Xã Bên Sông (giả lập)"


def close(runtime: Runtime, commune: Commune, code: str, **data: str) -> None:
    """The chair's early closure (from `received`), as the lifecycle allows by default."""
    with runtime.db.write() as s:
        version = s.execute(select(col(Case.version)).where(col(Case.code) == code)).scalar_one()
        workflow.advance(s, runtime.clock, commune.actors[Role.CHAIR], code, "close",
                         INPUTS["close"].model_validate(data), version, runtime.policy)


def test_a_transferred_case_offers_its_handover_package_and_it_downloads(desk: Desk, runtime: Runtime,
                                                                         commune: Commune) -> None:
    code = open_case(runtime, commune)
    other = open_case(runtime, commune, child={"full_name": "Trần Thị Khác", "birth_date": "2015-01-01",
                                               "sex": "female"})
    close(runtime, commune, code, reason="transferred", transferred_to=RECEIVING)
    close(runtime, commune, other, reason="duplicate")
    head = desk.browser(Role.HEAD)

    page = head.get(f"/desk/cases/{code}")
    assert page.status_code == 200 and LINK in page.text
    assert f'href="/desk/cases/{code}/handover.zip"' in page.text
    assert LINK not in head.get(f"/desk/cases/{other}").text

    r = head.get(f"/desk/cases/{code}/handover.zip")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip" and r.headers["cache-control"] == "no-store"
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    assert archive.namelist() == ["vu-viec.json", "ho-so.html", "ho-so.docx"]
    assert json.loads(archive.read("vu-viec.json"))["receiving_commune"] == RECEIVING
    assert code in archive.read("ho-so.html").decode()

    # In English the page offers it in English; the package itself stays Vietnamese.
    head.cookies.set(LANG_COOKIE, "en")
    assert "Download the handover package" in head.get(f"/desk/cases/{code}").text
    english = zipfile.ZipFile(io.BytesIO(head.get(f"/desk/cases/{code}/handover.zip").content))
    assert "Hồ sơ vụ việc" in english.read("ho-so.html").decode()

    refused = desk.browser(Role.AUDITOR).get(f"/desk/cases/{code}/handover.zip")
    assert refused.status_code == 403 and "Nguyễn Văn Thử" not in refused.text
    assert head.get(f"/desk/cases/{other}/handover.zip").status_code == 422
