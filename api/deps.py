"""Typed dependencies every router reuses."""

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from models import Database
from states.accounts import actor_for_key
from states.actors import PUBLIC, Actor
from states.clock import Clock
from states.policy import CommunePolicy


@dataclass(frozen=True)
class Runtime:
    """What the composition root hands the API."""

    db: Database
    clock: Clock
    policy: CommunePolicy
    # Twilio signs its status callbacks with the account's auth token; without one we refuse them.
    twilio_auth_token: str | None = None


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer kt_...`")


class KeyCache:
    """API key → actor for a short while, so that a busy client does not cost a database read
    per request. A revoked key stops working within `ttl` seconds."""

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


_keys = KeyCache()


def _actor(rt: Runtime, creds: HTTPAuthorizationCredentials | None) -> Actor | None:
    if creds is None:
        return None
    digest = hashlib.sha256(creds.credentials.encode()).hexdigest()
    cached = _keys.get(digest)
    if cached is not None:
        return cached
    with rt.db.read() as session:
        actor = actor_for_key(session, creds.credentials)
    if actor is not None:
        _keys.put(digest, actor)
    if actor is None:
        raise HTTPException(401, "Unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    return actor


def current_actor(rt: RuntimeDep,
                  creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Actor:
    actor = _actor(rt, creds)
    if actor is None:
        raise HTTPException(401, "An API key is required", headers={"WWW-Authenticate": "Bearer"})
    return actor


def actor_or_public(rt: RuntimeDep,
                    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Actor:
    return _actor(rt, creds) or PUBLIC


CurrentActor = Annotated[Actor, Depends(current_actor)]
ActorOrPublic = Annotated[Actor, Depends(actor_or_public)]
