"""Accounts, their passwords and API keys; the administrator's use cases.

People log in with a password (states/identity/login.py). API keys are for machine clients — the 111
hotline integration: a key is shown once when made and stored only as its SHA-256 digest (keys
are long random strings, so a slow hash adds nothing). An account made without a password can
only authenticate with a key, so `create_user` gives it one; `add_user`, which the API and the
CLI use, insists that people have a password."""

import secrets

from pydantic import Field, SecretStr
from sqlalchemy import select, update
from sqlmodel import Session, col

from models import ApiKey, Official, User
from models.crypto import sha256_hex
from models.enums import Role
from states.access.permissions import authorize
from states.audit import chain as audit
from states.identity import sessions
from states.identity.actors import Actor
from states.identity.passwords import Passwords, check_policy
from states.kernel.clock import Clock
from states.kernel.errors import InvalidInput, NotFound
from states.kernel.text import Text120
from states.lifecycle.commands import Command

KEY_PREFIX = "kt_"
MACHINE_ROLES = frozenset({Role.HOTLINE})


class UserIn(Command):
    username: str = Field(min_length=3, max_length=64, pattern=r"^[a-z0-9._-]+$")
    display_name: Text120
    role: Role
    official_id: int | None = Field(None, ge=1, le=2**31 - 1)
    password: SecretStr | None = Field(None, description="Initial password (people; not the hotline)")


def _digest(key: str) -> str:
    return sha256_hex(key)


def user_id_of(actor: Actor) -> int | None:
    kind, _, ident = actor.ref.partition(":")
    return int(ident) if kind == "user" and ident.isdigit() else None


def create_user(session: Session, clock: Clock, actor: Actor, data: UserIn,
                passwords: Passwords | None = None) -> tuple[User, str | None]:
    """Make an account. With a password it logs in; without one it gets an API key, returned
    in clear, once."""
    authorize(actor, "user.write")
    if session.execute(select(User).where(col(User.username) == data.username)).first() is not None:
        raise InvalidInput("username", "unique", "Tên đăng nhập đã tồn tại.", "username already exists.")
    if data.official_id is not None and session.get(Official, data.official_id) is None:
        raise InvalidInput("official_id", "known_official", "Không có cán bộ này.", "No such official.")
    password = data.password.get_secret_value() if data.password is not None else None
    if password is not None:
        check_policy(password, data.username)
    now = clock.now()
    user = User(username=data.username, display_name=data.display_name, role=data.role,
                official_id=data.official_id,
                password_hash=(passwords or Passwords()).hash(password) if password is not None else None,
                password_changed_at=now if password is not None else None)
    session.add(user)
    session.flush()
    key = issue_key(session, clock, user) if password is None else None
    audit.record(session, at=now, actor=actor, action="user.created", case_id=None,
                 after={"user_id": user.id, "role": user.role, "api_key": key is not None})
    return user, key


def add_user(session: Session, clock: Clock, actor: Actor, data: UserIn,
             passwords: Passwords | None = None) -> tuple[User, str | None]:
    """An administrator adds an account: a person with a password, or the hotline with a key."""
    authorize(actor, "user.write")
    if data.password is None and data.role not in MACHINE_ROLES:
        raise InvalidInput("password", "required_for_people",
                           "Tài khoản của người dùng cần mật khẩu ban đầu.",
                           "A person's account needs an initial password.")
    return create_user(session, clock, actor, data, passwords)


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
    return Actor.of_user(found)


def account_of(session: Session, actor: Actor) -> User:
    """The caller's own account (`GET /auth/me`)."""
    user_id = user_id_of(actor)
    user = session.get(User, user_id) if user_id is not None else None
    if user is None:
        raise NotFound("user", actor.ref)
    return user


# --- administration --------------------------------------------------------------------------


def list_users(session: Session, actor: Actor) -> list[User]:
    authorize(actor, "user.read")
    return list(session.execute(select(User).order_by(col(User.username))).scalars())


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user", str(user_id))
    return user


def deactivate_user(session: Session, clock: Clock, actor: Actor, user_id: int) -> User:
    """The account can no longer log in; its sessions and API keys stop working now."""
    authorize(actor, "user.write")
    user = _user(session, user_id)
    if user_id_of(actor) == user_id:
        raise InvalidInput("user_id", "not_self", "Không thể tự vô hiệu hoá tài khoản của mình.",
                           "You cannot deactivate your own account.")
    now = clock.now()
    user.active = False
    revoked = sessions.revoke(session, now, "deactivated", user_id=user_id)
    keys = _revoke_keys(session, clock, user_id)
    audit.record(session, at=now, actor=actor, action="user.deactivated", case_id=None,
                 after={"user_id": user_id, "sessions_revoked": revoked, "api_keys_revoked": keys})
    return user


def issue_api_key(session: Session, clock: Clock, actor: Actor, user_id: int) -> str:
    authorize(actor, "user.write")
    user = _user(session, user_id)
    if Role(user.role) not in MACHINE_ROLES:
        raise InvalidInput(
            "role", "machine_client_only",
            "Chỉ tài khoản máy (tổng đài 111) được cấp khoá API; người dùng đăng nhập bằng mật khẩu.",
            "Only machine clients (the 111 hotline) get API keys; people log in with a password.")
    if not user.active:
        raise InvalidInput("user_id", "active", "Tài khoản đã bị vô hiệu hoá.", "The account is deactivated.")
    key = issue_key(session, clock, user)
    audit.record(session, at=clock.now(), actor=actor, action="user.api_key_issued", case_id=None,
                 after={"user_id": user_id})
    return key


def _revoke_keys(session: Session, clock: Clock, user_id: int) -> int:
    result = session.execute(
        update(ApiKey).where(col(ApiKey.user_id) == user_id, col(ApiKey.revoked_at).is_(None))
        .values(revoked_at=clock.now()))
    return int(getattr(result, "rowcount", 0) or 0)


def revoke_api_keys(session: Session, clock: Clock, actor: Actor, user_id: int) -> int:
    """Revoke every key of the account (a leaked key is replaced by revoking and issuing)."""
    authorize(actor, "user.write")
    _user(session, user_id)
    count = _revoke_keys(session, clock, user_id)
    audit.record(session, at=clock.now(), actor=actor, action="user.api_keys_revoked", case_id=None,
                 after={"user_id": user_id, "count": count})
    return count


def names_for_refs(session: Session, refs: set[str]) -> dict[str, str]:
    """Display names of the staff behind audit refs (`user:12`), for a case's timeline. Staff
    names are not the child's data; refs of system jobs and links keep their ref."""
    ids = [int(r.split(":", 1)[1]) for r in refs if r.startswith("user:") and r.split(":", 1)[1].isdigit()]
    if not ids:
        return {}
    rows = session.execute(select(col(User.id), col(User.display_name)).where(col(User.id).in_(ids)))
    return {f"user:{uid}": name for uid, name in rows}
