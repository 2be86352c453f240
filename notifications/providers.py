"""Who carries a message out: SMS providers (Twilio; the console for development) and the
webhook sender (status updates to the 111 hotline). Chosen by settings, never patched."""

import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

log = logging.getLogger(__name__)

# Twilio error codes (https://www.twilio.com/docs/api/errors) we act on.
TRANSIENT_CODES = frozenset({20429, 30001, 30003, 30008})
PERMANENT_CODES = frozenset({21211, 21610, 21614, 30005, 30006})


class SendError(Exception):
    def __init__(self, reason: str, *, permanent: bool, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason, self.permanent, self.code = reason, permanent, code


class SmsProvider(Protocol):
    name: str

    def send(self, to: str, body: str, *, validity_seconds: int | None,
             status_callback: str | None) -> str:
        """Hand the message over; return the provider's id, or raise SendError."""
        ...


class ConsoleProvider:
    """Development default: writes the message to the log instead of sending it."""

    name = "console"

    def __init__(self) -> None:
        self.count = 0

    def send(self, to: str, body: str, *, validity_seconds: int | None,
             status_callback: str | None) -> str:
        self.count += 1
        # The body carries no personal data by construction (see templates); the number is masked.
        log.info("SMS to ...%s: %s", to[-3:], body)
        # Unique across instances and processes: status callbacks find a message by this id.
        return f"console-{uuid.uuid4().hex}"


@dataclass(frozen=True)
class TwilioConfig:
    account_sid: str
    auth_token: str
    from_number: str | None = None
    messaging_service_sid: str | None = None
    base_url: str = "https://api.twilio.com"
    timeout_seconds: float = 10.0
    connect_retries: int = 1


def classify(exc: Exception) -> SendError:
    if isinstance(exc, TwilioRestException):
        code = int(exc.code) if exc.code else None
        if code in PERMANENT_CODES:
            return SendError(f"twilio {code}", permanent=True, code=code)
        if code in TRANSIENT_CODES or exc.status >= 500 or exc.status == 429:
            return SendError(f"twilio {code or exc.status}", permanent=False, code=code)
        return SendError(f"twilio {code or exc.status}", permanent=True, code=code)
    if isinstance(exc, requests.RequestException | TwilioException | OSError):
        return SendError(type(exc).__name__, permanent=False)
    return SendError(type(exc).__name__, permanent=False)


class TwilioProvider:
    name = "twilio"

    def __init__(self, config: TwilioConfig) -> None:
        if not (config.from_number or config.messaging_service_sid):
            raise ValueError("Twilio needs a sender: from_number or messaging_service_sid")
        self.config = config
        http = TwilioHttpClient(timeout=config.timeout_seconds, max_retries=config.connect_retries)
        self.client = Client(config.account_sid, config.auth_token, http_client=http)
        self.client.api.base_url = config.base_url.rstrip("/")

    def send(self, to: str, body: str, *, validity_seconds: int | None,
             status_callback: str | None) -> str:
        kwargs: dict[str, Any] = {"to": to, "body": body}
        if self.config.messaging_service_sid:
            kwargs["messaging_service_sid"] = self.config.messaging_service_sid
        else:
            kwargs["from_"] = self.config.from_number
        if validity_seconds is not None:
            kwargs["validity_period"] = max(1, min(36000, validity_seconds))
        if status_callback:
            kwargs["status_callback"] = status_callback
        try:
            message = self.client.messages.create(**kwargs)
        except Exception as exc:  # classified: transient ones are retried by the dispatcher
            raise classify(exc) from exc
        return str(message.sid)


class WebhookSender:
    """JSON over HTTPS to the hotline's status endpoint; 5xx and timeouts are retried."""

    def __init__(self, timeout_seconds: float = 10.0, token: str | None = None) -> None:
        self.timeout, self.token = timeout_seconds, token

    def post(self, url: str, payload: dict[str, Any]) -> str:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = httpx.post(url, content=json.dumps(payload), headers=headers, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise SendError(type(exc).__name__, permanent=False) from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise SendError(f"http {response.status_code}", permanent=False)
        if response.status_code >= 400:
            raise SendError(f"http {response.status_code}", permanent=True)
        return f"http-{response.status_code}"
