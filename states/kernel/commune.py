"""The commune's own rules that the use cases need, handed in by the composition root."""

from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache

from models.blobs import BlobStore, DatabaseStore
from notifications.config import NotifyConfig
from states.deadlines.policy import DeadlinePolicy, load_policy


@lru_cache(maxsize=1)
def default_deadlines() -> DeadlinePolicy:
    return load_policy()


@dataclass(frozen=True, kw_only=True)
class CommunePolicy:
    # The commune's name, as its printed records are headed (KIPTHOI_COMMUNE__NAME).
    name: str = "Xã Nghĩa Hưng"
    code_prefix: str = "NH"
    # A receipt time may be this far ahead of our clock (the hotline's clock may run fast).
    future_skew: timedelta = timedelta(minutes=5)
    # Key of the HMAC that turns a child's name and birth date into a matching key. No default:
    # a key every installation shared would make the blind indexes guessable, and a random one
    # per process would make matching silently fail across processes; the composition root
    # derives it from the configured secret (kipthoi/settings.py).
    match_secret: bytes
    deadlines: DeadlinePolicy = field(default_factory=default_deadlines)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    # Closed cases are anonymised this many years after closure (states/records/retention.py).
    retention_years: int = 5
    # Who decides an early closure (at `received` or `assessed`): "chair" (the law's default,
    # Nghị định 56/2017 Art. 30) or "head" (delegated). Read by the close step's roles
    # (states/lifecycle/triggers.py, `Step.roles_for`).
    early_closure_by: str = "chair"
    # Evidence attachments (states/records/evidence.py): where their sealed bytes are kept, and
    # the largest file accepted.
    evidence_store: BlobStore = field(default_factory=DatabaseStore)
    evidence_max_bytes: int = 10 * 1024 * 1024


