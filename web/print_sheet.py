"""The pieces of a printed sheet (`web/printout.py` puts sheets on paper; `web/print_forms.py`
says what each form's sheet holds): rows (label, value); texts, each a heading, a body and,
where the form has one, a table (`Grid`) under it; the signature blocks; the forms' titles."""

import re
from dataclasses import dataclass

from states.cases.printing import FormCode
from web.i18n import Lang

# Words before the commune's own name, for the place in "Nghĩa Hưng, ngày … tháng … năm …".
UNIT = re.compile(r"^\s*(ủy ban nhân dân|uỷ ban nhân dân|ubnd)?\s*(xã|phường|thị trấn|đặc khu)?\s+", re.I)
NO_NAME = "……………………"
TICK = "X"  # a ticked box on a Vietnamese form ("đánh dấu X"): in every font, and read as text


@dataclass(frozen=True)
class Row:
    label: str
    value: str


@dataclass(frozen=True)
class Grid:
    """A table: its column heads and rows of cells. `ticked`: the risk factors' table (4 columns,
    the factor and one column per level, the rating ticked); otherwise the measures' table (6
    columns: number, measure, what, who, from, until). The Word template has one of each."""

    head: list[str]
    rows: list[list[str]]
    ticked: bool = False

    def __post_init__(self) -> None:
        width = 4 if self.ticked else 6
        if len(self.head) != width or any(len(r) != width for r in self.rows):
            raise ValueError(f"a {'ticked' if self.ticked else 'measures'} grid has {width} columns")


@dataclass(frozen=True)
class Text:
    heading: str
    body: str
    grid: Grid | None = None  # under the body
    center: bool = False  # a heading set in the middle (a decision's issuer, "QUYẾT ĐỊNH:")


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


def place_of(commune: str) -> str:
    """'Xã Nghĩa Hưng' → 'Nghĩa Hưng' (the place a document is dated at)."""
    return UNIT.sub("", commune, count=1) or commune


def titles(lang: Lang) -> dict[FormCode, str]:
    _ = lang.gettext
    return {"mau-01": _("Phiếu tiếp nhận thông tin, thông báo, tố giác về trẻ em bị xâm hại hoặc có nguy cơ "
                        "bị bạo lực, bóc lột, bỏ rơi"),
            "mau-02": _("Biên bản đánh giá ban đầu về nguy cơ đối với trẻ em"),
            "mau-03": _("Biên bản đánh giá chi tiết và họp về nhu cầu của trẻ em"),
            "mau-04": _("Kế hoạch hỗ trợ, can thiệp"),
            "mau-05": _("Quyết định phê duyệt kế hoạch hỗ trợ, can thiệp"),
            "mau-06": _("Biên bản rà soát, đánh giá việc thực hiện kế hoạch hỗ trợ, can thiệp")}
