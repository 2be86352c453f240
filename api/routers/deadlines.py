"""Acknowledging alerts: through the API, or through the one-tap link in an SMS.

The link's GET only shows a confirmation page: phones and chat apps fetch links to preview
them, and a preview must not acknowledge anything. The page's button POSTs."""

import html
import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from api.deps import CurrentActor, RuntimeDep
from api.errors import responses
from api.schemas import MAX_ID
from notifications.tokens import AckClaim, BadToken, verify
from states.deadlines import ladder as deadlines
from states.kernel.clock import LOCAL_TZ
from states.kernel.errors import DomainError

router = APIRouter(tags=["deadlines"])
# Any text is accepted here and checked in `_claim`: a link cut short or mangled by a phone
# must get the "invalid link" page, not the API's JSON validation error.
Token = Annotated[str, Path()]
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{10,64}")


class Acknowledged(BaseModel):
    deadline_id: int
    kind: str
    acknowledged_at: Any
    acknowledged_by: str


@router.post("/deadlines/{deadline_id}/acknowledge", response_model=Acknowledged,
             responses=responses(401, 403, 404, 422))
def acknowledge(rt: RuntimeDep, actor: CurrentActor,
                deadline_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> Any:
    """Stop the reminders and the climb up the ladder for this limit. Only someone who may
    change the case may; a deadline of a case you may not see answers 404, like a missing one."""
    with rt.db.write() as session:
        row = deadlines.acknowledge(session, rt.clock.now(), actor, deadline_id, rt.policy.deadlines)
    return Acknowledged(deadline_id=row.id or 0, kind=row.kind, acknowledged_at=row.acknowledged_at,
                        acknowledged_by=row.acknowledged_by or "")


def _when(at: datetime) -> str:
    local = at.astimezone(LOCAL_TZ)
    return f"{local:%H:%M} {local:%d/%m/%Y}"


def _page(title_vi: str, title_en: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(status_code=status, content=(
        "<!doctype html><html lang='vi'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title_vi)} — kipthoi</title>"
        "<link rel='stylesheet' href='/static/kipthoi.css'></head><body>"
        "<header class='bar'>kipthoi · Bảo vệ trẻ em</header><main><div class='card'>"
        f"<h1>{html.escape(title_vi)}</h1><p class='en' lang='en'>{html.escape(title_en)}</p>{body}"
        "</div><footer>Tổng đài quốc gia bảo vệ trẻ em <b>111</b></footer></main></body></html>"))


def _invalid() -> HTMLResponse:
    return _page("Liên kết không hợp lệ hoặc đã hết hạn", "This link is invalid or has expired",
                 "<p>Hãy đăng nhập kipthoi hoặc liên hệ công chức Văn hoá - Xã hội.</p>"
                 "<p class='en' lang='en'>Log in to kipthoi or call the commune's case worker.</p>", 404)


def _facts(f: deadlines.LinkFacts) -> str:
    if not f.open:
        status = "<span class='badge ok'>Đã kết thúc · closed</span>"
    elif f.overdue:
        status = "<span class='badge bad'>Quá hạn · overdue</span>"
    else:
        status = "<span class='badge'>Còn hạn · not yet due</span>"
    rows = [("Vụ việc / Case", html.escape(f.case_code)),
            ("Thời hạn / Limit", f"{html.escape(f.label_vi)}<br><span class='en' lang='en'>"
                                 f"{html.escape(f.label_en)}</span>"),
            ("Hạn / Due", f"{_when(f.due_at)} {status}")]
    if f.acknowledged_at is not None:
        who = html.escape(f.acknowledged_by or "—")
        rows.append(("Đã nhận / Acknowledged", f"{who}, {_when(f.acknowledged_at)}"))
    return "<dl class='facts'>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


def _claim(rt: RuntimeDep, token: str) -> AckClaim | None:
    if not TOKEN_SHAPE.fullmatch(token):
        return None
    try:
        return verify(rt.policy.notify.link_secret, token, rt.clock.now())
    except BadToken:
        return None


@router.get("/a/{token}", response_class=HTMLResponse, include_in_schema=False)
def ack_page(rt: RuntimeDep, token: Token) -> HTMLResponse:
    claim = _claim(rt, token)
    if claim is None:
        return _invalid()
    try:
        with rt.db.read() as session:
            facts = deadlines.link_facts(session, rt.clock.now(), claim.official_id, claim.deadline_id,
                                         rt.policy.deadlines)
    except deadlines.LinkRevoked:
        return _invalid()
    if not facts.open:
        return _page("Thời hạn này đã kết thúc", "This limit is no longer open", _facts(facts))
    if facts.acknowledged_at is not None:
        return _page("Cảnh báo này đã được xác nhận", "This alert is already acknowledged",
                     _facts(facts) + "<p class='note'>Không cần làm gì thêm. / Nothing more to do.</p>")
    return _page("Xác nhận đã nhận cảnh báo", "Acknowledge this alert", _facts(facts) + (
        f"<form method='post' action='/a/{html.escape(token)}'>"
        "<button type='submit'>Tôi đã nhận và đang xử lý<br><small>I have it in hand</small></button></form>"
        "<p class='note'>Xác nhận sẽ dừng nhắc nhở và việc báo lên cấp trên; cảnh báo quá hạn vẫn được gửi."
        "<br><span lang='en'>Acknowledging stops reminders and escalation; the overdue alert still comes."
        "</span></p>"))


@router.post("/a/{token}", response_class=HTMLResponse, include_in_schema=False)
def ack_by_link(rt: RuntimeDep, token: Token) -> HTMLResponse:
    claim = _claim(rt, token)
    if claim is None:
        return _invalid()
    now = rt.clock.now()
    try:
        with rt.db.write() as session:
            deadlines.acknowledge_by_link(session, now, claim.official_id, claim.deadline_id,
                                          rt.policy.deadlines)
        with rt.db.read() as session:
            facts = deadlines.link_facts(session, now, claim.official_id, claim.deadline_id,
                                         rt.policy.deadlines)
    except deadlines.LinkRevoked:
        return _invalid()
    except DomainError as err:
        return _page(err.message_vi, err.message_en, "", 409)
    return _page("Đã xác nhận. Cảm ơn!", "Acknowledged. Thank you!", _facts(facts) + (
        "<p>Nhắc nhở và báo cáo lên cấp trên về thời hạn này đã dừng.</p>"
        "<p class='en' lang='en'>Reminders and escalation for this limit have stopped.</p>"))
