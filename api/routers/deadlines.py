"""Acknowledging alerts: through the API, or through the one-tap link in an SMS.

The link's GET only shows a confirmation page: phones and chat apps fetch links to preview
them, and a preview must not acknowledge anything. The page's button POSTs."""

import html
import re
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from api.deps import CurrentActor, RuntimeDep
from api.errors import responses
from api.schemas import MAX_ID
from notifications.tokens import BadToken, verify
from states import deadlines
from states.actors import Actor
from states.errors import DomainError
from states.permissions import authorize

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
    authorize(actor, "deadline.acknowledge")
    with rt.db.write() as session:
        row = deadlines.acknowledge(session, rt.clock.now(), actor, deadline_id,
                                    rt.policy.deadlines)
    return Acknowledged(deadline_id=row.id or 0, kind=row.kind, acknowledged_at=row.acknowledged_at,
                        acknowledged_by=row.acknowledged_by or "")


def _page(title_vi: str, title_en: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(status_code=status, content=(
        "<!doctype html><html lang='vi'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>kipthoi — {html.escape(title_vi)}</title>"
        "<style>body{font-family:sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}"
        "button{font-size:1.2rem;padding:.8rem 1.5rem}</style></head><body>"
        f"<h1>{html.escape(title_vi)}</h1><p lang='en'><i>{html.escape(title_en)}</i></p>{body}"
        "</body></html>"))


def _claim(rt: RuntimeDep, token: str) -> Any:
    if not TOKEN_SHAPE.fullmatch(token):
        return "malformed"
    try:
        return verify(rt.policy.notify.link_secret, token, rt.clock.now())
    except BadToken as err:
        return str(err)


@router.get("/a/{token}", response_class=HTMLResponse, include_in_schema=False)
def ack_page(rt: RuntimeDep, token: Token) -> HTMLResponse:
    claim = _claim(rt, token)
    if isinstance(claim, str):
        return _page("Liên kết không hợp lệ hoặc đã hết hạn", "This link is invalid or has expired", "", 404)
    return _page("Xác nhận đã nhận cảnh báo", "Acknowledge this alert",
                 f"<form method='post' action='/a/{html.escape(token)}'>"
                 "<button type='submit'>Tôi đã nhận và đang xử lý / I have it</button></form>")


@router.post("/a/{token}", response_class=HTMLResponse, include_in_schema=False)
def ack_by_link(rt: RuntimeDep, token: Token) -> HTMLResponse:
    claim = _claim(rt, token)
    if isinstance(claim, str):
        return _page("Liên kết không hợp lệ hoặc đã hết hạn", "This link is invalid or has expired", "", 404)
    actor = Actor(ref=f"official:{claim.official_id}", role=None, official_id=claim.official_id)
    try:
        with rt.db.write() as session:
            deadlines.acknowledge(session, rt.clock.now(), actor, claim.deadline_id,
                                  rt.policy.deadlines)
    except DomainError as err:
        return _page(err.message_vi, err.message_en, "", 409)
    return _page("Đã xác nhận. Cảm ơn!", "Acknowledged. Thank you!", "")
