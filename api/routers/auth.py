"""Logging in (OAuth2 password flow), refreshing, logging out, one's own account and password."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from api.deps import CurrentActor, CurrentLogin, LimiterDep, RuntimeDep
from api.errors import responses
from models.enums import Role
from states.identity import accounts
from states.identity import login as auth
from states.identity.sessions import TokenPair
from states.kernel.errors import DomainError
from states.lifecycle.commands import Command

router = APIRouter(prefix="/auth", tags=["auth"])


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds the access token lives")
    refresh_token: str = Field(description="Single use: `POST /auth/refresh` returns a new pair")


class RefreshIn(Command):
    refresh_token: str = Field(min_length=1, max_length=200)


class MeOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: Role
    official_id: int | None


def _tokens(outcome: TokenPair | DomainError) -> TokenOut:
    if isinstance(outcome, DomainError):
        raise outcome  # after the commit: the failure it counted stays counted
    return TokenOut(access_token=outcome.access_token, expires_in=outcome.expires_in,
                    refresh_token=outcome.refresh_token)


@router.post("/token", response_model=TokenOut, responses=responses(401, 413, 422, 429),
             summary="Log in: username and password for an access and a refresh token")
def login(rt: RuntimeDep, limiter: LimiterDep,
          form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenOut:
    """OAuth2 password flow (form fields `grant_type=password`, `username`, `password`). A wrong
    password and an unknown username get the same answer. From the 3rd failure in a row each
    attempt waits 1, 2, 4 … 60 s (429 with `Retry-After`); the 10th locks the account 15 min."""
    if limiter is not None:
        limiter.hit("login_per_username", form.username.strip().lower())
    if "\x00" in form.username:
        # No account has one (usernames are [a-z0-9._-]), and PostgreSQL cannot even compare
        # it (a 500): the answer for an unknown username.
        raise auth.InvalidCredentials()
    with rt.db.read() as session:  # the slow password check holds no write lock
        attempt = auth.check_login(session, rt.clock, rt.auth, form.username, form.password)
    with rt.db.write() as session:
        outcome = auth.finish_login(session, rt.clock, rt.auth, attempt)
    return _tokens(outcome)


@router.post("/refresh", response_model=TokenOut, responses=responses(401, 413, 422),
             summary="A new token pair for a refresh token (which then stops working)")
def refresh(rt: RuntimeDep, body: RefreshIn) -> TokenOut:
    """A refresh token that was already used revokes its whole session: whoever else holds a
    copy is logged out, and so is the legitimate user, who logs in again."""
    with rt.db.write() as session:
        outcome = auth.refresh(session, rt.clock, rt.auth, body.refresh_token)
    return _tokens(outcome)


@router.post("/logout", status_code=204, response_class=Response, responses=responses(401, 403, 422),
             summary="End this session: its access and refresh tokens stop working now")
def logout(rt: RuntimeDep, login: CurrentLogin) -> None:
    with rt.db.write() as session:
        auth.logout(session, rt.clock, login)


@router.get("/me", response_model=MeOut, responses=responses(401, 403, 404), summary="Who am I")
def me(rt: RuntimeDep, actor: CurrentActor) -> Any:
    with rt.db.read() as session:
        return MeOut.model_validate(accounts.account_of(session, actor), from_attributes=True)


@router.post("/password", status_code=204, response_class=Response,
             responses=responses(401, 403, 413, 422, 429),
             summary="Change one's own password; every other session is logged out")
def change_password(rt: RuntimeDep, login: CurrentLogin, body: auth.PasswordChange) -> None:
    with rt.db.read() as session:
        attempt = auth.check_password_change(session, rt.clock, rt.auth, login, body)
    with rt.db.write() as session:
        refusal = auth.finish_password_change(session, rt.clock, rt.auth, login, attempt)
    if refusal is not None:
        raise refusal
