"""All configuration, read once from the environment (prefix `KIPTHOI_`, nested with `__`),
e.g. `KIPTHOI_DB__URL=postgresql+psycopg://127.0.0.1/test`."""

from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from notifications.config import NotifyConfig
from notifications.routing import load_routes
from states.deadline_policy import load_policy
from states.policy import CommunePolicy

DEV_SECRET = "kipthoi-development-secret-change-me"


class DbSettings(BaseModel):
    url: str = "sqlite:///./kipthoi.db"
    echo: bool = False


class CommuneSettings(BaseModel):
    name: str = "Xã Nghĩa Hưng"
    code_prefix: str = Field("NH", pattern=r"^[A-Z]{2,6}$")
    future_skew_seconds: int = Field(300, ge=0, le=3600)


class SecuritySettings(BaseModel):
    secret: str = DEV_SECRET


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


class NotifySettings(BaseModel):
    # The address officials' phones reach this service at (acknowledgement links, Twilio callbacks).
    public_url: str = "http://127.0.0.1:8000"
    ack_link_days: int = Field(7, ge=1, le=30)
    hotline_status_url: str | None = None
    hotline_status_token: SecretStr | None = None
    routing_file: Path | None = None


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
    max_body_bytes: int = 256 * 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KIPTHOI_", env_nested_delimiter="__",
                                      env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    db: DbSettings = DbSettings()
    commune: CommuneSettings = CommuneSettings()
    security: SecuritySettings = SecuritySettings()
    api: ApiSettings = ApiSettings()
    sms: SmsSettings = SmsSettings()
    notify: NotifySettings = NotifySettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    policy: PolicySettings = PolicySettings()

    @model_validator(mode="after")
    def _no_dev_secret_in_production(self) -> "Settings":
        if self.environment == "production" and self.security.secret == DEV_SECRET:
            raise ValueError("KIPTHOI_SECURITY__SECRET must be set in production")
        return self

    def commune_policy(self) -> CommunePolicy:
        deadlines = load_policy(self.policy.file, self.policy.overrides)
        if self.policy.culture_day_off is not None:
            from dataclasses import replace

            deadlines = replace(deadlines, calendar=replace(
                deadlines.calendar, culture_day_off=self.policy.culture_day_off))
        notify = NotifyConfig(
            public_url=self.notify.public_url.rstrip("/"),
            link_secret=(self.security.secret + ":links").encode(),
            ack_link_ttl=timedelta(days=self.notify.ack_link_days),
            unaccented=self.sms.unaccented,
            sms_validity=timedelta(minutes=self.sms.validity_minutes),
            hotline_status_url=self.notify.hotline_status_url,
            routes=load_routes(self.notify.routing_file),
        )
        return CommunePolicy(
            code_prefix=self.commune.code_prefix,
            future_skew=timedelta(seconds=self.commune.future_skew_seconds),
            match_secret=self.security.secret.encode(),
            deadlines=deadlines,
            notify=notify,
        )

    @property
    def twilio_configured(self) -> bool:
        return bool(self.sms.twilio_account_sid and self.sms.twilio_auth_token)
