"""Signed, expiring acknowledgement links for SMS (Vietnam's networks do not carry SMS replies
back through Twilio, so a one-tap link is how an official says "I have it").

A token names (deadline, official, expiry) and carries a truncated HMAC-SHA256: short enough for
an SMS, unforgeable without the key."""

import base64
import hashlib
import hmac
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

_FORMAT = ">IIQ"  # deadline id, official id, expiry (unix seconds)
_MAC_BYTES = 12


@dataclass(frozen=True)
class AckClaim:
    deadline_id: int
    official_id: int
    expires_at: datetime


class BadToken(Exception):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(secret: bytes, deadline_id: int, official_id: int, expires_at: datetime) -> str:
    body = struct.pack(_FORMAT, deadline_id, official_id, int(expires_at.timestamp()))
    mac = hmac.new(secret, body, hashlib.sha256).digest()[:_MAC_BYTES]
    return _b64(body + mac)


def verify(secret: bytes, token: str, now: datetime) -> AckClaim:
    try:
        raw = _unb64(token)
    except (ValueError, TypeError):
        raise BadToken("malformed") from None
    size = struct.calcsize(_FORMAT)
    if len(raw) != size + _MAC_BYTES:
        raise BadToken("malformed")
    body, mac = raw[:size], raw[size:]
    if not hmac.compare_digest(mac, hmac.new(secret, body, hashlib.sha256).digest()[:_MAC_BYTES]):
        raise BadToken("bad signature")
    deadline_id, official_id, exp = struct.unpack(_FORMAT, body)
    expires_at = datetime.fromtimestamp(exp, UTC)
    if now >= expires_at:
        raise BadToken("expired")
    return AckClaim(deadline_id, official_id, expires_at)
