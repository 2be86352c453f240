"""A case's whole file printed by a real Chromium: the print page (web/templates/print/) made into
a PDF the way a browser's "Save as PDF" makes it, with its Vietnamese text still text (the
national heading, the case code, the child's name), and photographed at 360 and 1280 px."""

import base64
import hashlib
import io
import json
import unicodedata
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pypdf import PdfReader
from sqlalchemy import update
from sqlmodel import col

from api.deps import Runtime
from models import Database, User
from models.enums import Role
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from tests.browser.conftest import SCREENSHOTS, GuardedPage, server_env, start_kipthoi
from tests.conftest import TEST_KEYRING, Commune
from tests.web.conftest import CHEAP, PASSWORD, username
from tests.web.test_case_pages import open_case
from tests.web.test_print_pages import CHILD, walk
from tests.web.test_print_records import walk_records


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


@contextmanager
def head_at_a_server(db: Database, clock: FrozenClock, policy: CommunePolicy, commune: Commune, tmp_path: Path,
                     walker: Callable[[Runtime, Commune, str], object],
                     guarded_page: GuardedPage) -> Iterator[tuple[Any, str]]:
    """A case walked through its forms by `walker`, read by a server that holds the tests' data
    key, with the head logged in. (The walk runs in another thread: Playwright's sync API keeps an
    event loop running in this one, and the intake runs its own.)"""
    runtime = Runtime(db=db, clock=clock, policy=policy)
    with ThreadPoolExecutor(1) as pool:
        code = pool.submit(open_case, runtime, commune).result()
        pool.submit(walker, runtime, commune, code).result()
    with db.write() as s:
        s.execute(update(User).where(col(User.role) == Role.HEAD).values(password_hash=CHEAP.hash(PASSWORD)))
    key = base64.b64encode(hashlib.sha256(b"kipthoi test data key 1").digest()).decode()  # tests/conftest.py
    env = server_env(db.url, tmp_path, KIPTHOI_CRYPTO__KEYS=json.dumps({TEST_KEYRING.active_key_id: key}),
                     KIPTHOI_CRYPTO__ACTIVE_KEY_ID=TEST_KEYRING.active_key_id,
                     KIPTHOI_CRYPTO__INDEX_KEY=base64.b64encode(b"i" * 32).decode())
    with start_kipthoi(env, tmp_path, "--workers", "1") as server:
        page = guarded_page.page
        page.goto(server.url("/login"))
        page.get_by_label("Tên đăng nhập").fill(username(Role.HEAD))
        page.get_by_label("Mật khẩu").fill(PASSWORD)
        page.get_by_role("button", name="Đăng nhập").click()
        page.wait_for_url(server.url("/"))
        yield server, code


def test_the_whole_file_prints_to_a_pdf_with_its_text(db: Database, clock: FrozenClock, policy: CommunePolicy,
                                                      commune: Commune, tmp_path: Path,
                                                      guarded_page: GuardedPage) -> None:
    with head_at_a_server(db, clock, policy, commune, tmp_path, walk, guarded_page) as (server, code):
        page = guarded_page.page
        page.goto(server.url(f"/desk/cases/{code}"))
        page.get_by_role("link", name="In hồ sơ").click()
        page.wait_for_url(server.url(f"/desk/cases/{code}/print"))
        assert page.locator("article.sheet").count() == 7  # the cover and Mẫu 01 to 06
        guarded_page.shoot("print-file")
        page.goto(server.url(f"/desk/cases/{code}/print/mau-05"))
        guarded_page.shoot("print-mau-05", full_page=True)

        page.goto(server.url(f"/desk/cases/{code}/print"))
        pdf = PdfReader(io.BytesIO(page.pdf(format="A4", prefer_css_page_size=True)))
        # The first sheet as paper: print media at A4's width (96 dpi), the toolbar gone.
        page.emulate_media(media="print")
        page.set_viewport_size({"width": 794, "height": 1123})
        assert not page.locator(".toolbar").is_visible()
        page.screenshot(path=str(SCREENSHOTS / "print-file-paper.png"))
    # Laid out as on the page, then one space between words: glyphs of another font (the
    # fallback for some Vietnamese letters) are placed apart, which the plain mode reads as spaces.
    text = " ".join(nfc("\n".join(p.extract_text(extraction_mode="layout") for p in pdf.pages)).split())
    assert len(pdf.pages) >= 7  # each sheet starts a page
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text and "Độc lập - Tự do - Hạnh phúc" in text
    assert code in text and CHILD in text
    assert "QUYẾT ĐỊNH PHÊ DUYỆT KẾ HOẠCH HỖ TRỢ, CAN THIỆP" in text
    assert "In hoặc lưu PDF" not in text  # the toolbar is the screen's, not the paper's
    assert guarded_page.blocked == [] and guarded_page.problems == [], guarded_page.problems


def test_mau_03_prints_to_a_pdf_with_its_vietnamese_text(db: Database, clock: FrozenClock, policy: CommunePolicy,
                                                         commune: Commune, tmp_path: Path,
                                                         guarded_page: GuardedPage) -> None:
    # The detailed assessment and its meeting (Mẫu 03), reached from the print page's menu, made
    # into a PDF; Mẫu 03 and the decision (Mẫu 05) photographed as paper (print media, A4 width).
    with head_at_a_server(db, clock, policy, commune, tmp_path, walk_records, guarded_page) as (server, code):
        page = guarded_page.page
        page.goto(server.url(f"/desk/cases/{code}/print"))
        page.get_by_role("link", name="Mẫu số 03").click()
        page.wait_for_url(server.url(f"/desk/cases/{code}/print/mau-03"))
        pdf = PdfReader(io.BytesIO(page.pdf(format="A4", prefer_css_page_size=True)))
        page.goto(server.url(f"/desk/cases/{code}/print/mau-05"))
        guarded_page.shoot("print-mau-05-measures", full_page=True)  # the measures' table on a phone
        page.emulate_media(media="print")
        page.set_viewport_size({"width": 794, "height": 1123})
        page.screenshot(path=str(SCREENSHOTS / "print-mau-05-paper.png"), full_page=True)
        page.goto(server.url(f"/desk/cases/{code}/print/mau-03"))
        page.screenshot(path=str(SCREENSHOTS / "print-mau-03-paper.png"), full_page=True)
    text = " ".join(nfc("\n".join(p.extract_text(extraction_mode="layout") for p in pdf.pages)).split())
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text and f"Số: {code}/M03" in text
    assert "BIÊN BẢN ĐÁNH GIÁ CHI TIẾT VÀ HỌP VỀ NHU CẦU CỦA TRẺ EM" in text
    assert "Thành phần tham dự: QXATTEND Trạm Y tế, Công an xã" in text and "QXNEEDS tâm lý" in text
    assert "Mức độ nghiêm trọng của tổn hại" in text and "Trung bình" in text
    assert "CHỦ TRÌ CUỘC HỌP" in text and "NGƯỜI ĐÁNH GIÁ" in text
    assert "In hoặc lưu PDF" not in text
    assert guarded_page.blocked == [] and guarded_page.problems == [], guarded_page.problems
