"""The worklist, the case page, and the forms that change a case.

Each step's form is made from the trigger table (web/forms.py reads the step's input model and
guards), posted back here, and handed to `workflow.advance` like the API's trigger endpoints: the
use case checks the role, the case, the guards and the version. A guard that fails is shown
beside its field; a stale version shows what happened to the case meanwhile and asks again.

No personal data in a URL: filters are codes; a search by a child's name is a POST."""

import re
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import ValidationError

from models.enums import AbuseForm, CaseState, Trigger
from states.access.permissions import may, steps_for
from states.cases import messages, queries, referrals
from states.cases.search import search_cases
from states.deadlines import ladder
from states.identity.accounts import names_for_refs
from states.kernel.errors import DomainError, GuardFailed, InvalidInput, StaleVersion
from states.lifecycle import workflow
from states.lifecycle.machine import step_for
from states.lifecycle.triggers import SPECS
from states.records import evidence
from states.records.directory import list_agencies, list_officials, list_places
from web import forms
from web.render import Ctx, DeskRoute, StaffCtx, form, redirect, render

router = APIRouter(prefix="/desk/cases", route_class=DeskRoute, include_in_schema=False)

PAGE_SIZE = 25
CODE = re.compile(r"^[A-Z]{1,8}-\d{4}-\d{1,9}$")
# The main road of the lifecycle, drawn as a line with the current state marked.
ROAD = (CaseState.RECEIVED, CaseState.ASSESSED, CaseState.INTERVENED, CaseState.SUPPORTED, CaseState.CLOSED)


def _int(value: str | None, default: int | None = None) -> int | None:
    return int(value) if value is not None and value.isdigit() and len(value) < 10 else default


@router.get("")
def worklist(ctx: StaffCtx, state: str | None = None, place: str | None = None,
             form_: Annotated[str | None, Query(alias="form")] = None,
             overdue: str | None = None, page: str | None = None) -> Response:
    # Unknown filter values are dropped rather than refused: a filter is a link, not a command.
    flt = queries.CaseFilter(
        state=state if state in set(CaseState) else None,
        place_code=place or None,
        abuse_form=form_ if form_ in set(AbuseForm) else None,
        overdue_at=ctx.rt.clock.now() if overdue == "1" else None)
    number = max(1, _int(page, 1) or 1)
    with ctx.rt.db.read() as session:
        result = queries.list_cases(session, ctx.actor, flt, number, PAGE_SIZE)
        places = list_places(session, ctx.actor)
        names = {o["id"]: o["full_name"] for o in list_officials(session, ctx.actor)}
    return render(ctx, "cases/list.html", title=ctx.lang.gettext("Danh sách vụ việc"), result=result,
                  cases=result.items, names=names, places=places, flt=flt, states=list(CaseState),
                  forms_list=list(AbuseForm), overdue=overdue == "1", found=None,
                  place_names={p.code: p.name for p in places},
                  can_search=may(ctx.actor, "case.search.child_name"),
                  pages=(result.total + PAGE_SIZE - 1) // PAGE_SIZE)


@router.post("/search")
async def search(ctx: StaffCtx) -> Response:
    values = await form(ctx)
    term = values.get("q", "").strip()
    if CODE.match(term.upper()):
        return redirect(ctx, f"/desk/cases/{term.upper()}")
    with ctx.rt.db.write() as session:  # a search by name is on the audit trail
        found = search_cases(session, ctx.rt.clock, ctx.actor, ctx.rt.policy, child_name=term)
        names = {o["id"]: o["full_name"] for o in list_officials(session, ctx.actor)}
        places = {p.code: p.name for p in list_places(session, ctx.actor)}
    return render(ctx, "cases/search.html", title=ctx.lang.gettext("Kết quả tìm kiếm"),
                  cases=found.items, truncated=found.truncated, names=names, place_names=places)


def _case_page(ctx: Ctx, code: str, status: int = 200, **extra: Any) -> Response:
    now = ctx.rt.clock.now()
    with ctx.rt.db.write() as session:  # reading private fields is on the access log
        case = queries.get_case(session, ctx.rt.clock, ctx.actor, code)
        sms = messages.sent_about(session, ctx.actor, code)
        officials = list_officials(session, ctx.actor)
        refs = {e.actor for e in case.timeline} | {n.author for n in case.notes}
        who = names_for_refs(session, refs)
        places = {p.code: p.name for p in list_places(session, ctx.actor)}
        agencies = {a.code: ctx.lang.pair(a.name_vi, a.name_en) for a in list_agencies(session, ctx.actor)}
        # Attachments in the same transaction (a non-empty list is on the access log too).
        attachments = None
        if may(ctx.actor, "case.attachment.read"):
            attachments = {"items": evidence.list_attachments(session, ctx.rt.clock, ctx.actor, code),
                           "can_upload": may(ctx.actor, "case.attachment.upload"),
                           "max_mb": f"{ctx.rt.policy.evidence_max_bytes / (1024 * 1024):g}"}
    steps = steps_for(ctx.actor, case.state, ctx.rt.policy) if case.view != "agency" else []
    return render(ctx, "cases/case.html", status, title=case.code, case=case, sms=sms, steps=steps,
                  now=now, who=who, names={o["id"]: o["full_name"] for o in officials},
                  assignable=[o for o in officials if o["active"] and o["position"] in ("case_worker", "head")],
                  can_assign=may(ctx.actor, "case.assign"), can_note=may(ctx.actor, "case.note"),
                  can_ack=may(ctx.actor, "deadline.acknowledge") and case.view != "agency",
                  can_end_service=may(ctx.actor, "case.service.end") and case.view != "agency",
                  can_refer=may(ctx.actor, "case.refer") and case.view != "agency" and case.state != "closed",
                  road=ROAD, rules=ctx.rt.policy.deadlines.rules,
                  labels={t.value: (s.label_vi, s.label_en) for t, s in SPECS.items()},
                  ok=ctx.request.query_params.get("ok"), place_names=places, agencies=agencies,
                  evidence=attachments, **extra)


@router.get("/{code}")
def case_page(ctx: StaffCtx, code: str) -> Response:
    return _case_page(ctx, code)


# --- a step's form ---------------------------------------------------------------------------


def _trigger(name: str) -> Trigger:
    try:
        return Trigger(name)
    except ValueError:
        raise InvalidInput("trigger", "known_trigger", f"Không có thao tác '{name}'.",
                           f"There is no trigger '{name}'.") from None


def _form_page(ctx: Ctx, head: queries.CaseHead, trigger: Trigger, values: forms.Values,
               errors: dict[str, str], status: int = 200, changes: list[Any] | None = None,
               general: str | None = None) -> Response:
    spec = SPECS[trigger]
    step = step_for(trigger.value, head.state)
    with ctx.rt.db.read() as session:
        agencies = [(a.code, ctx.lang.pair(a.name_vi, a.name_en)) for a in list_agencies(session, ctx.actor)]
        who = names_for_refs(session, {c.actor for c in changes or []})
        names = dict(agencies)
        measures = [(str(n), " · ".join(filter(None, [str(n), ctx.lang.label(kind), names.get(agency or "")])))
                    for n, kind, agency in queries.plan_measure_choices(session, ctx.actor, head.code)]
    items = forms.fill(forms.inputs(spec.input, ctx.lang, forms.required_fields(step),
                                    {"agencies": agencies, "measures": measures}), values, errors)
    title = ctx.lang.pair(step.label_vi, step.label_en) if step else ctx.lang.pair(spec.label_vi, spec.label_en)
    return render(ctx, "cases/step.html", status, title=title, head=head, trigger=trigger.value, items=items,
                  changes=changes or [], general=general, who=who,
                  labels={t.value: (s.label_vi, s.label_en) for t, s in SPECS.items()})


@router.get("/{code}/do/{name}")
def step_form(ctx: StaffCtx, code: str, name: str) -> Response:
    trigger = _trigger(name)
    with ctx.rt.db.read() as session:
        head = queries.case_head(session, ctx.actor, code, for_trigger=trigger.value, policy=ctx.rt.policy)
    return _form_page(ctx, head, trigger, {}, {})


@router.post("/{code}/do/{name}")
async def step_post(ctx: StaffCtx, code: str, name: str) -> Response:
    values = await form(ctx)
    # Every value of a name (a group of checkboxes posts its name once a box), for the form's fields.
    posted = forms.posted((await ctx.request.form()).multi_items())
    trigger = _trigger(name)
    spec = SPECS[trigger]
    rows = forms.posted_rows(spec.input, posted)  # which posted row each item of a list came from
    with ctx.rt.db.read() as session:
        head = queries.case_head(session, ctx.actor, code)
    seen = queries.CaseHead(head.code, head.state, _int(values.get("expected_version"), 0) or 0,
                            _int(values.get("seen_seq"), 0) or 0)
    try:
        data = spec.input.model_validate(forms.parse(spec.input, posted))
    except ValidationError as e:
        return _form_page(ctx, seen, trigger, posted, forms.errors_of(e, ctx.lang, rows), 422)
    try:
        with ctx.rt.db.write() as session:
            workflow.advance(session, ctx.rt.clock, ctx.actor, code, trigger.value, data, seen.version,
                             ctx.rt.policy)
    except StaleVersion:
        with ctx.rt.db.read() as session:
            changes = queries.changes_since(session, ctx.actor, code, seen.last_seq)
        # The form comes back with the new version: what the person typed is kept, and they
        # decide, having seen what changed, whether to send it again.
        return _form_page(ctx, head, trigger, posted, {}, 409, changes=changes)
    except GuardFailed as e:
        message = ctx.lang.pair(e.message_vi, e.message_en)
        field = forms.input_name(e.field or "", rows)
        known = {i.name for i in _flatten(forms.fill(forms.inputs(spec.input, ctx.lang, set(), {}), posted, {}))}
        return _form_page(ctx, seen, trigger, posted, {field: message} if field in known else {}, 422,
                          general=None if field in known else message)
    except InvalidInput as e:
        return _form_page(ctx, seen, trigger, posted,
                          {forms.input_name(e.field or "", rows): ctx.lang.pair(e.message_vi, e.message_en)},
                          422, general=ctx.lang.pair(e.message_vi, e.message_en))
    return redirect(ctx, f"/desk/cases/{code}?ok={trigger.value}")


def _flatten(items: list[forms.Input]) -> list[forms.Input]:
    return [x for i in items for x in [i, *_flatten(i.children)]]


# --- assignment, notes, services, acknowledgements -------------------------------------------


def _retry_page(ctx: Ctx, code: str, err: DomainError) -> Response:
    status = 409 if isinstance(err, StaleVersion) else 422
    return _case_page(ctx, code, status, problem=ctx.lang.pair(err.message_vi, err.message_en))


@router.post("/{code}/assign")
async def assign(ctx: StaffCtx, code: str) -> Response:
    values = await form(ctx)
    official_id = _int(values.get("official_id"))
    if official_id is None:
        return _retry_page(ctx, code, InvalidInput("official_id", "required", "Hãy chọn người phụ trách.",
                                                   "Choose who takes the case."))
    try:
        with ctx.rt.db.write() as session:
            workflow.assign(session, ctx.rt.clock, ctx.actor, code, official_id,
                            _int(values.get("expected_version"), 0) or 0)
    except (StaleVersion, InvalidInput) as e:
        return _retry_page(ctx, code, e)
    return redirect(ctx, f"/desk/cases/{code}?ok=assign")


@router.post("/{code}/notes")
async def add_note(ctx: StaffCtx, code: str) -> Response:
    values = await form(ctx)
    text = values.get("text", "").strip()
    if not text:
        return _retry_page(ctx, code, InvalidInput("text", "required", "Ghi chú đang trống.", "The note is empty."))
    try:
        with ctx.rt.db.write() as session:
            workflow.add_note(session, ctx.rt.clock, ctx.actor, code, text)
    except (InvalidInput, ValueError) as e:
        err = e if isinstance(e, InvalidInput) else InvalidInput(
            "text", "valid_text", "Ghi chú quá dài hoặc có ký tự không hợp lệ.", "The note is too long or invalid.")
        return _retry_page(ctx, code, err)
    return redirect(ctx, f"/desk/cases/{code}?ok=note")


@router.post("/{code}/services/{service_id}/end")
async def end_service(ctx: StaffCtx, code: str, service_id: int) -> Response:
    values = await form(ctx)
    try:
        ended = date.fromisoformat(values.get("ended_on", ""))
    except ValueError:
        return _retry_page(ctx, code, InvalidInput("ended_on", "date", "Hãy nhập ngày kết thúc.",
                                                   "Enter the end date."))
    try:
        with ctx.rt.db.write() as session:
            workflow.end_service(session, ctx.rt.clock, ctx.actor, code, service_id, ended)
    except InvalidInput as e:
        return _retry_page(ctx, code, e)
    return redirect(ctx, f"/desk/cases/{code}?ok=service_ended")


@router.post("/{code}/referrals")
async def refer_case(ctx: StaffCtx, code: str) -> Response:
    """Hand the case to an agency (the police for a crime, the health station…). Refused, with
    the reason on the case page, without consent or a legal ground (states/cases/referrals.py)."""
    values = await form(ctx)
    try:
        with ctx.rt.db.write() as session:
            referrals.refer(session, ctx.rt.clock, ctx.actor, code, values.get("agency_code", ""), ctx.rt.policy)
    except InvalidInput as e:
        return _retry_page(ctx, code, e)
    return redirect(ctx, f"/desk/cases/{code}?ok=referred")


@router.post("/{code}/deadlines/{deadline_id}/ack")
async def acknowledge(ctx: StaffCtx, code: str, deadline_id: int) -> Response:
    await form(ctx)
    with ctx.rt.db.write() as session:
        ladder.acknowledge(session, ctx.rt.clock.now(), ctx.actor, deadline_id, ctx.rt.policy.deadlines)
    return redirect(ctx, f"/desk/cases/{code}?ok=acknowledged")
