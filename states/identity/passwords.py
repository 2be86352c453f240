"""Password hashes (argon2id) and the password policy.

The hash cost is configurable so that tests can hash in microseconds; left unset, every
parameter is argon2-cffi's own default, which follows RFC 9106's recommendation. A stored hash
made with other parameters still verifies, and is re-hashed at the next successful login."""

import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from states.kernel.errors import InvalidInput

MIN_LENGTH = 12
MAX_LENGTH = 256  # argon2 takes any length; a cap keeps a login request's cost bounded


@dataclass(frozen=True)
class HashCost:
    """None: the library's default for that parameter."""

    time_cost: int | None = None
    memory_kib: int | None = None
    parallelism: int | None = None


class Passwords:
    def __init__(self, cost: HashCost = HashCost()) -> None:
        default = PasswordHasher()
        self._hasher = PasswordHasher(
            time_cost=cost.time_cost or default.time_cost, memory_cost=cost.memory_kib or default.memory_cost,
            parallelism=cost.parallelism or default.parallelism, type=Type.ID)
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """False for a wrong password, and for an account without one: then a dummy hash is
        verified, so that the answer takes as long as for a real account."""
        if stored is None:
            if self._dummy is None:  # made on first use: building a Runtime must stay cheap
                self._dummy = self._hasher.hash(secrets.token_urlsafe(24))
            stored = self._dummy
        try:
            return self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)


def check_policy(password: str, username: str, field: str = "password") -> None:
    """At least 12 characters, at most 256, and not containing the username."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(field, "min_length", f"Mật khẩu phải có ít nhất {MIN_LENGTH} ký tự.",
                           f"The password must have at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(field, "max_length", f"Mật khẩu dài tối đa {MAX_LENGTH} ký tự.",
                           f"The password may have at most {MAX_LENGTH} characters.")
    if username and username.casefold() in password.casefold():
        raise InvalidInput(field, "not_username", "Mật khẩu không được chứa tên đăng nhập.",
                           "The password must not contain the username.")
