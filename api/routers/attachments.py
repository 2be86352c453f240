"""Evidence attachments of a case: upload (multipart), list, download.

The body limit of the upload route is the evidence limit plus room for the form around the
file (`UPLOAD_PATH`, `body_limit`: api/app.py hands them to `BodyLimit`); every other route
keeps the small one. A download is sent as an attachment of the type its content was found to
be, never to be shown inline, sniffed or cached."""

import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentActor, RuntimeDep
from api.errors import responses
from api.schemas import MAX_ID
from api.uploads import file_response, read_upload
from models import AttachmentKind
from states.kernel.commune import CommunePolicy
from states.records import evidence

router = APIRouter(prefix="/cases", tags=["attachments"])
CodePath = Annotated[str, Path(max_length=32, pattern=r"^[A-Z0-9-]+$")]

# The API's upload route and the desk's (web/pages/evidence.py): the only bodies that may be
# larger than `api.max_body_bytes`.
UPLOAD_PATH = re.compile(r"(/desk)?/cases/[A-Za-z0-9-]{1,32}/attachments")
FORM_OVERHEAD = 64 * 1024


def body_limit(policy: CommunePolicy) -> int:
    """The upload routes' body limit: the file's, and room for the form's other fields."""
    return policy.evidence_max_bytes + FORM_OVERHEAD


AttachmentOut = evidence.AttachmentInfo


UPLOAD_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["kind", "file"],
    "properties": {
        "kind": {"type": "string", "enum": [k.value for k in AttachmentKind]},
        "label": {"type": "string", "maxLength": evidence.MAX_LABEL},
        "file": {"type": "string", "format": "binary",
                 "description": "A JPEG, PNG or PDF, as its content shows (the name does not count)"},
    }}}}}}


@router.post("/{code}/attachments", status_code=201, response_model=AttachmentOut,
             responses=responses(401, 403, 404, 413, 422, 503), openapi_extra=UPLOAD_BODY)
async def upload(request: Request, rt: RuntimeDep, actor: CurrentActor, code: CodePath) -> Any:
    """Attach a photo, a scan of a signed form or a medical note (JPEG, PNG or PDF, checked by
    content) to a case. The file is encrypted before it is stored."""
    form = await read_upload(request)

    def write() -> evidence.AttachmentInfo:
        with rt.db.write() as session:
            return evidence.upload(session, rt.clock, actor, rt.policy.evidence_store, code,
                                   kind=form.fields.get("kind", ""), data=form.data or b"",
                                   label=form.fields.get("label"), file_name=form.filename,
                                   max_bytes=rt.policy.evidence_max_bytes)

    return await run_in_threadpool(write)


@router.get("/{code}/attachments", response_model=list[AttachmentOut],
            responses=responses(401, 403, 404, 422, 503))
def list_attachments(rt: RuntimeDep, actor: CurrentActor, code: CodePath) -> Any:
    """The case's attachments (no bytes), oldest first. Recorded in the access log."""
    with rt.db.write() as session:
        return evidence.list_attachments(session, rt.clock, actor, code)


@router.get("/{code}/attachments/{attachment_id}", response_class=Response,
            responses={200: {"description": "The file, as an attachment",
                             "content": {t: {"schema": {"type": "string", "format": "binary"}}
                                         for t in evidence.EXTENSIONS}},
                       **responses(401, 403, 404, 422, 503)})
def download(rt: RuntimeDep, actor: CurrentActor, code: CodePath,
             attachment_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> Response:
    """One attachment's file. Every download is recorded in the access log."""
    with rt.db.write() as session:
        found = evidence.download(session, rt.clock, actor, rt.policy.evidence_store, code, attachment_id)
    return file_response(found)
