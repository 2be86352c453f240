"""The table of triggers (states/lifecycle/triggers.py) is the one place a trigger is described: the
machine, `allowed_triggers`, the permission check and the API are made from it, so these tests
check that what is made agrees with the table, and that the table itself is whole."""

from fastapi.testclient import TestClient

from models.enums import DEADLINE_EVENTS, CaseState, Trigger
from states.lifecycle.guards import CaseFacts
from states.lifecycle.machine import CaseSubject, allowed_triggers, build_machine, step_for
from states.lifecycle.triggers import SPECS, STEPS


def test_every_trigger_has_one_entry_and_every_entry_is_whole() -> None:
    assert set(SPECS) == set(Trigger)
    for trigger, spec in SPECS.items():
        assert spec.trigger == trigger and spec.label_vi and spec.label_en and spec.steps, trigger
        assert all(step.trigger == trigger.value and step.roles and step.label_en for step in spec.steps)
        if spec.note is not None:  # the free text kept as a note is a field of the input
            assert spec.note[0] in spec.input.model_fields, trigger
        assert spec.emits <= DEADLINE_EVENTS, trigger


def test_allowed_triggers_agree_with_the_transitions_machine_in_every_state() -> None:
    facts = CaseFacts(state="received", has_submitted_plan=False, last_review_outcome=None)
    for state in CaseState:
        machine = build_machine(CaseSubject(state.value, facts))
        assert sorted(allowed_triggers(state)) == sorted(machine.get_triggers(state.value)), state
        for trigger in Trigger:
            step = step_for(trigger, state)
            assert (step is not None) == (trigger.value in machine.get_triggers(state.value))


def test_no_trigger_has_two_steps_from_one_state() -> None:
    seen = [(step.trigger, source) for step in STEPS for source in step.source]
    assert len(seen) == len(set(seen))


def test_each_trigger_endpoint_is_made_from_its_entry(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for trigger, spec in SPECS.items():
        operation = paths[f"/cases/{{code}}/transitions/{trigger.value}"]["post"]
        assert operation["summary"] == f"{spec.label_vi} ({trigger.value})"
        assert spec.label_en in operation["description"]
        assert all(step.label_vi in operation["description"] for step in spec.steps)
        body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert spec.input.__name__ in body, (trigger, body)
