"""What each form of Nghị định 56/2017 holds on paper, worded in the reader's language: the
sheets `web/printout.py` puts on the print page and into the Word file.

- Mẫu 01: the report as received.
- Mẫu 02: the initial assessment: the four risk factors ticked Cao / Trung bình / Thấp, the level
  they give and the level stated, the special-circumstance groups, the emergency protection.
- Mẫu 03: the detailed information, the child's needs, the factors if re-rated, and the minutes
  of the meeting on the child's needs (when, who attended, what was agreed); signed by the
  worker and by the chair of the meeting.
- Mẫu 04: the plan: goals, the measures as a table (number, measure, what, who, from, until; a
  plan from before measures had rows prints its text), what became of it, and on the latest
  plan the history of the plans before it (returned ones with their reasons).
- Mẫu 05: the Chủ tịch's decision "Số: 12/QĐ-UBND" approving the plan, listing its measures,
  signed "CHỦ TỊCH".
- Mẫu 06: the review: findings, the four factors re-rated, the level, the proposal.
- The whole file's cover: the case, the forms it holds, the chair's emergency decisions, the
  consents to share the child's data, the services, referrals and notes."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import MISSING

from states.cases.case_views import ChildView, PlanView, ReportView, RiskRatingView
from states.cases.printing import (
    AssessmentForm,
    DecisionForm,
    DetailForm,
    FormCode,
    PlanForm,
    Printout,
    Record,
    ReportForm,
    ReviewForm,
)
from states.kernel.clock import LOCAL_TZ
from web.i18n import Lang
from web.print_sheet import NO_NAME, TICK, Grid, Row, Sheet, Signature, Text, place_of, titles

LEVELS = ("high", "medium", "low")
FACTORS = ("severity", "abuser_access", "safety_obstacles", "self_protection")
# The section of the case a form is made from, for a form the printout does not hold.
FORM_SECTION: dict[FormCode, str] = {"mau-03": "detailed_assessments", "mau-04": "plans", "mau-05": "plans",
                                     "mau-06": "reviews"}


@dataclass
class Sheets:
    p: Printout
    lang: Lang
    place_names: dict[str, str]
    agencies: dict[str, str]

    def __post_init__(self) -> None:
        self._ = self.lang.gettext
        self.titles = titles(self.lang)
        self.place = place_of(self.p.commune)

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

    def labels(self, values: list[str], sep: str = ", ") -> str:
        return sep.join(self.lang.label(v) for v in values) or "—"

    def agency(self, code: str | None) -> str:
        return self.agencies.get(code or "", code or "—")

    def person(self, ref: str) -> str:
        return self.p.people.get(ref, ref)

    def withheld(self, names: list[str]) -> str:
        if not names:
            return ""
        return self._("Không in vì không hiển thị với vai trò của bạn: {parts}.").format(
            parts=", ".join(self.lang.label(n) for n in names))

    def hidden(self, *sections: str) -> list[str]:
        """Those of `sections` the reader's view leaves out of this printout."""
        return [s for s in sections if s in self.p.withheld]

    def child_rows(self, child: ChildView | None) -> list[Row]:
        _ = self._
        if child is None:
            return []
        born = self.lang.day(child.birth_date) if child.birth_date else "—"
        if child.estimated_age is not None:
            born += " " + _("(khoảng {n} tuổi)").format(n=child.estimated_age)
        return [Row(_("Họ và tên trẻ"), child.full_name or "—"), Row(_("Ngày sinh"), born),
                Row(_("Giới tính"), self.lang.label(child.sex))]

    def groups_rows(self) -> list[Row]:
        """The special-circumstance groups (Luật Trẻ em Art. 10(1)), unless the view leaves them out."""
        if self.hidden("special_groups"):
            return []
        return [Row(self._("Nhóm trẻ em có hoàn cảnh đặc biệt"), self.labels(self.p.special_groups, "; "))]

    def rating(self, r: RiskRatingView | None, heading: str, missing: str) -> list[Text]:
        """The four factors as a table, one level ticked each; the level they give and the one stated."""
        _, lang = self._, self.lang
        if r is None:
            return [] if self.hidden("risk_ratings") else [Text(heading, missing)]
        names = {"severity": _("Mức độ nghiêm trọng của tổn hại"),
                 "abuser_access": _("Khả năng đối tượng xâm hại tiếp cận trẻ"),
                 "safety_obstacles": _("Cản trở đến sự an toàn nơi trẻ sống"),
                 "self_protection": _("Khả năng tự bảo vệ, phục hồi của trẻ (nguy cơ)")}
        grid = Grid([_("Yếu tố nguy cơ"), *(lang.label(v) for v in LEVELS)],
                    [[names[f], *(TICK if getattr(r, f) == v else "" for v in LEVELS)] for f in FACTORS], ticked=True)
        stated = (lang.label(r.stated_level) if r.stated_level
                  else f"{lang.label(r.derived_level)} ({_('theo các yếu tố')})")
        levels = "\n".join([_("Mức độ nguy cơ theo các yếu tố: {level}").format(level=lang.label(r.derived_level)),
                            _("Mức độ nguy cơ được xác định: {level}").format(level=stated)])
        return [Text(heading, "", grid), Text("", levels)]

    def measures(self, plan: PlanView) -> Grid | None:
        _, lang = self._, self.lang
        if not plan.measures:
            return None
        return Grid([_("TT"), _("Biện pháp"), _("Nội dung"), _("Cơ quan, người thực hiện"), _("Từ ngày"),
                     _("Đến ngày")],
                    [[str(m.number), lang.label(m.kind), m.description,
                      " · ".join(v for v in (self.agency(m.agency_code) if m.agency_code else "", m.responsible or "")
                                 if v) or "—", lang.day(m.starts_on), lang.day(m.ends_on)] for m in plan.measures])

    def sign(self, title: str, name: str | None, note: str | None = None) -> Signature:
        return Signature(title.upper(), note if note is not None else self._("(Ký, ghi rõ họ tên)"),
                         name or NO_NAME)

    def recipients(self, lines: str) -> Signature:
        """The 'Nơi nhận' block a decision has on the left, where a signature would be."""
        return Signature(self._("Nơi nhận:"), lines, "")

    def sheet_of(self, form: FormCode, n: int, dated: datetime | None, rows: list[Row], texts: list[Text],
                 withheld: list[str], left: Signature | None, right: Signature | None,
                 subtitle: str = "", number: str = "") -> Sheet:
        return Sheet(form_label=self._("Mẫu số {n}").format(n=form[-2:]), number=number or self.number(form, n),
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
                Row(_("Mức độ nguy cơ"), lang.label(p.risk_level)), *self.child_rows(p.child), *self.groups_rows()]
        if p.closed_at is not None:
            rows.append(Row(_("Đóng vụ việc"), f"{lang.when(p.closed_at)} · {lang.label(p.closure_reason)}"))
        counts: dict[FormCode, int] = {}
        for r in p.records:
            counts[r.form] = counts.get(r.form, 0) + 1
        contents = "\n".join(f"{_('Mẫu số {n}').format(n=form[-2:])}: {self.titles[form]} ({counts[form]})"
                             for form in sorted(counts)) or _("Chưa có biểu mẫu nào.")
        texts = [Text(_("Các biểu mẫu trong hồ sơ"), contents)]
        if p.emergency_decisions:
            texts.append(Text(_("Quyết định bảo vệ khẩn cấp của Chủ tịch UBND xã"), "\n".join(
                f"{lang.when(d.decided_at)} · {self.person(d.decided_by)}: {d.measures}"
                + (" · " + _("tạm thời cách ly trẻ khỏi người chăm sóc") if d.separation else "")
                + (f" ({d.alternative_care})" if d.separation and d.alternative_care else "")
                for d in p.emergency_decisions)))
        if p.consents:
            texts.append(Text(_("Đồng ý chia sẻ thông tin"), "\n".join(self.consent(c) for c in p.consents)))
        if p.services:
            texts.append(Text(_("Dịch vụ hỗ trợ"), "\n".join(
                (_("Biện pháp số {n}").format(n=s.measure_no) + " · " if s.measure_no else "")
                + f"{lang.label(s.kind)} · {self.agency(s.agency_code)} · "
                f"{lang.day(s.started_on)} → {lang.day(s.ended_on) if s.ended_on else _('đang tiếp tục')}"
                + (f" · {s.note}" if s.note else "") for s in p.services)))
        if p.referrals:
            texts.append(Text(_("Cơ quan được chuyển"), "\n".join(
                f"{self.agency(r.agency_code)} · {lang.when(r.referred_at)}"
                + (f" · {_('đã rút')} {lang.when(r.withdrawn_at)}" if r.withdrawn_at else "")
                for r in p.referrals)))
        if p.notes:
            texts.append(Text(_("Ghi chú"), "\n".join(f"{lang.when(n.written_at)}: {n.text}" for n in p.notes)))
        return Sheet(form_label="", number=_("Số hồ sơ: {code}").format(code=p.code),
                     dated=self.dated(p.printed_at), title=_("Hồ sơ vụ việc").upper(),
                     subtitle=_("Bảo vệ trẻ em theo Nghị định số 56/2017/NĐ-CP"), rows=rows, texts=texts,
                     withheld=self.withheld(list(p.withheld)))

    def consent(self, c: Any) -> str:
        _, lang = self._, self.lang
        if c.legal_ground:
            said = _("Căn cứ") + ": " + lang.label(c.legal_ground)
        else:
            said = (_("Trẻ") + ": " + (lang.label(c.child_answer) if c.child_answer else _("không hỏi (dưới 7 tuổi)"))
                    + " · " + _("Cha, mẹ, người chăm sóc") + ": " + lang.label(c.carer_answer)
                    + (f" ({c.carer_name})" if c.carer_name else ""))
        return f"{lang.when(c.recorded_at)} · {said} · {_('ghi nhận')}: {self.person(c.recorded_by)}" + (
            f" · {c.note}" if c.note else "")

    def nothing(self, form: FormCode) -> Sheet:
        """One form asked for that the printout does not hold: withheld, or not recorded yet."""
        _ = self._
        hidden = FORM_SECTION.get(form) in self.p.withheld
        texts = [] if hidden else [Text(_("Chưa có"), _("Vụ việc chưa có biểu mẫu này."))]
        return self.sheet_of(form, 1, None, self.child_rows(self.p.child), texts, list(self.p.withheld), None, None)

    def sheet(self, record: Record, n: int) -> Sheet:
        if isinstance(record, ReportForm):
            return self.report(record, n)
        if isinstance(record, AssessmentForm):
            return self.assessment(record, n)
        if isinstance(record, DetailForm):
            return self.detail(record, n)
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
        withheld = [*r.withheld, *self.hidden("reporters")]
        officer = r.receiving_officer if _given(r, "receiving_officer") else None
        return self.sheet_of("mau-01", n, f.dated, rows, texts, withheld,
                             self.sign(_("Người báo tin"), None, _("(Nếu đồng ý cung cấp danh tính)")),
                             self.sign(_("Người tiếp nhận"), officer if isinstance(officer, str) else None))

    def assessment(self, f: AssessmentForm, n: int) -> Sheet:
        _, lang = self._, self.lang
        emergency = "—" if f.emergency is None else (_("Có") if f.emergency else _("Không"))
        rows = [*self.child_rows(self.p.child), Row(_("Loại vụ việc"), lang.label(f.case_type)),
                *self.groups_rows(), Row(_("Mức độ nguy cơ"), lang.label(f.risk_level)),
                Row(_("Cần bảo vệ khẩn cấp"), emergency)]
        texts = self.rating(f.rating, _("Đánh giá các yếu tố nguy cơ"),
                            _("Đánh giá này được ghi trước khi hệ thống lưu từng yếu tố nguy cơ."))
        texts += [Text(_("Bảo vệ khẩn cấp lúc {when}").format(when=lang.when(e.done_at)), "\n".join(
                      [e.action_taken, _("Người, cơ quan được gọi: {who}").format(who=e.who_was_called)]
                      + ([_("Đã tách trẻ khỏi người chăm sóc.")] if e.separated_from_carer else [])))
                  for e in f.emergency_actions]
        withheld = self.hidden("risk_ratings", "special_groups", "emergency_actions")
        return self.sheet_of("mau-02", n, f.dated, rows, texts, withheld,
                             self.sign(_("Chủ tịch UBND xã"), None, _("(Chỉ đạo đánh giá)")),
                             self.sign(_("Người đánh giá"), f.signed_by))

    def detail(self, f: DetailForm, n: int) -> Sheet:
        _, lang, d = self._, self.lang, f.assessment
        rows = [*self.child_rows(self.p.child), *self.groups_rows(),
                Row(_("Thời điểm ghi nhận"), lang.when(d.recorded_at))]
        texts = [Text(_("I. Thông tin chi tiết đã thu thập"), d.information),
                 Text(_("II. Nhu cầu của trẻ"), d.needs),
                 *self.rating(f.rating, _("III. Đánh giá lại các yếu tố nguy cơ"),
                              _("Không đánh giá lại; giữ đánh giá ban đầu (Mẫu số 02).")),
                 Text(_("IV. Biên bản họp về nhu cầu của trẻ"), "\n".join([
                     _("Thời gian họp: {when}").format(when=lang.when(d.meeting_at)),
                     _("Thành phần tham dự: {who}").format(who=d.attendees)])),
                 Text(_("Nội dung thống nhất"), d.agreed)]
        return self.sheet_of("mau-03", n, f.dated, rows, texts, self.hidden("risk_ratings", "special_groups"),
                             self.sign(_("Chủ trì cuộc họp"), None),
                             self.sign(_("Người đánh giá"), f.signed_by))

    def plan(self, f: PlanForm, n: int) -> Sheet:
        _, lang, plan = self._, self.lang, f.plan
        rows = [*self.child_rows(self.p.child), Row(_("Trình ngày"), lang.when(plan.submitted_at)),
                Row(_("Tình trạng"), lang.label(plan.status))]
        if plan.decided_at is not None:
            rows.append(Row(_("Quyết định ngày"), lang.when(plan.decided_at)))
        if plan.decision_no:
            rows.append(Row(_("Quyết định phê duyệt (Mẫu 05)"), plan.decision_no))
        grid = self.measures(plan)
        texts = [Text(_("Mục tiêu"), plan.goals),
                 Text(_("Biện pháp hỗ trợ, can thiệp"), "" if grid else _text(plan.measures_text), grid)]
        if plan.decision_note:
            texts.append(Text(_("Lý do trả lại") if plan.status == "returned" else _("Ý kiến khi quyết định"),
                              plan.decision_note))
        plans = [r.plan for r in self.p.records if isinstance(r, PlanForm)]
        if len(plans) > 1 and plan is plans[-1]:  # the latest plan tells the story of the ones before
            texts.append(Text(_("Quá trình trình, phê duyệt kế hoạch"), "\n".join(
                self.history(i, p) for i, p in enumerate(plans, start=1))))
        return self.sheet_of("mau-04", n, f.dated, rows, texts, [],
                             None, self.sign(_("Người lập kế hoạch"), f.signed_by))

    def history(self, i: int, plan: PlanView) -> str:
        _, lang = self._, self.lang
        line = _("Lần {n}: trình {when}").format(n=i, when=lang.when(plan.submitted_at))
        line += " · " + lang.label(plan.status)
        if plan.decided_at is not None:
            line += " " + lang.when(plan.decided_at)
        if plan.decision_no:
            line += " · " + _("Quyết định số {number}").format(number=plan.decision_no)
        if plan.status == "returned" and plan.decision_note:
            line += " · " + _("Lý do: {reason}").format(reason=plan.decision_note)
        return line

    def decision(self, f: DecisionForm, n: int) -> Sheet:
        _, lang, plan = self._, self.lang, f.plan
        child = self.p.child.full_name if self.p.child and self.p.child.full_name else "—"
        grid = self.measures(plan)
        texts = [
            Text(_("Chủ tịch Ủy ban nhân dân {commune}").format(commune=self.p.commune).upper(),
                 _("Căn cứ Luật Trẻ em năm 2016;\nCăn cứ Nghị định số 56/2017/NĐ-CP ngày 09/5/2017 của Chính phủ "
                   "quy định chi tiết Luật Trẻ em;\nXét kế hoạch hỗ trợ, can thiệp trình ngày {day} (hồ sơ {code}).")
                 .format(day=lang.when(plan.submitted_at), code=self.p.code), center=True),
            Text(_("Quyết định:").upper(), _("Điều 1. Phê duyệt kế hoạch hỗ trợ, can thiệp đối với trẻ em {child}.")
                 .format(child=child) + "\n" + _("Mục tiêu: {text}").format(text=plan.goals) + "\n"
                 + (_("Các biện pháp hỗ trợ, can thiệp:") if grid else
                    _("Biện pháp: {text}").format(text=_text(plan.measures_text))), grid, center=True),
        ]
        if plan.decision_note:
            texts.append(Text(_("Ý kiến khi quyết định"), plan.decision_note))
        texts.append(Text("", _("Điều 2. Quyết định này có hiệu lực kể từ ngày ký.") + "\n" + _(
            "Điều 3. Công chức làm công tác bảo vệ trẻ em, các cơ quan, người được giao trong kế hoạch chịu "
            "trách nhiệm thi hành Quyết định này.")))
        number = _("Số: {number}").format(number=plan.decision_no) if plan.decision_no else ""
        return self.sheet_of("mau-05", n, f.dated, [], texts, [],
                             self.recipients(_("- Như Điều 3;\n- Lưu: hồ sơ vụ việc.")),
                             self.sign(_("Chủ tịch"), f.signed_by, _("(Ký, ghi rõ họ tên, đóng dấu)")),
                             subtitle=_("Về việc phê duyệt kế hoạch hỗ trợ, can thiệp đối với trẻ em"), number=number)

    def review(self, f: ReviewForm, n: int) -> Sheet:
        _, lang, r = self._, self.lang, f.review
        rows = [*self.child_rows(self.p.child), Row(_("Ngày rà soát"), lang.when(r.reviewed_at)),
                Row(_("Mức độ nguy cơ"), lang.label(r.risk_level)), Row(_("Đề xuất"), lang.label(r.outcome))]
        texts = [Text(_("Kết quả rà soát, đánh giá"), r.findings),
                 *self.rating(f.rating, _("Đánh giá lại các yếu tố nguy cơ"),
                              _("Lần rà soát này được ghi trước khi hệ thống lưu từng yếu tố nguy cơ."))]
        return self.sheet_of("mau-06", n, f.dated, rows, texts, self.hidden("risk_ratings"),
                             self.sign(_("Chủ tịch UBND xã"), None, _("(Cho ý kiến, quyết định)")),
                             self.sign(_("Người rà soát"), f.signed_by))


def _given(report: ReportView, name: str) -> bool:
    return getattr(report, name) is not MISSING


def _text(value: Any) -> str:
    return value if isinstance(value, str) and value else "—"
