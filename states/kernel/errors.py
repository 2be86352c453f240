"""Domain errors. Each carries a machine-readable `code` and a message in Vietnamese and English;
the API maps them to HTTP in one place (`api/errors.py`)."""

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass
class DomainError(Exception):
    code: str
    message_vi: str
    message_en: str
    field: str | None = None
    rule: str | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code}: {self.message_en}"


class NotFound(DomainError):
    def __init__(self, what: str, key: str) -> None:
        super().__init__(
            code="not_found",
            message_vi=f"Không tìm thấy {what} '{key}'.",
            message_en=f"No {what} '{key}'.",
            extra={"what": what, "key": key},
        )


class InvalidInput(DomainError):
    """Input that is well-typed but breaks a rule of the domain (a field and the rule it broke)."""

    def __init__(self, field_name: str, rule: str, message_vi: str, message_en: str) -> None:
        super().__init__(
            code="invalid_input", message_vi=message_vi, message_en=message_en,
            field=field_name, rule=rule,
        )


class GuardFailed(DomainError):
    """A trigger is allowed in this state but the data it needs is missing or wrong."""

    def __init__(self, trigger: str, field_name: str, rule: str, message_vi: str, message_en: str) -> None:
        super().__init__(
            code="guard_failed", message_vi=message_vi, message_en=message_en,
            field=field_name, rule=rule, extra={"trigger": trigger},
        )


class IllegalTrigger(DomainError):
    def __init__(self, trigger: str, state: str, allowed: list[str]) -> None:
        super().__init__(
            code="illegal_trigger",
            message_vi=f"Không thể thực hiện '{trigger}' khi vụ việc ở trạng thái '{state}'.",
            message_en=f"'{trigger}' is not allowed while the case is '{state}'.",
            extra={"trigger": trigger, "state": state, "allowed_triggers": allowed},
        )


class UnknownTrigger(DomainError):
    def __init__(self, trigger: str, allowed: list[str]) -> None:
        super().__init__(
            code="unknown_trigger",
            message_vi=f"Không có thao tác '{trigger}'.",
            message_en=f"There is no trigger '{trigger}'.",
            field="trigger", rule="known_trigger", extra={"allowed_triggers": allowed},
        )


class StaleVersion(DomainError):
    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(
            code="stale_version",
            message_vi="Vụ việc đã được người khác cập nhật; hãy tải lại rồi thử lại.",
            message_en="The case was changed by someone else; reload and try again.",
            field="expected_version", rule="must_equal_current_version",
            extra={"expected_version": expected, "current_version": actual},
        )


class IdempotencyConflict(DomainError):
    def __init__(self, key_field: str) -> None:
        super().__init__(
            code="idempotency_conflict",
            message_vi="Khoá chống trùng này đã được dùng cho một báo cáo khác.",
            message_en="This idempotency key was already used for a different report.",
            field=key_field, rule="same_key_same_request",
        )


class Forbidden(DomainError):
    def __init__(self, action: str, role: str) -> None:
        super().__init__(
            code="forbidden",
            message_vi=f"Vai trò '{role}' không được phép thực hiện '{action}'.",
            message_en=f"Role '{role}' may not perform '{action}'.",
            extra={"action": action, "role": role},
        )
