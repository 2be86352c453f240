"""Forms made from the trigger table: a step's input model becomes the fields a person fills
in, and what they post becomes that model's data again.

Nothing here knows a particular trigger. A field's label and help come from the model
(`states.lifecycle.commands.label`), its widget from its type (an enumeration is a list to choose
from, a yes/no question a pair of radio buttons, long text a text area, a date a date field, a
time the browser's local date-time field read in Vietnam's zone), and whether it is required
from the guards of the step the case is at (a guard made by `_required` names its field). A
nested model (the emergency action inside an assessment) is a fieldset whose inputs are named
`outer.inner`.

Two shapes of list:

- a list of an enumeration (or of codes with `x-choices`) is a group of checkboxes sharing the
  field's name, one per value; what is posted is every checked value (widget `checkboxes`);
- a list of a model is a fieldset of rows (widget `rows`, each row a fieldset of widget `row`)
  whose inputs are named `outer.<row>.inner`. A fresh form shows `x-rows` rows (3 unless the
  field says), a form shown again shows every row filled in and one empty row more. Rows left
  empty are dropped when the form is read, the others kept in order; `posted_rows` says which
  posted row each item of the list came from, so that an error about `measures[1]` is shown
  beside the row the person filled (`input_name`).

A guard names a row's field by its place in the list (`measures.0.kind`), the list as a whole by
its name (`measures`), and a field of every row with `*` (`measures.*.kind`: marked required in
every row).

What is posted (`Values`) maps each name to its value, or to its values when the name was posted
more than once (`posted` makes it from the request's form); a plain `dict[str, str]` is one too."""

import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
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
ROWS = 3  # rows a list of a model shows on a fresh form, unless the field's `x-rows` says
MAX_ROWS = 100  # rows a form reads and shows at most (row numbers 0‥99)
_ROW = re.compile(r"(0|[1-9]\d{0,8})\.")  # a row number as the form writes it, then the dot

Values = Mapping[str, str | list[str]]
Rows = dict[str, list[int]]  # a list's input name → the posted row of each item, in order


@dataclass
class Input:
    name: str
    label: str
    help: str | None
    # text | textarea | select | yesno | checkbox | date | datetime | fieldset | checkboxes | rows | row
    widget: str
    required: bool
    options: list[tuple[str, str]] = field(default_factory=list)
    max_length: int | None = None
    value: str = ""
    error: str | None = None
    children: list["Input"] = field(default_factory=list)
    values: list[str] = field(default_factory=list)  # the checked values of a group of checkboxes
    # A list of a model: makes row number k (a form shown again may need more rows than it has).
    make_row: Callable[[int], "Input"] | None = field(default=None, repr=False, compare=False)


def _unwrap(annotation: Any) -> Any:
    """`X | None` → X, `Annotated[X, …]` → X."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else annotation
    if typing.get_origin(annotation) is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    return annotation


def _item(kind: Any) -> Any:
    """The type of a list's items (`list[X]`, `set[X]`), or None when `kind` is not a list."""
    if typing.get_origin(kind) in (list, set, frozenset):
        args = typing.get_args(kind)
        return _unwrap(args[0]) if args else None
    return None


def _is(kind: Any, base: type) -> bool:
    return isinstance(kind, type) and issubclass(kind, base)


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


def _extra(info: FieldInfo) -> dict[str, Any]:
    return info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}


def _text(info: FieldInfo, key: str, lang: Lang, name: str) -> str | None:
    pair = _extra(info).get(key)
    if isinstance(pair, dict):
        return str(pair.get(lang.code) or pair.get("vi"))
    return name if key == "x-label" else None


def _rows_shown(info: FieldInfo) -> int:
    wanted = _extra(info).get("x-rows")
    return min(wanted, MAX_ROWS) if isinstance(wanted, int) and not isinstance(wanted, bool) and wanted > 0 else ROWS


def required_fields(step: Step | None) -> set[str]:
    """The fields the step's guards require; `measures.*.kind` stands for that field of every row."""
    return {str(g.field) for g in (step.guards if step else ()) if hasattr(g, "field")}


def inputs(model: type[BaseModel], lang: Lang, required: set[str], choices: dict[str, list[tuple[str, str]]],
           prefix: str = "") -> list[Input]:
    return _inputs(model, lang, required, choices, prefix, prefix)


def _inputs(model: type[BaseModel], lang: Lang, required: set[str], choices: dict[str, list[tuple[str, str]]],
            prefix: str, pattern: str) -> list[Input]:
    """`pattern` is `prefix` with each row number as `*`, for guards naming a field of every row."""
    out = []
    for name, info in model.model_fields.items():
        full = f"{prefix}{name}"
        kind = _unwrap(info.annotation)
        item_kind = _item(kind)
        label = _text(info, "x-label", lang, name) or name
        help_text = _text(info, "x-help", lang, name)
        extra = _extra(info)
        item = Input(full, label, help_text, "text", full in required or f"{pattern}{name}" in required,
                     max_length=_max_length(info))
        if _is(kind, BaseModel):
            item.widget = "fieldset"
            item.children = _inputs(kind, lang, required, choices, f"{full}.", f"{pattern}{name}.")
        elif _is(item_kind, BaseModel):
            item.widget = "rows"
            item.make_row = _row_maker(item_kind, lang, required, choices, full, label, f"{pattern}{name}.*.")
            item.children = [item.make_row(k) for k in range(min(_rows_shown(info), item.max_length or MAX_ROWS))]
        elif item_kind is not None and isinstance(extra.get("x-choices"), str):
            item.widget, item.options = "checkboxes", choices.get(str(extra["x-choices"]), [])
        elif _is(item_kind, Enum):
            item.widget, item.options = "checkboxes", [(str(v.value), lang.label(v.value)) for v in item_kind]
        elif isinstance(extra.get("x-choices"), str):
            item.widget, item.options = "select", choices.get(str(extra["x-choices"]), [])
        elif _is(kind, Enum):
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


def _row_maker(model: type[BaseModel], lang: Lang, required: set[str], choices: dict[str, list[tuple[str, str]]],
               full: str, label: str, pattern: str) -> Callable[[int], Input]:
    def row(k: int) -> Input:
        return Input(f"{full}.{k}", f"{label} {k + 1}", None, "row", False,
                     children=_inputs(model, lang, required, choices, f"{full}.{k}.", pattern))
    return row


def posted(pairs: Iterable[tuple[str, object]]) -> dict[str, str | list[str]]:
    """A request's form (`(await request.form()).multi_items()`) as `Values`: a name posted once
    maps to its value, a name posted more than once (a group of checkboxes) to all its values in
    order. Files are not form values."""
    out: dict[str, str | list[str]] = {}
    for key, value in pairs:
        if not isinstance(value, str):
            continue
        before = out.get(key)
        if before is None:
            out[key] = value
        elif isinstance(before, list):
            before.append(value)
        else:
            out[key] = [before, value]
    return out


def _one(values: Values, name: str) -> str:
    """A name's value; of several, the last (as a form read one value a name has it)."""
    value = values.get(name, "")
    return value if isinstance(value, str) else (value[-1] if value else "")


def _all(values: Values, name: str) -> list[str]:
    """A name's values that are not blank, each once, in the order posted."""
    value = values.get(name, [])
    found = [v.strip() for v in ([value] if isinstance(value, str) else value)]
    return list(dict.fromkeys(v for v in found if v))


def _row_numbers(values: Values, name: str) -> list[int]:
    """The rows of a list posted under `name.<k>.`, in order; row numbers the form does not write
    (`01`, beyond `MAX_ROWS`) are not rows, as any name the form has not is ignored."""
    start = f"{name}."
    found = {int(m.group(1)) for key in values if key.startswith(start)
             if (m := _ROW.match(key, len(start))) is not None}
    return sorted(k for k in found if k < MAX_ROWS)


def _filled(values: Values, prefix: str) -> bool:
    return any(key.startswith(prefix) and any(v.strip() for v in ([value] if isinstance(value, str) else value))
               for key, value in values.items())


def parse(model: type[BaseModel], values: Values, prefix: str = "") -> dict[str, Any]:
    """The posted strings as the model's data: empty means not given; a local date-time is
    read in Vietnam's zone; yes/no as booleans; a group of checkboxes as the list of its checked
    values; rows as a list of the rows filled in. Types are then the model's to check."""
    return _parse(model, values, prefix, {})


def posted_rows(model: type[BaseModel], values: Values) -> Rows:
    """For each list of a model that `parse` reads rows into: the posted row number of each item."""
    rows: Rows = {}
    _parse(model, values, "", rows)
    return rows


def _parse(model: type[BaseModel], values: Values, prefix: str, rows: Rows) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        full = f"{prefix}{name}"
        kind = _unwrap(info.annotation)
        item_kind = _item(kind)
        if _is(kind, BaseModel):
            inner = _parse(kind, values, f"{full}.", rows)
            if inner:
                data[name] = inner
            continue
        if _is(item_kind, BaseModel):
            kept = [k for k in _row_numbers(values, full) if _filled(values, f"{full}.{k}.")]
            if kept:
                data[name] = [_parse(item_kind, values, f"{full}.{k}.", rows) for k in kept]
                rows[full] = kept
            continue
        if item_kind is not None:
            checked = _all(values, full)
            if checked:
                data[name] = checked
            continue
        raw = _one(values, full).strip()
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


def fill(items: list[Input], values: Values, errors: dict[str, str]) -> list[Input]:
    """What was posted and the errors, on the inputs; rows enough for every row filled in and
    one more."""
    for item in items:
        if item.make_row is not None:
            filled = [k for k in _row_numbers(values, item.name) if _filled(values, f"{item.name}.{k}.")]
            wanted = min(max(len(item.children), filled[-1] + 2 if filled else 0), item.max_length or MAX_ROWS,
                         MAX_ROWS)
            item.children += [item.make_row(k) for k in range(len(item.children), wanted)]
        if item.widget == "checkboxes":
            item.values = _all(values, item.name) if item.name in values else item.values
        else:
            item.value = _one(values, item.name) if item.name in values else item.value
        item.error = errors.get(item.name)
        fill(item.children, values, errors)
    return items


def input_name(where: str | Sequence[str | int], rows: Rows | None = None) -> str:
    """The input a field's name (a guard's `measures.1.kind`) or an error's location (pydantic's
    `("measures", 1, "kind")`) is shown on: an item of a list of rows is the row it was posted
    from; an item of any other list is the list's input (a group of checkboxes); a field of every
    row (`measures.*.kind`) is the list."""
    parts: Sequence[str | int] = where.split(".") if isinstance(where, str) else where
    path = ""
    for part in parts:
        if part == "*":
            return path
        if isinstance(part, str) and part.isdigit():
            part = int(part)
        if isinstance(part, int):
            if rows is not None and path in rows:
                if not 0 <= part < len(rows[path]):
                    return path
                part = rows[path][part]
            else:
                continue
        path = f"{path}.{part}" if path else str(part)
    return path


def errors_of(exc: ValidationError, lang: Lang, rows: Rows | None = None) -> dict[str, str]:
    """Pydantic's errors by input name, in the reader's language where we have words for them.
    `rows` (`posted_rows` of what was posted) puts an error about a row beside that row."""
    out: dict[str, str] = {}
    for err in exc.errors():
        out.setdefault(input_name(err["loc"], rows), lang.gettext("Giá trị không hợp lệ") + f" ({err['msg']})")
    return out
