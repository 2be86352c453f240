"""Accounts, for administrators: add, list, deactivate; the hotline's API keys."""

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from api.deps import CurrentActor, RuntimeDep
from api.errors import responses
from models.enums import Role
from states.identity import accounts

router = APIRouter(prefix="/users", tags=["users"])
UserId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: Role
    official_id: int | None
    active: bool


class UserCreated(UserOut):
    api_key: str | None = Field(
        None, description="Shown once: the hotline's key, when made without a password")


class ApiKeyOut(BaseModel):
    api_key: str = Field(description="Shown once; send as `Authorization: Bearer <key>`")


class KeysRevoked(BaseModel):
    revoked: int


@router.post("", status_code=201, response_model=UserCreated, responses=responses(401, 403, 413, 422),
             summary="Add an account (a person with an initial password, or the 111 hotline)")
def add_user(rt: RuntimeDep, actor: CurrentActor, body: accounts.UserIn) -> Any:
    with rt.db.write() as session:
        user, key = accounts.add_user(session, rt.clock, actor, body, rt.auth.passwords)
        return UserCreated(**UserOut.model_validate(user, from_attributes=True).model_dump(), api_key=key)


@router.get("", response_model=list[UserOut], responses=responses(401, 403))
def list_users(rt: RuntimeDep, actor: CurrentActor) -> Any:
    with rt.db.read() as session:
        return [UserOut.model_validate(u, from_attributes=True) for u in accounts.list_users(session, actor)]


@router.post("/{user_id}/deactivate", response_model=UserOut, responses=responses(401, 403, 404, 422),
             summary="Deactivate an account: its sessions and API keys stop working now")
def deactivate(rt: RuntimeDep, actor: CurrentActor, user_id: UserId) -> Any:
    with rt.db.write() as session:
        user = accounts.deactivate_user(session, rt.clock, actor, user_id)
        out = UserOut.model_validate(user, from_attributes=True)
    rt.keys.clear()  # this process stops honouring the revoked keys at once
    return out


@router.post("/{user_id}/api-keys", status_code=201, response_model=ApiKeyOut,
             responses=responses(401, 403, 404, 422), summary="Issue an API key (machine clients only)")
def issue_api_key(rt: RuntimeDep, actor: CurrentActor, user_id: UserId) -> ApiKeyOut:
    with rt.db.write() as session:
        key = accounts.issue_api_key(session, rt.clock, actor, user_id)
    return ApiKeyOut(api_key=key)


@router.post("/{user_id}/api-keys/revoke", response_model=KeysRevoked,
             responses=responses(401, 403, 404, 422), summary="Revoke every API key of an account")
def revoke_api_keys(rt: RuntimeDep, actor: CurrentActor, user_id: UserId) -> KeysRevoked:
    with rt.db.write() as session:
        count = accounts.revoke_api_keys(session, rt.clock, actor, user_id)
    rt.keys.clear()
    return KeysRevoked(revoked=count)
