"""Accounts and API keys.

A key is shown once when made and stored only as its SHA-256 digest (keys are long random
strings, so a slow hash adds nothing). Passwords and OAuth2 tokens come with issue 4."""

import hashlib
import secrets

from pydantic import Field
from sqlalchemy import select
from sqlmodel import Session, col

from models import ApiKey, Official, User
from models.enums import Role
from states import audit
from states.actors import Actor
from states.clock import Clock
from states.commands import Command
from states.errors import InvalidInput
from states.text import Text

KEY_PREFIX = "kt_"


class UserIn(Command):
    username: str = Field(min_length=3, max_length=64, pattern=r"^[a-z0-9._-]+$")
    display_name: Text[120]
    role: Role
    official_id: int | None = None


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_user(session: Session, clock: Clock, actor: Actor, data: UserIn) -> tuple[User, str]:
    """Make an account and its first API key; returns the key in clear, once."""
    if session.execute(select(User).where(col(User.username) == data.username)).first() is not None:
        raise InvalidInput("username", "unique", "Tên đăng nhập đã tồn tại.", "username already exists.")
    if data.official_id is not None and session.get(Official, data.official_id) is None:
        raise InvalidInput("official_id", "known_official", "Không có cán bộ này.", "No such official.")
    user = User(**data.model_dump())
    session.add(user)
    session.flush()
    key = issue_key(session, clock, user)
    audit.record(session, at=clock.now(), actor=actor, action="user.created", case_id=None,
                 after={"user_id": user.id, "role": user.role})
    return user, key


def issue_key(session: Session, clock: Clock, user: User) -> str:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(user_id=user.id, key_hash=_digest(key), created_at=clock.now()))  # type: ignore[arg-type]
    session.flush()
    return key


def actor_for_key(session: Session, key: str) -> Actor | None:
    found = session.execute(
        select(User).join(ApiKey, col(ApiKey.user_id) == col(User.id))
        .where(col(ApiKey.key_hash) == _digest(key), col(ApiKey.revoked_at).is_(None), col(User.active).is_(True))
    ).scalar_one_or_none()
    if found is None:
        return None
    return Actor(ref=f"user:{found.id}", role=Role(found.role), official_id=found.official_id)
