"""Forms made from the trigger table: a step's input model becomes the fields a person fills
in, and what they post becomes that model's data again.

Nothing here knows a particular trigger. A field's label and help come from the model
(`states.lifecycle.commands.label`), its widget from its type (an enumeration is a list to choose
from, a yes/no question a pair of radio buttons, long text a text area, a date a date field, a
time the browser's local date-time field read in Vietnam's zone), and whether it is required
from the guards of the step the case is at (a guard made by `_required` names its field). A
nested model (the emergency action inside an assessment) is a fieldset whose inputs are named
`outer.inner`."""

import types
import typing
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from states.kernel.clock import LOCAL_TZ
from states.lifecycle.triggers import Step
from web.i18n import Lang

LONG_TEXT = 500  # longer caps get a text area


@dataclass
class Input:
    name: str
    label: str
    help: str | None
    widget: str  # text | textarea | select | yesno | checkbox | date | datetime | fieldset
    required: bool
    options: list[tuple[str, str]] = field(default_factory=list)
    max_length: int | None = None
    value: str = ""
    error: str | None = None
    children: list["Input"] = field(default_factory=list)


def _unwrap(annotation: Any) -> Any:
    """`X | None` → X, `Annotated[X, …]` → X."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else annotation
    if typing.get_origin(annotation) is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    return annotation


def _max_length(info: FieldInfo) -> int | None:
    """The cap of a text field, wherever pydantic keeps it: on the field, or inside an optional
    `Annotated` alias (`Text2000 | None`)."""
    found: list[Any] = list(info.metadata)
    annotation: Any = info.annotation
    for arg in typing.get_args(annotation) or (annotation,):
        if typing.get_origin(arg) is typing.Annotated:
            found += typing.get_args(arg)[1:]
    for meta in found:
        limit = getattr(meta, "max_length", None)
        if isinstance(limit, int):
            return limit
    return None


def _text(info: FieldInfo, key: str, lang: Lang, name: str) -> str | None:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    pair = extra.get(key)
    if isinstance(pair, dict):
        return str(pair.get(lang.code) or pair.get("vi"))
    return name if key == "x-label" else None


def required_fields(step: Step | None) -> set[str]:
    return {str(g.field) for g in (step.guards if step else ()) if hasattr(g, "field")}


def inputs(model: type[BaseModel], lang: Lang, required: set[str], choices: dict[str, list[tuple[str, str]]],
           prefix: str = "") -> list[Input]:
    out = []
    for name, info in model.model_fields.items():
        full = f"{prefix}{name}"
        kind = _unwrap(info.annotation)
        label = _text(info, "x-label", lang, name) or name
        help_text = _text(info, "x-help", lang, name)
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        item = Input(full, label, help_text, "text", full in required, max_length=_max_length(info))
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            item.widget = "fieldset"
            item.children = inputs(kind, lang, required, choices, prefix=f"{full}.")
        elif isinstance(extra.get("x-choices"), str):
            item.widget, item.options = "select", choices.get(str(extra["x-choices"]), [])
        elif isinstance(kind, type) and issubclass(kind, Enum):
            item.widget, item.options = "select", [(str(v.value), lang.label(v.value)) for v in kind]
        elif kind is bool:
            item.widget = "yesno" if info.default is None else "checkbox"
        elif kind is datetime:
            item.widget = "datetime"
        elif kind is date:
            item.widget = "date"
        elif item.max_length is not None and item.max_length > LONG_TEXT:
            item.widget = "textarea"
        out.append(item)
    return out


def parse(model: type[BaseModel], values: dict[str, str], prefix: str = "") -> dict[str, Any]:
    """The posted strings as the model's data: empty means not given; a local date-time is
    read in Vietnam's zone; yes/no as booleans. Types are then the model's to check."""
    data: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        full = f"{prefix}{name}"
        kind = _unwrap(info.annotation)
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            inner = parse(kind, values, prefix=f"{full}.")
            if inner:
                data[name] = inner
            continue
        raw = values.get(full, "").strip()
        if kind is bool:
            if info.default is None:
                if raw in ("yes", "no"):
                    data[name] = raw == "yes"
            elif raw:
                data[name] = raw in ("on", "yes", "true")
            continue
        if raw == "":
            continue
        if kind is datetime:
            try:
                parsed = datetime.fromisoformat(raw)
                data[name] = (parsed if parsed.tzinfo else parsed.replace(tzinfo=LOCAL_TZ)).isoformat()
            except ValueError:
                data[name] = raw  # the model names the field and the rule
            continue
        data[name] = raw
    return data


def fill(items: list[Input], values: dict[str, str], errors: dict[str, str]) -> list[Input]:
    for item in items:
        item.value = values.get(item.name, item.value)
        item.error = errors.get(item.name)
        fill(item.children, values, errors)
    return items


def errors_of(exc: ValidationError, lang: Lang) -> dict[str, str]:
    """Pydantic's errors by input name, in the reader's language where we have words for them."""
    out: dict[str, str] = {}
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"] if not isinstance(p, int))
        out.setdefault(name, lang.gettext("Giá trị không hợp lệ") + f" ({err['msg']})")
    return out
