"""One case's whole journey through the desk in a real Chromium, as the commune's people would
take it on one shared office PC: each logs in, does their step, logs out.

The intake operator records a phone report; the worker rates the four risk factors (Mẫu 02),
records emergency protection and the meeting on the child's needs (Mẫu 03), and submits a plan
of measures (a row without anyone responsible refused first); the chair decides the emergency
protection and returns the plan, then approves the second with a numbered decision (Mẫu 05); a
service for the police's measure is refused until the family's consent is recorded; a review
re-rates the factors and proposes closure (Mẫu 06); the chair closes the case; the
police officer sees only the police's part; and each role is refused what it may not see,
including a forged form post without its CSRF token. Every page is photographed at 360 and
1280 px. Runs on SQLite and, with KIPTHOI_TEST_DB, on PostgreSQL."""

import re
from datetime import datetime, timedelta
from typing import Any

import pytest

from states.kernel.clock import LOCAL_TZ
from tests.browser.conftest import GuardedPage, KipthoiServer

ACCOUNT = re.compile(r"^\s{2}(case_worker|head|chair|agency_official|intake_operator|auditor|admin)\s+(\S+)\s+(\S+)$",
                     re.M)


@pytest.fixture
def accounts(kipthoi_server: KipthoiServer) -> dict[str, tuple[str, str]]:
    out = kipthoi_server.cli("demo")
    assert out.returncode == 0, out.stderr
    found = {role: (user, password) for role, user, password in ACCOUNT.findall(out.stdout)}
    assert len(found) == 7, out.stdout
    return found


def local(minutes_ago: int) -> str:
    """A time as the browser's date-time field takes it, in Vietnam's zone (the server's clock
    is the real one here: receipt and emergency action must fall in its past, in order)."""
    return (datetime.now(LOCAL_TZ) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M")


class Desk:
    def __init__(self, server: KipthoiServer, guarded: GuardedPage, accounts: dict[str, tuple[str, str]]) -> None:
        self.server, self.guarded, self.page, self.accounts = server, guarded, guarded.page, accounts

    def go(self, path: str) -> Any:
        return self.page.goto(self.server.url(path))

    def login(self, role: str) -> None:
        user, password = self.accounts[role]
        self.go("/")
        assert "/login" in self.page.url
        self.page.get_by_label("Tên đăng nhập").fill(user)
        self.page.get_by_label("Mật khẩu").fill(password)
        self.page.get_by_role("button", name="Đăng nhập").click()
        self.page.wait_for_url(self.server.url("/"))

    def logout(self) -> None:
        self.page.get_by_role("button", name="Đăng xuất").click()
        self.page.wait_for_url(re.compile(r".*/login$"))

    def open_case(self, code: str) -> None:
        self.go(f"/desk/cases/{code}")
        assert self.page.get_by_role("heading", name=re.compile(code)).is_visible()

    def do(self, label: str) -> None:
        self.page.get_by_role("link", name=label).click()
        self.page.wait_for_url(re.compile(r".*/do/.*"))

    def submit(self) -> None:
        self.page.get_by_role("button", name="Ghi nhận").click()
        self.page.wait_for_url(re.compile(r".*\?ok=.*"))
        assert self.page.get_by_role("status").is_visible()

    def yes_no(self, question: str, answer: str) -> None:
        self.page.get_by_role("group", name=question).get_by_label(answer, exact=True).check()


def record_phone_report(desk: Desk) -> str:
    """The intake operator's part: a phone report through the staff intake form."""
    desk.login("intake_operator")
    desk.go("/desk/intake")
    desk.guarded.shoot("desk-intake", full_page=True)
    return fill_staff_intake(desk)


def fill_staff_intake(desk: Desk) -> str:
    page = desk.page
    page.get_by_label("Hình thức tiếp nhận").select_option("phone")
    page.get_by_label("Thời điểm nhận thông báo").fill(local(minutes_ago=30))
    page.get_by_label("Thôn/xóm").select_option("TAY-BINH")
    page.get_by_label("Bạo lực", exact=True).check()
    page.get_by_label("Nội dung thông báo").fill("Hàng xóm gọi điện: trẻ bị cha đánh nhiều lần (dữ liệu giả lập).")
    page.get_by_label("Họ và tên trẻ").fill("Lương Văn Hành")
    page.get_by_label("Ngày sinh").fill("2015-04-12")
    page.get_by_label("Họ và tên", exact=True).fill("Nguyễn Thị Gọi")
    page.get_by_label("Số điện thoại").fill("0900000777")
    page.get_by_role("button", name="Ghi nhận thông báo").click()
    code = page.locator("#case-code")
    code.wait_for()
    desk.guarded.shoot("desk-intake-done")
    return str(code.inner_text()).strip()


def test_one_case_from_phone_report_to_closure(kipthoi_server: KipthoiServer, guarded_page: GuardedPage,
                                               accounts: dict[str, tuple[str, str]]) -> None:
    desk = Desk(kipthoi_server, guarded_page, accounts)
    page = desk.page
    code = record_phone_report(desk)
    desk.logout()

    # The worker: assessment (a refusal first, shown beside its field), emergency protection, the plan.
    desk.login("case_worker")
    guarded_page.shoot("desk-home-worker", full_page=True)
    assert page.get_by_role("link", name=code).first.is_visible()
    desk.open_case(code)
    guarded_page.shoot("desk-case-received", full_page=True)
    desk.do("Đánh giá ban đầu (Mẫu 02)")
    page.get_by_label("Mức độ nghiêm trọng của tổn hại").select_option("high")
    page.get_by_label("Khả năng đối tượng xâm hại tiếp cận trẻ").select_option("high")
    page.get_by_label("Cản trở đến sự an toàn nơi trẻ sống").select_option("medium")
    page.get_by_label("Loại vụ việc").select_option("abused")
    page.get_by_role("button", name="Ghi nhận").click()
    error = page.locator("#f-factors-self_protection-err")
    error.wait_for()
    assert "khả năng tự bảo vệ, phục hồi của trẻ" in error.inner_text()
    assert page.get_by_label("Mức độ nghiêm trọng của tổn hại").input_value() == "high"  # what was typed is kept
    guarded_page.shoot("desk-form-assess-refused", full_page=True)
    page.get_by_label("Khả năng tự bảo vệ, phục hồi của trẻ (nguy cơ)").select_option("medium")
    desk.yes_no("Cần bảo vệ khẩn cấp?", "Có")
    desk.submit()
    assert "Đã đánh giá" in page.locator("ol.lifecycle li.current").inner_text()
    assert "Cao" in page.locator("table.factors").inner_text()  # the level derived from the factors
    desk.do("Ghi nhận bảo vệ khẩn cấp")
    page.get_by_label("Biện pháp đã thực hiện").fill("Đưa trẻ sang nhà bà ngoại (giả lập)")
    page.get_by_label("Người, cơ quan đã được gọi").fill("Công an xã, Trạm Y tế")
    page.get_by_label("Thời điểm thực hiện").fill(local(minutes_ago=10))
    page.get_by_label("Đã tách trẻ khỏi người chăm sóc").check()
    desk.submit()
    assert page.get_by_role("heading", name="Bảo vệ khẩn cấp").is_visible()
    desk.do("Đánh giá chi tiết, họp về nhu cầu của trẻ (Mẫu 03)")
    page.get_by_label("Thông tin chi tiết đã thu thập").fill("Đã gặp trẻ, bà ngoại và nhà trường (giả lập)")
    page.get_by_label("Nhu cầu của trẻ").fill("Hỗ trợ tâm lý; an toàn khi về nhà (giả lập)")
    page.get_by_label("Thời điểm họp").fill(local(minutes_ago=5))
    page.get_by_label("Thành phần tham dự").fill("Công chức VH-XH; Trạm Y tế; Công an xã (giả lập)")
    page.get_by_label("Nội dung thống nhất").fill("Lập kế hoạch hỗ trợ tâm lý và thăm nhà (giả lập)")
    guarded_page.shoot("desk-form-detail", full_page=True)
    desk.submit()
    desk.do("Trình kế hoạch (Mẫu 04)")
    page.get_by_label("Mục tiêu").fill("Trẻ an toàn, đi học đều")
    page.locator('[name="measures.0.kind"]').select_option("carer_counselling")
    page.locator('[name="measures.0.description"]').fill("Thăm nhà hằng tuần")
    page.locator('[name="measures.0.starts_on"]').fill("2026-12-07")
    page.locator('[name="measures.0.ends_on"]').fill("2027-02-26")
    page.get_by_role("button", name="Ghi nhận").click()
    error = page.locator("#f-measures-0-responsible-err")
    error.wait_for()  # neither an agency nor a person is named: refused at that row
    assert page.locator('[name="measures.0.description"]').input_value() == "Thăm nhà hằng tuần"
    guarded_page.shoot("desk-form-plan", full_page=True)
    page.locator('[name="measures.0.responsible"]').fill("Chị Mẫu, công chức VH-XH (giả lập)")
    desk.submit()
    desk.logout()

    # The chair decides the emergency protection, then returns the plan.
    desk.login("chair")
    waiting = page.locator("table", has=page.get_by_text("Kế hoạch chờ phê duyệt"))
    assert waiting.get_by_role("link", name=code).is_visible()
    guarded_page.shoot("desk-home-chair", full_page=True)
    desk.open_case(code)
    desk.do("Quyết định bảo vệ khẩn cấp (Chủ tịch)")
    page.get_by_label("Biện pháp bảo vệ khẩn cấp được quyết định").fill("Tạm thời cho trẻ ở với bà ngoại (giả lập)")
    page.get_by_label("Thời điểm quyết định").fill(local(minutes_ago=8))
    page.get_by_label("Tạm thời cách ly trẻ khỏi người chăm sóc").check()
    desk.submit()
    assert page.get_by_text("Quyết định của Chủ tịch").is_visible()
    desk.do("Trả lại kế hoạch")
    page.get_by_label("Lý do").fill("Cần thêm biện pháp hỗ trợ tâm lý")
    desk.submit()
    desk.logout()

    # The worker submits again; the chair approves.
    desk.login("case_worker")
    desk.open_case(code)
    desk.do("Trình kế hoạch (Mẫu 04)")
    page.get_by_label("Mục tiêu").fill("Trẻ an toàn, đi học đều")
    page.locator('[name="measures.0.kind"]').select_option("carer_counselling")
    page.locator('[name="measures.0.description"]').fill("Chị Mẫu thăm nhà thứ Hai hằng tuần")
    page.locator('[name="measures.0.responsible"]').fill("Chị Mẫu, công chức VH-XH (giả lập)")
    page.locator('[name="measures.0.starts_on"]').fill("2026-12-07")
    page.locator('[name="measures.0.ends_on"]').fill("2027-02-26")
    page.locator('[name="measures.1.kind"]').select_option("legal_support")
    page.locator('[name="measures.1.description"]').fill("Tư vấn pháp luật cho gia đình")
    page.locator('[name="measures.1.agency_code"]').select_option("CA")
    page.locator('[name="measures.1.starts_on"]').fill("2026-12-02")
    page.locator('[name="measures.1.ends_on"]').fill("2027-01-29")
    desk.submit()
    desk.logout()
    desk.login("chair")
    desk.open_case(code)
    desk.do("Phê duyệt kế hoạch (Mẫu 05)")
    desk.submit()
    assert "Đang can thiệp" in page.locator("ol.lifecycle li.current").inner_text()
    assert page.get_by_text("/QĐ-UBND").first.is_visible()  # the numbered decision
    desk.logout()

    # The worker records the family's consent, starts the police's measure, then reviews and
    # proposes closure.
    desk.login("case_worker")
    desk.open_case(code)
    desk.do("Bắt đầu dịch vụ hỗ trợ")
    page.get_by_label("Loại dịch vụ").select_option("legal_aid")
    page.get_by_label("Cơ quan cung cấp dịch vụ").select_option("CA")
    page.get_by_label("Ngày bắt đầu").fill("2026-12-02")
    page.get_by_label("Thực hiện biện pháp số").select_option("2")
    page.get_by_role("button", name="Ghi nhận").click()
    page.get_by_text("Chưa ghi nhận sự đồng ý chia sẻ thông tin").first.wait_for()  # no consent yet
    page.goto(page.url.split("/do/")[0])
    desk.do("Ghi nhận sự đồng ý chia sẻ thông tin")
    page.get_by_label("Ý kiến của trẻ (từ đủ 7 tuổi)").select_option("given")
    page.get_by_label("Ý kiến của cha, mẹ, người chăm sóc").select_option("given")
    page.get_by_label("Họ tên cha, mẹ, người chăm sóc").fill("Lương Thị Mẹ (giả lập)")
    desk.submit()
    desk.do("Bắt đầu dịch vụ hỗ trợ")
    page.get_by_label("Loại dịch vụ").select_option("legal_aid")
    page.get_by_label("Cơ quan cung cấp dịch vụ").select_option("CA")
    page.get_by_label("Ngày bắt đầu").fill("2026-12-02")
    page.get_by_label("Thực hiện biện pháp số").select_option("2")
    desk.submit()
    desk.do("Rà soát, đánh giá (Mẫu 06)")
    page.get_by_label("Kết quả rà soát").fill("Trẻ ổn định, đi học đều")
    for factor in ("Mức độ nghiêm trọng của tổn hại", "Khả năng đối tượng xâm hại tiếp cận trẻ",
                   "Cản trở đến sự an toàn nơi trẻ sống", "Khả năng tự bảo vệ, phục hồi của trẻ (nguy cơ)"):
        page.get_by_label(factor).select_option("low")
    page.get_by_label("Đề xuất").select_option("close")
    guarded_page.shoot("desk-form-review", full_page=True)
    desk.submit()
    desk.logout()

    # The chair closes it.
    desk.login("chair")
    assert page.locator("table", has=page.get_by_text("Đề xuất đóng vụ việc chờ quyết định")) \
        .get_by_role("link", name=code).is_visible()
    desk.open_case(code)
    desk.do("Đóng vụ việc (Chủ tịch quyết định)")
    page.get_by_label("Lý do đóng").select_option("no_longer_at_risk")
    desk.submit()
    assert "Đã đóng" in page.locator("ol.lifecycle li.current").inner_text()
    guarded_page.shoot("desk-case-closed", full_page=True)
    desk.logout()

    # The police officer: the case is theirs to read in part, with nothing to press.
    desk.login("agency_official")
    guarded_page.shoot("desk-home-police", full_page=True)
    desk.open_case(code)
    assert page.get_by_text("Phần không hiển thị với vai trò của bạn").is_visible()
    assert page.locator("a[href*='/do/']").count() == 0
    assert page.get_by_text("Nguyễn Thị Gọi").count() == 0  # the reporter stays hidden
    guarded_page.shoot("desk-case-police", full_page=True)
    response = desk.go(f"/desk/cases/{code}/do/reopen")
    assert response.status == 403
    desk.logout()

    # The auditor reads no case; a form posted without its CSRF token is refused.
    desk.login("auditor")
    assert desk.go(f"/desk/cases/{code}").status == 403
    forged = page.request.post(desk.server.url(f"/desk/cases/{code}/notes"), form={"text": "giả mạo"})
    assert forged.status == 403
    desk.logout()
    desk.login("chair")
    forged = page.request.post(desk.server.url(f"/desk/cases/{code}/do/reopen"),
                               form={"reason": "giả mạo", "expected_version": "99"})
    assert forged.status == 403
    desk.open_case(code)
    assert "Đã đóng" in page.locator("ol.lifecycle li.current").inner_text()
    assert guarded_page.blocked == []
    # The refusals above are answered with 4xx pages, which Chromium logs; nothing else may be.
    assert [p for p in guarded_page.problems if not p.startswith("Failed to load resource")] == []
