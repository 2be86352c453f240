"""Oversight and administration at the desk: the auditor's trail, who read a child's record, the
compliance figures, the chain check; the administrator's accounts, directory and settings.

Each handler calls the use case the API calls for the same thing (api/routers/oversight.py,
users.py, directory.py) in the same kind of transaction: reading the trail or the access log
writes an event, so those reads are `db.write()`. The pages hold no rule: who may open them is
the use case's `authorize`; the few pages with no use case behind them (the chain check, the
settings loaded at start) ask `authorize` for the action the API or the CLI would need."""

import json
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Response
from markupsafe import Markup, escape
from pydantic import BaseModel, ValidationError

from models.enums import Role
from states.access import log as access_log
from states.access.permissions import authorize, may
from states.audit import chain as audit_chain
from states.audit import trail as audit_trail
from states.identity import accounts
from states.kernel.clock import LOCAL_TZ
from states.kernel.errors import InvalidInput, NotFound
from states.records import directory
from states.records import key_rotation as keys
from states.records import statistics as stats
from web.i18n import Lang
from web.render import Ctx, DeskRoute, StaffCtx, form, redirect, render

router = APIRouter(route_class=DeskRoute, include_in_schema=False)

PAGE_SIZE = 50
CODE = re.compile(r"^[A-Z0-9-]{1,32}$")
ACTION = re.compile(r"^[a-z0-9_.]{1,64}$")

# Labels the shared table (models.enums.LABELS_VI) does not have yet; msgids of oversight.po.
AGENCY_KINDS_VI = {
    "culture_social": "Văn hoá - Xã hội", "office": "Văn phòng", "economy": "Kinh tế",
    "health_station": "Trạm y tế", "police": "Công an", "school": "Trường học",
    "front": "Mặt trận Tổ quốc", "leadership": "Lãnh đạo UBND", "province_health": "Y tế tỉnh",
    "other": "Khác"}
POSITIONS_VI = {
    "case_worker": "Công chức phụ trách", "head": "Trưởng phòng", "chair": "Chủ tịch",
    "vice_chair": "Phó Chủ tịch", "province_contact": "Đầu mối cấp tỉnh",
    "agency_contact": "Đầu mối cơ quan", "sysadmin": "Quản trị hệ thống", "member": "Thành viên"}
LANGUAGES_VI = {"vi": "Tiếng Việt", "en": "Tiếng Anh"}
RECIPIENTS_VI = {
    "worker": "Công chức phụ trách vụ việc", "head": "Trưởng phòng", "chair": "Chủ tịch, Phó Chủ tịch",
    "province": "Đầu mối cấp tỉnh", "sysadmin": "Quản trị hệ thống",
    "school": "Trường học nêu trong thông báo", "referred_agency": "Cơ quan vừa được chuyển vụ việc"}
UNITS_VI = {"hours": "giờ", "days": "ngày", "working_days": "ngày làm việc"}
FLASH_VI = {
    "created": "Đã tạo tài khoản.",
    "deactivated": "Đã vô hiệu hoá tài khoản; các phiên và khoá API của tài khoản đã dừng.",
    "revoked": "Đã thu hồi các khoá API của tài khoản.", "place": "Đã thêm thôn.",
    "agency": "Đã thêm cơ quan.", "official": "Đã thêm cán bộ."}
# The deadline kinds the compliance figures lead with (the issue's three questions).
HEADLINE = ("emergency_protection", "initial_assessment", "plan_submission", "plan_approval")


def labelled(lang: Lang, table: dict[str, str], value: object) -> str:
    text = str(getattr(value, "value", value))
    return lang.gettext(table[text]) if text in table else text


def recipient(lang: Lang, target: str) -> str:
    if target.startswith("agency:"):
        return lang.gettext("Mọi cơ quan loại {kind}").format(kind=labelled(lang, AGENCY_KINDS_VI, target[7:]))
    return labelled(lang, RECIPIENTS_VI, target)


def flash(ctx: Ctx, ok: str | None) -> str | None:
    return ctx.lang.gettext(FLASH_VI[ok]) if ok in FLASH_VI else None


def field_errors(lang: Lang, error: ValidationError) -> dict[str, str]:
    """Pydantic's complaints as a sentence per field, in the reader's language (its own messages
    are English and name types, not what to type)."""
    _ = lang.gettext
    out: dict[str, str] = {}
    for e in error.errors():
        name = str(e["loc"][0]) if e["loc"] else "form"
        kind = e["type"]
        ctx = e.get("ctx") or {}
        if kind == "missing" or (kind == "string_too_short" and ctx.get("min_length") == 1):
            text = _("Hãy điền mục này.")
        elif kind == "string_too_short":
            text = _("Cần ít nhất {n} ký tự.").format(n=ctx.get("min_length"))
        elif kind == "string_too_long":
            text = _("Dài tối đa {n} ký tự.").format(n=ctx.get("max_length"))
        elif kind == "string_pattern_mismatch":
            text = _("Chỉ dùng chữ không dấu, chữ số, dấu chấm, gạch ngang hoặc gạch dưới.")
        elif kind == "enum":
            text = _("Hãy chọn một mục trong danh sách.")
        elif name == "phone":
            text = _("Số điện thoại không hợp lệ (ví dụ +84900000123).")
        else:
            text = _("Giá trị không hợp lệ.")
        out.setdefault(name, text)
    return out


def domain_error(lang: Lang, error: InvalidInput) -> dict[str, str]:
    return {error.field or "form": lang.pair(error.message_vi, error.message_en)}


def build(model: type[BaseModel], values: dict[str, Any], lang: Lang) -> tuple[Any, dict[str, str]]:
    """The posted form as the use case's input model, or the errors per field."""
    try:
        return model.model_validate(values), {}
    except ValidationError as e:
        return None, field_errors(lang, e)


# --- the auditor ---------------------------------------------------------------------------------


@router.get("/desk/audit")
def audit_page(ctx: StaffCtx, after: int = 0, case: str = "", action: str = "") -> Response:
    """The trail a page at a time, oldest first from `after` (the last seq seen), as the API
    serves it. Reading is itself an event, which the next page shows."""
    _ = ctx.lang.gettext
    case, action = case.strip().upper(), action.strip()
    errors: dict[str, str] = {}
    if case and not CODE.match(case):
        errors["case"] = _("Mã vụ việc gồm chữ in hoa, chữ số và gạch ngang, ví dụ NH-2026-0001.")
    if action and not ACTION.match(action):
        errors["action"] = _("Tên thao tác gồm chữ thường, chữ số, dấu chấm và gạch dưới, ví dụ case.viewed.")
    after = min(max(after, 0), 2**31 - 1)
    events: list[dict[str, Any]] = []
    status = 422 if errors else 200
    if errors:
        authorize(ctx.actor, "audit.read")  # a refusal first: a malformed filter tells nothing
    else:
        try:
            with ctx.rt.db.write() as session:
                events = audit_trail.list_events(session, ctx.rt.clock.now(), ctx.actor, after_seq=after,
                                                 limit=PAGE_SIZE, case_code=case or None,
                                                 action=action or None)
        except NotFound:
            errors["case"], status = _("Không có vụ việc mã {code}.").format(code=case), 404
    for e in events:
        old, new = e["before"], e["after"]
        e["details"] = [(k, (_plain(old[k]) + Markup(" → ") if k in old else Markup("")) + _plain(new.get(k)))
                        for k in [*old, *(k for k in new if k not in old)]]
    return render(ctx, "oversight/audit.html", status, title=_("Nhật ký kiểm tra"), events=events,
                  after=after, case=case, action=action, errors=errors, page_size=PAGE_SIZE,
                  may_verify=may(ctx.actor, "audit.verify"), may_keys=may(ctx.actor, "keys.status"))


def _plain(value: Any) -> Markup:
    """An event's value as text (strings as they are, the rest as JSON), escaped, with a line
    break allowed after `_`: `same_child_open_case` fits a phone's column."""
    if value is None:
        return Markup("—")
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return Markup(str(escape(text)).replace("_", "_<wbr>"))


@router.get("/desk/audit/access")
def access_page(ctx: StaffCtx, code: str = "") -> Response:
    """Who read the record of the child of a case (every case about the child): the answer a
    child's legal representative may ask for (Luật 91/2025). Looking is itself recorded."""
    _ = ctx.lang.gettext
    code = code.strip().upper()
    error = None
    entries: list[dict[str, Any]] | None = None
    status = 200
    if not code:
        authorize(ctx.actor, "case.access_log")  # the empty form is refused to the same roles
    elif not CODE.match(code):
        authorize(ctx.actor, "case.access_log")
        error, status = _("Mã vụ việc gồm chữ in hoa, chữ số và gạch ngang, ví dụ NH-2026-0001."), 422
    else:
        try:
            with ctx.rt.db.write() as session:
                entries = access_log.viewers(session, ctx.rt.clock, ctx.actor, code)
        except NotFound:
            error, status = _("Không có vụ việc mã {code}.").format(code=code), 404
    return render(ctx, "oversight/access.html", status, title=_("Ai đã xem hồ sơ của trẻ"), code=code,
                  entries=entries, error=error)


@router.get("/desk/audit/verify")
def verify_page(ctx: StaffCtx) -> Response:
    authorize(ctx.actor, "audit.verify")
    return render(ctx, "oversight/verify.html", title=_title_verify(ctx), verdict=None, tabs=_tabs(ctx))


@router.post("/desk/audit/verify")
async def verify(ctx: StaffCtx) -> Response:
    """Walk the whole hash chain (`kipthoi audit verify` at the desk): the verdict names the first
    event that does not fit. It reads only, so it answers with the verdict, not a redirect."""
    await form(ctx)
    authorize(ctx.actor, "audit.verify")  # no use case holds this check; the CLI runs as the operator
    with ctx.rt.db.read() as session:
        verdict = audit_chain.verify(session)
    return render(ctx, "oversight/verify.html", title=_title_verify(ctx), verdict=verdict, tabs=_tabs(ctx))


def _title_verify(ctx: Ctx) -> str:
    return ctx.lang.gettext("Kiểm tra tính toàn vẹn của nhật ký")


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip()) if value.strip() else None
    except ValueError:
        return None


@router.get("/desk/stats")
def stats_page(ctx: StaffCtx, start: str = "", end: str = "") -> Response:
    """The commune's figures for a period of receipt (days in Vietnam's time, both included)."""
    _ = ctx.lang.gettext
    errors: dict[str, str] = {}
    first, last = _day(start), _day(end)
    if start.strip() and first is None:
        errors["start"] = _("Ngày không hợp lệ (ngày/tháng/năm).")
    if end.strip() and last is None:
        errors["end"] = _("Ngày không hợp lệ (ngày/tháng/năm).")
    if first and last and last < first:
        errors["end"] = _("Ngày kết thúc phải sau ngày bắt đầu.")
    if errors:
        authorize(ctx.actor, "stats.read")
        return render(ctx, "oversight/stats.html", 422, title=_("Thống kê"), s=None, rows=[], errors=errors,
                      start=start[:10], end=end[:10])
    received_from = datetime.combine(first, time(0), LOCAL_TZ).astimezone(UTC) if first else None
    received_to = datetime.combine(last + timedelta(days=1), time(0), LOCAL_TZ).astimezone(UTC) if last else None
    with ctx.rt.db.read() as session:
        summary = stats.summary(session, ctx.actor, ctx.rt.clock.now(), received_from, received_to)
    return render(ctx, "oversight/stats.html", title=_("Thống kê"), s=summary, rows=_limit_rows(ctx, summary),
                  errors={}, start=first.isoformat() if first else "", end=last.isoformat() if last else "",
                  period=(ctx.lang.day(first) if first else "…", ctx.lang.day(last) if last else "…"))


def _limit_rows(ctx: Ctx, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Per legal time limit: in time, late, open past the limit, and the share in time of those
    that have come due (met or overdue): the question the inspectors ask."""
    rules = ctx.rt.policy.deadlines.rules
    limits: dict[str, dict[str, int]] = summary["time_limits"]
    order = [k for k in HEADLINE if k in rules] + [k for k in rules if k not in HEADLINE]
    order += [k for k in limits if k not in rules]
    rows = []
    for kind in order:
        counts = limits.get(kind, {})
        in_time, late, overdue = (counts.get(k, 0) for k in ("met_in_time", "met_late", "open_overdue"))
        due = in_time + late + overdue
        rule = rules.get(kind)
        rows.append({"kind": kind, "label": ctx.lang.pair(rule.label_vi, rule.label_en) if rule else kind,
                     "limit": _limit_text(ctx.lang, rule.limit, rule.unit) if rule else "—",
                     "in_time": in_time, "late": late, "overdue": overdue, "due": due,
                     "share": ctx.lang.number(round(100 * in_time / due, 1)) + " %" if due else "—",
                     "headline": kind in HEADLINE})
    return rows


def _limit_text(lang: Lang, limit: int, unit: str) -> str:
    return f"{lang.number(limit)} {labelled(lang, UNITS_VI, unit)}"


# --- the administrator: accounts -----------------------------------------------------------------


def _accounts(ctx: Ctx, status: int = 200, values: dict[str, str] | None = None,
              errors: dict[str, str] | None = None, ok: str | None = None) -> Response:
    with ctx.rt.db.read() as session:
        users = [{"id": u.id, "username": u.username, "display_name": u.display_name, "role": u.role,
                  "active": u.active, "official_id": u.official_id, "machine": Role(u.role) in accounts.MACHINE_ROLES}
                 for u in accounts.list_users(session, ctx.actor)]
        officials = [(o["id"], f'{o["full_name"]} · {o["agency_code"]}')
                     for o in directory.list_officials(session, ctx.actor) if o["active"]]
    roles = [(r.value, ctx.lang.label(r)) for r in Role]
    return render(ctx, "admin/accounts.html", status, title=ctx.lang.gettext("Tài khoản"), users=users,
                  officials=officials, roles=roles, values=values or {}, errors=errors or {},
                  flash=flash(ctx, ok), tabs=_tabs(ctx))


def _tabs(ctx: Ctx) -> list[tuple[str, str]]:
    _ = ctx.lang.gettext
    items = [("user.read", "/desk/admin", _("Tài khoản")), ("directory.write", "/desk/admin/directory", _("Danh bạ")),
             ("user.read", "/desk/admin/settings", _("Thời hạn, định tuyến, lịch")),
             ("keys.status", "/desk/admin/keys", _("Khoá mã hoá")),
             ("audit.verify", "/desk/audit/verify", _("Kiểm tra nhật ký"))]
    return [(href, label) for action, href, label in items if may(ctx.actor, action)]


@router.get("/desk/admin")
def accounts_page(ctx: StaffCtx, ok: str | None = None) -> Response:
    return _accounts(ctx, ok=ok)


@router.post("/desk/admin/users")
async def create_account(ctx: StaffCtx) -> Response:
    """A person's account with an initial password, or the hotline's without one (its key is
    then shown once). A refused form comes back with what was typed, except the password."""
    values = await form(ctx)
    kept = {k: values.get(k, "").strip() for k in ("username", "display_name", "role", "official_id")}
    data: dict[str, Any] = {k: v for k, v in kept.items() if v}
    if values.get("password"):
        data["password"] = values["password"]
    if "official_id" in data and not data["official_id"].isdigit():
        data.pop("official_id")
    body, errors = build(accounts.UserIn, data, ctx.lang)
    if errors:
        authorize(ctx.actor, "user.write")
        return _accounts(ctx, 422, kept, errors)
    try:
        with ctx.rt.db.write() as session:
            user, key = accounts.add_user(session, ctx.rt.clock, ctx.actor, body, ctx.rt.auth.passwords)
            username = user.username
    except InvalidInput as e:
        return _accounts(ctx, 422, kept, domain_error(ctx.lang, e))
    if key is not None:
        return render(ctx, "admin/key.html", 201, title=ctx.lang.gettext("Khoá API mới"), key=key,
                      username=username, tabs=_tabs(ctx))
    return redirect(ctx, "/desk/admin?ok=created")


def _account(ctx: Ctx, user_id: int) -> dict[str, Any]:
    with ctx.rt.db.read() as session:
        for u in accounts.list_users(session, ctx.actor):
            if u.id == user_id:
                return {"id": u.id, "username": u.username, "display_name": u.display_name, "role": u.role,
                        "active": u.active}
    raise NotFound("user", str(user_id))


@router.get("/desk/admin/users/{user_id}/deactivate")
def confirm_deactivate(ctx: StaffCtx, user_id: int) -> Response:
    """The confirmation, as a page of its own so that it works without JavaScript."""
    return render(ctx, "admin/confirm.html", title=ctx.lang.gettext("Vô hiệu hoá tài khoản"),
                  account=_account(ctx, user_id), what="deactivate", tabs=_tabs(ctx))


@router.post("/desk/admin/users/{user_id}/deactivate")
async def deactivate(ctx: StaffCtx, user_id: int) -> Response:
    await form(ctx)
    with ctx.rt.db.write() as session:
        accounts.deactivate_user(session, ctx.rt.clock, ctx.actor, user_id)
    ctx.rt.keys.clear()  # this process stops honouring the revoked keys at once (as the API does)
    return redirect(ctx, "/desk/admin?ok=deactivated")


@router.get("/desk/admin/users/{user_id}/revoke")
def confirm_revoke(ctx: StaffCtx, user_id: int) -> Response:
    return render(ctx, "admin/confirm.html", title=ctx.lang.gettext("Thu hồi khoá API"),
                  account=_account(ctx, user_id), what="revoke", tabs=_tabs(ctx))


@router.post("/desk/admin/users/{user_id}/revoke")
async def revoke(ctx: StaffCtx, user_id: int) -> Response:
    await form(ctx)
    with ctx.rt.db.write() as session:
        accounts.revoke_api_keys(session, ctx.rt.clock, ctx.actor, user_id)
    ctx.rt.keys.clear()
    return redirect(ctx, "/desk/admin?ok=revoked")


@router.post("/desk/admin/users/{user_id}/api-key")
async def issue_key(ctx: StaffCtx, user_id: int) -> Response:
    """A new key for the hotline's integration, shown on this response only: it is stored as its
    digest, so no page can show it again (and it never goes into a URL)."""
    await form(ctx)
    with ctx.rt.db.write() as session:
        key = accounts.issue_api_key(session, ctx.rt.clock, ctx.actor, user_id)
    return render(ctx, "admin/key.html", 201, title=ctx.lang.gettext("Khoá API mới"), key=key,
                  username=_account(ctx, user_id)["username"], tabs=_tabs(ctx))


# --- the administrator: the directory ------------------------------------------------------------


def _directory(ctx: Ctx, status: int = 200, form_name: str | None = None, values: dict[str, str] | None = None,
               errors: dict[str, str] | None = None, ok: str | None = None) -> Response:
    # Writing the directory is the administrator's; reading it is everyone's (the intake form
    # lists the thôn), so the page first asks for the right it exists for.
    authorize(ctx.actor, "directory.write")
    with ctx.rt.db.read() as session:
        places = [{"code": p.code, "name": p.name} for p in directory.list_places(session, ctx.actor)]
        agencies = [{"code": a.code, "name_vi": a.name_vi, "name_en": a.name_en, "kind": a.kind}
                    for a in directory.list_agencies(session, ctx.actor)]
        officials = directory.list_officials(session, ctx.actor)
    lang = ctx.lang
    return render(ctx, "admin/directory.html", status, title=lang.gettext("Danh bạ"), places=places,
                  agencies=agencies, officials=officials, form_name=form_name, values=values or {},
                  errors=errors or {}, flash=flash(ctx, ok), tabs=_tabs(ctx),
                  agency_options=[(a["code"], f'{lang.pair(a["name_vi"], a["name_en"])} ({a["code"]})')
                                  for a in agencies],
                  kinds=[(k, lang.gettext(v)) for k, v in AGENCY_KINDS_VI.items()],
                  positions=[(k, lang.gettext(v)) for k, v in POSITIONS_VI.items()],
                  languages=[(k, lang.gettext(v)) for k, v in LANGUAGES_VI.items()],
                  kind_label=lambda v: labelled(lang, AGENCY_KINDS_VI, v),
                  position_label=lambda v: labelled(lang, POSITIONS_VI, v),
                  language_label=lambda v: labelled(lang, LANGUAGES_VI, v))


@router.get("/desk/admin/directory")
def directory_page(ctx: StaffCtx, ok: str | None = None) -> Response:
    return _directory(ctx, ok=ok)


FORMS: dict[str, tuple[type[BaseModel], tuple[str, ...], Any]] = {
    "place": (directory.PlaceIn, ("code", "name"), directory.create_place),
    "agency": (directory.AgencyIn, ("code", "name_vi", "name_en", "kind"), directory.create_agency),
    "official": (directory.OfficialIn, ("full_name", "agency_code", "title", "phone", "language", "position"),
                 directory.create_official),
}
ANCHORS = {"place": "places", "agency": "agencies", "official": "officials"}


@router.post("/desk/admin/directory/{what}")
async def create_entry(ctx: StaffCtx, what: str) -> Response:
    """Add a thôn, an agency or an official (only ever added: routing and intake remember them)."""
    if what not in FORMS:
        raise NotFound("form", what)
    values = await form(ctx)
    model, names, create = FORMS[what]
    kept = {k: values.get(k, "").strip() for k in names}
    body, errors = build(model, {k: v for k, v in kept.items() if v}, ctx.lang)
    if errors:
        return _directory(ctx, 422, what, kept, errors)
    try:
        with ctx.rt.db.write() as session:
            create(session, ctx.rt.clock, ctx.actor, body)
    except InvalidInput as e:
        return _directory(ctx, 422, what, kept, domain_error(ctx.lang, e))
    return redirect(ctx, f"/desk/admin/directory?ok={what}#{ANCHORS[what]}")


# --- the administrator: settings read at start ---------------------------------------------------


@router.get("/desk/admin/settings")
def settings_page(ctx: StaffCtx) -> Response:
    """The deadline policy, the working-day calendar and the SMS routing this process loaded
    (policy.toml, routing.toml and their overrides): changed in the files, shown here as running."""
    authorize(ctx.actor, "user.read")  # the administrator's section; no use case reads settings
    lang, policy = ctx.lang, ctx.rt.policy
    rules = [{"label": lang.pair(r.label_vi, r.label_en), "kind": r.kind, "limit": _limit_text(lang, r.limit, r.unit),
              "from": r.counted_from, "starts": r.starts, "met_by": r.met_by, "cancelled_by": r.cancelled_by,
              "reminders": [lang.number(round(f * 100)) + " %" for f in r.reminders],
              "escalate": lang.number(r.escalate_every.total_seconds() / 3600), "source": r.source}
             for r in policy.deadlines.rules.values()]
    cal = policy.deadlines.calendar
    today = ctx.rt.clock.now().astimezone(LOCAL_TZ).date()
    days_off = [d for d in (today + timedelta(days=n) for n in range(366))
                if d.weekday() < 5 and not cal.is_working_day(d)]
    routes = [{"on": r.on, "to": [recipient(lang, t) for t in r.to], "template": r.template, "urgent": r.urgent,
               "forms": [lang.label(f) for f in r.when_abuse_forms]} for r in policy.notify.routes]
    notify = policy.notify
    return render(ctx, "admin/settings.html", title=lang.gettext("Thời hạn, định tuyến, lịch"), rules=rules,
                  calendar=cal, days_off=days_off, ladder=[recipient(lang, level) for level in policy.deadlines.ladder],
                  routes=routes, notify=notify, digest_minutes=int(notify.digest_interval.total_seconds() // 60),
                  validity_hours=lang.number(notify.sms_validity.total_seconds() / 3600), tabs=_tabs(ctx))


@router.get("/desk/admin/keys")
def keys_page(ctx: StaffCtx) -> Response:
    """How many stored values sit under each data key, and stale blind indexes: whether a key
    rotation has finished (`kipthoi keys status`)."""
    with ctx.rt.db.read() as session:
        counts = keys.status(session, ctx.actor, ctx.rt.policy.match_secret)
    tables = [(name, sorted(c.items())) for name, c in sorted(counts.items())]
    return render(ctx, "admin/keys.html", title=ctx.lang.gettext("Khoá mã hoá"), tables=tables,
                  plaintext=keys.PLAINTEXT, stale=keys.STALE_INDEX, tabs=_tabs(ctx))
