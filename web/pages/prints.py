"""Printing a case: the whole file or one form (Mẫu 01–06), as a page the browser prints or saves
as PDF (`/desk/cases/{code}/print[/{form}]`), and as a Word file the office edits and signs
(`….docx`).

Each reader prints their own view of the case (`states/cases/printing.py`: the same access
checks as the case page, the print on the access log); the page and the Word file are the same
sheets (`web/printout.py`). `layout` lays a printout out for the API's print routes
(api/routers/prints.py), which cannot import the desk: `web.install` hands it to the app."""

from fastapi import APIRouter, Response

from states.cases import printing
from states.cases.printing import PrintFormat, Printout
from web import session as desk_session
from web.i18n import Lang, pick
from web.printout import DOCX_TYPE, Paper, docx_bytes, paper_of
from web.render import ENV, Ctx, DeskRoute, StaffCtx, render

router = APIRouter(prefix="/desk/cases", route_class=DeskRoute, include_in_schema=False)


def layout(printout: Printout, lang: str, fmt: PrintFormat) -> bytes:
    """The API's print (`printing.Layout`): the Word file, or the print page as paper alone (no
    toolbar or script, whose links are the desk's); its stylesheet is the app's /static/print.css."""
    reader = Lang(pick(lang))
    paper = paper_of(printout, reader)
    if fmt == "docx":
        return docx_bytes(paper)
    return ENV.get_template("print/paper.html").render(
        _=reader.gettext, lang=reader, paper=paper, only=printout.only, forms=printing.FORMS, docx_url="",
        toolbar=False).encode()


def _paper(ctx: Ctx, code: str, form: str | None) -> Paper:
    with ctx.rt.db.write() as session:  # a print reads private fields: it is on the access log
        printout = printing.print_case(session, ctx.rt.clock, ctx.actor, code, ctx.rt.policy.name, form)
    return paper_of(printout, ctx.lang)


def _page(ctx: Ctx, code: str, form: str | None) -> Response:
    paper = _paper(ctx, code, form)
    docx = f"/desk/cases/{paper.code}/print" + (f"/{form}" if form else "") + ".docx"
    return render(ctx, "print/paper.html", title=paper.title, paper=paper, only=form, forms=printing.FORMS,
                  docx_url=docx, toolbar=True)


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
