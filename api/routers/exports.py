"""Exports: the worklist as CSV, and everything held about one child as JSON."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response

from api.deps import CurrentActor, RuntimeDep
from api.errors import responses
from api.schemas import NO_NUL, Instant
from models.enums import AbuseForm, CaseState
from states.cases import export, queries
from states.cases.worklist_csv import worklist_csv

router = APIRouter(prefix="/exports", tags=["exports"])
CodePath = Annotated[str, Path(max_length=32, pattern=r"^[A-Z0-9-]+$")]


@router.get("/worklist.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}, "description": "The worklist as CSV"},
                       **responses(401, 403, 422, 503)})
def worklist(rt: RuntimeDep, actor: CurrentActor, state: CaseState | None = None,
             place: Annotated[str | None, Query(max_length=32, pattern=NO_NUL)] = None,
             abuse_form: AbuseForm | None = None, received_from: Instant | None = None,
             received_to: Instant | None = None, overdue: bool = False) -> Response:
    """The cases you may see, with the worklist's columns (no narrative, no identity), as CSV
    that a spreadsheet opens without running any formula typed into a name."""
    flt = queries.CaseFilter(state=state, place_code=place, abuse_form=abuse_form,
                             received_from=received_from, received_to=received_to,
                             overdue_at=rt.clock.now() if overdue else None)
    with rt.db.write() as session:
        body = worklist_csv(session, rt.clock, actor, flt)
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="kipthoi-worklist.csv"'})


@router.get("/child/{code}", responses={200: {"description": "Everything held about the child"},
                                        **responses(401, 403, 404, 422, 503)})
def child_record(rt: RuntimeDep, actor: CurrentActor, code: CodePath) -> JSONResponse:
    """Everything held about the child of this case, for the child's legal representative
    (PDPL 91/2025), except who reported (Luật Tố cáo 2018). Recorded as a read of each case."""
    with rt.db.write() as session:
        body: dict[str, Any] = export.child_record(session, rt.clock, actor, code)
        content = jsonable_encoder(body)
    return JSONResponse(content, headers={
        "Content-Disposition": f'attachment; filename="kipthoi-child-{code}.json"'})
