"""Accounts, their API keys, login sessions and the failed-login throttle.

Secrets are never stored: API keys and refresh tokens only as SHA-256 digests (they are long
random strings, so a slow hash adds nothing), passwords only as argon2id hashes, and the
throttle keys usernames by an HMAC so that what someone typed as a username (sometimes their
password) is not kept in clear."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class User(SQLModel, table=True):
    __tablename__ = "app_user"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(max_length=120)
    role: str = Field(max_length=32)
    official_id: int | None = Field(default=None, foreign_key="official.id")
    active: bool = Field(default=True)
    # None: the account cannot log in with a password (a machine client with an API key).
    password_hash: str | None = Field(default=None, max_length=255)
    password_changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    key_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuthSession(SQLModel, table=True):
    """One login. Its access tokens name it (`sid`) and are refused once it is revoked."""

    __tablename__ = "auth_session"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_reason: str | None = Field(default=None, max_length=32)


class RefreshToken(SQLModel, table=True):
    """Every refresh token a session was given. A used one (`used_at` set) has been rotated:
    seeing it again means two parties hold the session, so the session is revoked."""

    __tablename__ = "refresh_token"
    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="auth_session.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    issued_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LoginThrottle(SQLModel, table=True):
    """Consecutive failed logins for one username, known or not (so that the throttle does not
    tell which usernames exist)."""

    __tablename__ = "login_throttle"
    key_hash: str = Field(max_length=64, primary_key=True)
    failures: int = Field(default=0)
    blocked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_failed_at: datetime = Field(sa_type=UTCDateTime, index=True)
