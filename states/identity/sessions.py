"""Login sessions: short-lived signed access tokens and rotating, revocable refresh tokens.

An access token is a JWT (HS256) signed with a key used for nothing else; it names its session
(`sid`), and every request checks that the session is still open and the account still active,
so logging out, deactivating an account or changing a password takes effect at once. Its
expiry is checked against our injectable clock, not the library's wall clock.

A refresh token is an opaque random string stored only as its SHA-256 digest. Each use rotates
it: the old one is marked used and a new one issued. A used one presented again means someone
else holds a copy, so the whole session is revoked (the legitimate holder must log in again)."""

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import jwt
from sqlalchemy import select, update
from sqlmodel import Session, col

from models import AuthSession, RefreshToken, User
from models.crypto import sha256_hex
from states.identity.actors import Actor

ALGORITHM = "HS256"


def digest(token: str) -> str:
    return sha256_hex(token)


@dataclass(frozen=True)
class TokenConfig:
    # Without a configured secret (a test's own Runtime) the key is random: tokens made by one
    # process are then refused by any other, which is safe.
    signing_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    access_ttl: timedelta = timedelta(minutes=15)
    refresh_ttl: timedelta = timedelta(hours=12)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int  # seconds the access token lives
    session_id: int


@dataclass(frozen=True)
class Login:
    """Who a request authenticates as. `session_id` is None for an API key."""

    actor: Actor
    user_id: int
    session_id: int | None


def _issue(session: Session, now: datetime, config: TokenConfig, user: User, sid: int) -> TokenPair:
    refresh = secrets.token_urlsafe(32)
    session.add(RefreshToken(session_id=sid, token_hash=digest(refresh), issued_at=now,
                             expires_at=now + config.refresh_ttl))
    session.flush()
    claims = {"sub": str(user.id), "role": user.role, "sid": sid, "iat": int(now.timestamp()),
              "exp": int((now + config.access_ttl).timestamp())}
    access = jwt.encode(claims, config.signing_key, algorithm=ALGORITHM)
    return TokenPair(access_token=access, refresh_token=refresh,
                     expires_in=int(config.access_ttl.total_seconds()), session_id=sid)


def open_session(session: Session, now: datetime, config: TokenConfig, user: User) -> TokenPair:
    row = AuthSession(user_id=user.id or 0, created_at=now)
    session.add(row)
    session.flush()
    return _issue(session, now, config, user, row.id or 0)


@dataclass(frozen=True)
class Rotation:
    pair: TokenPair | None = None
    # Set when a rotated token came back: the session it belonged to (now revoked).
    reused: AuthSession | None = None


def rotate(session: Session, now: datetime, config: TokenConfig, token: str) -> Rotation:
    found = session.execute(
        select(RefreshToken).where(col(RefreshToken.token_hash) == digest(token)).with_for_update()
    ).scalar_one_or_none()
    if found is None:
        return Rotation()
    auth = session.execute(
        select(AuthSession).where(col(AuthSession.id) == found.session_id).with_for_update()
    ).scalar_one()
    if found.used_at is not None:
        if auth.revoked_at is not None:
            return Rotation()
        revoke(session, now, "refresh_reused", session_id=auth.id)
        return Rotation(reused=auth)
    user = session.get(User, auth.user_id)
    if auth.revoked_at is not None or found.expires_at <= now or user is None or not user.active:
        return Rotation()
    found.used_at = now
    return Rotation(pair=_issue(session, now, config, user, auth.id or 0))


def revoke(session: Session, now: datetime, reason: str, *, session_id: int | None = None,
           user_id: int | None = None, keep: int | None = None) -> int:
    """Revoke one session, or every open session of a user (but `keep`); returns how many."""
    stmt = update(AuthSession).where(col(AuthSession.revoked_at).is_(None))
    if session_id is not None:
        stmt = stmt.where(col(AuthSession.id) == session_id)
    if user_id is not None:
        stmt = stmt.where(col(AuthSession.user_id) == user_id)
    if keep is not None:
        stmt = stmt.where(col(AuthSession.id) != keep)
    # An ORM update: sessions already loaded in this transaction see the change too.
    result = session.execute(stmt.values(revoked_at=now, revoked_reason=reason))
    return int(getattr(result, "rowcount", 0) or 0)


def login_for_access_token(session: Session, now: datetime, config: TokenConfig, token: str) -> Login | None:
    try:
        claims = jwt.decode(token, config.signing_key, algorithms=[ALGORITHM], options={
            "verify_exp": False, "verify_iat": False, "verify_nbf": False,
            "require": ["sub", "sid", "iat", "exp"]})
    except jwt.InvalidTokenError:
        return None
    exp, sid, sub = claims["exp"], claims["sid"], claims["sub"]
    if not isinstance(exp, int) or exp <= now.timestamp() or not isinstance(sid, int) or not sub.isdigit():
        return None
    user = session.execute(
        select(User).join(AuthSession, col(AuthSession.user_id) == col(User.id))
        .where(col(AuthSession.id) == sid, col(User.id) == int(sub),
               col(AuthSession.revoked_at).is_(None), col(User.active).is_(True))
    ).scalar_one_or_none()
    if user is None:
        return None
    actor = Actor.of_user(user)
    return Login(actor=actor, user_id=user.id or 0, session_id=sid)


def login_for_session(session: Session, now: datetime, config: TokenConfig, session_id: int,
                      user_id: int) -> Login | None:
    """The login behind a desk cookie: its session still open and younger than a refresh
    token may live, its account active. Checked on every page, like an access token, so logging
    out, a deactivation or a password change ends the desk's session at the next click."""
    user = session.execute(
        select(User).join(AuthSession, col(AuthSession.user_id) == col(User.id))
        .where(col(AuthSession.id) == session_id, col(User.id) == user_id,
               col(AuthSession.revoked_at).is_(None), col(User.active).is_(True),
               col(AuthSession.created_at) > now - config.refresh_ttl)
    ).scalar_one_or_none()
    if user is None:
        return None
    return Login(actor=Actor.of_user(user), user_id=user.id or 0, session_id=session_id)
