"""All configuration, read once from the environment (prefix `KIPTHOI_`, nested with `__`),
e.g. `KIPTHOI_DB__URL=postgresql+psycopg://127.0.0.1/test`."""

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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

    @model_validator(mode="after")
    def _no_dev_secret_in_production(self) -> "Settings":
        if self.environment == "production" and self.security.secret == DEV_SECRET:
            raise ValueError("KIPTHOI_SECURITY__SECRET must be set in production")
        return self

    def policy(self) -> CommunePolicy:
        return CommunePolicy(
            code_prefix=self.commune.code_prefix,
            future_skew=timedelta(seconds=self.commune.future_skew_seconds),
            match_secret=self.security.secret.encode(),
        )
