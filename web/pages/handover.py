"""The handover package of a transferred case (`states/cases/handover.py`): its download on the
desk (`/desk/cases/{code}/handover.zip`), and the layout of its printable file.

The printable file is the desk's print of the whole file (`web/pages/prints.py`'s `layout`: the
sheets alone, no toolbar or script), made self-contained: it leaves this server inside a ZIP, so
the stylesheet the page links is inlined. `install` (web/__init__.py) hands the same layout to
the app for the API's ZIP (api/routers/handover.py), since `api` does not import `web`."""

import re

from fastapi import APIRouter, Response

from states.cases import handover
from states.cases.printing import PrintFormat, Printout
from web import session as desk_session
from web.pages import prints
from web.render import TEMPLATES, DeskRoute, StaffCtx

router = APIRouter(prefix="/desk/cases", route_class=DeskRoute, include_in_schema=False)
STATIC = TEMPLATES.parent / "static"
_STYLESHEET = re.compile(r'<link rel="stylesheet" href="/static/([\w-]+\.css)">')
# What would make the file reach for this server: the page's own references (what people typed
# is escaped, so it can never form one).
_OUTSIDE = re.compile(r'(?:href|src)="/')


def layout(printout: Printout, lang: str, fmt: PrintFormat) -> bytes:
    """The desk's print (`printing.Layout`), its HTML with the stylesheet inlined."""
    body = prints.layout(printout, lang, fmt)
    return self_contained(body.decode()).encode() if fmt == "html" else body


def self_contained(page: str) -> str:
    page = _STYLESHEET.sub(lambda m: "<style>\n" + (STATIC / m.group(1)).read_text(encoding="utf-8") + "</style>",
                           page)
    if _OUTSIDE.search(page):
        raise RuntimeError("the print page refers to something the handover file does not hold")
    return page


@router.get("/{code}/handover.zip")
def handover_zip(ctx: StaffCtx, code: str) -> Response:
    with ctx.rt.db.write() as session:  # the package is on the audit trail and the access log
        package = handover.handover(session, ctx.rt.clock, ctx.actor, code, ctx.rt.policy, layout)
    response = Response(handover.zip_bytes(package), media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{package.filename}.zip"',
                                 "Cache-Control": "no-store"})  # a child's data: never cached
    if ctx.desk is not None:
        desk_session.renew(ctx.rt, response, ctx.desk)
    return response
