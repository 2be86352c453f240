"""Every string the desk shows has its English, and Vietnamese formats are Vietnamese.

The message ids are read from the code the way Babel's extractor reads them (templates and
Python), so a page that gains a string without its translation fails here, not in front of an
English-speaking reader."""

import re
from datetime import datetime
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from models.enums import LABELS_VI
from states.kernel.clock import LOCAL_TZ
from web.i18n import LOCALE_DIR, Lang

WEB = Path(__file__).resolve().parents[2] / "web"
PLACEHOLDER = re.compile(r"\{\w*\}")


def used_ids() -> dict[str, str]:
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(WEB), method_map=[("**.py", "python"), ("**.html", "jinja2.ext:babel_extract")],
            keywords={"_": None, "gettext": None, "ngettext": (1, 2)}):
        text = message if isinstance(message, str) else message[0]
        found.setdefault(text, f"{filename}:{lineno}")
    return found


def english() -> dict[str, str]:
    out: dict[str, str] = {}
    for po in sorted((LOCALE_DIR / "en" / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as f:
            for m in read_po(f):
                if m.id:
                    out[str(m.id)] = str(m.string)
    return out


def test_every_string_of_the_pages_has_its_english() -> None:
    en = english()
    missing = {text: where for text, where in used_ids().items() if not en.get(text)}
    assert missing == {}


def test_every_enumeration_label_has_its_english() -> None:
    en = english()
    assert [v for v in LABELS_VI.values() if not en.get(v)] == []


def test_translations_keep_their_placeholders() -> None:
    wrong = {k: v for k, v in english().items()
             if sorted(PLACEHOLDER.findall(k)) != sorted(PLACEHOLDER.findall(v))}
    assert wrong == {}


def test_the_catalog_is_read_without_a_build_step() -> None:
    assert Lang("en").gettext("Đăng nhập") == "Log in"
    assert Lang("vi").gettext("Đăng nhập") == "Đăng nhập"
    assert Lang("en").label("received") == "Received"


def test_dates_and_numbers_in_vietnamese_format() -> None:
    vi = Lang("vi")
    at = datetime(2026, 3, 2, 2, 5, tzinfo=LOCAL_TZ)
    assert vi.when(at) == "02/03/2026 02:05"
    assert vi.number(1234567.5) == "1.234.567,5"
    assert vi.span(-2 * 86400 - 3 * 3600) == "quá hạn 2 ngày 3 giờ"
    assert Lang("en").span(5400) == "1 h 30 min left"
