"""The desk's cookie session and its CSRF tokens.

A desk login opens the same kind of session as the API's `POST /auth/token` (the same accounts,
throttle, lockout and audit events): what differs is how the browser carries it. The cookie
holds `session id . user id . last activity`, signed with a key derived from the token signing
key; it carries no name, no role and no personal data. Every page checks the session row
(`login_for_session`), so a logout, a deactivation or a password change ends it at the next
click. The last activity is in the cookie, renewed at most once a minute: a cookie idle for
longer than `IDLE` is refused (shared office PCs), and a session never outlives the refresh
lifetime (12 h) however busy.

CSRF: every form carries a token that is an HMAC of the session id (logged in) or of a random
cookie (the login form and the public pages); a POST without the right token is refused before
anything is read. SameSite=Lax cookies are the second wall, not the only one."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request, Response

from api.deps import Runtime
from states.identity.sessions import Login, login_for_session

COOKIE = "kt_desk"
ANON_COOKIE = "kt_csrf"
IDLE = timedelta(minutes=30)
RENEW_AFTER = 60  # seconds: the cookie's activity stamp is rewritten at most this often


def _key(rt: Runtime, purpose: bytes) -> bytes:
    return hmac.new(rt.auth.tokens.signing_key, b"desk:" + purpose, hashlib.sha256).digest()


def _sign(rt: Runtime, payload: str) -> str:
    mac = hmac.new(_key(rt, b"cookie"), payload.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{payload}.{mac}"


def _unsign(rt: Runtime, value: str) -> list[int] | None:
    payload, _, mac = value.rpartition(".")
    expected = hmac.new(_key(rt, b"cookie"), payload.encode(), hashlib.sha256).hexdigest()[:32]
    if not payload or not hmac.compare_digest(mac, expected):
        return None
    parts = payload.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    return [int(p) for p in parts]


def secure(rt: Runtime) -> bool:
    """Secure cookies when people reach us over https (the configured public address)."""
    return rt.policy.notify.public_url.lower().startswith("https://")


def start(rt: Runtime, response: Response, session_id: int, user_id: int) -> None:
    stamp = int(rt.clock.now().timestamp())
    response.set_cookie(COOKIE, _sign(rt, f"{session_id}.{user_id}.{stamp}"), httponly=True,
                        samesite="lax", secure=secure(rt), path="/")


def end(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")


@dataclass(frozen=True)
class DeskLogin:
    login: Login
    # Set when the activity stamp should be renewed on this response.
    renew: bool


def current(rt: Runtime, request: Request) -> DeskLogin | None:
    """The login of this browser, or None (no cookie, forged, idle too long, session ended)."""
    raw = request.cookies.get(COOKIE)
    parsed = _unsign(rt, raw) if raw else None
    if parsed is None:
        return None
    session_id, user_id, stamp = parsed
    now = rt.clock.now()
    idle = now.timestamp() - stamp
    if idle > IDLE.total_seconds() or idle < -300:
        return None
    with rt.db.read() as session:
        login = login_for_session(session, now, rt.auth.tokens, session_id, user_id)
    if login is None:
        return None
    return DeskLogin(login, renew=idle > RENEW_AFTER)


def renew(rt: Runtime, response: Response, desk: DeskLogin) -> None:
    if desk.renew and desk.login.session_id is not None:
        start(rt, response, desk.login.session_id, desk.login.user_id)


# --- CSRF ------------------------------------------------------------------------------------


def anon_seed(request: Request) -> tuple[str, bool]:
    """The random value the anonymous CSRF token is tied to, and whether it is new (to be set)."""
    seed = request.cookies.get(ANON_COOKIE, "")
    if len(seed) == 32 and all(c in "0123456789abcdef" for c in seed):
        return seed, False
    return secrets.token_hex(16), True


def token(rt: Runtime, *, session_id: int | None, seed: str | None) -> str:
    subject = f"s:{session_id}" if session_id is not None else f"a:{seed}"
    return hmac.new(_key(rt, b"csrf"), subject.encode(), hashlib.sha256).hexdigest()


def token_ok(rt: Runtime, request: Request, sent: str | None, session_id: int | None) -> bool:
    if not sent:
        return False
    if session_id is not None:
        return hmac.compare_digest(sent, token(rt, session_id=session_id, seed=None))
    seed = request.cookies.get(ANON_COOKIE)
    return bool(seed) and hmac.compare_digest(sent, token(rt, session_id=None, seed=seed))


def set_anon_seed(rt: Runtime, response: Response, seed: str) -> None:
    response.set_cookie(ANON_COOKIE, seed, httponly=True, samesite="lax", secure=secure(rt), path="/",
                        max_age=int(timedelta(days=1).total_seconds()))
