"""The case lifecycle as data, run by `transitions`.

The steps come from the one table of triggers (`states/lifecycle/triggers.py`): the API's trigger
endpoints, the permission check, the guards and the diagram (`docs/state-machine.md`) are all
made from it. The machine binds
to a small plain `CaseSubject` (not the SQLModel row: transitions issue #635) and never touches
the database; the workflow applies a step's effects after the machine has accepted it.
"""

from collections.abc import Mapping
from typing import Any, cast

from transitions import EventData, Machine, MachineError

from models.enums import CaseState as S
from states.kernel.errors import GuardFailed, IllegalTrigger
from states.lifecycle import guards as g
from states.lifecycle.triggers import STEPS, Step

TRIGGERS: tuple[str, ...] = tuple(dict.fromkeys(step.trigger for step in STEPS))


def step_for(trigger: str, state: str) -> Step | None:
    for step in STEPS:
        if step.trigger == trigger and state in step.source:
            return step
    return None


def allowed_triggers(state: str) -> list[str]:
    return [t for t in TRIGGERS if step_for(t, state) is not None]


class CaseSubject:
    """What the machine moves: a state and the facts its guards read."""

    state: str

    def __init__(self, state: str, facts: g.CaseFacts) -> None:
        self.state = state
        self.facts = facts


def _as_condition(trigger: str, guard: g.Guard) -> Any:
    def condition(event: EventData) -> bool:
        subject = cast(CaseSubject, event.model)
        violation = guard(subject.facts, event.kwargs.get("data", {}))
        if violation is not None:
            raise GuardFailed(trigger, violation.field, violation.rule,
                              violation.message_vi, violation.message_en)
        return True

    condition.__name__ = guard.__name__
    return condition


def _transitions_table() -> list[dict[str, Any]]:
    return [
        {
            "trigger": step.trigger,
            "source": [s.value for s in step.source],
            "dest": step.dest.value if step.dest else None,
            "conditions": [_as_condition(step.trigger, guard) for guard in step.guards],
        }
        for step in STEPS
    ]


def build_machine(subject: CaseSubject, machine_cls: type[Machine] = Machine, **kwargs: Any) -> Machine:
    return machine_cls(
        model=subject,
        states=[s.value for s in S],
        initial=str(subject.state),
        transitions=_transitions_table(),
        auto_transitions=False,
        send_event=True,
        **kwargs,
    )


def fire(state: str, facts: g.CaseFacts, trigger: str, data: Mapping[str, Any]) -> str:
    """Run `trigger` from `state`; return the new state or raise IllegalTrigger/GuardFailed.

    A machine is built for each call, around one case's state and facts: `transitions` binds
    its model at construction, and one shared machine whose model is swapped per call (or
    added and removed) would mix two requests' cases on concurrent threads. Building one is
    small beside a transition's database work (figures: bench/README.md, "Building a state
    machine per call"). `allowed_triggers` reads the same steps, and a test checks that it
    agrees with what the machine accepts in every state."""
    if trigger not in TRIGGERS:
        raise IllegalTrigger(trigger, state, allowed_triggers(state))
    subject = CaseSubject(state, facts)
    machine = build_machine(subject)
    try:
        machine.events[trigger].trigger(subject, data=dict(data))
    except MachineError:
        raise IllegalTrigger(trigger, state, allowed_triggers(state)) from None
    return subject.state
