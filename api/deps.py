"""Typed dependencies every router reuses.

`Authorization: Bearer <credential>`: a credential starting `kt_` is an API key (machine
clients: the 111 hotline); anything else is an access token from `POST /auth/token`."""

import threading
import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.ratelimit import Limiter, RateLimits
from models import Database
from models.crypto import sha256_hex
from states.identity.accounts import KEY_PREFIX, actor_for_key, user_id_of
from states.identity.actors import PUBLIC, Actor
from states.identity.login import AuthConfig
from states.identity.sessions import Login, login_for_access_token
from states.kernel.clock import Clock
from states.kernel.commune import CommunePolicy


class KeyCache:
    """API key → actor for a short while, so that a busy client does not cost a database read
    per request. A revoked key stops working within `ttl` seconds in other worker processes;
    this process forgets its cache when an administrator revokes keys or deactivates a user."""

    def __init__(self, ttl: float = 30.0, size: int = 1024) -> None:
        self.ttl, self.size = ttl, size
        self._items: dict[str, tuple[float, Actor]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Actor | None:
        with self._lock:
            item = self._items.get(key)
        if item is None or item[0] < time.monotonic():
            return None
        return item[1]

    def put(self, key: str, actor: Actor) -> None:
        with self._lock:
            if len(self._items) >= self.size:
                self._items.clear()
            self._items[key] = (time.monotonic() + self.ttl, actor)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


@dataclass(frozen=True)
class Runtime:
    """What the composition root hands the API."""

    db: Database
    clock: Clock
    policy: CommunePolicy
    # Twilio signs its status callbacks with the account's auth token; without one we refuse them.
    twilio_auth_token: str | None = None
    # Token keys and lifetimes, the login throttle, the password hash cost. The default signs
    # with a random key and hashes at the library's default cost.
    auth: AuthConfig = field(default_factory=AuthConfig)
    keys: KeyCache = field(default_factory=KeyCache)
    # None: no rate limits (a test's own app). `kipthoi serve` always sets them from settings.
    rate_limits: RateLimits | None = None
    # Browser origins allowed to call the API; none: no CORS headers at all.
    cors_origins: tuple[str, ...] = ()


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_limiter(request: Request) -> Limiter | None:
    limiter: Limiter | None = request.app.state.limiter
    return limiter


LimiterDep = Annotated[Limiter | None, Depends(get_limiter)]

_bearer = HTTPBearer(auto_error=False, description=(
    "An access token from `POST /auth/token` (people), or an API key `kt_...` (the 111 hotline)"))


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def _login(rt: Runtime, creds: HTTPAuthorizationCredentials | None) -> Login | None:
    if creds is None:
        return None
    credential = creds.credentials
    if not credential.startswith(KEY_PREFIX):
        # No cache: a logout or a deactivation must stop the token at the next request.
        with rt.db.read() as session:
            login = login_for_access_token(session, rt.clock.now(), rt.auth.tokens, credential)
        if login is None:
            raise _unauthorized("Invalid, expired or revoked access token")
        return login
    digest = sha256_hex(credential)
    actor = rt.keys.get(digest)
    if actor is None:
        with rt.db.read() as session:
            actor = actor_for_key(session, credential)
        if actor is None:
            raise _unauthorized("Unknown or revoked API key")
        rt.keys.put(digest, actor)
    return Login(actor=actor, user_id=user_id_of(actor) or 0, session_id=None)


async def current_login(rt: RuntimeDep,
                  creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Login:
    login = _login(rt, creds)
    if login is None:
        raise _unauthorized("An access token or API key is required")
    return login


async def current_actor(login: Annotated[Login, Depends(current_login)]) -> Actor:
    return login.actor


async def actor_or_public(rt: RuntimeDep,
                    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Actor:
    login = _login(rt, creds)
    return login.actor if login is not None else PUBLIC


CurrentLogin = Annotated[Login, Depends(current_login)]
CurrentActor = Annotated[Actor, Depends(current_actor)]
ActorOrPublic = Annotated[Actor, Depends(actor_or_public)]
