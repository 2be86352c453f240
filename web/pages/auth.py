"""Logging in and out of the desk, and choosing the language."""

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from api.deps import LimiterDep
from api.ratelimit import RateLimited
from states.identity import login as auth
from states.identity.sessions import TokenPair
from states.kernel.errors import DomainError
from web import session as desk_session
from web.i18n import COOKIE as LANG_COOKIE
from web.i18n import pick
from web.render import Ctx, DeskRoute, PageCtx, form, page_ctx, redirect, render

router = APIRouter(route_class=DeskRoute, include_in_schema=False)


def safe_next(value: str | None) -> str:
    """Only a path of ours: never `//host` or `https://…` (an open redirect after login)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


@router.get("/login")
def login_page(ctx: PageCtx, next: str = "/") -> Response:
    if ctx.desk is not None:
        return redirect(ctx, safe_next(next))
    return render(ctx, "login.html", title=ctx.lang.gettext("Đăng nhập"), next=safe_next(next),
                  error=None, username="")


@router.post("/login")
async def login(ctx: Annotated[Ctx, Depends(page_ctx)], limiter: LimiterDep) -> Response:
    values = await form(ctx)
    username, password = values.get("username", ""), values.get("password", "")
    next_url = safe_next(values.get("next"))
    _ = ctx.lang.gettext

    def again(message: str, status: int) -> Response:
        return render(ctx, "login.html", status, title=_("Đăng nhập"), next=next_url, error=message,
                      username=username[:64])

    if limiter is not None:
        try:
            limiter.hit("login_per_username", username.strip().lower())
        except RateLimited:
            return again(_("Quá nhiều lần thử. Hãy đợi một lát rồi thử lại."), 429)
    if not username or not password or "\x00" in username or len(username) > 64 or len(password) > 256:
        return again(_("Tên đăng nhập hoặc mật khẩu không đúng."), 401)
    try:
        with ctx.rt.db.read() as session:  # the slow password check holds no write lock
            attempt = auth.check_login(session, ctx.rt.clock, ctx.rt.auth, username, password)
        with ctx.rt.db.write() as session:
            outcome: TokenPair | DomainError = auth.finish_login(session, ctx.rt.clock, ctx.rt.auth, attempt)
    except auth.TooManyAttempts as e:
        return again(ctx.lang.pair(e.message_vi, e.message_en), 429)
    if isinstance(outcome, DomainError):
        return again(ctx.lang.pair(outcome.message_vi, outcome.message_en), 401)
    response = redirect(ctx, next_url)
    desk_session.start(ctx.rt, response, outcome.session_id, attempt.user_id or 0)
    return response


@router.post("/logout")
async def logout(ctx: PageCtx) -> Response:
    await form(ctx)
    if ctx.desk is not None:
        with ctx.rt.db.write() as session:
            auth.logout(session, ctx.rt.clock, ctx.desk.login)
    ctx.desk = None
    response = redirect(ctx, "/login")
    desk_session.end(response)
    return response


@router.post("/lang")
async def choose_language(ctx: PageCtx) -> Response:
    values = await form(ctx)
    response = redirect(ctx, safe_next(values.get("next")))
    response.set_cookie(LANG_COOKIE, pick(values.get("lang")), max_age=365 * 86400, httponly=True,
                        samesite="lax", secure=desk_session.secure(ctx.rt), path="/")
    return response
