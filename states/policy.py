"""The commune's own settings that the use cases need, handed in by the composition root."""

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class CommunePolicy:
    code_prefix: str = "NH"
    # A receipt time may be this far ahead of our clock (the hotline's clock may run fast).
    future_skew: timedelta = timedelta(minutes=5)
    # Key of the HMAC that turns a child's name and birth date into a matching key.
    match_secret: bytes = b"kipthoi-development-match-key"
