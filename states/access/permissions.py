"""Who may do what, checked inside the use-case functions so the API, the CLI and flows obey
the same rules. The triggers' roles live with the steps in `states/lifecycle/machine.py`.

Two layers: `ACTIONS` says which roles may attempt an action at all (checked before any case
is looked up, so a refusal reveals nothing about the case); `states/access/scope.py` then says whether
this actor may touch this case (own, unassigned, referred) and which view of it they get."""

from models.enums import Role
from states.identity.actors import Actor
from states.kernel.errors import Forbidden
from states.lifecycle.machine import step_for
from states.lifecycle.triggers import STEPS, Step

# Anyone who may fire some trigger. Others are refused before the case is even looked up, so
# that a 404 or a 409 naming the case's state tells them nothing about cases they cannot read.
TRIGGER_ROLES = frozenset().union(*(step.all_roles for step in STEPS))

STAFF_INTAKE = frozenset({Role.INTAKE_OPERATOR, Role.CASE_WORKER, Role.HEAD, Role.CHAIR})
# Intake operators enter reports; they do not read case files. Agency officials read the cases
# referred to their agency (states/access/scope.py narrows the rows and the fields).
CASE_READERS = frozenset({Role.CASE_WORKER, Role.HEAD, Role.CHAIR, Role.AGENCY_OFFICIAL})
CASE_WRITERS = frozenset({Role.CASE_WORKER, Role.HEAD, Role.CHAIR})

ACTIONS: dict[str, frozenset[Role]] = {
    "report.hotline": frozenset({Role.HOTLINE}),
    "report.staff": STAFF_INTAKE,
    "case.read": CASE_READERS,
    "case.print": CASE_READERS,  # each reader prints their own view (states/cases/printing.py)
    "case.assign": frozenset({Role.HEAD, Role.CHAIR}),
    "case.note": CASE_WRITERS | {Role.AGENCY_OFFICIAL},
    "case.refer": CASE_WRITERS,
    "case.export_worklist": CASE_WRITERS,
    # The package a transferred case is handed over with (states/cases/handover.py): those who change cases.
    "case.handover": CASE_WRITERS,
    "child.export": frozenset({Role.HEAD, Role.CHAIR}),
    "case.access_log": frozenset({Role.HEAD, Role.AUDITOR}),
    "report.hotline_status": frozenset({Role.HOTLINE}),
    "audit.read": frozenset({Role.AUDITOR}),
    "stats.read": frozenset({Role.AUDITOR, Role.HEAD, Role.CHAIR}),
    "retention.run": frozenset({Role.ADMIN}),
    # Search through blind indexes (states/cases/search.py); a phone search reveals who reported.
    "case.search.child_name": CASE_WRITERS,
    "case.search.reporter_phone": frozenset({Role.HEAD}),
    "keys.status": frozenset({Role.ADMIN, Role.AUDITOR}),
    "keys.rotate": frozenset({Role.ADMIN}),
    "case.service.end": CASE_WRITERS,
    "directory.read": frozenset(Role) - {Role.HOTLINE},
    "directory.write": frozenset({Role.ADMIN}),
    "user.read": frozenset({Role.ADMIN}),
    "user.write": frozenset({Role.ADMIN}),
    "audit.verify": frozenset({Role.AUDITOR, Role.ADMIN}),
    # Silences a deadline's ladder: the right to change the case (states/deadlines/ladder.py). Agency
    # officials are not on any ladder (they hear of referrals and emergencies, not of limits).
    "deadline.acknowledge": CASE_WRITERS,
    # Evidence attachments (states/records/evidence.py): those who change a case add them; those
    # who read its full or content view open them. Not agency officials: a scan of a signed form
    # or a medical note carries more than their agency's part of the case.
    "case.attachment.upload": CASE_WRITERS,
    "case.attachment.read": CASE_WRITERS,
}


def authorize(actor: Actor, action: str) -> None:
    allowed = ACTIONS[action]
    if actor.role is None or actor.role not in allowed:
        raise Forbidden(action, actor.role or "public")


def authorize_any_trigger(actor: Actor, trigger: str) -> None:
    if actor.role is None or actor.role not in TRIGGER_ROLES:
        raise Forbidden(trigger, actor.role or "public")


def authorize_trigger(actor: Actor, trigger: str, state: str, policy: object | None = None) -> None:
    """`policy`: the commune's (CommunePolicy), for the steps whose roles are its setting
    (who decides an early closure); None: the law's defaults."""
    authorize_any_trigger(actor, trigger)
    step = step_for(trigger, state)
    if step is None:
        return  # the machine will answer with the triggers allowed now
    if actor.role is None or actor.role not in step.roles_for(policy):
        raise Forbidden(trigger, actor.role or "public")


def may(actor: Actor, action: str) -> bool:
    """Whether the role may attempt an action at all (what a page offers; the use case still
    checks, with the case in hand)."""
    return actor.role in ACTIONS.get(action, frozenset())


def steps_for(actor: Actor, state: str, policy: object | None = None) -> list[Step]:
    """The steps this actor's role may take from this state: the buttons a case page offers."""
    from states.lifecycle.machine import allowed_triggers

    steps = [step_for(t, state) for t in allowed_triggers(state)]
    return [s for s in steps
            if s is not None and actor.role is not None and actor.role in s.roles_for(policy)]
