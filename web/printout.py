"""A printout laid out as paper: the same sheets for the print page (HTML, the browser makes the
PDF) and for the `.docx` the office edits and signs.

`states/cases/printing.py` decides what is printed (the reader's own view, the forms, what is
withheld); this module only words it in the reader's language and places it on sheets with the
heading of an administrative document (Nghị định 30/2020: the issuing body on the left, the
Quốc hiệu and tiêu ngữ on the right, the number, the place and date, the signature blocks).
The Quốc hiệu and tiêu ngữ are the law's own words and stay Vietnamese in every language.

The `.docx` is made with docxtpl from the Word template `templates/print/ho-so.docx` (written by
`templates/print/make_templates.py`): the same sheets go into its loops, so both formats hold
exactly the same text."""

import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from docxtpl import DocxTemplate  # type: ignore[import-untyped]
from jinja2 import Environment
from pydantic import MISSING

from states.cases.case_views import ChildView, ReportView
from states.cases.printing import (
    AssessmentForm,
    DecisionForm,
    FormCode,
    PlanForm,
    Printout,
    Record,
    ReportForm,
    ReviewForm,
)
from states.kernel.clock import LOCAL_TZ
from web.i18n import Lang

DOCX_TEMPLATE = Path(__file__).resolve().parent / "templates" / "print" / "ho-so.docx"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
NATION = "CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO = "Độc lập - Tự do - Hạnh phúc"
ISSUER = "ỦY BAN NHÂN DÂN"
# Words before the commune's own name, for the place in "Nghĩa Hưng, ngày … tháng … năm …".
UNIT = re.compile(r"^\s*(ủy ban nhân dân|uỷ ban nhân dân|ubnd)?\s*(xã|phường|thị trấn|đặc khu)?\s+", re.I)
NO_NAME = "……………………"


@dataclass(frozen=True)
class Row:
    label: str
    value: str


@dataclass(frozen=True)
class Text:
    heading: str
    body: str


@dataclass(frozen=True)
class Signature:
    title: str
    note: str
    name: str


@dataclass(frozen=True)
class Sheet:
    form_label: str  # "Mẫu số 01"; empty on the file's cover
    number: str
    dated: str
    title: str
    subtitle: str
    rows: list[Row]
    texts: list[Text]
    withheld: str  # "" when the reader's view left nothing of this sheet out
    left: Signature | None = None
    right: Signature | None = None


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


def place_of(commune: str) -> str:
    """'Xã Nghĩa Hưng' → 'Nghĩa Hưng' (the place a document is dated at)."""
    return UNIT.sub("", commune, count=1) or commune


def lay_out(printout: Printout, lang: Lang, printed_by: str, place_names: dict[str, str],
            agencies: dict[str, str]) -> Paper:
    _ = lang.gettext
    form_titles = titles(lang)
    layout = _Layout(printout, lang, place_names, agencies)
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


def titles(lang: Lang) -> dict[FormCode, str]:
    _ = lang.gettext
    return {"mau-01": _("Phiếu tiếp nhận thông tin, thông báo, tố giác về trẻ em bị xâm hại hoặc có nguy cơ "
                        "bị bạo lực, bóc lột, bỏ rơi"),
            "mau-02": _("Biên bản đánh giá ban đầu về nguy cơ đối với trẻ em"),
            "mau-04": _("Kế hoạch hỗ trợ, can thiệp"),
            "mau-05": _("Quyết định phê duyệt kế hoạch hỗ trợ, can thiệp"),
            "mau-06": _("Biên bản rà soát, đánh giá việc thực hiện kế hoạch hỗ trợ, can thiệp")}


class _Layout:
    def __init__(self, printout: Printout, lang: Lang, place_names: dict[str, str],
                 agencies: dict[str, str]) -> None:
        self.p, self.lang, self._ = printout, lang, lang.gettext
        self.place_names, self.agencies = place_names, agencies
        self.titles = titles(lang)
        self.place = place_of(printout.commune)

    # --- pieces --------------------------------------------------------------------------

    def dated(self, when: datetime | None) -> str:
        if when is None:
            return self._("{place}, ngày … tháng … năm …").format(place=self.place)
        local = when.astimezone(LOCAL_TZ)
        return self._("{place}, ngày {d} tháng {m} năm {y}").format(
            place=self.place, d=f"{local.day:02d}", m=f"{local.month:02d}", y=local.year)

    def number(self, form: FormCode, n: int) -> str:
        suffix = "M" + form[-2:] + (f"-{n}" if n > 1 else "")
        return self._("Số: {number}").format(number=f"{self.p.code}/{suffix}")

    def labels(self, values: list[str]) -> str:
        return ", ".join(self.lang.label(v) for v in values) or "—"

    def withheld(self, names: list[str]) -> str:
        if not names:
            return ""
        return self._("Không in vì không hiển thị với vai trò của bạn: {parts}.").format(
            parts=", ".join(self.lang.label(n) for n in names))

    def child_rows(self, child: ChildView | None) -> list[Row]:
        _ = self._
        if child is None:
            return []
        born = self.lang.day(child.birth_date) if child.birth_date else "—"
        if child.estimated_age is not None:
            born += " " + _("(khoảng {n} tuổi)").format(n=child.estimated_age)
        return [Row(_("Họ và tên trẻ"), child.full_name or "—"), Row(_("Ngày sinh"), born),
                Row(_("Giới tính"), self.lang.label(child.sex))]

    def sign(self, title: str, name: str | None, note: str | None = None) -> Signature:
        return Signature(title.upper(), note if note is not None else self._("(Ký, ghi rõ họ tên)"),
                         name or NO_NAME)

    def recipients(self, lines: str) -> Signature:
        """The 'Nơi nhận' block a decision has on the left, where a signature would be."""
        return Signature(self._("Nơi nhận:"), lines, "")

    def sheet_of(self, form: FormCode, n: int, dated: datetime | None, rows: list[Row], texts: list[Text],
                 withheld: list[str], left: Signature | None, right: Signature | None,
                 subtitle: str = "") -> Sheet:
        return Sheet(form_label=self._("Mẫu số {n}").format(n=form[-2:]), number=self.number(form, n),
                     dated=self.dated(dated), title=self.titles[form].upper(),
                     subtitle=subtitle or self._("(Theo Nghị định số 56/2017/NĐ-CP)"),
                     rows=rows, texts=texts, withheld=self.withheld(withheld), left=left, right=right)

    # --- sheets --------------------------------------------------------------------------

    def cover(self) -> Sheet:
        _, p, lang = self._, self.p, self.lang
        rows = [Row(_("Mã vụ việc"), p.code), Row(_("Trạng thái"), lang.label(p.state)),
                Row(_("Tiếp nhận"), lang.when(p.received_at)),
                Row(_("Thôn"), self.place_names.get(p.place_code or "", p.place_code or "—")),
                Row(_("Hình thức"), self.labels(p.abuse_forms)), Row(_("Loại vụ việc"), lang.label(p.case_type)),
                Row(_("Mức độ nguy cơ"), lang.label(p.risk_level)), *self.child_rows(p.child)]
        if p.closed_at is not None:
            rows.append(Row(_("Đóng vụ việc"), f"{lang.when(p.closed_at)} · {lang.label(p.closure_reason)}"))
        counts: dict[FormCode, int] = {}
        for r in p.records:
            counts[r.form] = counts.get(r.form, 0) + 1
        contents = "\n".join(f"{_('Mẫu số {n}').format(n=form[-2:])}: {self.titles[form]} ({counts[form]})"
                             for form in sorted(counts)) or _("Chưa có biểu mẫu nào.")
        texts = [Text(_("Các biểu mẫu trong hồ sơ"), contents)]
        if p.services:
            texts.append(Text(_("Dịch vụ hỗ trợ"), "\n".join(
                f"{lang.label(s.kind)} · {self.agencies.get(s.agency_code or '', s.agency_code or '—')} · "
                f"{lang.day(s.started_on)} → {lang.day(s.ended_on) if s.ended_on else _('đang tiếp tục')}"
                + (f" · {s.note}" if s.note else "") for s in p.services)))
        if p.referrals:
            texts.append(Text(_("Cơ quan được chuyển"), "\n".join(
                f"{self.agencies.get(r.agency_code or '', r.agency_code or '—')} · {lang.when(r.referred_at)}"
                + (f" · {_('đã rút')} {lang.when(r.withdrawn_at)}" if r.withdrawn_at else "")
                for r in p.referrals)))
        if p.notes:
            texts.append(Text(_("Ghi chú"), "\n".join(f"{lang.when(n.written_at)}: {n.text}" for n in p.notes)))
        return Sheet(form_label="", number=_("Số hồ sơ: {code}").format(code=p.code),
                     dated=self.dated(p.printed_at), title=_("Hồ sơ vụ việc").upper(),
                     subtitle=_("Bảo vệ trẻ em theo Nghị định số 56/2017/NĐ-CP"), rows=rows, texts=texts,
                     withheld=self.withheld(list(p.withheld)))

    def nothing(self, form: FormCode) -> Sheet:
        """One form asked for that the printout does not hold: withheld, or not recorded yet."""
        _ = self._
        hidden = {"mau-04": "plans", "mau-05": "plans", "mau-06": "reviews"}.get(form) in self.p.withheld
        texts = [] if hidden else [Text(_("Chưa có"), _("Vụ việc chưa có biểu mẫu này."))]
        return self.sheet_of(form, 1, None, self.child_rows(self.p.child), texts, list(self.p.withheld), None, None)

    def sheet(self, record: Record, n: int) -> Sheet:
        if isinstance(record, ReportForm):
            return self.report(record, n)
        if isinstance(record, AssessmentForm):
            return self.assessment(record, n)
        if isinstance(record, PlanForm):
            return self.plan(record, n)
        if isinstance(record, DecisionForm):
            return self.decision(record, n)
        return self.review(record, n)

    def report(self, f: ReportForm, n: int) -> Sheet:
        _, lang, r = self._, self.lang, f.report
        rows = [Row(_("Hình thức tiếp nhận"), lang.label(r.channel)),
                Row(_("Thời điểm tiếp nhận"), lang.when(r.received_at)),
                Row(_("Thời điểm ghi vào hệ thống"), lang.when(r.recorded_at))]
        if _given(r, "hotline_ref") and r.hotline_ref:
            rows.append(Row(_("Mã của Tổng đài 111"), str(r.hotline_ref)))
        rows += [*self.child_rows(self.p.child),
                 Row(_("Thôn"), self.place_names.get(self.p.place_code or "", self.p.place_code or "—"))]
        if _given(r, "place_detail"):
            rows.append(Row(_("Nơi xảy ra"), _text(r.place_detail)))
        rows += [Row(_("Hình thức"), self.labels(r.abuse_forms)), Row(_("Loại vụ việc"), lang.label(r.case_type))]
        if _given(r, "parents") and isinstance(r.parents, dict):
            for key, label in (("father", _("Cha")), ("mother", _("Mẹ"))):
                parent = r.parents.get(key)  # type: ignore[call-overload]
                if parent is not None:
                    age = _("{n} tuổi").format(n=parent.age) if parent.age is not None else "—"
                    rows.append(Row(label, " · ".join([parent.full_name or "—", age, parent.occupation or "—"])))
        if _given(r, "current_carer"):
            rows.append(Row(_("Người đang chăm sóc"), _text(r.current_carer)))
        if _given(r, "has_reporter"):
            if f.reporter is not None:
                p = f.reporter
                rows.append(Row(_("Người báo tin"), " · ".join(
                    v or "—" for v in (p.full_name, p.phone, p.address, p.relation))))
            elif r.has_reporter is False:
                rows.append(Row(_("Người báo tin"), _("không để lại danh tính")))
        texts = [Text(heading, _text(getattr(r, name))) for name, heading in (
            ("narrative", _("Nội dung thông tin, thông báo, tố giác")),
            ("child_condition", _("Tình trạng hiện tại của trẻ")),
            ("likely_consequence", _("Hậu quả có thể xảy ra nếu không can thiệp")),
            ("family_circumstances", _("Hoàn cảnh gia đình")),
            ("actions_taken", _("Những việc đã làm"))) if _given(r, name)]
        withheld = [*r.withheld, *(["reporters"] if "reporters" in self.p.withheld else [])]
        officer = r.receiving_officer if _given(r, "receiving_officer") else None
        return self.sheet_of("mau-01", n, f.dated, rows, texts, withheld,
                             self.sign(_("Người báo tin"), None, _("(Nếu đồng ý cung cấp danh tính)")),
                             self.sign(_("Người tiếp nhận"), officer if isinstance(officer, str) else None))

    def assessment(self, f: AssessmentForm, n: int) -> Sheet:
        _, lang = self._, self.lang
        emergency = "—" if f.emergency is None else (_("Có") if f.emergency else _("Không"))
        rows = [*self.child_rows(self.p.child), Row(_("Loại vụ việc"), lang.label(f.case_type)),
                Row(_("Mức độ nguy cơ"), lang.label(f.risk_level)),
                Row(_("Cần bảo vệ khẩn cấp"), emergency)]
        texts = [Text(_("Bảo vệ khẩn cấp lúc {when}").format(when=lang.when(e.done_at)), "\n".join(
                     [e.action_taken, _("Người, cơ quan được gọi: {who}").format(who=e.who_was_called)]
                     + ([_("Đã tách trẻ khỏi người chăm sóc.")] if e.separated_from_carer else [])))
                 for e in f.emergency_actions]
        withheld = ["emergency_actions"] if "emergency_actions" in self.p.withheld else []
        return self.sheet_of("mau-02", n, f.dated, rows, texts, withheld,
                             self.sign(_("Chủ tịch UBND xã"), None, _("(Chỉ đạo đánh giá)")),
                             self.sign(_("Người đánh giá"), f.signed_by))

    def plan(self, f: PlanForm, n: int) -> Sheet:
        _, lang, plan = self._, self.lang, f.plan
        rows = [*self.child_rows(self.p.child), Row(_("Trình ngày"), lang.when(plan.submitted_at)),
                Row(_("Tình trạng"), lang.label(plan.status))]
        if plan.decided_at is not None:
            rows.append(Row(_("Quyết định ngày"), lang.when(plan.decided_at)))
        texts = [Text(_("Mục tiêu"), plan.goals), Text(_("Biện pháp hỗ trợ, can thiệp"), plan.measures)]
        if plan.decision_note:
            texts.append(Text(_("Ý kiến khi quyết định"), plan.decision_note))
        return self.sheet_of("mau-04", n, f.dated, rows, texts, [],
                             None, self.sign(_("Người lập kế hoạch"), f.signed_by))

    def decision(self, f: DecisionForm, n: int) -> Sheet:
        _, lang, plan = self._, self.lang, f.plan
        child = self.p.child.full_name if self.p.child and self.p.child.full_name else "—"
        texts = [
            Text(_("Chủ tịch Ủy ban nhân dân {commune}").format(commune=self.p.commune).upper(),
                 _("Căn cứ Luật Trẻ em năm 2016;\nCăn cứ Nghị định số 56/2017/NĐ-CP ngày 09/5/2017 của Chính phủ "
                   "quy định chi tiết Luật Trẻ em;\nXét kế hoạch hỗ trợ, can thiệp trình ngày {day} (hồ sơ {code}).")
                 .format(day=lang.when(plan.submitted_at), code=self.p.code)),
            Text(_("Quyết định"), _("Điều 1. Phê duyệt kế hoạch hỗ trợ, can thiệp đối với trẻ em {child}.")
                 .format(child=child) + "\n" + _("Mục tiêu: {text}").format(text=plan.goals) + "\n"
                 + _("Biện pháp: {text}").format(text=plan.measures)),
        ]
        if plan.decision_note:
            texts.append(Text(_("Ý kiến khi quyết định"), plan.decision_note))
        texts.append(Text("", _("Điều 2. Quyết định này có hiệu lực kể từ ngày ký. Người được giao trong kế hoạch "
                                "chịu trách nhiệm thi hành.")))
        return self.sheet_of("mau-05", n, f.dated, [], texts, [],
                             self.recipients(_("- Người thực hiện kế hoạch;\n- Lưu: hồ sơ vụ việc.")),
                             self.sign(_("Chủ tịch"), f.signed_by, _("(Ký, ghi rõ họ tên, đóng dấu)")),
                             subtitle=_("Về việc phê duyệt kế hoạch hỗ trợ, can thiệp đối với trẻ em"))

    def review(self, f: ReviewForm, n: int) -> Sheet:
        _, lang, r = self._, self.lang, f.review
        rows = [*self.child_rows(self.p.child), Row(_("Ngày rà soát"), lang.when(r.reviewed_at)),
                Row(_("Mức độ nguy cơ"), lang.label(r.risk_level)), Row(_("Đề xuất"), lang.label(r.outcome))]
        return self.sheet_of("mau-06", n, f.dated, rows, [Text(_("Kết quả rà soát, đánh giá"), r.findings)], [],
                             None, self.sign(_("Người rà soát"), f.signed_by))


def _given(report: ReportView, name: str) -> bool:
    return getattr(report, name) is not MISSING


def _text(value: Any) -> str:
    return value if isinstance(value, str) and value else "—"


def docx_bytes(paper: Paper) -> bytes:
    """The paper as a Word file, from the template: autoescaped (what people typed is text, never
    markup), a line break in a value a line break in Word."""
    document = DocxTemplate(str(DOCX_TEMPLATE))
    document.render({"paper": paper}, jinja_env=Environment(autoescape=True), autoescape=True)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
