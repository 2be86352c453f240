"""The forms made from the trigger table: every step's input has a label in both languages,
every field a guard requires is a field of the form, and what a form posts is read back as the
input model's data."""

from datetime import datetime

import pytest

from models.enums import Trigger
from states.kernel.clock import LOCAL_TZ
from states.lifecycle.commands import AssessData, ServiceData
from states.lifecycle.triggers import SPECS
from web import forms
from web.i18n import Lang


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
        assert required <= set(items)
        assert all(items[name].required for name in required)


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
