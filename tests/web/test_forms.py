"""The forms made from the trigger table: every step's input has a label in both languages,
every field a guard requires is a field of the form, and what a form posts is read back as the
input model's data."""

import re
from datetime import date, datetime
from enum import StrEnum
from html.parser import HTMLParser
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field, StringConstraints, ValidationError

from models.enums import Trigger
from states.kernel.clock import LOCAL_TZ
from states.lifecycle.commands import AssessData, ServiceData
from states.lifecycle.triggers import SPECS
from web import forms
from web.i18n import Lang
from web.render import ENV


def flat(items: list[forms.Input]) -> list[forms.Input]:
    return [x for i in items for x in [i, *flat(i.children)]]


@pytest.mark.parametrize("trigger", list(Trigger))
def test_every_field_of_every_step_is_labelled_in_both_languages(trigger: Trigger) -> None:
    spec = SPECS[trigger]
    for lang in (Lang("vi"), Lang("en")):
        items = flat(forms.inputs(spec.input, lang, set(), {}))
        assert items
        assert [i.name for i in items if i.label == i.name.rsplit(".", 1)[-1]] == []


@pytest.mark.parametrize("trigger", list(Trigger))
def test_what_a_guard_requires_is_on_the_form_and_marked(trigger: Trigger) -> None:
    spec = SPECS[trigger]
    for step in spec.steps:
        required = forms.required_fields(step)
        items = {i.name: i for i in flat(forms.inputs(spec.input, Lang("vi"), required, {}))}
        for name in required:  # `measures.*.kind`: that field of every row
            pattern = re.compile(re.escape(name).replace(r"\*", r"\d+"))
            marked = [i.required for n, i in items.items() if pattern.fullmatch(n)]
            assert marked and all(marked), name


def test_widgets_follow_the_types() -> None:
    items = {i.name: i for i in flat(forms.inputs(AssessData, Lang("vi"), set(), {}))}
    assert items["risk_level"].widget == "select"
    assert [v for v, _ in items["risk_level"].options] == ["high", "medium", "low"]
    assert items["emergency"].widget == "yesno"
    assert items["note"].widget == "textarea" and items["note"].max_length == 2000
    assert items["emergency_action"].widget == "fieldset"
    assert items["emergency_action.done_at"].widget == "datetime"
    assert items["emergency_action.separated_from_carer"].widget == "checkbox"
    agencies = [("CA", "Công an xã")]
    service = {i.name: i for i in forms.inputs(ServiceData, Lang("vi"), set(), {"agencies": agencies})}
    assert service["agency_code"].options == agencies and service["started_on"].widget == "date"


def test_a_posted_form_reads_back_as_the_model() -> None:
    posted = {"risk_level": "high", "emergency": "yes", "case_type": "", "note": "  ",
              "emergency_action.action_taken": "Đưa trẻ về nhà bà", "emergency_action.who_was_called": "Công an xã",
              "emergency_action.done_at": "2026-03-02T08:30", "emergency_action.separated_from_carer": "yes"}
    data = AssessData.model_validate(forms.parse(AssessData, posted))
    assert data.risk_level == "high" and data.emergency is True and data.case_type is None and data.note is None
    assert data.emergency_action is not None
    assert data.emergency_action.done_at == datetime(2026, 3, 2, 8, 30, tzinfo=LOCAL_TZ)
    assert data.emergency_action.separated_from_carer is True
    # Nothing typed in the fieldset: no emergency action at all (not an empty one).
    assert AssessData.model_validate(forms.parse(AssessData, {"emergency": "no"})).emergency_action is None
    assert AssessData.model_validate(forms.parse(AssessData, {"emergency": "no"})).emergency is False


# --- lists: a group of checkboxes, rows of a model (dummy models: no trigger's own) ----------


def _label(vi: str, en: str, **more: Any) -> dict[str, Any]:
    return {"x-label": {"vi": vi, "en": en}, **more}


class Group(StrEnum):
    DISABLED = "disabled"
    MINORITY = "ethnic_minority"
    POOR = "poor_household"


class Kind(StrEnum):
    COUNSEL = "counsel"
    SCHOOL = "school"


class Row(BaseModel):
    kind: Kind = Field(json_schema_extra=_label("Loại", "Kind"))
    description: Annotated[str, StringConstraints(max_length=2000)] | None = Field(
        None, json_schema_extra=_label("Mô tả", "Description"))
    agency_code: str | None = Field(None, json_schema_extra=_label("Cơ quan", "Agency", **{"x-choices": "agencies"}))
    starts_on: date | None = Field(None, json_schema_extra=_label("Từ ngày", "Starts on"))


class Dummy(BaseModel):
    groups: list[Group] = Field(default_factory=list, json_schema_extra=_label("Nhóm", "Groups"))
    other_groups: list[Group] | None = Field(None, json_schema_extra=_label("Nhóm khác", "Other groups"))
    measures: list[Row] | None = Field(None, json_schema_extra=_label("Biện pháp", "Measure"))
    steps: list[Row] = Field(default_factory=list, json_schema_extra=_label("Bước", "Step", **{"x-rows": 1}))
    note: str | None = Field(None, json_schema_extra=_label("Ghi chú", "Note"))


AGENCIES = [("CA", "Công an xã"), ("TH", "Trường tiểu học")]


def dummy_inputs(required: set[str] | None = None) -> list[forms.Input]:
    return forms.inputs(Dummy, Lang("vi"), required or set(), {"agencies": AGENCIES})


def test_a_list_of_an_enumeration_is_a_group_of_checkboxes() -> None:
    items = {i.name: i for i in dummy_inputs()}
    for name in ("groups", "other_groups"):
        assert items[name].widget == "checkboxes"
        assert items[name].options == [(v, Lang("vi").label(v)) for v in ("disabled", "ethnic_minority",
                                                                          "poor_household")]
        assert items[name].children == [] and items[name].values == []
    assert items["note"].widget == "text"


def test_a_list_of_a_model_is_rows_of_fieldsets_named_by_row() -> None:
    items = {i.name: i for i in dummy_inputs()}
    measures = items["measures"]
    assert measures.widget == "rows" and measures.label == "Biện pháp"
    assert [(r.name, r.label, r.widget) for r in measures.children] == [
        ("measures.0", "Biện pháp 1", "row"), ("measures.1", "Biện pháp 2", "row"),
        ("measures.2", "Biện pháp 3", "row")]
    row = {c.name: c for c in measures.children[1].children}
    assert list(row) == ["measures.1.kind", "measures.1.description", "measures.1.agency_code", "measures.1.starts_on"]
    assert row["measures.1.kind"].widget == "select" and [v for v, _ in row["measures.1.kind"].options] == [
        "counsel", "school"]
    assert row["measures.1.description"].widget == "textarea"
    assert row["measures.1.agency_code"].options == AGENCIES
    assert row["measures.1.starts_on"].widget == "date"
    # `x-rows` says how many rows a fresh form shows.
    assert [r.name for r in items["steps"].children] == ["steps.0"]
    # Every input of every row has a label of its own (the legend numbers the row).
    assert [i.name for i in flat(dummy_inputs()) if i.label == i.name.rsplit(".", 1)[-1]] == []


def test_a_form_shown_again_keeps_every_row_filled_and_one_more() -> None:
    posted = {"measures.0.kind": "counsel", "measures.1.kind": "", "measures.3.description": "Tư vấn",
              "measures.4.kind": "", "steps.0.kind": "school"}
    items = {i.name: i for i in forms.fill(dummy_inputs(), posted, {})}
    assert [r.name for r in items["measures"].children] == [f"measures.{k}" for k in range(5)]
    assert [r.label for r in items["measures"].children][-1] == "Biện pháp 5"
    values = {i.name: i.value for i in flat(items["measures"].children) if i.widget != "row"}
    assert values["measures.0.kind"] == "counsel" and values["measures.3.description"] == "Tư vấn"
    assert values["measures.4.kind"] == "" and values["measures.4.description"] == ""
    assert [r.name for r in items["steps"].children] == ["steps.0", "steps.1"]
    # Nothing filled: the rows a fresh form has; row numbers the form never writes are no rows.
    fresh = {i.name: i for i in forms.fill(dummy_inputs(), {"measures.0.kind": " ", "measures.01.kind": "x",
                                                             "measures.100.kind": "x"}, {})}
    assert [r.name for r in fresh["measures"].children] == ["measures.0", "measures.1", "measures.2"]


def test_checked_values_read_back_as_a_list_and_are_shown_checked() -> None:
    posted: forms.Values = {"groups": ["disabled", "poor_household", "disabled"], "other_groups": "poor_household"}
    data = forms.parse(Dummy, posted)
    assert data == {"groups": ["disabled", "poor_household"], "other_groups": ["poor_household"]}
    model = Dummy.model_validate(data)
    assert model.groups == [Group.DISABLED, Group.POOR] and model.other_groups == [Group.POOR]
    # Nothing checked: the field is not given (its default), not an empty list.
    assert forms.parse(Dummy, {"groups": ["", " "]}) == {}
    assert Dummy.model_validate(forms.parse(Dummy, {})).other_groups is None
    items = {i.name: i for i in forms.fill(dummy_inputs(), posted, {})}
    assert items["groups"].values == ["disabled", "poor_household"]
    assert items["other_groups"].values == ["poor_household"]
    # A single-valued field posted twice keeps its last value, as before.
    assert forms.parse(Dummy, {"note": ["a", "b"]}) == {"note": "b"}
    assert {i.name: i for i in forms.fill(dummy_inputs(), {"note": ["a", "b"]}, {})}["note"].value == "b"


def test_posted_keeps_every_value_of_a_repeated_name() -> None:
    pairs: list[tuple[str, object]] = [("groups", "disabled"), ("note", "x"), ("groups", "poor_household"),
                                       ("file", object()), ("groups", "ethnic_minority")]
    assert forms.posted(pairs) == {"groups": ["disabled", "poor_household", "ethnic_minority"], "note": "x"}


def test_rows_read_back_in_order_without_the_empty_ones() -> None:
    posted = {"measures.0.kind": "", "measures.0.description": "  ", "measures.0.agency_code": "",
              "measures.1.kind": "school", "measures.1.agency_code": "TH", "measures.1.starts_on": "2026-04-01",
              "measures.2.kind": "", "measures.10.kind": "counsel", "measures.3.description": "Gặp cô giáo",
              "measures.3.kind": "counsel"}
    data = forms.parse(Dummy, posted)
    assert data == {"measures": [
        {"kind": "school", "agency_code": "TH", "starts_on": "2026-04-01"},
        {"kind": "counsel", "description": "Gặp cô giáo"},
        {"kind": "counsel"}]}
    assert forms.posted_rows(Dummy, posted) == {"measures": [1, 3, 10]}
    model = Dummy.model_validate(data)
    assert model.measures is not None and [m.kind for m in model.measures] == [Kind.SCHOOL, Kind.COUNSEL, Kind.COUNSEL]
    assert model.measures[0].starts_on == date(2026, 4, 1)
    # No row filled: no list at all.
    assert forms.parse(Dummy, {"measures.0.kind": "", "measures.1.description": ""}) == {}
    assert forms.posted_rows(Dummy, {"measures.0.kind": ""}) == {}


def test_errors_about_rows_are_shown_on_the_row_they_were_posted_from() -> None:
    posted: forms.Values = {"measures.1.description": "không có loại", "measures.2.kind": "bogus",
              "measures.4.kind": "school",
              "measures.4.starts_on": "hôm qua", "groups": ["disabled", "nope"]}
    rows = forms.posted_rows(Dummy, posted)
    assert rows == {"measures": [1, 2, 4]}
    with pytest.raises(ValidationError) as caught:
        Dummy.model_validate(forms.parse(Dummy, posted))
    errors = forms.errors_of(caught.value, Lang("vi"), rows)
    assert set(errors) == {"measures.1.kind", "measures.2.kind", "measures.4.starts_on", "groups"}
    assert errors["measures.1.kind"].startswith("Giá trị không hợp lệ (")
    # Shown again: each error beside its input, in the row the person filled.
    items = {i.name: i for i in flat(forms.fill(dummy_inputs(), posted, errors))}
    assert [n for n, i in items.items() if i.error] == ["groups", "measures.1.kind", "measures.2.kind",
                                                        "measures.4.starts_on"]
    assert items["measures.4.starts_on"].value == "hôm qua"


def test_a_guards_field_names_the_posted_row() -> None:
    rows = {"measures": [1, 3, 10]}
    assert forms.input_name("measures", rows) == "measures"
    assert forms.input_name("measures.0.kind", rows) == "measures.1.kind"
    assert forms.input_name("measures.2.kind", rows) == "measures.10.kind"
    assert forms.input_name(("measures", 1), rows) == "measures.3"
    assert forms.input_name("measures.7.kind", rows) == "measures"  # no such item: the list
    assert forms.input_name("measures.*.kind", rows) == "measures"  # every row: the list
    assert forms.input_name(("groups", 1), rows) == "groups"  # an item of a group of checkboxes
    assert forms.input_name("emergency_action.done_at") == "emergency_action.done_at"


def test_a_required_list_marks_the_group_and_a_wildcard_every_row() -> None:
    items = {i.name: i for i in flat(dummy_inputs({"measures", "groups", "steps.*.kind"}))}
    assert items["measures"].required and items["groups"].required and not items["steps"].required
    assert [n for n, i in items.items() if i.required and n.startswith("measures.")] == []
    # Rows added for a form shown again are marked too.
    again = {i.name: i for i in flat(forms.fill(dummy_inputs({"steps.*.kind"}), {"steps.0.kind": "school"}, {}))}
    assert [n for n, i in again.items() if i.required] == ["steps.0.kind", "steps.1.kind"]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(data.strip())


def render(items: list[forms.Input]) -> _Tags:
    lang = Lang("vi")
    html = ENV.from_string('{% from "_fields.html" import field with context %}{% for i in items %}{{ field(i) }}'
                           '{% endfor %}').render(items=items, _=lang.gettext, lang=lang)
    tags = _Tags()
    tags.feed(html)
    return tags


def test_the_lists_render_as_labelled_checkboxes_and_rows() -> None:
    posted: forms.Values = {"groups": ["ethnic_minority"], "measures.0.kind": "school", "measures.3.kind": "bogus"}
    errors = {"measures": "Cần nhập các biện pháp.", "measures.3.kind": "Giá trị không hợp lệ"}
    page = render(forms.fill(dummy_inputs({"measures"}), posted, errors))
    boxes = [a for t, a in page.tags if t == "input" and a.get("name") == "groups"]
    assert [(a["type"], a["value"], "checked" in a) for a in boxes] == [
        ("checkbox", "disabled", False), ("checkbox", "ethnic_minority", True), ("checkbox", "poor_household", False)]
    labels = {a["for"] for t, a in page.tags if t == "label" and a.get("for")}
    assert all(a["id"] in labels for a in boxes)
    fieldsets = {a["id"]: a for t, a in page.tags if t == "fieldset"}
    assert fieldsets["f-groups"]["class"] == "checks"
    assert fieldsets["f-measures"]["class"] == "rows"
    assert fieldsets["f-measures"]["aria-describedby"] == "f-measures-err"
    assert [k for k, a in fieldsets.items() if a.get("class") == "row"] == [
        *(f"f-measures-{k}" for k in range(5)), "f-steps-0"]
    assert "Biện pháp 4" in page.text and "Cần nhập các biện pháp." in page.text
    selects = {str(a["name"]): a for t, a in page.tags if t == "select"}
    assert [n for n in selects if n.startswith("measures.")] == [
        f"measures.{k}.{f}" for k in range(5) for f in ("kind", "agency_code")]
    assert str(selects["measures.3.kind"]["aria-describedby"]).strip() == "f-measures-3-kind-err"
    assert selects["measures.3.kind"]["id"] in labels
    chosen = [a["value"] for t, a in page.tags if t == "option" and "selected" in a]
    assert chosen == ["school"]
    legends = [a.get("class") for t, a in page.tags if t == "legend"]
    assert legends.count("required") == 1  # the list a guard requires, not its rows
