"""Who is acting. Built by the API from credentials, by the CLI for its commands, by the
scheduled jobs for themselves — always through the builders here, so that what the audit trail
records (`ref`) has one shape per kind of actor."""

from dataclasses import dataclass
from typing import Protocol

from models.enums import Role

PUBLIC_REF = "public"


class Account(Protocol):
    """What an actor is built from: a user row (models.User) or a snapshot of one."""

    id: int | None
    role: str
    official_id: int | None


@dataclass(frozen=True)
class Actor:
    ref: str  # what the audit trail records, e.g. "user:12"; never a person's name
    role: Role | None  # None for the anonymous public, the system's jobs and SMS links
    official_id: int | None = None

    @property
    def is_public(self) -> bool:
        """An anonymous citizen, and nobody else: the system's jobs and an official acting
        through an SMS link have no role either, but are not the public."""
        return self.ref == PUBLIC_REF

    @classmethod
    def of_user(cls, user: Account) -> "Actor":
        return cls(ref=f"user:{user.id}", role=Role(user.role), official_id=user.official_id)

    @classmethod
    def system(cls, job: str, role: Role | None = None) -> "Actor":
        """A job of the service itself (the sweep, the dispatcher, a provider's callback)."""
        return cls(ref=f"system:{job}", role=role)

    @classmethod
    def by_link(cls, official_id: int) -> "Actor":
        """The official an SMS acknowledgement link was sent to (no account needed)."""
        return cls(ref=f"official:{official_id}", role=None, official_id=official_id)


PUBLIC = Actor(ref=PUBLIC_REF, role=None)
SYSTEM = Actor(ref="system", role=Role.ADMIN)
