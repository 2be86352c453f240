"""Search cases by the child's name or the reporter's phone (blind indexes, states/cases/search.py)."""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import CurrentActor, RuntimeDep
from api.errors import responses
from api.schemas import CaseSummary
from states.cases import search

router = APIRouter(prefix="/search", tags=["cases"])


class CaseSearchResult(BaseModel):
    items: list[CaseSummary]
    truncated: bool = Field(description=f"More than {search.MAX_RESULTS} cases matched")


@router.get("/cases", response_model=CaseSearchResult, responses=responses(401, 403, 422),
            summary="Find cases by the child's full name or the reporter's phone")
def search_cases(
    rt: RuntimeDep, actor: CurrentActor,
    child_name: Annotated[str | None, Query(max_length=120, description=(
        "The child's full name as recorded (case and spacing do not matter, diacritics do); "
        "case workers, the head and the chair"))] = None,
    reporter_phone: Annotated[str | None, Query(max_length=20, description=(
        "The reporter's phone, any usual Vietnamese form; the head only"))] = None,
) -> CaseSearchResult:
    """Exactly one of `child_name` and `reporter_phone`. Worklist rows only (no narrative, no
    identity); the search itself is on the audit trail, without the term."""
    with rt.db.write() as session:
        found = search.search_cases(session, rt.clock, actor, rt.policy,
                                    child_name=child_name, reporter_phone=reporter_phone)
    return CaseSearchResult(items=[CaseSummary(**item) for item in found.items],
                            truncated=found.truncated)
