"""Who is acting. Built by the API from credentials, by the CLI for its commands."""

from dataclasses import dataclass

from models.enums import Role


@dataclass(frozen=True)
class Actor:
    ref: str  # what the audit trail records, e.g. "user:12"; never a person's name
    role: Role | None  # None for the anonymous public
    official_id: int | None = None

    @property
    def is_public(self) -> bool:
        return self.role is None


PUBLIC = Actor(ref="public", role=None)
SYSTEM = Actor(ref="system", role=Role.ADMIN)
