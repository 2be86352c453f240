"""Text as users type it: Vietnamese normalised to NFC (so that 'ế' typed two ways compares
equal), surrounding space stripped, control characters refused, length capped."""

import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints


def _clean(value: str) -> str:
    value = unicodedata.normalize("NFC", value).strip()
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t\r" for c in value):
        raise ValueError("must not contain control characters")
    return value


class _TextFactory:
    def __getitem__(self, max_length: int) -> Any:
        return Annotated[
            str,
            StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length),
            AfterValidator(_clean),
        ]


Text = _TextFactory()


def normalise_name(name: str) -> str:
    """The form of a name used for matching: NFC, case-folded, single-spaced."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())
