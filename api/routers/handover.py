"""The handover package of a case transferred to another commune (states/cases/handover.py): its
JSON, or a ZIP with the JSON and the printable file.

The printable file is the desk's print of the case (HTML and .docx), which `api` may not import:
the desk hands its layout to the app when it is installed (`web.install`, as `kipthoi serve`
does), as `app.state.handover_printer` (the print's own, made self-contained). An app without
the desk answers the ZIP 404 `no_print_layout`, as the print routes do (api/routers/prints.py),
after the same refusals as always, and records nothing."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from api.deps import CurrentActor, RuntimeDep
from api.errors import error_response, responses
from states.cases import handover
from states.cases.handover import HandoverFile
from states.cases.printing import Layout

router = APIRouter(prefix="/cases", tags=["cases"])
CodePath = Annotated[str, Path(max_length=32, pattern=r"^[A-Z0-9-]+$")]
ZIP_TYPE = "application/zip"


async def get_layout(request: Request) -> Layout | None:
    layout: Layout | None = getattr(request.app.state, "handover_printer", None)
    return layout


LayoutDep = Annotated[Layout | None, Depends(get_layout)]


class _NoLayout(Exception):
    pass


@router.get("/{code}/handover", response_class=Response,
            responses={200: {"model": HandoverFile, "description": "vu-viec.json: the case for the receiving "
                                                                  "commune"},
                       **responses(401, 403, 404, 422, 503)})
def handover_json(rt: RuntimeDep, actor: CurrentActor, code: CodePath) -> Response:
    """The handover package's JSON of a case closed as transferred (`close` with reason
    `transferred`): the sending and receiving communes, and the case as its content view shows
    it (never who reported). For the case worker, the head and the chair; 422 (`closure_reason`)
    for a case not closed as transferred. Making it is recorded (`case.handover_exported`, with
    the SHA-256 of exactly this body) and the read is on the access log."""
    with rt.db.write() as session:
        package = handover.handover(session, rt.clock, actor, code, rt.policy)
    return Response(package.json, media_type="application/json")


@router.get("/{code}/handover.zip", response_class=Response,
            responses={200: {"content": {ZIP_TYPE: {"schema": {"type": "string", "format": "binary"}}},
                             "description": f"{handover.JSON_FILE}, {handover.HTML_FILE} (the whole file, to print; "
                                            f"self-contained) and {handover.DOCX_FILE} (to edit and sign)"},
                       **responses(401, 403, 404, 422, 503)})
def handover_zip(rt: RuntimeDep, actor: CurrentActor, code: CodePath, layout: LayoutDep) -> Response:
    """The handover package to send to the receiving commune: its JSON, and the printable file
    of the case (the forms of Nghị định 56/2017, in Vietnamese) as HTML and Word. Same rules and
    records as `GET /cases/{code}/handover`; the print is on the access log too. A server without
    the desk has no print layout: 404 `no_print_layout`."""
    try:
        with rt.db.write() as session:
            package = handover.handover(session, rt.clock, actor, code, rt.policy, layout)
            if package.printed is None:
                raise _NoLayout  # inside the transaction: nothing is recorded
    except _NoLayout:
        return error_response(404, "no_print_layout", "Máy chủ này không có mẫu in (chưa cài bàn làm việc).",
                              "This server has no print layout: the desk (web) is not installed.")
    return Response(handover.zip_bytes(package), media_type=ZIP_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{package.filename}.zip"'})
