"""Logging in, refreshing, logging out, changing one's password; the failed-login throttle.

Two rules shape these functions:

- The argon2 check costs tens of milliseconds of CPU on purpose. It runs in a *read* step
  (`check_login`, `check_password_change`), and only its outcome is written in a second, short
  write transaction (`finish_login`, `finish_password_change`): on SQLite one write transaction
  at a time holds the database, and no report should queue behind a password hash.
- A refusal that must be remembered (a failure counted, a session revoked for a reused refresh
  token) is *returned*, not raised: the caller commits, then raises it. Raising inside the
  transaction would roll back the very thing the refusal recorded.

Failures are counted per username, known or not, under an HMAC of the username, so a username
that does not exist is throttled and answered exactly like one that does."""

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import SecretStr
from sqlalchemy import Table, bindparam, delete, select, update
from sqlmodel import Session, col

from models import LoginThrottle, User
from models.dialect import upsert
from states.audit import chain as audit
from states.identity import sessions
from states.identity.actors import PUBLIC, Actor
from states.identity.passwords import Passwords, check_policy
from states.identity.sessions import Login, TokenConfig, TokenPair
from states.kernel.clock import Clock
from states.kernel.errors import DomainError, InvalidInput
from states.lifecycle.commands import Command

# --- errors ----------------------------------------------------------------------------------


class AuthFailed(DomainError):
    """401: the credentials presented do not open a session."""


class InvalidCredentials(AuthFailed):
    def __init__(self) -> None:
        super().__init__(code="invalid_credentials",
                         message_vi="Tên đăng nhập hoặc mật khẩu không đúng.",
                         message_en="Wrong username or password.")


class InvalidRefreshToken(AuthFailed):
    def __init__(self) -> None:
        super().__init__(code="invalid_refresh_token",
                         message_vi="Phiên đăng nhập đã hết hạn hoặc bị thu hồi; hãy đăng nhập lại.",
                         message_en="The refresh token is unknown, expired, used or revoked; log in again.",
                         field="refresh_token", rule="valid_refresh_token")


class TooManyAttempts(DomainError):
    """429 with Retry-After: too many failed logins for this username."""

    def __init__(self, retry_after: int, locked: bool) -> None:
        if locked:
            super().__init__(code="account_locked",
                             message_vi="Tài khoản tạm khoá do đăng nhập sai nhiều lần; hãy thử lại sau.",
                             message_en="Locked after too many failed logins; retry later.",
                             extra={"retry_after": retry_after})
        else:
            super().__init__(code="login_throttled",
                             message_vi=f"Đăng nhập sai nhiều lần; hãy chờ {retry_after} giây rồi thử lại.",
                             message_en=f"Too many failed logins; wait {retry_after} s and retry.",
                             extra={"retry_after": retry_after})


# --- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginPolicy:
    delay_after: int = 3  # from this failure on, each attempt waits 2^(n - delay_after) s ...
    max_delay: timedelta = timedelta(seconds=60)  # ... at most this long
    lockout_after: int = 10  # this many failures lock the username ...
    lockout: timedelta = timedelta(minutes=15)  # ... this long (and again at each further failure)
    forget_after: timedelta = timedelta(days=1)  # a day without failures forgets them

    def block_for(self, failures: int) -> timedelta | None:
        if failures >= self.lockout_after:
            return self.lockout
        if failures >= self.delay_after:
            return min(timedelta(seconds=2 ** (failures - self.delay_after)), self.max_delay)
        return None


@dataclass(frozen=True)
class AuthConfig:
    tokens: TokenConfig = field(default_factory=TokenConfig)
    throttle: LoginPolicy = LoginPolicy()
    passwords: Passwords = field(default_factory=Passwords)
    throttle_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)


# --- the throttle ----------------------------------------------------------------------------


def _throttle_key(config: AuthConfig, username: str) -> str:
    return hmac.new(config.throttle_key, username.encode(), hashlib.sha256).hexdigest()


def _refuse_if_blocked(session: Session, now: datetime, config: AuthConfig, key: str) -> None:
    row = session.get(LoginThrottle, key)
    if row is not None and row.blocked_until is not None and row.blocked_until > now:
        wait = math.ceil((row.blocked_until - now).total_seconds())
        raise TooManyAttempts(wait, locked=row.failures >= config.throttle.lockout_after)


_THROTTLE: Table = LoginThrottle.__table__  # type: ignore[attr-defined]
_NOW = bindparam("now", type_=_THROTTLE.c.last_failed_at.type)
# One upsert, so that concurrent failures all count.
_COUNT_FAILURE = upsert(
    _THROTTLE, ["key_hash"],
    values={"key_hash": bindparam("key", type_=_THROTTLE.c.key_hash.type), "failures": 1,
            "blocked_until": None, "last_failed_at": _NOW},
    set_={"failures": _THROTTLE.c.failures + 1, "last_failed_at": _NOW},
    returning=[_THROTTLE.c.failures])


def _count_failure(session: Session, now: datetime, config: AuthConfig,
                   key: str) -> tuple[int, datetime | None]:
    """One upsert, so that concurrent failures all count; returns the count and the block."""
    failures: int = session.execute(_COUNT_FAILURE(session), {"key": key, "now": now}).scalar_one()
    block = config.throttle.block_for(failures)
    until = now + block if block is not None else None
    if until is not None:
        session.execute(update(_THROTTLE).where(_THROTTLE.c.key_hash == key).values(blocked_until=until))
    # Keep the table to the usernames tried lately (unknown ones included).
    session.execute(delete(_THROTTLE).where(_THROTTLE.c.last_failed_at < now - config.throttle.forget_after))
    return failures, until


def _user_actor(user: User) -> Actor:
    return Actor.of_user(user)


def _record_failure(session: Session, now: datetime, config: AuthConfig, attempt: "Attempt",
                    action: str, reason: str | None = None) -> None:
    failures, until = _count_failure(session, now, config, attempt.key)
    user = session.get(User, attempt.user_id) if attempt.user_id is not None else None
    actor = _user_actor(user) if user is not None else PUBLIC
    audit.record(session, at=now, actor=actor, action=action, case_id=None,
                 after={"failures": failures, "reason": reason or attempt.reason})
    if failures >= config.throttle.lockout_after and until is not None:
        audit.record(session, at=now, actor=actor, action="auth.locked_out", case_id=None,
                     after={"failures": failures, "until": until.isoformat()})


# --- logging in ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """The outcome of a password check, made outside the write transaction."""

    key: str
    user_id: int | None
    ok: bool
    reason: str  # why it failed, for the audit trail only: never shown to the client
    new_hash: str | None = None  # a re-hash (changed cost), or the new password's hash


def _check(session: Session, clock: Clock, config: AuthConfig, username: str, password: str) -> Attempt:
    key = _throttle_key(config, username)
    _refuse_if_blocked(session, clock.now(), config, key)
    user = session.execute(select(User).where(col(User.username) == username)).scalar_one_or_none()
    stored = user.password_hash if user is not None else None
    ok = config.passwords.verify(stored, password)  # a dummy hash when there is none: same time
    if user is None:
        return Attempt(key, None, False, "unknown_account")
    if stored is None:
        return Attempt(key, user.id, False, "no_password")
    if not ok:
        return Attempt(key, user.id, False, "wrong_password")
    if not user.active:
        return Attempt(key, user.id, False, "inactive")
    rehash = config.passwords.hash(password) if config.passwords.needs_rehash(stored) else None
    return Attempt(key, user.id, True, "", rehash)


def check_login(session: Session, clock: Clock, config: AuthConfig, username: str, password: str) -> Attempt:
    """Step 1 (a read session): refuse a blocked username at once; otherwise check the password."""
    return _check(session, clock, config, username.strip().lower(), password)


def finish_login(session: Session, clock: Clock, config: AuthConfig,
                 attempt: Attempt) -> TokenPair | DomainError:
    """Step 2 (a write session): count the failure, or open a session and forget past failures."""
    now = clock.now()
    user = session.get(User, attempt.user_id) if attempt.ok and attempt.user_id is not None else None
    if user is None or not user.active:  # failed, or deactivated since step 1
        _record_failure(session, now, config, attempt, "auth.login_failed",
                        None if attempt.reason else "inactive")
        return InvalidCredentials()
    if attempt.new_hash is not None:
        user.password_hash = attempt.new_hash
    session.execute(delete(_THROTTLE).where(_THROTTLE.c.key_hash == attempt.key))
    pair = sessions.open_session(session, now, config.tokens, user)
    audit.record(session, at=now, actor=_user_actor(user), action="auth.login", case_id=None,
                 after={"session_id": pair.session_id, "rehashed": attempt.new_hash is not None})
    return pair


# --- the session's life ----------------------------------------------------------------------


def refresh(session: Session, clock: Clock, config: AuthConfig, token: str) -> TokenPair | DomainError:
    now = clock.now()
    rotation = sessions.rotate(session, now, config.tokens, token)
    if rotation.reused is not None:
        user = session.get(User, rotation.reused.user_id)
        audit.record(session, at=now, actor=_user_actor(user) if user else PUBLIC,
                     action="auth.refresh_reused", case_id=None,
                     after={"session_id": rotation.reused.id})
    if rotation.pair is None:
        return InvalidRefreshToken()
    return rotation.pair


def logout(session: Session, clock: Clock, login: Login) -> None:
    if login.session_id is None:
        raise InvalidInput("authorization", "session_token",
                           "Khoá API không có phiên đăng nhập; quản trị viên thu hồi khoá.",
                           "An API key has no session to log out of; an administrator revokes keys.")
    now = clock.now()
    sessions.revoke(session, now, "logout", session_id=login.session_id)
    audit.record(session, at=now, actor=login.actor, action="auth.logout", case_id=None,
                 after={"session_id": login.session_id})


class PasswordChange(Command):
    current_password: SecretStr
    new_password: SecretStr


def check_password_change(session: Session, clock: Clock, config: AuthConfig, login: Login,
                          body: PasswordChange) -> Attempt:
    """Step 1 (a read session): the policy, the throttle, the current password, the new hash.
    A wrong current password counts as a failed login: this is not a way around the throttle."""
    user = session.get(User, login.user_id)
    assert user is not None  # the request authenticated as this user a moment ago
    new = body.new_password.get_secret_value()
    check_policy(new, user.username, field="new_password")
    attempt = _check(session, clock, config, user.username, body.current_password.get_secret_value())
    if not attempt.ok:
        return attempt
    return Attempt(attempt.key, attempt.user_id, True, "", config.passwords.hash(new))


def finish_password_change(session: Session, clock: Clock, config: AuthConfig, login: Login,
                           attempt: Attempt) -> DomainError | None:
    """Step 2 (a write session): store the new hash and close every other session."""
    now = clock.now()
    user = session.get(User, login.user_id)
    if not attempt.ok or attempt.new_hash is None or user is None:
        _record_failure(session, now, config, attempt, "auth.password_change_failed")
        return InvalidInput("current_password", "matches_current", "Mật khẩu hiện tại không đúng.",
                            "The current password is wrong.")
    user.password_hash, user.password_changed_at = attempt.new_hash, now
    session.execute(delete(_THROTTLE).where(_THROTTLE.c.key_hash == attempt.key))
    revoked = sessions.revoke(session, now, "password_changed", user_id=user.id, keep=login.session_id)
    audit.record(session, at=now, actor=login.actor, action="auth.password_changed", case_id=None,
                 after={"sessions_revoked": revoked})
    return None
