"""All configuration, read once from the environment (prefix `KIPTHOI_`, nested with `__`),
e.g. `KIPTHOI_DB__URL=postgresql+psycopg://127.0.0.1/test`."""

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kipthoi.devsecrets import DevSecrets, generate, load_or_create
from models.blobs import BlobStore, DatabaseStore, DirectoryStore
from models.crypto import derive_key
from models.db import sqlite_file
from notifications.config import NotifyConfig
from notifications.routing import load_routes
from states.deadlines.policy import load_policy
from states.kernel.commune import CommunePolicy

# The development default of earlier versions, public in the source: refused everywhere.
PUBLISHED_SECRET = "kipthoi-development-secret-change-me"
MIN_SECRET_LENGTH = 32


class DbSettings(BaseModel):
    url: str = "sqlite:///./kipthoi.db"
    echo: bool = False


class CommuneSettings(BaseModel):
    name: str = "Xã Nghĩa Hưng"
    code_prefix: str = Field("NH", pattern=r"^[A-Z]{2,6}$")
    future_skew_seconds: int = Field(300, ge=0, le=3600)
    # Years after closure before a case's private data is erased (states/records/retention.py).
    retention_years: int = Field(5, ge=1, le=100)
    # Who decides closing a case before intervention (at `received` or `assessed`): the law has
    # the Chủ tịch decide closure (Nghị định 56/2017 Art. 30), the head proposing
    # (`propose_closure`); a commune that delegates it to the head sets "head".
    early_closure_by: Literal["chair", "head"] = "chair"


class SecuritySettings(BaseModel):
    # Unset in development: a random one is made on first start and kept in `secrets_file`
    # (kipthoi/devsecrets.py). Required in production.
    secret: SecretStr | None = None
    # Where development keeps its generated secret and data keys; unset: beside the SQLite
    # database (`<file>.secrets.json`), or `kipthoi.secrets.json` in the working directory.
    secrets_file: Path | None = None
    # Login sessions (states/identity/sessions.py).
    access_token_minutes: int = Field(15, ge=1, le=24 * 60)
    refresh_token_hours: float = Field(12, gt=0, le=24 * 30)
    # Failed logins in a row (states/identity/login.py): from `login_delay_after` on, each attempt waits
    # 2^(n - login_delay_after) s, at most `login_max_delay_seconds`; `login_lockout_after`
    # failures lock the username for `login_lockout_minutes`.
    login_delay_after: int = Field(3, ge=1, le=100)
    login_max_delay_seconds: int = Field(60, ge=1, le=3600)
    login_lockout_after: int = Field(10, ge=2, le=1000)
    login_lockout_minutes: int = Field(15, ge=1, le=24 * 60)
    # argon2id cost; unset: the library's default (RFC 9106). Only tests should lower it.
    password_time_cost: int | None = Field(None, ge=1, le=20)
    password_memory_kib: int | None = Field(None, ge=8, le=4 * 1024 * 1024)
    password_parallelism: int | None = Field(None, ge=1, le=64)


def _key_bytes(name: str, value: SecretStr) -> bytes:
    try:
        raw = base64.b64decode(value.get_secret_value(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{name}: not base64 (`kipthoi keys generate` prints a valid key)") from None
    if len(raw) != 32:
        raise ValueError(f"{name}: must decode to 32 bytes, got {len(raw)}")
    return raw


class CryptoSettings(BaseModel):
    """Keys for encryption at rest (models/crypto.py) and for blind indexes (states/intake/matching.py).

    Unset in development: derived from `security.secret` when one is configured, else random
    keys made on first start and kept in the development secrets file — so that `make serve`
    works with no configuration and no key is ever one published in the source. Production
    refuses to start without its own keys. Keep these keys apart from `security.secret`:
    losing a data key loses the data it encrypted."""

    # JSON {"key id": "base64 of 32 random bytes"}; `kipthoi keys generate` prints one.
    keys: dict[str, SecretStr] = {}
    active_key_id: str | None = None
    # HMAC key of the blind indexes (name, phone, matching keys); base64 of 32 bytes.
    index_key: SecretStr | None = None
    # Rows written before encryption are read as they are until `kipthoi keys rotate` encrypts
    # them; once `kipthoi keys status` shows no plaintext left, set false to refuse any.
    accept_plaintext: bool = True

    @model_validator(mode="after")
    def _well_formed(self) -> "CryptoSettings":
        for kid, key in self.keys.items():
            _key_bytes(f"KIPTHOI_CRYPTO__KEYS[{kid}]", key)
        if self.keys and self.active_key_id not in self.keys:
            raise ValueError("KIPTHOI_CRYPTO__ACTIVE_KEY_ID must name one of KIPTHOI_CRYPTO__KEYS")
        if self.active_key_id is not None and not self.keys:
            raise ValueError("KIPTHOI_CRYPTO__ACTIVE_KEY_ID is set but KIPTHOI_CRYPTO__KEYS is empty")
        if self.index_key is not None:
            _key_bytes("KIPTHOI_CRYPTO__INDEX_KEY", self.index_key)
        return self


@dataclass(frozen=True)
class CryptoKeys:
    data_keys: dict[str, bytes]
    active_key_id: str
    index_key: bytes
    accept_plaintext: bool
    development: bool


DEV_KEY_ID = "dev"


class SmsSettings(BaseModel):
    # auto: Twilio when its credentials are set, else the console.
    provider: Literal["auto", "console", "twilio"] = "auto"
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_base_url: str = "https://api.twilio.com"
    timeout_seconds: float = Field(10.0, gt=0, le=60)
    unaccented: bool = False
    validity_minutes: int = Field(240, ge=1, le=600)
    max_attempts: int = Field(6, ge=1, le=20)
    # Non-urgent SMS one official may get in an hour; past it they wait for the digest, which
    # also tells of every anonymous online report: one per official per `digest_minutes`.
    # Emergencies and overdue alerts are never held (notifications/digest.py).
    per_official_per_hour: int = Field(10, ge=1, le=1000)
    digest_minutes: int = Field(30, ge=1, le=24 * 60)


class NotifySettings(BaseModel):
    # The address officials' phones reach this service at (acknowledgement links, Twilio callbacks).
    public_url: str = "http://127.0.0.1:8000"
    ack_link_days: int = Field(7, ge=1, le=30)
    hotline_status_url: str | None = None
    hotline_status_token: SecretStr | None = None
    routing_file: Path | None = None


class EvidenceSettings(BaseModel):
    """Evidence attachments (states/records/evidence.py, models/blobs.py). Their bytes are sealed
    under the data keys either way; "database" keeps them in the database (one backup holds
    everything), "directory" in files under `dir` (a database that stays small)."""

    storage: Literal["database", "directory"] = "database"
    dir: Path | None = None
    max_bytes: int = Field(10 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)

    @model_validator(mode="after")
    def _dir_for_directory(self) -> "EvidenceSettings":
        if self.storage == "directory" and self.dir is None:
            raise ValueError("KIPTHOI_EVIDENCE__STORAGE=directory needs KIPTHOI_EVIDENCE__DIR")
        return self

    def store(self) -> BlobStore:
        if self.storage == "directory":
            assert self.dir is not None
            return DirectoryStore(self.dir)
        return DatabaseStore()


class SchedulerSettings(BaseModel):
    # embedded: APScheduler inside `kipthoi serve`; prefect: flows run by Prefect workers; off.
    mode: Literal["embedded", "prefect", "off"] = "embedded"
    tick_seconds: float = Field(5.0, gt=0, le=300)


class PolicySettings(BaseModel):
    file: Path | None = None
    # Per-deadline overrides, e.g. KIPTHOI_POLICY__OVERRIDES='{"plan_approval": {"limit": 3}}'
    overrides: dict[str, dict[str, Any]] = {}
    # Calendar overrides (None: the policy file's value)
    culture_day_off: bool | None = None


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    # Development serves loopback only unless this (or `kipthoi serve --allow-remote`) says
    # otherwise: its secrets sit in a file on this machine and its data is for trying out.
    allow_remote: bool = False
    # uvicorn's line per request; unset: on in production, off in development.
    access_log: bool | None = None
    # Worker processes of `kipthoi serve`; 0: one per CPU core, at most 4. Python runs one
    # request's code at a time per process, so a second core needs a second process. Each
    # process keeps its own API-key cache; rate limits are shared, in the database (see README).
    workers: int = Field(0, ge=0, le=32)
    max_body_bytes: int = 256 * 1024
    # Browser origins allowed by CORS, comma-separated (e.g. "https://kipthoi.example.vn");
    # empty: no CORS at all. Credentials (cookies) are never allowed.
    cors_origins: str = ""
    # Token buckets per client address (and per username for logins), shared by every worker
    # process (rows of `rate_bucket`, api/ratelimit.py): a steady rate per minute and a burst.
    rate_public_intake_per_minute: float = Field(10, gt=0)
    rate_public_intake_burst: int = Field(20, ge=1)
    rate_public_status_per_minute: float = Field(60, gt=0)
    rate_public_status_burst: int = Field(30, ge=1)
    rate_login_per_address_per_minute: float = Field(30, gt=0)
    rate_login_per_address_burst: int = Field(20, ge=1)
    rate_login_per_username_per_minute: float = Field(10, gt=0)
    rate_login_per_username_burst: int = Field(10, ge=1)

    @field_validator("cors_origins")
    @classmethod
    def _explicit_origins(cls, value: str) -> str:
        for origin in (o.strip() for o in value.split(",") if o.strip()):
            if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", origin):
                raise ValueError(f"CORS origin {origin!r} must be scheme://host[:port] (no '*', no path)")
        return value

    @property
    def cors_origin_list(self) -> tuple[str, ...]:
        return tuple(o.strip() for o in self.cors_origins.split(",") if o.strip())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KIPTHOI_", env_nested_delimiter="__",
                                      env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    # debug also shows scheduler ticks and job runs; info one line per thing that happened.
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    db: DbSettings = DbSettings()
    commune: CommuneSettings = CommuneSettings()
    security: SecuritySettings = SecuritySettings()
    api: ApiSettings = ApiSettings()
    sms: SmsSettings = SmsSettings()
    notify: NotifySettings = NotifySettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    policy: PolicySettings = PolicySettings()
    crypto: CryptoSettings = CryptoSettings()
    evidence: EvidenceSettings = EvidenceSettings()

    _dev: DevSecrets | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _no_dev_secret_in_production(self) -> "Settings":
        secret = self.security.secret.get_secret_value() if self.security.secret is not None else None
        if secret == PUBLISHED_SECRET:
            raise ValueError("KIPTHOI_SECURITY__SECRET is the value published in kipthoi's source: "
                             "remove it (development then makes a random one) or set your own")
        if self.environment == "production" and secret is None:
            raise ValueError("KIPTHOI_SECURITY__SECRET must be set in production")
        if self.environment == "production" and len(secret or "") < MIN_SECRET_LENGTH:
            raise ValueError(f"KIPTHOI_SECURITY__SECRET must have at least {MIN_SECRET_LENGTH} "
                             "characters in production")
        return self

    def dev_secrets_path(self) -> Path | None:
        """Beside the database, so a copy of the two together is a working backup; None for an
        in-memory database, whose generated secrets live and die with the process."""
        if self.security.secrets_file is not None:
            return self.security.secrets_file
        if self.db.url.startswith("sqlite"):
            database = sqlite_file(self.db.url)
            return None if database is None else Path(database + ".secrets.json")
        return Path("kipthoi.secrets.json")

    def dev_secrets(self) -> DevSecrets:
        """Read (or made) once per Settings, when something first needs a secret: settings that
        only configure a command needing none never touch the file."""
        if self.environment == "production":
            raise ValueError("production never uses generated development secrets")
        if self._dev is None:
            path = self.dev_secrets_path()
            self._dev = generate(None) if path is None else load_or_create(path)
        return self._dev

    def signing_secret(self) -> str:
        """The secret tokens, acknowledgement links and the login throttle are keyed from."""
        if self.security.secret is not None:
            return self.security.secret.get_secret_value()
        return self.dev_secrets().secret

    def crypto_keys(self) -> CryptoKeys:
        """The data keys and the index key; in development, derived from a configured
        `security.secret`, else the random ones of the development secrets file.

        Checked here rather than in a validator so that settings without keys still load (for
        commands that need none), while every entry point that opens the database or builds
        the policy refuses to run in production without real keys."""
        crypto = self.crypto
        if crypto.keys and crypto.index_key is not None:
            return CryptoKeys({kid: _key_bytes(kid, key) for kid, key in crypto.keys.items()},
                              str(crypto.active_key_id), _key_bytes("index", crypto.index_key),
                              crypto.accept_plaintext, development=False)
        if self.environment == "production":
            raise ValueError("KIPTHOI_CRYPTO__KEYS, KIPTHOI_CRYPTO__ACTIVE_KEY_ID and "
                             "KIPTHOI_CRYPTO__INDEX_KEY must be set in production (development "
                             "keys are refused); `kipthoi keys generate` prints new keys")
        if crypto.keys or crypto.index_key is not None:
            raise ValueError("set both KIPTHOI_CRYPTO__KEYS and KIPTHOI_CRYPTO__INDEX_KEY, or neither")
        if self.security.secret is None:
            dev = self.dev_secrets()
            return CryptoKeys({dev.data_key_id: dev.data_key}, dev.data_key_id, dev.index_key,
                              crypto.accept_plaintext, development=True)
        secret = self.security.secret.get_secret_value()
        return CryptoKeys(
            {DEV_KEY_ID: derive_key(secret, "kipthoi development data key")},
            DEV_KEY_ID, derive_key(secret, "kipthoi development index key"),
            crypto.accept_plaintext, development=True)

    def commune_policy(self) -> CommunePolicy:
        deadlines = load_policy(self.policy.file, self.policy.overrides)
        if self.policy.culture_day_off is not None:
            from dataclasses import replace

            deadlines = replace(deadlines, calendar=replace(
                deadlines.calendar, culture_day_off=self.policy.culture_day_off))
        notify = NotifyConfig(
            public_url=self.notify.public_url.rstrip("/"),
            link_secret=derive_key(self.signing_secret(), "acknowledgement-links"),
            ack_link_ttl=timedelta(days=self.notify.ack_link_days),
            unaccented=self.sms.unaccented,
            sms_validity=timedelta(minutes=self.sms.validity_minutes),
            sms_per_official_per_hour=self.sms.per_official_per_hour,
            digest_interval=timedelta(minutes=self.sms.digest_minutes),
            hotline_status_url=self.notify.hotline_status_url,
            routes=load_routes(self.notify.routing_file),
        )
        return CommunePolicy(
            name=self.commune.name,
            code_prefix=self.commune.code_prefix,
            future_skew=timedelta(seconds=self.commune.future_skew_seconds),
            retention_years=self.commune.retention_years,
            early_closure_by=self.commune.early_closure_by,
            evidence_store=self.evidence.store(),
            evidence_max_bytes=self.evidence.max_bytes,
            match_secret=self.crypto_keys().index_key,  # the blind indexes' key
            deadlines=deadlines,
            notify=notify,
        )

    @property
    def twilio_configured(self) -> bool:
        return bool(self.sms.twilio_account_sid and self.sms.twilio_auth_token)
