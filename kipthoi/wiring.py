"""Build the running parts from settings: the one place that reads configuration."""

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from api.deps import Runtime
from api.ratelimit import RateLimits, Rule
from flows.embedded import EmbeddedScheduler
from flows.jobs import Dispatcher
from kipthoi.settings import Settings
from models import Database, crypto, open_database
from models.crypto import derive_key
from models.migrate import upgrade
from notifications.dispatch import RetryPolicy
from notifications.providers import ConsoleProvider, SmsProvider, TwilioConfig, TwilioProvider, WebhookSender
from states.identity.login import AuthConfig, LoginPolicy
from states.identity.passwords import HashCost, Passwords
from states.identity.sessions import TokenConfig
from states.kernel.clock import Clock, SystemClock
from states.kernel.commune import CommunePolicy

if TYPE_CHECKING:
    from fastapi import FastAPI

STATUS_CALLBACK_PATH = "/webhooks/twilio/status"


def build_keyring(settings: Settings) -> crypto.Keyring:
    keys = settings.crypto_keys()
    return crypto.Keyring(keys.data_keys, keys.active_key_id, accept_plaintext=keys.accept_plaintext)


def open_db(settings: Settings, *, migrate: bool = True) -> Database:
    """Every entry point (serve, the CLI, the Prefect flows) opens the database here, so this
    is where the process gets the keyring its encrypted columns use."""
    crypto.configure(build_keyring(settings))
    db = open_database(settings.db.url, echo=settings.db.echo)
    if migrate:
        upgrade(db.writer)
    return db


def build_sms(settings: Settings) -> SmsProvider:
    sms = settings.sms
    if sms.provider == "console" or (sms.provider == "auto" and not settings.twilio_configured):
        return ConsoleProvider()
    if not settings.twilio_configured:
        raise ValueError("KIPTHOI_SMS__PROVIDER=twilio needs TWILIO account sid and auth token")
    assert sms.twilio_account_sid and sms.twilio_auth_token
    return TwilioProvider(TwilioConfig(
        account_sid=sms.twilio_account_sid, auth_token=sms.twilio_auth_token.get_secret_value(),
        from_number=sms.twilio_from, messaging_service_sid=sms.twilio_messaging_service_sid,
        base_url=sms.twilio_base_url, timeout_seconds=sms.timeout_seconds))


def sms_destination(settings: Settings) -> str:
    """Where messages go, for the start banner: the choice `build_sms` makes, in words."""
    sms = settings.sms
    if sms.provider == "console" or (sms.provider == "auto" and not settings.twilio_configured):
        return "console: messages are written to this log, nothing is sent"
    sender = (f"from {sms.twilio_from}" if sms.twilio_from
              else f"messaging service {sms.twilio_messaging_service_sid or '(none set)'}")
    return f"Twilio, {sender} ({sms.twilio_base_url})"


@dataclass
class Jobs:
    db: Database
    clock: Clock
    policy: CommunePolicy
    dispatcher: Dispatcher


def build_jobs(settings: Settings | None = None, db: Database | None = None,
               clock: Clock | None = None) -> Jobs:
    settings = settings or Settings()
    db = db or open_db(settings)
    clock = clock or SystemClock()
    policy = settings.commune_policy()
    sms = build_sms(settings)
    token = settings.notify.hotline_status_token
    dispatcher = Dispatcher(
        db=db, clock=clock, policy=policy, sms=sms,
        webhook=WebhookSender(settings.sms.timeout_seconds, token.get_secret_value() if token else None),
        retry=RetryPolicy(max_attempts=settings.sms.max_attempts),
        status_callback=(policy.notify.public_url + STATUS_CALLBACK_PATH) if sms.name == "twilio" else None)
    return Jobs(db=db, clock=clock, policy=policy, dispatcher=dispatcher)


def build_runtime(settings: Settings, clock: Clock | None = None, *, migrate: bool = True) -> Runtime:
    token = settings.sms.twilio_auth_token
    return Runtime(db=open_db(settings, migrate=migrate), clock=clock or SystemClock(),
                   policy=settings.commune_policy(),
                   twilio_auth_token=token.get_secret_value() if token else None,
                   auth=build_auth(settings), rate_limits=build_rate_limits(settings),
                   cors_origins=settings.api.cors_origin_list)


def build_auth(settings: Settings) -> AuthConfig:
    sec = settings.security
    secret = settings.signing_secret()
    return AuthConfig(
        tokens=TokenConfig(signing_key=derive_key(secret, "access-tokens"),
                           access_ttl=timedelta(minutes=sec.access_token_minutes),
                           refresh_ttl=timedelta(hours=sec.refresh_token_hours)),
        throttle=LoginPolicy(delay_after=sec.login_delay_after,
                             max_delay=timedelta(seconds=sec.login_max_delay_seconds),
                             lockout_after=sec.login_lockout_after,
                             lockout=timedelta(minutes=sec.login_lockout_minutes)),
        passwords=Passwords(HashCost(time_cost=sec.password_time_cost, memory_kib=sec.password_memory_kib,
                                     parallelism=sec.password_parallelism)),
        throttle_key=derive_key(secret, "login-throttle"))


def build_rate_limits(settings: Settings) -> RateLimits:
    api = settings.api
    return RateLimits(
        public_intake=Rule(api.rate_public_intake_per_minute, api.rate_public_intake_burst),
        public_status=Rule(api.rate_public_status_per_minute, api.rate_public_status_burst),
        login_per_address=Rule(api.rate_login_per_address_per_minute, api.rate_login_per_address_burst),
        login_per_username=Rule(api.rate_login_per_username_per_minute, api.rate_login_per_username_burst))


def build_scheduler(settings: Settings, runtime: Runtime) -> EmbeddedScheduler | None:
    if settings.scheduler.mode != "embedded":
        return None
    jobs = build_jobs(settings, db=runtime.db, clock=runtime.clock)
    return EmbeddedScheduler(runtime.db, runtime.clock, runtime.policy, jobs.dispatcher,
                             tick_seconds=settings.scheduler.tick_seconds)


def build_app(settings: Settings, runtime: Runtime, background: EmbeddedScheduler | None = None) -> "FastAPI":
    """The served app: the JSON API and the desk's pages, one process, one runtime."""
    from api.app import create_app
    from web import install

    app = create_app(runtime, max_body_bytes=settings.api.max_body_bytes, background=background)
    install(app)
    return app
