"""Everything held about one child, for the child's legal representative (Personal Data
Protection Law 91/2025: the right to know and obtain one's data, exercised for a child by the
legal representative).

The export is made by the head or the chair, who hand it over; it is recorded on the audit
trail like any read. It leaves out one thing on purpose: who reported. The reporter's identity
is protected by Luật Tố cáo 2018 and is not the child's data.
"""

from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from models import Case, CaseAbuseForm, Child, Place
from states.access import log as access_log
from states.access.permissions import authorize
from states.access.scope import View, view_for
from states.cases.case_views import ChildView, fields_read
from states.cases.views import case_detail
from states.identity.actors import Actor
from states.kernel.clock import Clock
from states.lifecycle.case_rows import load_case_for_update

FORMAT = "kipthoi.child-record.v1"
# What belongs to the screen, not to the record: what the reader may do next, which view it is
# and what it withholds (the content view withholds only the reporters, never exported), and
# the version used to guard concurrent changes.
NOT_EXPORTED: dict[str, Any] = {"allowed_triggers": True, "view": True, "withheld": True,
                                "reporters": True, "version": True,
                                "reports": {"__all__": {"withheld"}}}


def child_record(session: Session, clock: Clock, actor: Actor, code: str) -> dict[str, Any]:
    """All cases about the child of case `code`, as JSON-ready data, and the access log."""
    authorize(actor, "child.export")
    anchor = load_case_for_update(session, code)
    view_for(session, actor, anchor, "child.export")
    child = session.get(Child, anchor.child_id)
    assert child is not None and child.id is not None
    now = clock.now()
    cases = list(session.execute(
        select(Case, col(Place.code)).join(Place, col(Place.id) == col(Case.place_id), isouter=True)
        .where(col(Case.child_id) == child.id).order_by(col(Case.id))).all())
    out_cases = []
    for case, place_code in cases:
        forms = list(session.execute(select(col(CaseAbuseForm.form))
                                     .where(col(CaseAbuseForm.case_id) == case.id)).scalars())
        # CONTENT: the whole file without the reporter's identity, whoever exports.
        detail = case_detail(session, case, place_code, forms, View.CONTENT)
        out_cases.append(detail.model_dump(exclude=NOT_EXPORTED))
        access_log.record_read(session, now, actor, case, "child.exported", View.CONTENT,
                               fields_read(detail))
    return {
        "format": FORMAT,
        "exported_at": now,
        "exported_by": actor.ref,
        "child": ChildView(full_name=child.full_name, birth_date=child.birth_date,
                           estimated_age=child.estimated_age, sex=child.sex).model_dump(),
        "cases": out_cases,
        "not_included": {
            "reporter_identity": "Danh tính người báo tin được giữ bí mật (Luật Tố cáo 2018). "
                                 "The reporter's identity is kept confidential."},
        # Who has read this child's record, up to and including this export.
        "access_log": access_log.reads_of_child(session, child.id),
    }
