"""Evidence attachments through the API: `POST/GET /cases/{code}/attachments`, `GET …/{id}`.

- Upload, list and download round trip; the download is an attachment of the detected type,
  with `nosniff` and no caching, named by case and id (never the uploader's file name).
- A file whose bytes lie about their type (a `.jpg` holding HTML or an executable, whatever the
  declared content type) is 422 naming the field and the rule; nothing is stored.
- Over the evidence limit: 422 (`file`, `max_size`) while the body fits the route's limit, 413
  beyond it; every other route keeps the small body limit.
- Each download is on the access log.
- Every role (and the public) × upload, list, download × the four kinds of case of the access
  matrix: expected from `ACTIONS` (the role) and the case view the role gets (the scope).
"""

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import col

from models import Attachment, AuditEvent, Database, EvidenceBlob
from models.enums import Role
from states.access.permissions import ACTIONS
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from states.records import evidence
from tests.api import test_access_matrix as matrix
from tests.api.test_access_matrix import EVERYONE, IDS, KINDS, Kinds, detail_expected, headers
from tests.conftest import Commune, staff_report
from tests.evidence_samples import EXE, HTML, MARKER, jpeg, pdf, png

LIMIT = 100_000  # the evidence limit of these tests' commune
four_kinds = matrix.kinds  # the access matrix's fixture `kinds`: its four kinds of case


@pytest.fixture
def policy() -> CommunePolicy:
    return CommunePolicy(code_prefix="NH", match_secret=b"test-secret", evidence_max_bytes=LIMIT)


def new_case(client: TestClient, commune: Commune) -> str:
    r = client.post("/reports", headers=commune.headers(Role.INTAKE_OPERATOR), json=staff_report())
    assert r.status_code == 201, r.text
    return str(r.json()["case_code"])


def upload(client: TestClient, commune: Commune, role: Role | None, code: str, data: bytes,
           name: str = "vet-bam.jpg", declared: str = "image/jpeg", **fields: str) -> Any:
    return client.post(f"/cases/{code}/attachments", headers=headers(commune, role),
                       data={"kind": "photo", **fields}, files={"file": (name, data, declared)})


def count(db: Database) -> tuple[int, int]:
    with db.read() as s:
        return (s.execute(select(func.count()).select_from(Attachment)).scalar_one(),
                s.execute(select(func.count()).select_from(EvidenceBlob)).scalar_one())


def test_upload_list_download_round_trip(client: TestClient, commune: Commune, db: Database) -> None:
    code = new_case(client, commune)
    files = {"photo": png(), "scan": pdf(), "medical": jpeg()}
    made = {}
    for kind, data in files.items():
        r = upload(client, commune, Role.HEAD, code, data, name=f"{kind}.bin", declared="application/octet-stream",
                   kind=kind, label=f"nhãn {kind}")
        assert r.status_code == 201, r.text
        made[kind] = r.json()
    assert made["photo"]["content_type"] == "image/png" and made["scan"]["content_type"] == "application/pdf"
    assert made["medical"]["content_type"] == "image/jpeg" and made["photo"]["size"] == len(files["photo"])

    listed = client.get(f"/cases/{code}/attachments", headers=commune.headers(Role.CHAIR))
    assert listed.status_code == 200
    assert [(a["kind"], a["label"], a["file_name"]) for a in listed.json()] == [
        ("photo", "nhãn photo", "photo.bin"), ("scan", "nhãn scan", "scan.bin"),
        ("medical", "nhãn medical", "medical.bin")]

    with db.read() as s:  # the list gave labels and names: a read of those private fields
        viewed = s.execute(select(AuditEvent).where(col(AuditEvent.action) == "case.viewed")
                           .order_by(col(AuditEvent.seq).desc())).scalars().first()
    assert viewed is not None and viewed.actor == commune.actors[Role.CHAIR].ref
    assert json.loads(viewed.after)["fields"] == ["attachment.file_name", "attachment.label"]

    got = client.get(f"/cases/{code}/attachments/{made['scan']['id']}", headers=commune.headers(Role.CHAIR))
    assert got.status_code == 200 and got.content == files["scan"]
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"] == f'attachment; filename="{code}-{made["scan"]["id"]}.pdf"'
    assert got.headers["x-content-type-options"] == "nosniff" and got.headers["cache-control"] == "no-store"
    assert client.get(f"/cases/{code}/attachments/999", headers=commune.headers(Role.HEAD)).status_code == 404

    with db.read() as s:
        downloads = s.execute(select(AuditEvent).where(col(AuditEvent.action) == "case.attachment.downloaded")
                              ).scalars().all()
    assert len(downloads) == 1 and json.loads(downloads[0].after)["attachment"] == made["scan"]["id"]
    assert count(db) == (3, 3)


@pytest.mark.parametrize("data", [HTML, EXE, b"\xff\xd8\xff\xe0" + HTML], ids=["html", "exe", "jpeg-prefix"])
def test_a_file_lying_about_its_type_is_refused(client: TestClient, commune: Commune, db: Database,
                                                data: bytes) -> None:
    code = new_case(client, commune)
    r = upload(client, commune, Role.HEAD, code, data, name="anh.jpg", declared="image/jpeg")
    assert r.status_code == 422
    assert (r.json()["field"], r.json()["rule"]) == ("file", "content_type")
    assert count(db) == (0, 0)


def test_bad_forms_are_refused_naming_the_field(client: TestClient, commune: Commune) -> None:
    code = new_case(client, commune)
    h = commune.headers(Role.HEAD)
    r = client.post(f"/cases/{code}/attachments", headers=h, json={"kind": "photo"})
    assert r.status_code == 422 and r.json()["field"] == "body"
    r = client.post(f"/cases/{code}/attachments", headers=h, data={"kind": "photo"}, files={"other": ("x", b"1")})
    assert r.status_code == 422 and (r.json()["field"], r.json()["rule"]) == ("file", "required")
    r = upload(client, commune, Role.HEAD, code, png(), kind="selfie")
    assert r.status_code == 422 and r.json()["field"] == "kind"
    r = upload(client, commune, Role.HEAD, code, png(), label="x" * 201)
    assert r.status_code == 422 and (r.json()["field"], r.json()["rule"]) == ("label", "max_length")


def test_oversize_is_refused_and_other_routes_keep_the_small_limit(
        client: TestClient, commune: Commune, db: Database) -> None:
    code = new_case(client, commune)
    r = upload(client, commune, Role.HEAD, code, pdf() + b" " * LIMIT)
    assert r.status_code == 422 and (r.json()["field"], r.json()["rule"]) == ("file", "max_size")
    assert "MB" in r.json()["message_en"]
    r = upload(client, commune, Role.HEAD, code, pdf() + b" " * (LIMIT + 80 * 1024))
    assert r.status_code == 413 and r.json()["code"] == "body_too_large"
    assert count(db) == (0, 0)
    exactly = pdf(MARKER + b" " * (LIMIT - len(pdf())))
    assert len(exactly) == LIMIT and upload(client, commune, Role.HEAD, code, exactly).status_code == 201
    # The raised limit is the upload route's alone: a note of 300 KB is still refused.
    r = client.post(f"/cases/{code}/notes", headers=commune.headers(Role.HEAD),
                    content=json.dumps({"text": "x" * 300_000}))
    assert r.status_code == 413


def test_the_database_holds_no_plaintext_of_an_upload(client: TestClient, commune: Commune, db: Database) -> None:
    code = new_case(client, commune)
    assert upload(client, commune, Role.HEAD, code, jpeg(), name="Nguyen-Thi-Bimat.jpg").status_code == 201
    from tests.states.records.test_evidence import raw_bytes

    raw = raw_bytes(db)
    assert MARKER not in raw and b"Nguyen-Thi-Bimat" not in raw and b"v1.test1." in raw


# --- who may: every role × upload, list, download × the four kinds of case ------------------


def expected(role: Role | None, kind: str, action: str, ok: int) -> int:
    """From the rules: the role may attempt the action at all (ACTIONS), then the case's view for
    this role (the scope: the access matrix's own table) must be the full or the content one."""
    if role is None:
        return 401
    if role not in ACTIONS[action]:
        return 403
    status, view = detail_expected(role, kind)
    if status != 200:
        return status
    return ok if view in ("full", "content") else 403


@pytest.mark.parametrize("role", EVERYONE, ids=IDS)
def test_role_matrix_for_attachments(role: Role | None, client: TestClient, commune: Commune, four_kinds: Kinds,
                                     db: Database, clock: FrozenClock, policy: CommunePolicy) -> None:
    kinds, ids = four_kinds, {}
    with db.write() as s:
        for kind in KINDS:
            ids[kind] = evidence.upload(s, clock, commune.actors[Role.HEAD], policy.evidence_store,
                                        kinds.codes[kind], kind="scan", data=pdf()).id
    for kind in KINDS:
        code = kinds.codes[kind]
        r = upload(client, commune, role, code, png())
        assert r.status_code == expected(role, kind, "case.attachment.upload", 201), (role, kind, r.text)
        r = client.get(f"/cases/{code}/attachments", headers=headers(commune, role))
        assert r.status_code == expected(role, kind, "case.attachment.read", 200), (role, kind, r.text)
        r = client.get(f"/cases/{code}/attachments/{ids[kind]}", headers=headers(commune, role))
        assert r.status_code == expected(role, kind, "case.attachment.read", 200), (role, kind, r.text)
        if r.status_code == 200:
            assert r.content == pdf()
        else:
            assert MARKER not in r.content
