"""The handover package of a case transferred to another commune (Nghị định 56/2017; issue "the
whole Nghị định 56 record", item 7).

A case closed as `transferred` (the child is out of this commune's jurisdiction) goes on in the
receiving commune, which needs what was recorded here: the printable file (the forms of Nghị
định 56/2017, `states/cases/printing.py`) and the same content as JSON its own system can read
(`vu-viec.json`). Both are made from the producer's view of the case, read through the path of
the case page (`queries.read_case`), so whatever the typed view gains later (a new section of
`CaseView`) is handed over without a change here.

One thing is not handed over: who reported. The reporter's identity is protected (Luật Tố cáo
2018) and is not needed to protect the child; whether a transfer between communes may carry it
is not settled here, so it does not: the receiving commune asks the sending one if it must reach
the reporter. So the package is the *content* view (the case file without the reporter) whoever
produces it: the head, the assigned worker and the chair hand over the same file.

Making the package discloses the child's data to another body. The reads are on the access log
(`case.viewed` for the JSON, `case.printed` for the printable file, as any print), and one audit
event `case.handover_exported` holds the SHA-256 of each file made, so the sending commune can
later show exactly what it handed over. That event holds no personal data: not even the
receiving commune, since where the child went is the child's data (it stays on the case, where
retention erases it, as the `close` step keeps it).
"""

import hashlib
import io
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlmodel import Session, col

from models import Case
from models.enums import CaseState, ClosureReason
from states.access.permissions import authorize
from states.audit import chain as audit
from states.cases import printing, queries
from states.cases.case_views import CaseView, Section, ViewName
from states.cases.printing import Layout, Printout, ReportForm
from states.identity.accounts import names_for_refs
from states.identity.actors import Actor
from states.kernel.clock import LOCAL_TZ, Clock
from states.kernel.commune import CommunePolicy
from states.kernel.errors import InvalidInput
from states.records.directory import list_agencies, list_places

SCHEMA = "kipthoi.handover.v1"
ACTION = "case.handover"  # states/access/permissions.py
EVENT = "case.handover_exported"
READ_ACTION = "case.viewed"  # the JSON is the case view; the printable file is logged by printing
JSON_FILE, HTML_FILE, DOCX_FILE = "vu-viec.json", "ho-so.html", "ho-so.docx"
LANG = "vi"  # the package is an administrative document for a Vietnamese commune, whoever makes it
NOT_INCLUDED = {
    "reporter_identity": "Danh tính người báo tin không được bàn giao (Luật Tố cáo 2018); xã nhận liên hệ "
                         "xã chuyển nếu cần. The reporter's identity is not handed over; the receiving commune "
                         "asks the sending one if it needs it."}


class SendingCommune(BaseModel):
    name: str = Field(description="The commune as configured (KIPTHOI_COMMUNE__NAME)")
    case_code_prefix: str = Field(description="The prefix of its case codes (KIPTHOI_COMMUNE__CODE_PREFIX)")


class Producer(BaseModel):
    ref: str
    name: str


class Directory(BaseModel):
    """The sending commune's own codes, which the case uses, with their names."""

    places: dict[str, str] = Field(description="Thôn code → name")
    agencies: dict[str, str] = Field(description="Agency code → Vietnamese name")


class HandoverFile(BaseModel):
    """`vu-viec.json`: a transferred case as the receiving commune gets it."""

    schema_id: str = Field(SCHEMA, serialization_alias="schema")
    produced_at: datetime
    produced_by: Producer
    sending_commune: SendingCommune
    receiving_commune: str
    code: str
    state: str
    received_at: datetime
    closed_at: datetime | None
    closure_reason: str | None
    view: ViewName = Field(description="The view the file is made from: 'content' (no reporter identity)")
    withheld: list[Section] = Field(description="Sections of the case this file leaves out")
    not_included: dict[str, str] = Field(description="What is left out on purpose, and why")
    directory: Directory
    case: CaseView = Field(description="The case as GET /cases/{code} shows the content view")


class PrintedFile(NamedTuple):
    html: bytes  # self-contained: the layout's stylesheet inlined
    docx: bytes


@dataclass(frozen=True)
class Handover:
    code: str
    json: bytes
    printed: PrintedFile | None  # None: the JSON alone was asked for (no layout)
    sha256: dict[str, str]  # file name → digest, as recorded on the audit trail
    produced_at: datetime

    @property
    def filename(self) -> str:
        """The suggested name of a download, without its extension: the case code."""
        return self.code


def handover(session: Session, clock: Clock, actor: Actor, code: str, policy: CommunePolicy,
             layout: Layout | None = None) -> Handover:
    """The handover package of case `code`, closed as transferred: its JSON and, with a
    `layout` (the desk's, whose HTML holds its own stylesheet: web/pages/handover.py), its
    printable file in Vietnamese, as HTML and .docx. Refused (InvalidInput on `closure_reason`)
    for a case not closed as transferred, before anything of it is shown or logged. The caller
    commits."""
    authorize(actor, ACTION)
    now = clock.now()
    places = {p.code: p.name for p in list_places(session, actor)}
    agencies = {a.code: a.name_vi for a in list_agencies(session, actor)}
    producer = Producer(ref=actor.ref, name=names_for_refs(session, {actor.ref}).get(actor.ref, actor.ref))
    meta = (now, producer, SendingCommune(name=policy.name, case_code_prefix=policy.code_prefix),
            Directory(places=places, agencies=agencies))
    package = queries.read_case(session, clock, actor, code, READ_ACTION, lambda view: _file(view, *meta))
    body = package.model_dump_json(by_alias=True, indent=2).encode()
    printed = None
    if layout is not None:
        printout = _content_only(printing.print_case(session, clock, actor, code, policy.name))
        printed = PrintedFile(html=layout(printout, LANG, "html"), docx=layout(printout, LANG, "docx"))
    digests = {JSON_FILE: _sha256(body)}
    if printed is not None:
        digests |= {HTML_FILE: _sha256(printed.html), DOCX_FILE: _sha256(printed.docx)}
    case_id = session.execute(select(col(Case.id)).where(col(Case.code) == code)).scalar_one()
    audit.record(session, at=now, actor=actor, action=EVENT, case_id=case_id,
                 after={"case": code, "schema": SCHEMA, "sha256": digests})
    return Handover(code=code, json=body, printed=printed, sha256=digests, produced_at=now)


def zip_bytes(package: Handover) -> bytes:
    """The three files in one ZIP, made in memory; dated when the package was made."""
    printed = package.printed
    if printed is None:
        raise ValueError("a handover made without its printable file has no ZIP")
    stamp = package.produced_at.astimezone(LOCAL_TZ).timetuple()[:6]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in ((JSON_FILE, package.json), (HTML_FILE, printed.html), (DOCX_FILE, printed.docx)):
            archive.writestr(zipfile.ZipInfo(name, date_time=stamp), content, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _file(view: CaseView, now: datetime, producer: Producer, sender: SendingCommune,
          directory: Directory) -> HandoverFile:
    if view.state != CaseState.CLOSED or view.closure_reason != ClosureReason.TRANSFERRED or not view.transferred_to:
        raise InvalidInput(
            "closure_reason", "transferred_case",
            "Chỉ bàn giao được vụ việc đã đóng với lý do chuyển đến xã khác (có tên xã nhận).",
            "Only a case closed as transferred to another commune (named) can be handed over.")
    case = _content_view(view)
    return HandoverFile(
        produced_at=now, produced_by=producer, sending_commune=sender, receiving_commune=view.transferred_to,
        code=case.code, state=case.state, received_at=case.received_at, closed_at=case.closed_at,
        closure_reason=case.closure_reason, view=case.view, withheld=case.withheld, not_included=NOT_INCLUDED,
        directory=directory, case=case)


def _content_view(view: CaseView) -> CaseView:
    """The view without the reporter's identity: what the content view is (states/access/scope.py)."""
    withheld: list[Section] = view.withheld if "reporters" in view.withheld else [*view.withheld, "reporters"]
    shown: ViewName = "content" if view.view == "full" else view.view
    return view.model_copy(update={"view": shown, "reporters": [], "withheld": withheld})


def _content_only(printout: Printout) -> Printout:
    """The printout as the content view prints it: the same, without who reported."""
    withheld: list[Section] = (printout.withheld if "reporters" in printout.withheld
                               else [*printout.withheld, "reporters"])
    records = [r.model_copy(update={"reporter": None}) if isinstance(r, ReportForm) else r for r in printout.records]
    shown: ViewName = "content" if printout.view == "full" else printout.view
    return printout.model_copy(update={"view": shown, "records": records, "withheld": withheld})


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


__all__ = ["DOCX_FILE", "EVENT", "HTML_FILE", "JSON_FILE", "SCHEMA", "Handover", "HandoverFile", "PrintedFile",
           "handover", "zip_bytes"]
