"""Encryption at rest of children's private data: a keyring, AES-256-GCM, and column types.

A stored value is text that names its key: `v1.<key id>.<base64url(nonce | ciphertext+tag)>`.
The nonce is 96 random bits; the associated data binds the value to its format version, its
key id and its column (`table.column`), so a value copied into another column, or relabelled
with another key id, fails to decrypt instead of being read as something it is not.

The column types (`EncryptedStr`, `EncryptedDate`, `EncryptedJSON`) encrypt on the way in and
decrypt on the way out, so the rest of the code reads and writes plain `str`, `date` and `dict`.
Models cannot import the composition root, so the keyring is process-wide: the root (and the
tests) call `configure(keyring)` before touching the database. Nothing here has a default key.

Rows written before encryption was introduced hold plaintext (anything not starting with
`v1.`): they are read as they are, until `kipthoi keys rotate` encrypts them, unless the keyring
is built with `accept_plaintext=False`. A value that starts with `v1.` is always decrypted or
refused, never returned as it stands.
"""

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from collections.abc import Mapping
from datetime import date
from typing import Any, Generic, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import operators
from sqlalchemy.types import TypeDecorator

FORMAT = "v1"
PREFIX = FORMAT + "."
NONCE_BYTES = 12
KEY_BYTES = 32
KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")

T = TypeVar("T")



def derive_key(secret: str, purpose: str) -> bytes:
    """A key for one purpose only (HMAC-SHA256 of the purpose under the secret), so that a token
    or a link made for one use never verifies for another. Every sub-key of the service's
    secret is made here: access tokens, the login throttle, acknowledgement links, and the
    development data and index keys."""
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()


def sha256_hex(text: str) -> str:
    """SHA-256 of a text, in hex: how long random secrets (API keys, refresh tokens) are
    stored, how a request is fingerprinted, and how the audit chain links its events."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

class CryptoError(Exception):
    """A stored value cannot be read or written. Messages name the column and the key id,
    never the value."""


class NotConfigured(CryptoError):
    pass


class UnknownKey(CryptoError):
    pass


class DecryptionFailed(CryptoError):
    pass


class PlaintextRefused(CryptoError):
    pass


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Keyring:
    """Data keys by id, the one new values are written under, and whether plaintext left
    from before encryption may still be read."""

    def __init__(self, keys: Mapping[str, bytes], active_key_id: str, *,
                 accept_plaintext: bool = True) -> None:
        for kid, key in keys.items():
            if not KEY_ID.match(kid):
                raise ValueError(f"key id {kid!r}: 1-16 characters of A-Z a-z 0-9 _ -")
            if len(key) != KEY_BYTES:
                raise ValueError(f"key {kid!r}: must be {KEY_BYTES} bytes (AES-256), got {len(key)}")
        if active_key_id not in keys:
            raise ValueError(f"active key id {active_key_id!r} is not in the keyring")
        self.active_key_id = active_key_id
        self.accept_plaintext = accept_plaintext
        self.key_ids = tuple(keys)
        # One AESGCM object per key, built once: the key schedule is not redone per value.
        self._aead = {kid: AESGCM(key) for kid, key in keys.items()}
        self._active = self._aead[active_key_id]

    def __repr__(self) -> str:  # never the key material
        return f"Keyring(key_ids={self.key_ids!r}, active={self.active_key_id!r})"

    @staticmethod
    def _aad(kid: str, context: str) -> bytes:
        return f"kipthoi|{FORMAT}|{kid}|{context}".encode()

    def encrypt(self, plaintext: bytes, context: str) -> str:
        kid = self.active_key_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._active.encrypt(nonce, plaintext, self._aad(kid, context))
        return f"{PREFIX}{kid}.{base64.urlsafe_b64encode(nonce + sealed).rstrip(b'=').decode()}"

    def decrypt(self, stored: str, context: str) -> bytes | None:
        """The plaintext of a stored value; None for plaintext left from before encryption."""
        try:
            kid = key_id_of(stored)
        except DecryptionFailed as exc:
            raise DecryptionFailed(f"{context}: {exc}") from None
        if kid is None:
            if not self.accept_plaintext:
                raise PlaintextRefused(f"{context}: holds a value that is not encrypted, and this "
                                       "keyring refuses plaintext (run `kipthoi keys rotate`)")
            return None
        aead = self._aead.get(kid)
        if aead is None:
            raise UnknownKey(f"{context}: value is encrypted under key id {kid!r}, which is not in "
                             f"the keyring (known: {', '.join(self.key_ids)}); add it to "
                             "KIPTHOI_CRYPTO__KEYS")
        try:
            blob = _b64decode(stored[len(PREFIX) + len(kid) + 1:])
            if len(blob) < NONCE_BYTES + 16:
                raise ValueError("too short")
            return aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], self._aad(kid, context))
        except (InvalidTag, ValueError, binascii.Error):
            raise DecryptionFailed(
                f"{context}: value under key id {kid!r} failed authentication: it was altered, "
                "copied from another column, or the key material is not the one it was written "
                "with") from None

    def seal(self, plaintext: bytes, context: str) -> bytes:
        """Bytes (a file) under the active key, as bytes: `v1.<key id>.` then the nonce and the
        ciphertext with its tag, raw rather than base64 (an attachment of megabytes would grow
        by a third). The associated data is the columns' (format, key id, context)."""
        kid = self.active_key_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._active.encrypt(nonce, plaintext, self._aad(kid, context))
        return f"{PREFIX}{kid}.".encode() + nonce + sealed

    def unseal(self, sealed: bytes, context: str) -> bytes:
        """The plaintext of `seal`'s output; never accepts plaintext."""
        end = sealed.find(b".", len(PREFIX), len(PREFIX) + 18)
        kid = sealed[len(PREFIX):end].decode("ascii", "replace") if end > 0 else ""
        if not sealed.startswith(PREFIX.encode()) or not KEY_ID.match(kid):
            raise DecryptionFailed(f"{context}: not a sealed value (no format and key id)")
        aead = self._aead.get(kid)
        if aead is None:
            raise UnknownKey(f"{context}: sealed under key id {kid!r}, which is not in the keyring "
                             f"(known: {', '.join(self.key_ids)})")
        blob = sealed[end + 1:]
        try:
            if len(blob) < NONCE_BYTES + 16:
                raise ValueError("too short")
            return aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], self._aad(kid, context))
        except (InvalidTag, ValueError):
            raise DecryptionFailed(f"{context}: sealed value under key id {kid!r} failed "
                                   "authentication (altered, moved, or another key)") from None


def key_id_of(stored: str) -> str | None:
    """The key id a stored value names, or None if it is plaintext from before encryption."""
    if not stored.startswith(PREFIX):
        return None
    end = stored.find(".", len(PREFIX))
    kid = stored[len(PREFIX):end] if end > 0 else ""
    if not KEY_ID.match(kid):
        raise DecryptionFailed("value starts like an encrypted one but names no valid key id")
    return kid


_keyring: Keyring | None = None


def configure(keyring: Keyring | None) -> Keyring | None:
    """Install the process-wide keyring the column types use; returns the one it replaces."""
    global _keyring
    previous, _keyring = _keyring, keyring
    return previous


def current() -> Keyring:
    if _keyring is None:
        raise NotConfigured("no keyring: the composition root (kipthoi.wiring) or the test setup "
                            "must call models.crypto.configure(...) before using the database")
    return _keyring


class Encrypted(TypeDecorator[T], Generic[T]):
    """Base of the encrypted column types. `context` is "table.column" (the associated data).

    Comparing an encrypted column in SQL cannot work (every write has a fresh nonce), so the
    comparator refuses everything but IS NULL / IS NOT NULL: look rows up by a blind index."""

    impl = Text
    cache_ok = True

    class Comparator(TypeDecorator.Comparator[Any]):
        def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
            if op not in (operators.is_, operators.is_not):
                raise TypeError("an encrypted column cannot be compared or sorted in SQL; "
                                "search it through its blind index")
            return super().operate(op, *other, **kwargs)

        def reverse_operate(self, op: Any, other: Any, **kwargs: Any) -> Any:
            raise TypeError("an encrypted column cannot be compared in SQL")

    comparator_factory = Comparator

    def __init__(self, context: str) -> None:
        super().__init__()
        self.context = context

    def encode(self, value: T) -> bytes:
        raise NotImplementedError

    def decode(self, text: str) -> T:
        raise NotImplementedError

    def process_bind_param(self, value: T | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return current().encrypt(self.encode(value), self.context)

    def process_result_value(self, value: Any, dialect: Dialect) -> T | None:
        if value is None:
            return None
        if _keyring is None and not value.startswith(PREFIX):
            return self.decode(value)  # plaintext from before encryption needs no key
        plain = current().decrypt(value, self.context)
        return self.decode(value if plain is None else plain.decode())


class EncryptedStr(Encrypted[str]):
    cache_ok = True  # SQLAlchemy reads it from each class itself

    def encode(self, value: str) -> bytes:
        return value.encode()

    def decode(self, text: str) -> str:
        return text


class EncryptedDate(Encrypted[date]):
    cache_ok = True  # SQLAlchemy reads it from each class itself

    def encode(self, value: date) -> bytes:
        return value.isoformat().encode()

    def decode(self, text: str) -> date:
        return date.fromisoformat(text)


class EncryptedJSON(Encrypted[dict[str, Any]]):
    cache_ok = True  # SQLAlchemy reads it from each class itself

    def encode(self, value: dict[str, Any]) -> bytes:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()

    def decode(self, text: str) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(text)
        return decoded


class EncryptedList(Encrypted[list[str]]):
    cache_ok = True

    def encode(self, value: list[str]) -> bytes:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()

    def decode(self, text: str) -> list[str]:
        decoded: list[str] = json.loads(text)
        return decoded


__all__ = [
    "CryptoError",
    "DecryptionFailed",
    "Encrypted",
    "EncryptedDate",
    "EncryptedJSON",
    "EncryptedList",
    "EncryptedStr",
    "Keyring",
    "NotConfigured",
    "PREFIX",
    "PlaintextRefused",
    "UnknownKey",
    "configure",
    "current",
    "key_id_of",
]
