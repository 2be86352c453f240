"""The worklist as a CSV file for a spreadsheet, safe from formula injection.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is run as a formula by
Excel and LibreOffice (OWASP "CSV injection"); thôn names, officials' names and a transferred-to
commune are typed by people, so every text cell is neutralised with a leading apostrophe. The
file holds only what the worklist shows: no narrative, no identity.
"""

import csv
import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col

from models import Case, Official, Place
from models.enums import LABELS_VI
from states.access.permissions import authorize
from states.access.scope import scope_rows
from states.audit import chain as audit
from states.cases.queries import CaseFilter, filtered_query, forms_of
from states.identity.actors import Actor
from states.kernel.clock import Clock

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
MAX_ROWS = 10_000
HEADER = ["Mã vụ việc", "Trạng thái", "Mức độ nguy cơ", "Khẩn cấp", "Thôn/xóm", "Hình thức",
          "Tiếp nhận lúc", "Cập nhật lúc", "Cán bộ phụ trách", "Chuyển đến"]
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    """One cell as text a spreadsheet will not execute."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Có" if value else "Không"
    if isinstance(value, datetime):
        return value.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M")
    text = str(value)
    return "'" + text if text.startswith(DANGEROUS) else text


def worklist_csv(session: Session, clock: Clock, actor: Actor, flt: CaseFilter) -> str:
    authorize(actor, "case.export_worklist")
    query = scope_rows(session, actor, filtered_query(flt)).add_columns(col(Place.name), col(Official.full_name))
    query = query.join(Official, col(Official.id) == col(Case.assignee_id), isouter=True)
    rows = session.execute(query.order_by(col(Case.received_at).desc(), col(Case.id).desc())
                           .limit(MAX_ROWS)).all()
    forms = forms_of(session, [r[0].id for r in rows])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for case, place_code, place_name, assignee in rows:
        writer.writerow([cell(v) for v in (
            case.code, LABELS_VI.get(case.state, case.state),
            LABELS_VI.get(case.risk_level or "", case.risk_level), case.emergency,
            f"{place_name} ({place_code})" if place_name else place_code,
            ", ".join(LABELS_VI.get(f, f) for f in sorted(forms.get(case.id or 0, []))),
            case.received_at, case.updated_at, assignee, case.transferred_to)])
    audit.record(session, at=clock.now(), actor=actor, action="worklist.exported", case_id=None,
                 after={"rows": len(rows)})
    # A BOM so that Excel opens the Vietnamese text as UTF-8.
    return "\ufeff" + out.getvalue()
