"""Reports coming in: the staff's intake form (Mẫu 01) at `/desk/intake`, the citizen's report
page at `/bao-cao`, and the tracking-code lookup at `/tra-cuu`.

Both forms work as plain HTML posts; `web/static/draft.js` adds the draft kept in the browser and
the resend after a dropped connection. What makes a resend safe is the server's, not the
script's: each rendered form carries a random `idempotency_key`, handed to `receive` as the
API's `Idempotency-Key`, so the same form posted twice (a double click, a resend of a request
that did arrive) answers with the first case instead of opening a second one.

A filed report answers with a 303 to a confirmation page (post/redirect/get: a reload does not
post again, and the script learns where it landed from the redirect). The URL carries only
codes — the case code for staff, the tracking code for the citizen — never a name or a phone:
a tracking code is what the citizen is told to write down, and it opens nothing but the
three-word status that `/tra-cuu` shows anyway."""

import re
import secrets
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Response
from pydantic import BaseModel, ValidationError

from api.deps import LimiterDep
from api.ratelimit import Limiter, RateLimited, client_address
from models.enums import AbuseForm, CaseType, Sex
from states.access.permissions import authorize, may
from states.cases import queries
from states.identity.actors import PUBLIC
from states.intake import opening as intake
from states.intake.choices import Choices, public_places, staff_choices
from states.intake.report_data import CitizenReport, StaffReport
from states.kernel.clock import LOCAL_TZ
from states.kernel.errors import IdempotencyConflict, InvalidInput, NotFound
from web.forms import parse
from web.i18n import Lang
from web.render import Ctx, DeskRoute, PageCtx, StaffCtx, form, redirect, render

router = APIRouter(route_class=DeskRoute, include_in_schema=False)

KEY = "idempotency_key"
# The API's rule for an Idempotency-Key header: printable ASCII, at most 128 characters.
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,128}$")
TRACKING_PATTERN = re.compile(r"^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$")
CASE_CODE_PATTERN = re.compile(r"^[0-9A-Za-z]{1,16}-[0-9]{4}-[0-9]{6}$")
STAFF_CHANNELS = ("phone", "in_person", "third_party")
# The form pages run web/static/draft.js, which posts with fetch(): their own policy adds
# scripts and connections to this origin to the one every other page gets (api/limits.py).
FORM_CSP = ("default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
            "img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")

# Words for pydantic's error types, by type; anything else gets the generic one.
_ERRORS = {
    "missing": "Cần điền mục này.",
    "string_too_short": "Cần điền mục này.",
    "too_short": "Cần chọn ít nhất một mục.",
    "string_too_long": "Nội dung quá dài.",
    "int_parsing": "Cần nhập một số.",
    "greater_than_equal": "Số này nằm ngoài khoảng cho phép.",
    "less_than_equal": "Số này nằm ngoài khoảng cho phép.",
    "date_from_datetime_parsing": "Ngày không hợp lệ.",
    "date_parsing": "Ngày không hợp lệ.",
    "datetime_from_date_parsing": "Thời điểm không hợp lệ.",
    "datetime_parsing": "Thời điểm không hợp lệ.",
    "literal_error": "Hãy chọn một mục trong danh sách.",
    "enum": "Hãy chọn một mục trong danh sách.",
}


def _errors(exc: ValidationError, lang: Lang) -> dict[str, str]:
    """Pydantic's errors by input name, in words a person at the desk (or a citizen) reads."""
    _ = lang.gettext
    out: dict[str, str] = {}
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"] if not isinstance(p, int))
        if name.endswith("phone") and err["type"] == "value_error":
            text = _("Số điện thoại không hợp lệ.")
        else:
            text = _(_ERRORS.get(err["type"], "Giá trị không hợp lệ."))
        out.setdefault(name, text)
    return out


def _data(model: type[BaseModel], values: dict[str, str]) -> dict[str, Any]:
    """The posted strings as the report's data; forms of abuse are one checkbox each."""
    data = parse(model, values)
    data["abuse_forms"] = [f.value for f in AbuseForm if values.get(f"abuse_forms.{f.value}")]
    return data


def _key(values: dict[str, str]) -> str:
    """The form's idempotency key as posted, or a new one if it is missing or malformed (a form
    from before this field existed: it posts once, as it always did)."""
    key = values.get(KEY, "")
    return key if KEY_PATTERN.match(key) else secrets.token_urlsafe(16)


def _with_scripts(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = FORM_CSP
    return response


def _options(lang: Lang) -> dict[str, list[tuple[str, str]]]:
    return {"abuse_forms": [(f.value, lang.label(f)) for f in AbuseForm],
            "case_types": [(t.value, lang.label(t)) for t in CaseType],
            "sexes": [(s.value, lang.label(s)) for s in Sex],
            "channels": [(c, lang.label(c)) for c in STAFF_CHANNELS]}


async def _over_limit(ctx: Ctx, limiter: Limiter | None, rule: str) -> bool:
    """The API's public rate limits, by client address, for the pages that do the same (its
    middleware matches the API's paths only)."""
    if limiter is None:
        return False
    address = client_address(ctx.request.scope)
    try:
        limiter.refused_here(rule, address)
        await to_thread.run_sync(limiter.hit, rule, address)
    except RateLimited:
        return True
    return False


# --- staff ----------------------------------------------------------------------------------


def _staff_page(ctx: Ctx, choices: Choices, values: dict[str, str], errors: dict[str, str],
                status: int = 200, alert: str | None = None) -> Response:
    user = ctx.desk.login.user_id if ctx.desk is not None else 0
    return _with_scripts(render(
        ctx, "intake/staff.html", status, title=ctx.lang.gettext("Ghi nhận thông báo"), values=values,
        errors=errors, alert=alert, choices=choices, options=_options(ctx.lang), draft=f"intake:user:{user}",
        schools=[(code, ctx.lang.pair(vi, en)) for code, vi, en in choices.schools]))


def _staff_choices(ctx: Ctx) -> Choices:
    with ctx.rt.db.read() as session:
        return staff_choices(session, ctx.actor)


@router.get("/desk/intake")
def staff_form(ctx: StaffCtx) -> Response:
    choices = _staff_choices(ctx)
    now = ctx.rt.clock.now().astimezone(LOCAL_TZ).strftime("%Y-%m-%dT%H:%M")
    return _staff_page(ctx, choices, {"channel": "phone", "received_at": now, KEY: secrets.token_urlsafe(16)}, {})


@router.post("/desk/intake")
async def staff_submit(ctx: StaffCtx) -> Response:
    values = await form(ctx)
    values[KEY] = _key(values)
    _ = ctx.lang.gettext
    try:
        report = StaffReport.model_validate(_data(StaffReport, values))
        result = await intake.receive(ctx.rt.db, ctx.rt.clock, ctx.actor, ctx.rt.policy, report, values[KEY])
    except ValidationError as e:
        return _staff_page(ctx, _staff_choices(ctx), values, _errors(e, ctx.lang), 422,
                           _("Báo cáo chưa được ghi nhận: hãy sửa các mục được đánh dấu."))
    except IdempotencyConflict:
        # This form was already filed with other content (a reply lost, then an edit): the
        # first report stands; sending these words again is a new report, under a new key.
        values[KEY] = secrets.token_urlsafe(16)
        return _staff_page(ctx, _staff_choices(ctx), values, {}, 409, _(
            "Biểu mẫu này đã được gửi trước đó với nội dung khác, và báo cáo đó đã được ghi nhận. "
            "Nếu đây là một thông báo mới, hãy kiểm tra rồi gửi lại."))
    except InvalidInput as e:
        return _staff_page(ctx, _staff_choices(ctx), values, {e.field or "": ctx.lang.pair(e.message_vi, e.message_en)},
                           422, _("Báo cáo chưa được ghi nhận: hãy sửa các mục được đánh dấu."))
    body = result.response
    query = f"vu={body['case_code']}&ma={body['tracking_code']}"
    query += "&gop=1" if body.get("linked_to_existing_case") else ""
    query += "&lai=1" if result.replayed else ""
    return redirect(ctx, f"/desk/intake/da-gui?{query}")


@router.get("/desk/intake/da-gui")
def staff_done(ctx: StaffCtx, vu: str = "", ma: str = "", gop: str = "", lai: str = "") -> Response:
    authorize(ctx.actor, "report.staff")
    if not CASE_CODE_PATTERN.match(vu) or not TRACKING_PATTERN.match(ma):
        return redirect(ctx, "/desk/intake")
    return render(ctx, "intake/staff_done.html", title=ctx.lang.gettext("Đã ghi nhận thông báo"), case_code=vu,
                  tracking_code=ma, linked=gop == "1", replayed=lai == "1", may_read=may(ctx.actor, "case.read"))


# --- the public -----------------------------------------------------------------------------


def _public_page(ctx: Ctx, values: dict[str, str], errors: dict[str, str], status: int = 200,
                 alert: str | None = None) -> Response:
    with ctx.rt.db.read() as session:
        places = public_places(session)
    return _with_scripts(render(
        ctx, "intake/public.html", status, title=ctx.lang.gettext("Báo tin về trẻ em"), values=values,
        errors=errors, alert=alert, places=places, options=_options(ctx.lang), draft="report"))


@router.get("/bao-cao")
def public_form(ctx: PageCtx) -> Response:
    return _public_page(ctx, {KEY: secrets.token_urlsafe(16)}, {})


@router.post("/bao-cao")
async def public_submit(ctx: PageCtx, limiter: LimiterDep) -> Response:
    """Filed as the public whoever is logged in: this is the citizen's channel, and its answer is
    a tracking code only."""
    values = await form(ctx)
    values[KEY] = _key(values)
    _ = ctx.lang.gettext
    if await _over_limit(ctx, limiter, "public_intake"):
        return _public_page(ctx, values, {}, 429, _(
            "Có quá nhiều báo cáo từ mạng của bạn trong lúc này. Báo cáo chưa được gửi: hãy đợi vài phút "
            "rồi gửi lại, hoặc gọi 111."))
    try:
        report = CitizenReport.model_validate({**_data(CitizenReport, values), "channel": "online"})
        result = await intake.receive(ctx.rt.db, ctx.rt.clock, PUBLIC, ctx.rt.policy, report, values[KEY])
    except ValidationError as e:
        return _public_page(ctx, values, _errors(e, ctx.lang), 422,
                            _("Báo cáo chưa được gửi: hãy xem lại các mục được đánh dấu."))
    except InvalidInput as e:
        return _public_page(ctx, values, {e.field or "": ctx.lang.pair(e.message_vi, e.message_en)}, 422,
                            _("Báo cáo chưa được gửi: hãy xem lại các mục được đánh dấu."))
    return redirect(ctx, f"/bao-cao/da-gui?ma={result.response['tracking_code']}")


@router.get("/bao-cao/da-gui")
def public_done(ctx: PageCtx, ma: str = "") -> Response:
    if not TRACKING_PATTERN.match(ma):
        return redirect(ctx, "/bao-cao")
    return render(ctx, "intake/public_done.html", title=ctx.lang.gettext("Đã gửi báo cáo"), tracking_code=ma)


@router.get("/tra-cuu")
async def lookup(ctx: PageCtx, limiter: LimiterDep, ma: str = "") -> Response:
    code = ma.strip().upper()[:20]
    if not code:
        return render(ctx, "intake/lookup.html", title=ctx.lang.gettext("Tra cứu báo cáo"), code="", result=None,
                      problem=None)
    if await _over_limit(ctx, limiter, "public_status"):
        return render(ctx, "intake/lookup.html", 429, title=ctx.lang.gettext("Tra cứu báo cáo"), code=code,
                      result=None, problem="busy")
    try:
        with ctx.rt.db.read() as session:
            found: dict[str, str] | None = queries.public_status(session, code)
    except NotFound:
        found = None
    return render(ctx, "intake/lookup.html", 200 if found else 404, title=ctx.lang.gettext("Tra cứu báo cáo"),
                  code=code, result=found, problem=None if found else "not_found")


__all__ = ["router"]
