"""Intake: the 111 hotline's transfer, staff entry, a citizen's online report; public tracking."""

from typing import Annotated

from fastapi import APIRouter, Body, Header, HTTPException, Path
from fastapi.responses import JSONResponse

from api.deps import ActorOrPublic, CurrentActor, RuntimeDep
from api.errors import responses
from api.schemas import NO_NUL, CitizenReceipt, HotlineReportStatus, PublicStatus, ReportAccepted
from states.cases import queries
from states.intake import opening as intake
from states.intake.report_data import AnyReport, CitizenReport

router = APIRouter(tags=["reports"])


@router.post(
    "/reports", status_code=201,
    response_model=ReportAccepted | CitizenReceipt,
    responses={200: {"description": "A repeated request: the first answer, unchanged",
                     "model": ReportAccepted | CitizenReceipt},
               **responses(401, 403, 409, 413, 422, 503)},
    summary="Receive a report (Mẫu 01)",
)
async def post_report(
    rt: RuntimeDep, actor: ActorOrPublic,
    report: Annotated[AnyReport, Body(discriminator="channel")],
    idempotency_key: Annotated[str | None, Header(max_length=128, pattern=r"^[\x21-\x7e]+$")] = None,
) -> JSONResponse:
    """`channel` selects the kind: `hotline_111` (the hotline's API key; `hotline_ref` makes it
    idempotent), `phone`/`in_person`/`third_party` (staff), `online` (anyone; the answer is
    a tracking code only). A repeated request answers 200 with the first answer."""
    if actor.is_public and not isinstance(report, CitizenReport):
        # Only the online channel is open to anyone; the others need a key (401, not 403).
        raise HTTPException(401, "An API key is required", headers={"WWW-Authenticate": "Bearer"})
    result = await intake.receive(rt.db, rt.clock, actor, rt.policy, report, idempotency_key)
    body = result.response
    if isinstance(report, CitizenReport):
        body = CitizenReceipt(tracking_code=body["tracking_code"]).model_dump()
    return JSONResponse(status_code=200 if result.replayed else 201, content=body)


@router.get("/public/reports/{tracking_code}", response_model=PublicStatus,
            responses=responses(404, 422), summary="Status of a report, by its tracking code")
def get_public_status(rt: RuntimeDep, tracking_code: Annotated[str, Path(pattern=NO_NUL)]) -> PublicStatus:
    if len(tracking_code) > 20:
        tracking_code = tracking_code[:20]
    with rt.db.read() as session:
        return PublicStatus(**queries.public_status(session, tracking_code))


@router.get("/hotline/reports/{hotline_ref}", response_model=HotlineReportStatus,
            responses=responses(401, 403, 404, 422), summary="111: status of a report it sent")
def get_hotline_status(
        rt: RuntimeDep, actor: CurrentActor,
        hotline_ref: Annotated[str, Path(max_length=64, pattern=NO_NUL)]) -> HotlineReportStatus:
    """The hotline's key reads back the reports it sent itself (the case code and state), and
    nothing else: no case content."""
    with rt.db.read() as session:
        return HotlineReportStatus(**queries.hotline_status(session, actor, hotline_ref))
