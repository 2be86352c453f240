"""Printing a case: the whole file or one form (Mẫu 01, 02, 04, 05, 06), as a page the browser
prints or saves as PDF (`/desk/cases/{code}/print[/{form}]`), and as a Word file the office edits
and signs (`….docx`).

Each reader prints their own view of the case (`states/cases/printing.py`: the same access
checks as the case page, the print on the access log); the page and the Word file are the same
sheets (`web/printout.py`)."""

from fastapi import APIRouter, Response

from states.cases import printing
from states.identity.accounts import names_for_refs
from states.records.directory import list_agencies, list_places
from web import session as desk_session
from web.printout import DOCX_TYPE, Paper, docx_bytes, lay_out
from web.render import Ctx, DeskRoute, StaffCtx, render

router = APIRouter(prefix="/desk/cases", route_class=DeskRoute, include_in_schema=False)


def _paper(ctx: Ctx, code: str, form: str | None) -> Paper:
    with ctx.rt.db.write() as session:  # a print reads private fields: it is on the access log
        printout = printing.print_case(session, ctx.rt.clock, ctx.actor, code, ctx.rt.policy.name, form)
        places = {p.code: p.name for p in list_places(session, ctx.actor)}
        agencies = {a.code: ctx.lang.pair(a.name_vi, a.name_en) for a in list_agencies(session, ctx.actor)}
        who = names_for_refs(session, {ctx.actor.ref}).get(ctx.actor.ref, ctx.actor.ref)
    return lay_out(printout, ctx.lang, who, places, agencies)


def _page(ctx: Ctx, code: str, form: str | None) -> Response:
    paper = _paper(ctx, code, form)
    docx = f"/desk/cases/{paper.code}/print" + (f"/{form}" if form else "") + ".docx"
    return render(ctx, "print/paper.html", title=paper.title, paper=paper, only=form, forms=printing.FORMS,
                  docx_url=docx)


def _docx(ctx: Ctx, code: str, form: str | None) -> Response:
    paper = _paper(ctx, code, form)
    name = paper.code + (f"-{form}" if form else "") + ".docx"
    response = Response(docx_bytes(paper), media_type=DOCX_TYPE,
                        headers={"Content-Disposition": f'attachment; filename="{name}"',
                                 "Cache-Control": "no-store"})  # a child's data: never cached
    if ctx.desk is not None:
        desk_session.renew(ctx.rt, response, ctx.desk)
    return response


@router.get("/{code}/print")
def print_file(ctx: StaffCtx, code: str) -> Response:
    return _page(ctx, code, None)


@router.get("/{code}/print.docx")
def print_file_docx(ctx: StaffCtx, code: str) -> Response:
    return _docx(ctx, code, None)


# Before `/print/{form}`, whose `{form}` would also match "mau-01.docx".
@router.get("/{code}/print/{form}.docx")
def print_form_docx(ctx: StaffCtx, code: str, form: str) -> Response:
    return _docx(ctx, code, form)


@router.get("/{code}/print/{form}")
def print_form(ctx: StaffCtx, code: str, form: str) -> Response:
    return _page(ctx, code, form)
