"""Printing a case through the API: the whole file or one form of Nghị định 56/2017 (Mẫu 01–06),
as the Word file the office edits and signs, or as the print page (HTML, A4 sheets a browser
prints or saves as PDF).

The same use case and access rule as the desk's print (`states/cases/printing.py`, action
`case.print`): each reader prints their own view of the case, what it leaves out is named on
the paper, and every print is on the child's access log (`case.printed`). The layout is the
desk's (web/printout.py), which `api` may not import: `web.install` hands it to the app, as
`kipthoi serve` does (`app.state.case_printer`). An app without the desk answers 404
`no_print_layout`, after the same refusals as always, and records nothing."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from api.deps import CurrentActor, RuntimeDep
from api.errors import error_response, responses
from states.cases import printing
from states.cases.printing import FormCode, Layout, PrintFormat
from states.identity.actors import Actor

router = APIRouter(prefix="/cases", tags=["prints"])
CodePath = Annotated[str, Path(max_length=32, pattern=r"^[A-Z0-9-]+$")]
FormPath = Annotated[FormCode, Path(description="The form: mau-01 … mau-06 (Mẫu số 01–06)")]
LangQuery = Annotated[Literal["vi", "en"], Query(description="The language of the words around the record "
                                                             "(the national heading stays Vietnamese)")]
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MEDIA: dict[PrintFormat, str] = {"docx": DOCX_TYPE, "html": "text/html; charset=utf-8"}
ERRORS = responses(401, 403, 404, 422, 503)


async def get_layout(request: Request) -> Layout | None:
    layout: Layout | None = getattr(request.app.state, "case_printer", None)
    return layout


LayoutDep = Annotated[Layout | None, Depends(get_layout)]


class _NoLayout(Exception):
    pass


def _print(rt: RuntimeDep, actor: Actor, code: str, form: str | None, lang: str, fmt: PrintFormat,
           layout: Layout | None) -> Response:
    try:
        with rt.db.write() as session:  # the print is on the access log: it commits with it or is not answered
            printout = printing.print_case(session, rt.clock, actor, code, rt.policy.name, form)
            if layout is None:
                raise _NoLayout  # inside the transaction: nothing is recorded
    except _NoLayout:
        return error_response(404, "no_print_layout", "Máy chủ này không có mẫu in (chưa cài bàn làm việc).",
                              "This server has no print layout: the desk (web) is not installed.")
    body = layout(printout, lang, fmt)
    name = code + (f"-{form}" if form else "") + "." + fmt
    disposition = "attachment" if fmt == "docx" else "inline"
    return Response(body, media_type=MEDIA[fmt],
                    headers={"Content-Disposition": f'{disposition}; filename="{name}"'})


def _ok(fmt: PrintFormat, what: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {MEDIA[fmt].split(";")[0]: {"schema": {"type": "string", "format": "binary"}}},
                  "description": what}, **ERRORS}


RULES = ("Each reader prints their own view of the case, and the paper names what that view leaves out. "
         "Roles: case worker, head, chair, and an agency official for the part of a case referred to their "
         "agency. Every print is recorded on the child's access log (`case.printed`). A server without the "
         "desk has no print layout: 404 `no_print_layout`.")
DOCX = "A Word file made from the desk's template, for the office to edit and sign. "
HTML = ("The print page as paper alone (A4 sheets, no toolbar or script; styled by `/static/print.css`), "
        "for a browser to print or save as PDF. ")
FILE = ("The whole file: a cover (the case, the forms it holds, the chair's emergency decisions, the consents, "
        "services, referrals and notes), then each record as its form, Mẫu 01 to 06.\n\n")
FORM = ("Every record of one form, one sheet each: Mẫu 01 (each report), 02 (each initial assessment: the four "
        "risk factors ticked high / medium / low, the level, the special-circumstance groups), 03 (each detailed "
        "assessment and the minutes of its meeting), 04 (each plan with its measures; returned ones with the "
        "reason), 05 (each approving decision, `Số: 12/QĐ-UBND`, signed by the chair), 06 (each review with "
        "the factors re-rated and the proposal). A form the case has no record of prints one sheet saying "
        "so.\n\n")


@router.get("/{code}/print.docx", response_class=Response, responses=_ok("docx", "The whole file as a Word file"),
            summary="In cả hồ sơ (.docx) — print the whole file as Word", description=FILE + DOCX + RULES)
def print_file_docx(rt: RuntimeDep, actor: CurrentActor, code: CodePath, layout: LayoutDep,
                    lang: LangQuery = "vi") -> Response:
    return _print(rt, actor, code, None, lang, "docx", layout)


@router.get("/{code}/print.html", response_class=Response, responses=_ok("html", "The whole file's print page"),
            summary="In cả hồ sơ (HTML) — print the whole file as a page", description=FILE + HTML + RULES)
def print_file_html(rt: RuntimeDep, actor: CurrentActor, code: CodePath, layout: LayoutDep,
                    lang: LangQuery = "vi") -> Response:
    return _print(rt, actor, code, None, lang, "html", layout)


@router.get("/{code}/print/{form}.docx", response_class=Response,
            responses=_ok("docx", "The records of that form as a Word file"),
            summary="In một biểu mẫu (.docx) — print one form as Word", description=FORM + DOCX + RULES)
def print_form_docx(rt: RuntimeDep, actor: CurrentActor, code: CodePath, form: FormPath, layout: LayoutDep,
                    lang: LangQuery = "vi") -> Response:
    return _print(rt, actor, code, form, lang, "docx", layout)


@router.get("/{code}/print/{form}.html", response_class=Response,
            responses=_ok("html", "The records of that form as a print page"),
            summary="In một biểu mẫu (HTML) — print one form as a page", description=FORM + HTML + RULES)
def print_form_html(rt: RuntimeDep, actor: CurrentActor, code: CodePath, form: FormPath, layout: LayoutDep,
                    lang: LangQuery = "vi") -> Response:
    return _print(rt, actor, code, form, lang, "html", layout)
