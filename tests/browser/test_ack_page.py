"""The page behind an alert SMS's link, in a real browser at phone width: it says which case,
which limit, when it is or was due and whether someone already has it in hand — the facts the
SMS carried, nothing about the child — and the tap gives a clear confirmation.

Everything goes through a real `kipthoi serve` and its CLI: the demo's accounts, reports filed
over HTTP with a receipt time in the past, `kipthoi sweep` raising the alerts (and writing the
links, signed with the server's own secret)."""

import re
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlmodel import col

from models import Case, Database, OutboxMessage
from states.kernel.clock import LOCAL_TZ
from tests.browser.conftest import GuardedPage, KipthoiServer
from tests.conftest import staff_report


def _login(server: KipthoiServer, demo_output: str, role: str) -> dict[str, str]:
    match = re.search(rf"^\s+{role}\s+(\S+)\s+(\S+)$", demo_output, re.MULTILINE)
    assert match, demo_output
    r = httpx.post(server.url("/auth/token"), data={"grant_type": "password", "username": match[1],
                                                      "password": match[2]})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _report(server: KipthoiServer, headers: dict[str, str], received_at: datetime, name: str) -> str:
    body = staff_report(received_at=received_at.isoformat(), place_code="DONG-AN",
                        child={"full_name": name, "birth_date": "2015-04-09", "sex": "female"})
    r = httpx.post(server.url("/reports"), json=body, headers=headers)
    assert r.status_code == 201, r.text
    return str(r.json()["case_code"])


def _link(db: Database, code: str) -> str:
    with db.read() as s:
        bodies = list(s.execute(select(col(OutboxMessage.body)).join(Case, col(Case.id) == col(OutboxMessage.case_id))
                                .where(col(Case.code) == code, col(OutboxMessage.alert_id).is_not(None))
                                .order_by(col(OutboxMessage.id))).scalars())
    assert bodies, code
    match = re.search(r"(/a/[A-Za-z0-9_-]+)$", bodies[-1])
    assert match, bodies[-1]
    return match[1]


def _text(page: Any) -> str:
    return str(page.locator("main").inner_text())


def test_the_acknowledgement_page_at_phone_width(kipthoi_server: KipthoiServer, db: Database,
                                                 guarded_page: GuardedPage) -> None:
    demo = kipthoi_server.cli("demo")
    assert demo.returncode == 0, demo.stderr
    staff = _login(kipthoi_server, demo.stdout, "intake_operator")
    now = datetime.now(LOCAL_TZ).replace(second=0, microsecond=0)
    overdue = _report(kipthoi_server, staff, now - timedelta(hours=13), "Trẻ Trang Thử")
    due = _report(kipthoi_server, staff, now - timedelta(hours=7), "Trẻ Hạn Thử")
    sweep = kipthoi_server.cli("sweep")
    assert sweep.returncode == 0, sweep.stderr

    page = guarded_page.page
    page.set_viewport_size({"width": 360, "height": 800})

    page.goto(kipthoi_server.url(_link(db, due)))
    text = _text(page)
    due_at = (now - timedelta(hours=7) + timedelta(hours=12)).strftime("%H:%M %d/%m/%Y")
    for fact in (due, "Đánh giá ban đầu", "Initial assessment", due_at, "Còn hạn"):
        assert fact in text, (fact, text)
    assert "Quá hạn" not in text and "Trẻ Hạn Thử" not in page.content()
    guarded_page.shoot("ack-due")

    page.goto(kipthoi_server.url(_link(db, overdue)))
    text = _text(page)
    was_due = (now - timedelta(hours=1)).strftime("%H:%M %d/%m/%Y")
    for fact in (overdue, "Đánh giá ban đầu", was_due, "Quá hạn"):
        assert fact in text, (fact, text)
    guarded_page.shoot("ack-overdue")
    button = page.get_by_role("button", name=re.compile("Tôi đã nhận"))
    button.focus()  # reachable and operable from the keyboard
    with page.expect_navigation():
        page.keyboard.press("Enter")
    text = _text(page)
    assert "Đã xác nhận. Cảm ơn!" in text and "Acknowledged. Thank you!" in text, text
    assert "Đã nhận / Acknowledged" in text and overdue in text
    guarded_page.shoot("ack-done")

    page.goto(kipthoi_server.url(_link(db, overdue)))
    text = _text(page)
    assert "Cảnh báo này đã được xác nhận" in text and "Đã nhận / Acknowledged" in text, text
    assert page.locator("form").count() == 0
    assert "Trẻ Trang Thử" not in page.content()
    guarded_page.shoot("ack-already")
    assert guarded_page.blocked == [] and guarded_page.problems == [], guarded_page.problems
