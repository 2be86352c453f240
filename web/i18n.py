"""Languages of the desk: Vietnamese by default, English when the reader chooses it.

Every string a page shows goes through gettext. The message ids are the Vietnamese text itself
(what most readers read, and what a commune's staff can review in the templates); the English
catalog translates them. Catalogs are the `.po` files under `web/locale/<lang>/LC_MESSAGES/`,
read and compiled in memory when the process starts, so that there is no `.mo` to build and
nothing to forget: each area of the desk keeps its own `.po` file (`desk.po`, `report.po`, …)
and all of a language's files are merged.

The domain's own labels that are already bilingual (triggers, guard messages, errors) are shown
from their `_vi`/`_en` fields; enumeration labels (`models.enums.LABELS_VI`) go through the
catalog like any other Vietnamese string."""

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

from models.enums import LABELS_VI
from states.kernel.clock import LOCAL_TZ

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("vi", "en")
DEFAULT = "vi"
COOKIE = "kt_lang"


@lru_cache(maxsize=len(LANGUAGES))
def translations(lang: str) -> NullTranslations:
    """The merged catalog of one language. Vietnamese has none: its ids are its text."""
    merged: NullTranslations = NullTranslations()
    folder = LOCALE_DIR / lang / "LC_MESSAGES"
    for po in sorted(folder.glob("*.po")) if folder.is_dir() else []:
        with po.open("rb") as f:
            catalog = read_po(f, locale=lang)
        buf = io.BytesIO()
        write_mo(buf, catalog)
        buf.seek(0)
        part = Translations(buf)
        if isinstance(merged, Translations):
            merged.merge(part)
        else:
            merged = part
    return merged


def pick(value: str | None) -> str:
    """A language from a cookie or a form, never anything else."""
    return value if value in LANGUAGES else DEFAULT


@dataclass(frozen=True)
class Lang:
    """One reader's language: the gettext function and the formats pages use."""

    code: str

    @property
    def gettext(self) -> Callable[[str], str]:
        return translations(self.code).gettext

    @property
    def ngettext(self) -> Callable[[str, str, int], str]:
        return translations(self.code).ngettext

    def label(self, value: object) -> str:
        """An enumeration value as the reader reads it (a state, a form of abuse, a level)."""
        if value is None:
            return "—"
        text = str(getattr(value, "value", value))
        vi = LABELS_VI.get(text)
        return self.gettext(vi) if vi is not None else text

    def pair(self, vi: str, en: str) -> str:
        """Text that the domain already holds in both languages."""
        return en if self.code == "en" else vi

    def when(self, value: datetime | None) -> str:
        if value is None:
            return "—"
        return format_datetime(value.astimezone(LOCAL_TZ), "dd/MM/yyyy HH:mm", locale=self.code)

    def day(self, value: date | None) -> str:
        if value is None:
            return "—"
        return format_date(value, "dd/MM/yyyy", locale=self.code)

    def number(self, value: float | int) -> str:
        # Numbers in Vietnamese format (1.234,5) whatever the reader's language: the figures are
        # the commune's and go into its Vietnamese reports.
        return format_decimal(value, locale="vi")

    def span(self, seconds: float) -> str:
        """A duration as 'còn 3 giờ 20 phút' / 'quá hạn 2 ngày' (colour is never the only sign)."""
        late = seconds < 0
        s = int(abs(seconds))
        days, rest = divmod(s, 86400)
        hours, rest = divmod(rest, 3600)
        minutes = rest // 60
        _ = self.gettext
        if days:
            amount = _("{d} ngày {h} giờ").format(d=days, h=hours)
        elif hours:
            amount = _("{h} giờ {m} phút").format(h=hours, m=minutes)
        else:
            amount = _("{m} phút").format(m=minutes)
        return (_("quá hạn {amount}") if late else _("còn {amount}")).format(amount=amount)
