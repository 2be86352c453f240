"""Typed dependencies every router reuses."""

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


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer kt_...`")


def _actor(rt: Runtime, creds: HTTPAuthorizationCredentials | None) -> Actor | None:
    if creds is None:
        return None
    with rt.db.read() as session:
        actor = actor_for_key(session, creds.credentials)
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
