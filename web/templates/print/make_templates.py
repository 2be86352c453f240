"""Writes `ho-so.docx`, the Word template every printout's `.docx` is made from (web/printout.py
fills it with docxtpl: `{{ … }}` values, `{%p … %}` loops over paragraphs, `{%tr … %}` over
table rows). Run it after changing the layout, and commit the .docx it writes:

    .venv/bin/python web/templates/print/make_templates.py

The page is A4 with the margins and type of an administrative document (Nghị định 30/2020:
Times New Roman 13 pt; margins top and bottom 20 mm, left 30 mm, right 15 mm). Each sheet
starts with the issuing body (left) and the Quốc hiệu and tiêu ngữ (right), then the number and
the place and date, the title, the rows and texts, what was withheld, and the signature blocks.
A text may have a table under it (`Grid`, web/print_sheet.py), one of two shapes: the risk
factors (4 columns, the level ticked) or the plan's measures (6 columns); its head row repeats
on each page a long table runs over."""

from pathlib import Path

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from docx.table import _Cell

HERE = Path(__file__).resolve().parent
OUT = HERE / "ho-so.docx"
CENTER, RIGHT = WD_ALIGN_PARAGRAPH.CENTER, WD_ALIGN_PARAGRAPH.RIGHT
# Column widths (mm) of the two tables a text may have; each adds up to the text width, 165 mm.
FACTOR_WIDTHS = (93, 24, 24, 24)
MEASURE_WIDTHS = (10, 33, 44, 36, 21, 21)


def build() -> None:
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(20), Mm(20)
    section.left_margin, section.right_margin = Mm(30), Mm(15)
    normal = doc.styles["Normal"]
    normal.font.name, normal.font.size = "Times New Roman", Pt(13)
    fonts = normal.element.get_or_add_rPr().get_or_add_rFonts()
    for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        fonts.set(qn(attr), "Times New Roman")
    normal.paragraph_format.space_after = Pt(3)
    props = doc.core_properties
    props.title, props.author, props.comments = "Hồ sơ vụ việc", "kipthoi", ""

    def para(where: object, text: str, *, bold: bool = False, italic: bool = False, align: object = None,
             size: float | None = None) -> None:
        p = where.add_paragraph()  # type: ignore[attr-defined]
        if align is not None:
            p.alignment = align
        if text:
            run = p.add_run(text)
            run.bold, run.italic = bold, italic
            if size is not None:
                run.font.size = Pt(size)

    def cell(c: _Cell, lines: list[tuple[str, dict[str, object]]]) -> None:
        c.paragraphs[0]._p.getparent().remove(c.paragraphs[0]._p)
        for text, style in lines:
            para(c, text, **style)  # type: ignore[arg-type]
        para(c, "")  # a cell must end with a paragraph, whatever the loops remove

    body = doc
    para(body, "{%p for s in paper.sheets %}")
    head = doc.add_table(rows=1, cols=2)
    head.alignment = WD_TABLE_ALIGNMENT.CENTER
    head.columns[0].width, head.columns[1].width = Mm(62), Mm(103)
    left, right = head.rows[0].cells
    left.width, right.width = Mm(62), Mm(103)
    cell(left, [("{{ paper.issuer }}", {"bold": True, "align": CENTER, "size": 12}),
                ("{{ paper.commune }}", {"bold": True, "align": CENTER, "size": 12}),
                ("{{ s.number }}", {"align": CENTER})])
    cell(right, [("{{ paper.nation }}", {"bold": True, "align": CENTER, "size": 12}),
                 ("{{ paper.motto }}", {"bold": True, "align": CENTER}),
                 ("{{ s.dated }}", {"italic": True, "align": CENTER})])
    para(body, "{%p if s.form_label %}")
    para(body, "{{ s.form_label }}", italic=True, align=RIGHT, size=11)
    para(body, "{%p endif %}")
    para(body, "{{ s.title }}", bold=True, align=CENTER, size=14)
    para(body, "{{ s.subtitle }}", italic=True, align=CENTER)
    para(body, "{%p if s.rows %}")
    rows = doc.add_table(rows=3, cols=2)
    rows.style = doc.styles["Table Grid"]
    rows.columns[0].width, rows.columns[1].width = Mm(55), Mm(110)
    rows.cell(0, 0).paragraphs[0].add_run("{%tr for r in s.rows %}")
    rows.cell(1, 0).paragraphs[0].add_run("{{ r.label }}").bold = True
    rows.cell(1, 1).paragraphs[0].add_run("{{ r.value }}")
    rows.cell(2, 0).paragraphs[0].add_run("{%tr endfor %}")
    for row in rows.rows:
        row.cells[0].width, row.cells[1].width = Mm(55), Mm(110)
    para(body, "{%p endif %}")
    para(body, "{%p for t in s.texts %}")
    para(body, "{%p if t.heading and t.center %}")
    para(body, "{{ t.heading }}", bold=True, align=CENTER)
    para(body, "{%p endif %}")
    para(body, "{%p if t.heading and not t.center %}")
    para(body, "{{ t.heading }}", bold=True)
    para(body, "{%p endif %}")
    para(body, "{%p if t.body %}")
    para(body, "{{ t.body }}")
    para(body, "{%p endif %}")
    para(body, "{%p if t.grid and t.grid.ticked %}")
    grid(doc, FACTOR_WIDTHS, ticked=True)
    para(body, "{%p endif %}")
    para(body, "{%p if t.grid and not t.grid.ticked %}")
    grid(doc, MEASURE_WIDTHS, ticked=False)
    para(body, "{%p endif %}")
    para(body, "{%p endfor %}")
    para(body, "{%p if s.withheld %}")
    para(body, "{{ s.withheld }}", italic=True)
    para(body, "{%p endif %}")
    signs = doc.add_table(rows=1, cols=2)
    signs.alignment = WD_TABLE_ALIGNMENT.CENTER
    for c, side in zip(signs.rows[0].cells, ("left", "right"), strict=True):
        c.width = Mm(82)
        cell(c, [(f"{{%p if s.{side} %}}", {}),
                 (f"{{{{ s.{side}.title }}}}", {"bold": True, "align": CENTER}),
                 (f"{{{{ s.{side}.note }}}}", {"italic": True, "align": CENTER, "size": 11}),
                 ("", {}), ("", {}), ("", {}),
                 (f"{{{{ s.{side}.name }}}}", {"bold": True, "align": CENTER}),
                 ("{%p endif %}", {})])
    para(body, "{{ paper.printed }}", italic=True, size=9)
    para(body, "{%p if not loop.last %}")
    doc.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    para(body, "{%p endif %}")
    para(body, "{%p endfor %}")
    doc.save(str(OUT))


def grid(doc: object, widths: tuple[int, ...], *, ticked: bool) -> None:
    """A text's table: the head row (repeated on each page), then one row per `t.grid.rows`. In
    the factors' table the levels' cells are centred and bold (the tick)."""
    table = doc.add_table(rows=4, cols=len(widths))  # type: ignore[attr-defined]
    table.style = doc.styles["Table Grid"]  # type: ignore[attr-defined]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for row in table.rows:
        for c, width in zip(row.cells, widths, strict=True):
            c.width = Mm(width)
    head = table.rows[0]
    head._tr.get_or_add_trPr().append(OxmlElement("w:tblHeader"))
    for i, c in enumerate(head.cells):
        p = c.paragraphs[0]
        p.alignment = CENTER
        run = p.add_run(f"{{{{ t.grid.head[{i}] }}}}")
        run.bold, run.font.size = True, Pt(12)
    table.cell(1, 0).paragraphs[0].add_run("{%tr for r in t.grid.rows %}")
    for i, c in enumerate(table.rows[2].cells):
        p = c.paragraphs[0]
        run = p.add_run(f"{{{{ r[{i}] }}}}")
        run.font.size = Pt(12)
        if (ticked and i > 0) or (not ticked and i in (0, 4, 5)):
            p.alignment = CENTER
        run.bold = ticked and i > 0
    table.cell(3, 0).paragraphs[0].add_run("{%tr endfor %}")


if __name__ == "__main__":
    build()
    print(f"wrote {OUT}")
