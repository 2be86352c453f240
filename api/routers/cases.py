"""Cases: the worklist, one case, triggers, assignment, notes, services, referrals."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query

from api.deps import CurrentActor, RuntimeDep
from api.errors import responses
from api.schemas import (
    MAX_ID,
    NO_NUL,
    AssignRequest,
    CaseChanged,
    CaseDetail,
    CasePage,
    EndServiceRequest,
    Instant,
    NoteOut,
    NoteRequest,
    ReferralOut,
    ReferralRequest,
    TransitionRequest,
)
from models.enums import AbuseForm, CaseState
from states.cases import queries, referrals
from states.kernel.errors import UnknownTrigger
from states.lifecycle import workflow
from states.lifecycle.machine import allowed_triggers
from states.lifecycle.triggers import SPECS, TriggerSpec

router = APIRouter(prefix="/cases", tags=["cases"])
CodePath = Annotated[str, Path(max_length=32, pattern=r"^[A-Z0-9-]+$")]


@router.get("", response_model=CasePage, responses=responses(401, 403, 422))
def list_cases(
    rt: RuntimeDep, actor: CurrentActor,
    state: CaseState | None = None,
    assignee_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    place: Annotated[str | None, Query(max_length=32, pattern=NO_NUL, description="Thôn code")] = None,
    abuse_form: AbuseForm | None = None,
    received_from: Instant | None = None,
    received_to: Instant | None = None,
    overdue: Annotated[bool, Query(description="Only cases past a legal time limit")] = False,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=queries.MAX_PAGE_SIZE)] = 20,
) -> Any:
    flt = queries.CaseFilter(state=state, assignee_id=assignee_id, place_code=place,
                             abuse_form=abuse_form, received_from=received_from,
                             received_to=received_to,
                             overdue_at=rt.clock.now() if overdue else None)
    with rt.db.read() as session:
        return queries.list_cases(session, actor, flt, page, page_size)


@router.get("/{code}", response_model=CaseDetail, responses=responses(401, 403, 404, 422, 503))
def get_case(rt: RuntimeDep, actor: CurrentActor, code: CodePath) -> Any:
    """The case as your role may see it. The read is recorded in the access log, so it is a
    write: it commits with its audit event or is not answered."""
    with rt.db.write() as session:
        return queries.get_case(session, rt.clock, actor, code)


def _changed(case: Any) -> CaseChanged:
    return CaseChanged(code=case.code, state=case.state, version=case.version,
                       allowed_triggers=allowed_triggers(case.state))


def _trigger_route(spec: TriggerSpec) -> None:
    """One endpoint per trigger, made from its entry in `states/lifecycle/triggers.py`: the body is its
    input model, the OpenAPI text its labels and steps."""
    trigger, data_model = spec.trigger.value, spec.input
    description = f"{spec.label_vi} — *{spec.label_en}*\n\n" + "\n".join(
        f"- from `{'`, `'.join(s.source)}` to `{s.dest or 'same state'}` — {s.label_vi} ({s.label_en}); "
        f"roles: {', '.join(sorted(s.roles))}"
        + (f" (by the setting `{s.roles_setting[0]}`: "
           + "; ".join(f"{value}: {', '.join(sorted(roles))}" for value, roles in s.roles_setting[1]) + ")"
           if s.roles_setting else "")
        + "; needs: "
        f"{', '.join(g.__name__ for g in s.guards)}" for s in spec.steps)

    def endpoint(rt: RuntimeDep, actor: CurrentActor, code: CodePath,
                 body: Annotated[TransitionRequest[data_model], Body()]) -> CaseChanged:  # type: ignore[valid-type]
        with rt.db.write() as session:
            case = workflow.advance(session, rt.clock, actor, code, trigger, body.data,
                                    body.expected_version, policy=rt.policy)
        return _changed(case)

    router.add_api_route(
        f"/{{code}}/transitions/{trigger}", endpoint, methods=["POST"], response_model=CaseChanged,
        responses=responses(401, 403, 404, 409, 413, 422, 503), summary=f"{spec.label_vi} ({trigger})",
        description=description, operation_id=f"trigger_{trigger}", name=f"trigger_{trigger}")


for _spec in SPECS.values():
    _trigger_route(_spec)


@router.post("/{code}/transitions/{trigger}", include_in_schema=False)
def unknown_trigger(rt: RuntimeDep, actor: CurrentActor, code: CodePath, trigger: str) -> None:
    with rt.db.read() as session:
        state = queries.case_state(session, actor, code)
    raise UnknownTrigger(trigger[:40], allowed_triggers(state))


@router.post("/{code}/assign", response_model=CaseChanged,
             responses=responses(401, 403, 404, 409, 413, 422))
def assign(rt: RuntimeDep, actor: CurrentActor, code: CodePath, body: AssignRequest) -> CaseChanged:
    with rt.db.write() as session:
        case = workflow.assign(session, rt.clock, actor, code, body.official_id, body.expected_version)
    return _changed(case)


@router.post("/{code}/notes", status_code=201, response_model=NoteOut,
             responses=responses(401, 403, 404, 413, 422))
def add_note(rt: RuntimeDep, actor: CurrentActor, code: CodePath, body: NoteRequest) -> Any:
    with rt.db.write() as session:
        note = workflow.add_note(session, rt.clock, actor, code, body.text)
    return NoteOut(id=note.id or 0, written_at=note.written_at)


@router.post("/{code}/services/{service_id}/end", status_code=204,
             responses=responses(401, 403, 404, 413, 422))
def end_service(rt: RuntimeDep, actor: CurrentActor, code: CodePath,
                service_id: Annotated[int, Path(ge=1, le=MAX_ID)], body: EndServiceRequest) -> None:
    with rt.db.write() as session:
        workflow.end_service(session, rt.clock, actor, code, service_id, body.ended_on)


def _referral_out(row: Any) -> ReferralOut:
    return ReferralOut(id=row.id, agency_id=row.agency_id, referred_at=row.referred_at,
                       withdrawn_at=row.withdrawn_at)


@router.post("/{code}/referrals", status_code=201, response_model=ReferralOut,
             responses=responses(401, 403, 404, 413, 422, 503))
def refer(rt: RuntimeDep, actor: CurrentActor, code: CodePath, body: ReferralRequest) -> ReferralOut:
    """Refer the case to an agency: its officials can then read the part of the case their work
    needs, until the referral is withdrawn."""
    with rt.db.write() as session:
        row = referrals.refer(session, rt.clock, actor, code, body.agency_code, rt.policy)
        return _referral_out(row)


@router.post("/{code}/referrals/{referral_id}/withdraw", response_model=ReferralOut,
             responses=responses(401, 403, 404, 422, 503))
def withdraw_referral(rt: RuntimeDep, actor: CurrentActor, code: CodePath,
                      referral_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> ReferralOut:
    with rt.db.write() as session:
        row = referrals.withdraw(session, rt.clock, actor, code, referral_id)
        return _referral_out(row)
