"""What every page handler shares: who is asking and in which language, the CSRF check, the
templates, and domain errors shown as pages rather than JSON.

A handler is thin: it builds a `Ctx`, calls one use case of `states`, and renders. Errors of the
domain (not found, forbidden, a guard, a stale version) are caught by `DeskRoute` and shown in
the desk's look with the status the API would answer."""

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from api.deps import Runtime, get_runtime
from api.errors import status_of
from models.enums import Role
from states.access.permissions import may
from states.identity.actors import PUBLIC, Actor
from states.kernel.errors import DomainError
from web import session as desk_session
from web.i18n import COOKIE as LANG_COOKIE
from web.i18n import Lang, pick

TEMPLATES = Path(__file__).resolve().parent / "templates"
ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                  undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
# `_` is handed to each render with the reader's catalog (not installed on the shared environment,
# which threads share); a template importing macros does so `with context` to see it.


@dataclass
class Ctx:
    rt: Runtime
    request: Request
    lang: Lang
    desk: desk_session.DeskLogin | None
    seed: str
    new_seed: bool
    cookies: list[tuple[str, str]] = field(default_factory=list)

    @property
    def actor(self) -> Actor:
        return self.desk.login.actor if self.desk is not None else PUBLIC

    @property
    def role(self) -> Role | None:
        return self.desk.login.actor.role if self.desk is not None else None

    @property
    def csrf(self) -> str:
        sid = self.desk.login.session_id if self.desk is not None else None
        return desk_session.token(self.rt, session_id=sid, seed=None if sid is not None else self.seed)


class LoginRequired(Exception):
    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class CsrfRefused(Exception):
    pass


async def page_ctx(request: Request, rt: Annotated[Runtime, Depends(get_runtime)]) -> Ctx:
    desk = desk_session.current(rt, request)
    seed, new = desk_session.anon_seed(request)
    return Ctx(rt, request, Lang(pick(request.cookies.get(LANG_COOKIE))), desk, seed, new)


async def staff_ctx(ctx: Annotated[Ctx, Depends(page_ctx)]) -> Ctx:
    if ctx.desk is None:
        url = ctx.request.url
        raise LoginRequired(url.path + (f"?{url.query}" if url.query else ""))
    return ctx


PageCtx = Annotated[Ctx, Depends(page_ctx)]
StaffCtx = Annotated[Ctx, Depends(staff_ctx)]


async def form(ctx: Ctx) -> dict[str, str]:
    """The posted form, after its CSRF token is checked. Repeated fields keep their last value;
    files are not accepted here."""
    data = await ctx.request.form()
    values = {k: v for k, v in data.items() if isinstance(v, str)}
    sid = ctx.desk.login.session_id if ctx.desk is not None else None
    if not desk_session.token_ok(ctx.rt, ctx.request, values.get("csrf"), sid):
        raise CsrfRefused()
    values.pop("csrf", None)
    return values


def _finish(ctx: Ctx, response: Response) -> Response:
    if ctx.desk is not None:
        desk_session.renew(ctx.rt, response, ctx.desk)
    if ctx.new_seed:
        desk_session.set_anon_seed(ctx.rt, response, ctx.seed)
    # Pages hold a child's data: never kept in a shared PC's cache or history.
    response.headers["Cache-Control"] = "no-store"
    return response


def nav(ctx: Ctx) -> list[tuple[str, str]]:
    """The desk's sections this reader's role may open (the use cases still check)."""
    if ctx.desk is None:
        return []
    _, actor = ctx.lang.gettext, ctx.actor
    items = [("case.read", "/desk/cases", _("Vụ việc")), ("report.staff", "/desk/intake", _("Tiếp nhận")),
             ("audit.read", "/desk/audit", _("Nhật ký kiểm tra")), ("stats.read", "/desk/stats", _("Thống kê")),
             ("user.read", "/desk/admin", _("Quản trị"))]
    return [(href, label) for action, href, label in items if may(actor, action)]


def render(ctx: Ctx, template: str, status: int = 200, place_names: dict[str, str] | None = None,
           **values: Any) -> HTMLResponse:
    body = ENV.get_template(template).render(
        _=ctx.lang.gettext, ctx=ctx, lang=ctx.lang, role=ctx.role, user=ctx.desk.login.actor if ctx.desk else None,
        csrf=ctx.csrf, path=ctx.request.url.path, nav=nav(ctx), place_names=place_names or {},
        **values)
    return _finish(ctx, HTMLResponse(body, status_code=status))  # type: ignore[return-value]


def redirect(ctx: Ctx, url: str) -> Response:
    return _finish(ctx, RedirectResponse(url, status_code=303))


def login_url(next_url: str) -> str:
    return "/login?next=" + quote(next_url, safe="/")


class DeskRoute(APIRoute):
    """Domain errors, a missing login and a refused CSRF token as pages, not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired as e:
                return RedirectResponse(login_url(e.next_url), status_code=303)
            except CsrfRefused:
                return await _error_page(request, 403, "Biểu mẫu đã hết hạn hoặc không hợp lệ",
                                         "The form has expired or is not valid",
                                         "Hãy tải lại trang rồi gửi lại.", "Reload the page and send again.")
            except DomainError as e:
                return await _error_page(request, status_of(e), e.message_vi, e.message_en, None, None)

        return route


async def _error_page(request: Request, status: int, vi: str, en: str, hint_vi: str | None,
                      hint_en: str | None) -> Response:
    rt: Runtime = request.app.state.runtime
    ctx = await page_ctx(request, rt)
    return render(ctx, "error.html", status, title=ctx.lang.pair(vi, en),
                  hint=ctx.lang.pair(hint_vi, hint_en or "") if hint_vi else None)
