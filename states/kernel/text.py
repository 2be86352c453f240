"""Text as users type it: Vietnamese normalised to NFC (so that 'ế' typed two ways compares
equal), surrounding space stripped, control characters refused (NUL too: PostgreSQL text cannot
hold it), length capped.

Each cap is a named alias (`Text120`) rather than a subscriptable factory (`Text[120]`): mypy reads
an `Annotated[str, ...]` alias as `str` and checks the fields, whereas it cannot evaluate a
subscript of an object and would type every such field as `Any`. Pydantic reads the same metadata
either way, so the validation and the OpenAPI `maxLength` are what the factory produced."""

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, StringConstraints


def _clean(value: str) -> str:
    value = unicodedata.normalize("NFC", value).strip()
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t\r" for c in value):
        raise ValueError("must not contain control characters")
    return value


def _capped(max_length: int) -> StringConstraints:
    """Stripped before the length is checked, and never empty once stripped."""
    return StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)


_CLEAN = AfterValidator(_clean)

# One alias per cap in use. A new cap is a new line here, so the fields stay checked by mypy.
Text32 = Annotated[str, _capped(32), _CLEAN]
Text120 = Annotated[str, _capped(120), _CLEAN]
Text200 = Annotated[str, _capped(200), _CLEAN]
Text300 = Annotated[str, _capped(300), _CLEAN]
Text500 = Annotated[str, _capped(500), _CLEAN]
Text2000 = Annotated[str, _capped(2000), _CLEAN]
Text5000 = Annotated[str, _capped(5000), _CLEAN]
Text10000 = Annotated[str, _capped(10000), _CLEAN]


def normalise_name(name: str) -> str:
    """The form of a name used for matching: NFC, case-folded, single-spaced."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())
