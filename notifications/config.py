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
    routes: tuple[Route, ...] = field(default_factory=default_routes)
