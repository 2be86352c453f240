"""Finding cases by the child's name or the reporter's phone, through blind indexes.

Names and phones are encrypted at rest, so the database cannot compare them; it compares
their HMACs under the index key instead (states/intake/matching.py). The term is normalised the
same way intake normalised the stored value: a name NFC, case-folded and single-spaced, with
its diacritics; a phone as E.164. So a search finds exact names only, not parts of names.

Who may search by what: the child's name, those who work cases (case worker, head, chair);
the reporter's phone, the head only, because the reporter's identity is confidential (Luật Tố
cáo 2018) and a search by phone reveals who reported. Results are worklist rows (no narrative,
no identity), narrowed to the cases the actor may see (states/access/scope.py). Every search is on
the audit trail with the HMAC of the term, never the term.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from models import Case, Child, Place, Report, Reporter
from states.access.permissions import authorize
from states.access.scope import scope_rows
from states.audit import chain as audit
from states.cases.queries import forms_of, summary_row
from states.identity.actors import Actor
from states.intake.matching import name_index, phone_index
from states.kernel.clock import Clock
from states.kernel.commune import CommunePolicy
from states.kernel.errors import InvalidInput

MAX_RESULTS = 50


@dataclass(frozen=True)
class SearchResult:
    items: list[dict[str, Any]]
    truncated: bool


def _term_index(policy: CommunePolicy, child_name: str | None,
                reporter_phone: str | None) -> tuple[str, str]:
    if (child_name is None) == (reporter_phone is None):
        raise InvalidInput("child_name", "exactly_one_term",
                           "Hãy tìm theo đúng một trong hai: tên trẻ hoặc số điện thoại người báo tin.",
                           "Search by exactly one of child_name and reporter_phone.")
    if child_name is not None:
        if not child_name.strip():
            raise InvalidInput("child_name", "not_blank", "Tên trẻ không được để trống.",
                               "child_name must not be blank.")
        return "child_name", name_index(policy.match_secret, child_name)
    assert reporter_phone is not None
    index = phone_index(policy.match_secret, reporter_phone)
    if index is None:
        raise InvalidInput("reporter_phone", "valid_phone", "Số điện thoại không hợp lệ.",
                           "reporter_phone is not a valid phone number.")
    return "reporter_phone", index


def search_cases(session: Session, clock: Clock, actor: Actor, policy: CommunePolicy, *,
                 child_name: str | None = None, reporter_phone: str | None = None) -> SearchResult:
    """Cases about a child of this name, or reported by this phone; newest first. Writes an
    audit event, so the caller commits."""
    authorize(actor, "case.search.reporter_phone" if reporter_phone is not None
              else "case.search.child_name")
    by, index = _term_index(policy, child_name, reporter_phone)

    if by == "child_name":
        who = col(Case.child_id).in_(select(col(Child.id)).where(col(Child.name_index) == index))
    else:
        who = col(Case.id).in_(
            select(col(Report.case_id)).join(Reporter, col(Reporter.id) == col(Report.reporter_id))
            .where(col(Reporter.phone_index) == index))
    query = (select(Case, col(Place.code)).join(Place, col(Place.id) == col(Case.place_id), isouter=True)
             .where(who))
    rows = session.execute(
        scope_rows(session, actor, query)
        .order_by(col(Case.received_at).desc(), col(Case.id).desc()).limit(MAX_RESULTS + 1)
    ).all()
    truncated = len(rows) > MAX_RESULTS
    rows = rows[:MAX_RESULTS]
    forms = forms_of(session, [c.id for c, _ in rows])
    items = [summary_row(c, place, forms.get(c.id, [])) for c, place in rows]
    audit.record(session, at=clock.now(), actor=actor, action="case.searched", case_id=None,
                 after={"by": by, "term_hmac": index, "results": [i["code"] for i in items]})
    return SearchResult(items=items, truncated=truncated)


__all__ = ["MAX_RESULTS", "SearchResult", "search_cases"]
