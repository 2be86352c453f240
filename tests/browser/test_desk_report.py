"""Reports typed in a real browser, through a real `kipthoi serve`: a citizen on a phone-width
page reports anonymously and looks the code up; a staff member's connection drops while the
intake form is being sent, and the report arrives exactly once when it returns — even when the
first send reached the server and only its answer was lost."""

import re
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from models import Case, Database, Report
from tests.browser.conftest import SCREENSHOTS, WIDTHS, GuardedPage, KipthoiServer

OFFLINE = "Mất kết nối — báo cáo được giữ lại và sẽ tự gửi lại khi có mạng"


def _counts(db: Database) -> tuple[int, int]:
    with db.read() as s:
        return (s.execute(select(func.count()).select_from(Case)).scalar_one(),
                s.execute(select(func.count()).select_from(Report)).scalar_one())


def _account(demo_output: str, role: str) -> tuple[str, str]:
    match = re.search(rf"^\s+{role}\s+(\S+)\s+(\S+)$", demo_output, re.MULTILINE)
    assert match, demo_output
    return match[1], match[2]


def _shoot_around(page: Any, name: str, selector: str) -> None:
    """Like `GuardedPage.shoot`, with `selector` scrolled into view at each width (a message
    beside the button at the end of a long form)."""
    before = page.viewport_size
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        page.wait_for_timeout(300)
        page.locator(selector).scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"))
    page.set_viewport_size(before)


def _text(page: Any) -> str:
    return str(page.locator("main").inner_text())


def test_a_citizen_reports_anonymously_and_looks_the_code_up(kipthoi_server: KipthoiServer, db: Database,
                                                              guarded_page: GuardedPage) -> None:
    demo = kipthoi_server.cli("demo")
    assert demo.returncode == 0, demo.stderr
    before = _counts(db)
    page = guarded_page.page
    page.set_viewport_size({"width": 360, "height": 800})
    page.goto(kipthoi_server.url("/bao-cao"))
    call = page.get_by_role("link", name="Gọi 111").first
    assert call.get_attribute("href") == "tel:111" and call.is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scrolling

    page.get_by_label("Ở thôn/xóm nào?").select_option("NAM-HOA")
    page.get_by_label("Trẻ khoảng mấy tuổi? (nếu biết)").fill("8")
    # Spaces only: past the browser's check, refused by the server, shown beside the field.
    page.get_by_label("Chuyện gì đã xảy ra?").fill("   ")
    page.get_by_role("button", name="Gửi báo cáo").click()
    page.locator("#f-narrative-error").wait_for()
    assert page.url.endswith("/bao-cao") and _counts(db) == before
    assert page.get_by_label("Trẻ khoảng mấy tuổi? (nếu biết)").input_value() == "8"
    page.get_by_label("Chuyện gì đã xảy ra?").fill("Tối nào cũng nghe thấy trẻ khóc và bị đánh (dữ liệu giả lập).")
    guarded_page.shoot("report", full_page=True)
    page.get_by_role("button", name="Gửi báo cáo").click()
    page.wait_for_url(re.compile(r"/bao-cao/da-gui\?ma="))
    code = page.locator("#tracking-code").inner_text().strip()
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", code), code
    assert page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('kipthoi.draft.')).length") == 0
    guarded_page.shoot("report-sent")
    assert _counts(db) == (before[0] + 1, before[1] + 1)

    page.get_by_role("link", name="Xem tình trạng báo cáo").click()
    page.wait_for_url(re.compile(r"/tra-cuu\?ma="))
    assert "Đã tiếp nhận" in _text(page)
    assert "khóc" not in page.content()
    guarded_page.shoot("report-lookup")
    # The refused first send is the only console error: no script error, no CSP violation.
    assert all("status of 422" in p for p in guarded_page.problems), guarded_page.problems
    assert not guarded_page.blocked, guarded_page.blocked


def test_a_dropped_connection_during_staff_intake_files_the_report_once(
        kipthoi_server: KipthoiServer, db: Database, guarded_page: GuardedPage) -> None:
    demo = kipthoi_server.cli("demo")
    assert demo.returncode == 0, demo.stderr
    username, password = _account(demo.stdout, "intake_operator")
    page = guarded_page.page
    context = page.context
    page.goto(kipthoi_server.url("/login?next=/desk/intake"))
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(re.compile(r"/desk/intake$"))

    page.get_by_label("Hình thức tiếp nhận").select_option("in_person")
    page.get_by_label("Thôn/xóm").select_option("DONG-AN")
    page.get_by_label("Trường học liên quan").select_option("THCS-DA")
    page.get_by_label("Bạo lực học đường").check()
    page.get_by_label("Nội dung thông báo").fill("Cô giáo báo trẻ bị bạn cùng lớp đánh nhiều lần (dữ liệu giả lập).")
    page.get_by_label("Họ và tên trẻ").fill("Trần Văn Thử")
    page.get_by_label("Ngày sinh").fill("2014-09-01")
    # The draft is kept as it is typed: a reload puts it back.
    page.reload()
    assert page.get_by_label("Họ và tên trẻ").input_value() == "Trần Văn Thử"
    assert page.get_by_label("Bạo lực học đường").is_checked()
    guarded_page.shoot("intake", full_page=True)
    before = _counts(db)

    # Offline, the send goes nowhere. Back online, the next one reaches the server and its
    # answer is lost on the way back; the one after is answered.
    network = {"offline": True}
    answers_lost: list[str] = []

    def network_of_the_test(route: Any) -> None:
        # Requests a route handles bypass the context's offline switch: the handler mirrors it.
        if route.request.method != "POST":
            route.continue_()
        elif network["offline"]:
            route.abort("internetdisconnected")
        elif not answers_lost:
            route.fetch(max_redirects=0)
            answers_lost.append(route.request.url)
            route.abort("internetdisconnected")
        else:
            route.continue_()

    page.route("**/desk/intake", network_of_the_test)
    context.set_offline(True)
    page.get_by_role("button", name="Ghi nhận thông báo").click()
    page.get_by_text(OFFLINE).wait_for()
    assert page.get_by_label("Họ và tên trẻ").is_disabled()  # what is on its way stays as sent
    _shoot_around(page, "intake-offline", "[data-draft-status]")
    assert _counts(db) == before

    network["offline"] = False
    context.set_offline(False)
    page.wait_for_url(re.compile(r"/desk/intake/da-gui\?"), timeout=30_000)
    assert answers_lost, "the answer to the first send that arrived was not lost"
    text = _text(page)
    assert "một lần duy nhất dù biểu mẫu đã được gửi nhiều lần" in text
    case_code = page.locator("#case-code").inner_text().strip()
    assert _counts(db) == (before[0] + 1, before[1] + 1)
    with db.read() as s:
        newest = s.execute(select(col(Case.code)).order_by(col(Case.id).desc()).limit(1)).scalar_one()
    assert newest == case_code
    assert page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('kipthoi.draft.')).length") == 0
    guarded_page.shoot("intake-done")
    assert not guarded_page.blocked, guarded_page.blocked
    # The lost sends are the only console errors (the browser reports each failed fetch).
    assert all("Failed to load resource" in p or "ERR_INTERNET_DISCONNECTED" in p for p in guarded_page.problems), \
        guarded_page.problems
