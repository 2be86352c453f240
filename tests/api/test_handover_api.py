"""The handover package through the API (api/routers/handover.py): `GET /cases/{code}/handover`
answers the package's JSON, whose SHA-256 is on the audit trail; `GET /cases/{code}/handover.zip`
the JSON with the printable file (self-contained HTML and a Word file) that the receiving commune
gets. The app is built as `kipthoi serve` builds it, the API with the desk installed: the desk's
print layout makes the printable file. Cases are walked only as far as an early closure."""

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from docx import Document
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import Runtime
from models.enums import Role
from tests.conftest import Commune, staff_report
from web import install

RECEIVING = "Phường Bên Sông (giả lập)"
CHILD, NARRATIVE = "Nguyễn Văn Thử", "Hàng xóm nghe thấy trẻ bị đánh nhiều lần (dữ liệu giả lập)."
REPORTER = ("Người Báo Tin", "900000999")
NATION = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"  # as the print heads every sheet (web/printout.py)
FILES = ["vu-viec.json", "ho-so.html", "ho-so.docx"]


@pytest.fixture
def served(runtime: Runtime) -> Iterator[TestClient]:
    """The API and the desk in one app, as `kipthoi serve` runs them (kipthoi/wiring.py)."""
    app = create_app(runtime)
    install(app)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def open_case(client: TestClient, commune: Commune, child: str = CHILD) -> str:
    body = staff_report(child={"full_name": child, "birth_date": "2016-05-01", "sex": "male"})
    r = client.post("/reports", json=body, headers=commune.headers(Role.INTAKE_OPERATOR))
    assert r.status_code == 201, r.text
    return str(r.json()["case_code"])


def close(client: TestClient, commune: Commune, code: str, **data: Any) -> None:
    r = client.post(f"/cases/{code}/transitions/close", headers=commune.headers(Role.CHAIR),
                    json={"expected_version": 1, "data": data})
    assert r.status_code == 200, r.text


def transferred(client: TestClient, commune: Commune) -> str:
    code = open_case(client, commune)
    close(client, commune, code, reason="transferred", transferred_to=RECEIVING)
    return code


def handover_events(client: TestClient, commune: Commune, code: str) -> list[dict[str, Any]]:
    r = client.get("/audit/events", headers=commune.headers(Role.AUDITOR),
                   params={"case": code, "action": "case.handover_exported"})
    assert r.status_code == 200, r.text
    return list(r.json())


def docx_text(content: bytes) -> str:
    doc = Document(io.BytesIO(content))
    parts = [p.text for p in doc.paragraphs]
    parts += [p.text for t in doc.tables for row in t.rows for c in row.cells for p in c.paragraphs]
    return "\n".join(parts)


def test_the_json_is_the_package_and_its_digest_is_on_the_audit_trail(served: TestClient,
                                                                      commune: Commune) -> None:
    code = transferred(served, commune)
    r = served.get(f"/cases/{code}/handover", headers=commune.headers(Role.HEAD))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["schema"] == "kipthoi.handover.v1" and body["code"] == code
    assert body["receiving_commune"] == RECEIVING and body["sending_commune"]["name"] == "Xã Nghĩa Hưng"
    assert [rep["narrative"] for rep in body["case"]["reports"]] == [NARRATIVE]
    assert not any(secret in r.text for secret in REPORTER)  # not even the head hands over who reported

    [event] = handover_events(served, commune, code)
    assert event["after"]["sha256"] == {"vu-viec.json": hashlib.sha256(r.content).hexdigest()}
    assert not any(private in json.dumps(event, ensure_ascii=False) for private in (CHILD, NARRATIVE, RECEIVING))


def test_the_zip_holds_the_json_the_printable_file_and_the_word_file(served: TestClient,
                                                                     commune: Commune) -> None:
    code = transferred(served, commune)
    r = served.get(f"/cases/{code}/handover.zip", headers=commune.headers(Role.CHAIR))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"] == f'attachment; filename="{code}.zip"'
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    assert archive.namelist() == FILES
    data, html, docx = (archive.read(name) for name in FILES)

    assert json.loads(data)["code"] == code and json.loads(data)["receiving_commune"] == RECEIVING
    page = html.decode()
    assert NATION in page and code in page and CHILD in page
    # Self-contained: the print stylesheet inlined, nothing asked of this server.
    assert "<style>" in page and "@page" in page and 'href="/' not in page and 'src="/' not in page
    text = docx_text(docx)
    assert code in text and NATION in text and CHILD in text
    for secret in REPORTER:
        assert secret not in page and secret not in text and secret not in data.decode()

    [event] = handover_events(served, commune, code)
    assert event["after"]["sha256"] == {name: hashlib.sha256(archive.read(name)).hexdigest() for name in FILES}


def test_refusals_are_the_api_s_usual_answers(served: TestClient, commune: Commune) -> None:
    code, still_open = transferred(served, commune), open_case(served, commune, "Trẻ Thứ Hai")
    duplicate = open_case(served, commune, "Trẻ Thứ Ba")
    close(served, commune, duplicate, reason="duplicate")
    for not_transferred in (still_open, duplicate):
        for route in ("handover", "handover.zip"):
            r = served.get(f"/cases/{not_transferred}/{route}", headers=commune.headers(Role.HEAD))
            assert r.status_code == 422, r.text
            assert r.json()["field"] == "closure_reason" and r.json()["rule"] == "transferred_case"
            assert r.json()["message"] and r.json()["message_en"]
    for role in (Role.AUDITOR, Role.INTAKE_OPERATOR, Role.AGENCY_OFFICIAL):
        r = served.get(f"/cases/{code}/handover.zip", headers=commune.headers(role))
        assert r.status_code == 403 and CHILD not in r.text, (role, r.text)
    assert served.get(f"/cases/{code}/handover").status_code == 401
    assert served.get("/cases/NH-2026-999999/handover", headers=commune.headers(Role.HEAD)).status_code == 404
    assert handover_events(served, commune, code) == []


def test_an_api_without_the_desk_has_no_zip_and_records_nothing(client: TestClient, commune: Commune) -> None:
    code = transferred(client, commune)
    r = client.get(f"/cases/{code}/handover.zip", headers=commune.headers(Role.HEAD))
    assert r.status_code == 404 and r.json()["code"] == "no_print_layout"
    assert handover_events(client, commune, code) == []
    assert client.get(f"/cases/{code}/handover", headers=commune.headers(Role.HEAD)).status_code == 200
    assert len(handover_events(client, commune, code)) == 1
