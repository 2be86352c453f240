"""A printout laid out as paper: the same sheets for the print page (HTML, the browser makes the
PDF) and for the `.docx` the office edits and signs.

`states/cases/printing.py` decides what is printed (the reader's own view, the forms, what is
withheld); this module only words it in the reader's language and places it on sheets with the
heading of an administrative document (Nghị định 30/2020: the issuing body on the left, the
Quốc hiệu and tiêu ngữ on the right, the number, the place and date, the signature blocks).
The Quốc hiệu and tiêu ngữ are the law's own words and stay Vietnamese in every language. What
each form's sheet holds is `web/print_forms.py`; the pieces of a sheet, `web/print_sheet.py`
(rows, then texts each with a table under it where the form has one: the risk factors ticked
Cao / Trung bình / Thấp, the plan's measures).

The `.docx` is made with docxtpl from the Word template `templates/print/ho-so.docx` (written by
`templates/print/make_templates.py`): the same sheets go into its loops, so both formats hold
exactly the same text."""

import io
from dataclasses import dataclass, field
from pathlib import Path

from docxtpl import DocxTemplate  # type: ignore[import-untyped]
from jinja2 import Environment

from states.cases.printing import Printout
from web.i18n import Lang
from web.print_forms import Sheets
from web.print_sheet import Sheet, titles

DOCX_TEMPLATE = Path(__file__).resolve().parent / "templates" / "print" / "ho-so.docx"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
NATION = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"  # as Nghị định 30/2020 Phụ lục I spells the Quốc hiệu
MOTTO = "Độc lập - Tự do - Hạnh phúc"
ISSUER = "ỦY BAN NHÂN DÂN"


@dataclass(frozen=True)
class Paper:
    code: str
    title: str
    issuer: str
    commune: str  # upper case, under the issuing body
    nation: str
    motto: str
    printed: str  # who printed it, when, which view
    sheets: list[Sheet] = field(default_factory=list)


def paper_of(printout: Printout, lang: Lang) -> Paper:
    """The printout on paper, with the names it came with (who printed, thôn, agencies)."""
    agencies = {code: lang.pair(a.vi, a.en) for code, a in printout.agencies.items()}
    return lay_out(printout, lang, printout.printed_by, printout.places, agencies)


def lay_out(printout: Printout, lang: Lang, printed_by: str, place_names: dict[str, str],
            agencies: dict[str, str]) -> Paper:
    _ = lang.gettext
    form_titles = titles(lang)
    layout = Sheets(printout, lang, place_names, agencies)
    sheets = [layout.cover()] if printout.only is None else []
    counts: dict[str, int] = {}
    for record in printout.records:
        counts[record.form] = counts.get(record.form, 0) + 1
        sheets.append(layout.sheet(record, counts[record.form]))
    if printout.only is not None and not printout.records:
        sheets.append(layout.nothing(printout.only))
    title = (form_titles[printout.only] if printout.only is not None else _("Hồ sơ vụ việc")) + " · " + printout.code
    view_name = {"full": _("đầy đủ"), "content": _("không có danh tính người báo tin"),
                 "agency": _("phần của cơ quan phối hợp")}[printout.view]
    printed = _("In từ kipthoi lúc {when}, người in: {who}, phạm vi xem: {view}.").format(
        when=lang.when(printout.printed_at), who=printed_by, view=view_name)
    return Paper(code=printout.code, title=title, issuer=ISSUER, commune=printout.commune.upper(),
                 nation=NATION, motto=MOTTO, printed=printed, sheets=sheets)


def docx_bytes(paper: Paper) -> bytes:
    """The paper as a Word file, from the template: autoescaped (what people typed is text, never
    markup), a line break in a value a line break in Word."""
    document = DocxTemplate(str(DOCX_TEMPLATE))
    document.render({"paper": paper}, jinja_env=Environment(autoescape=True), autoescape=True)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
