"""The commune's directory: thôn, agencies, officials."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import CurrentActor, RuntimeDep
from api.errors import responses
from api.schemas import NO_NUL, AgencyOut, OfficialOut, PlaceOut
from states.records import directory

router = APIRouter(tags=["directory"])


@router.get("/places", response_model=list[PlaceOut], responses=responses(401, 403))
def list_places(rt: RuntimeDep, actor: CurrentActor) -> Any:
    # Converted inside the session: leaving `read()` rolls back, which expires the rows.
    with rt.db.read() as session:
        return [PlaceOut.model_validate(p, from_attributes=True)
                for p in directory.list_places(session, actor)]


@router.post("/places", status_code=201, response_model=PlaceOut,
             responses=responses(401, 403, 413, 422))
def create_place(rt: RuntimeDep, actor: CurrentActor, body: directory.PlaceIn) -> Any:
    with rt.db.write() as session:
        return directory.create_place(session, rt.clock, actor, body)


@router.get("/agencies", response_model=list[AgencyOut], responses=responses(401, 403))
def list_agencies(rt: RuntimeDep, actor: CurrentActor) -> Any:
    with rt.db.read() as session:
        return [AgencyOut.model_validate(a, from_attributes=True)
                for a in directory.list_agencies(session, actor)]


@router.post("/agencies", status_code=201, response_model=AgencyOut,
             responses=responses(401, 403, 413, 422))
def create_agency(rt: RuntimeDep, actor: CurrentActor, body: directory.AgencyIn) -> Any:
    with rt.db.write() as session:
        return directory.create_agency(session, rt.clock, actor, body)


@router.get("/officials", response_model=list[OfficialOut], responses=responses(401, 403, 422))
def list_officials(rt: RuntimeDep, actor: CurrentActor,
                   agency: Annotated[str | None, Query(max_length=32, pattern=NO_NUL)] = None) -> Any:
    with rt.db.read() as session:
        return directory.list_officials(session, actor, agency)


@router.post("/officials", status_code=201, response_model=OfficialOut,
             responses=responses(401, 403, 413, 422))
def create_official(rt: RuntimeDep, actor: CurrentActor, body: directory.OfficialIn) -> Any:
    with rt.db.write() as session:
        official = directory.create_official(session, rt.clock, actor, body)
    return OfficialOut(id=official.id or 0, full_name=official.full_name, agency_code=body.agency_code,
                       title=official.title, phone=official.phone, language=official.language,
                       position=official.position, active=official.active)
