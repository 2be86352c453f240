"""What notifications need to know, handed in by the composition root."""

from dataclasses import dataclass, field
from datetime import timedelta

from notifications.routing import Route, default_routes


@dataclass(frozen=True)
class NotifyConfig:
    public_url: str = "http://127.0.0.1:8000"
    link_secret: bytes = b"kipthoi-development-link-key"
    ack_link_ttl: timedelta = timedelta(days=7)
    unaccented: bool = False
    sms_validity: timedelta = timedelta(hours=4)
    hotline_status_url: str | None = None
    # An official's phone rings at most this often for what is not urgent: past the ceiling
    # (SMS in the last hour) a message is held, and held messages (and every message caused by
    # an anonymous online report) reach the official as one digest per interval.
    sms_per_official_per_hour: int = 10
    digest_interval: timedelta = timedelta(minutes=30)
    routes: tuple[Route, ...] = field(default_factory=default_routes)
