"""Who may do what, checked inside the use-case functions so the API, the CLI and flows obey
the same rules. The triggers' roles live with the steps in `states/machine.py`.

This is the coarse first cut; field-level confidentiality and per-agency views come with the
access-control work (issue 4)."""

from models.enums import Role
from states.actors import Actor
from states.errors import Forbidden
from states.machine import STEPS, step_for

# Anyone who may fire some trigger. Others are refused before the case is even looked up, so
# that a 404 or a 409 naming the case's state tells them nothing about cases they cannot read.
TRIGGER_ROLES = frozenset().union(*(step.roles for step in STEPS))

STAFF_INTAKE = frozenset({Role.INTAKE_OPERATOR, Role.CASE_WORKER, Role.HEAD, Role.CHAIR})
CASE_READERS = frozenset({Role.CASE_WORKER, Role.HEAD, Role.CHAIR, Role.INTAKE_OPERATOR})
CASE_WRITERS = frozenset({Role.CASE_WORKER, Role.HEAD, Role.CHAIR})

ACTIONS: dict[str, frozenset[Role]] = {
    "report.hotline": frozenset({Role.HOTLINE}),
    "report.staff": STAFF_INTAKE,
    "case.read": CASE_READERS,
    "case.assign": frozenset({Role.HEAD, Role.CHAIR}),
    "case.note": CASE_WRITERS,
    "case.service.end": CASE_WRITERS,
    "directory.read": frozenset(Role) - {Role.HOTLINE},
    "directory.write": frozenset({Role.ADMIN}),
    "audit.verify": frozenset({Role.AUDITOR, Role.ADMIN}),
    "deadline.acknowledge": frozenset({Role.CASE_WORKER, Role.HEAD, Role.CHAIR, Role.AGENCY_OFFICIAL}),
}


def authorize(actor: Actor, action: str) -> None:
    allowed = ACTIONS[action]
    if actor.role is None or actor.role not in allowed:
        raise Forbidden(action, actor.role or "public")


def authorize_any_trigger(actor: Actor, trigger: str) -> None:
    if actor.role is None or actor.role not in TRIGGER_ROLES:
        raise Forbidden(trigger, actor.role or "public")


def authorize_trigger(actor: Actor, trigger: str, state: str) -> None:
    authorize_any_trigger(actor, trigger)
    step = step_for(trigger, state)
    if step is None:
        return  # the machine will answer with the triggers allowed now
    if actor.role is None or actor.role not in step.roles:
        raise Forbidden(trigger, actor.role or "public")
