"""Draw the lifecycle from the same table the machine runs (transitions' GraphMachine, Mermaid
engine: no Graphviz binary needed)."""

import logging

from transitions.extensions import GraphMachine

from models.enums import CaseState
from states.lifecycle.guards import CaseFacts
from states.lifecycle.machine import CaseSubject, build_machine


def mermaid() -> str:
    subject = CaseSubject(CaseState.RECEIVED.value, CaseFacts(CaseState.RECEIVED.value))
    machine = build_machine(subject, GraphMachine, graph_engine="mermaid",
                            show_conditions=True, title="kipthoi case lifecycle")
    # Drawn from the initial state; the "active" highlight is only the entry point.
    logging.getLogger("transitions").setLevel(logging.WARNING)
    return str(machine.get_graph().draw(None))
