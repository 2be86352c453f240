"""The case lifecycle as data, run by `transitions`.

`STEPS` is the one table of the lifecycle: the API's trigger endpoints, the permission check,
the guards and the diagram (`docs/state-machine.md`) are all made from it. The machine binds
to a small plain `CaseSubject` (not the SQLModel row: transitions issue #635) and never touches
the database; the workflow applies a step's effects after the machine has accepted it.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from transitions import EventData, Machine, MachineError

from models.enums import CaseState as S
from models.enums import Role
from states import guards as g
from states.errors import GuardFailed, IllegalTrigger

WORKERS = frozenset({Role.CASE_WORKER, Role.HEAD, Role.CHAIR})
LEADERS = frozenset({Role.HEAD, Role.CHAIR})
CHAIR = frozenset({Role.CHAIR})


@dataclass(frozen=True)
class Step:
    trigger: str
    source: tuple[S, ...]
    dest: S | None  # None: the case stays where it is (an internal transition)
    guards: tuple[g.Guard, ...]
    roles: frozenset[Role]
    label_vi: str


STEPS: tuple[Step, ...] = (
    Step("assess", (S.RECEIVED,), S.ASSESSED,
         (g.risk_level_given, g.emergency_decided, g.emergency_action_complete_if_given),
         WORKERS, "Đánh giá ban đầu (Mẫu 02)"),
    Step("record_emergency", (S.RECEIVED, S.ASSESSED), None,
         (g.action_taken_given, g.who_was_called_given, g.done_at_given),
         WORKERS, "Ghi nhận bảo vệ khẩn cấp"),
    Step("submit_plan", (S.ASSESSED,), None,
         (g.plan_goals_given, g.plan_measures_given, g.no_plan_pending),
         WORKERS, "Trình kế hoạch (Mẫu 04)"),
    Step("return_plan", (S.ASSESSED,), None, (g.plan_submitted, g.reason_given),
         CHAIR, "Trả lại kế hoạch"),
    Step("approve_plan", (S.ASSESSED,), S.INTERVENED, (g.plan_submitted,),
         CHAIR, "Phê duyệt kế hoạch (Mẫu 05)"),
    Step("start_service", (S.INTERVENED, S.SUPPORTED), S.SUPPORTED,
         (g.service_kind_given, g.service_agency_given, g.service_start_given),
         WORKERS, "Bắt đầu dịch vụ hỗ trợ"),
    Step("review", (S.INTERVENED, S.SUPPORTED), None,
         (g.review_findings_given, g.review_risk_given, g.review_outcome_given),
         WORKERS, "Rà soát, đánh giá (Mẫu 06)"),
    Step("replan", (S.SUPPORTED,), S.ASSESSED, (g.reason_given,),
         WORKERS, "Lập lại kế hoạch"),
    Step("close", (S.RECEIVED, S.ASSESSED), S.CLOSED, (g.early_closure_reason,),
         LEADERS, "Đóng vụ việc không can thiệp"),
    Step("close", (S.INTERVENED, S.SUPPORTED), S.CLOSED,
         (g.final_closure_reason, g.closing_review_if_safe),
         CHAIR, "Đóng vụ việc (Chủ tịch quyết định)"),
    Step("reopen", (S.CLOSED,), S.RECEIVED, (g.reason_given,),
         LEADERS, "Mở lại vụ việc"),
)

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
    """Run `trigger` from `state`; return the new state or raise IllegalTrigger/GuardFailed."""
    if trigger not in TRIGGERS:
        raise IllegalTrigger(trigger, state, allowed_triggers(state))
    subject = CaseSubject(state, facts)
    machine = build_machine(subject)
    try:
        machine.events[trigger].trigger(subject, data=dict(data))
    except MachineError:
        raise IllegalTrigger(trigger, state, allowed_triggers(state)) from None
    return subject.state
