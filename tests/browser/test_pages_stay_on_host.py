"""Every HTML page kipthoi serves renders in a browser that can reach nothing but 127.0.0.1:
no request leaves the host (the docs' files are served by kipthoi itself), no script or style
is refused by the page's Content-Security-Policy, and none of them can be framed."""

import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.responses import HTMLResponse

from api.app import create_app
from api.deps import Runtime
from models import Database
from states.kernel.clock import FrozenClock
from states.kernel.commune import CommunePolicy
from tests.browser.conftest import LOCAL_HOSTS, GuardedPage, KipthoiServer
from tests.conftest import T0
from web import install


def _swagger_lists_operations(page: Any) -> None:
    page.wait_for_selector(".opblock", timeout=20_000)
    assert page.locator(".opblock").count() > 20
    assert page.get_by_text("/reports", exact=True).first.is_visible()


def _redoc_lists_operations(page: Any) -> None:
    page.wait_for_selector("[data-section-id^='operation/']", state="attached", timeout=20_000)
    assert page.locator("[data-section-id^='operation/']").count() > 20


def _ack_page_answers(page: Any) -> None:
    assert page.locator("h1").count() == 1 and page.locator("footer").inner_text()


# Every GET route that answers HTML, with a URL that reaches it and what it must show. A new
# page must be added here (test_every_html_page_is_checked fails until it is).
PAGES: dict[str, tuple[str, Any]] = {
    "/docs": ("/docs", _swagger_lists_operations),
    "/redoc": ("/redoc", _redoc_lists_operations),
    "/docs/oauth2-redirect": ("/docs/oauth2-redirect", lambda page: None),
    "/a/{token}": ("/a/not-a-real-token", _ack_page_answers),
}


# Outside addresses a page's own script asks for and its CSP refuses before any request is
# made: ReDoc's sidebar link "API docs by Redocly" always asks for Redocly's logo from their CDN
# (and hides the image when it fails to load).
STOPPED_BY_CSP = {"/redoc": {"https://cdn.redoc.ly/redoc/logo-mini.svg"}}

# Opened on its own (no Swagger UI window opened it), the OAuth2 redirect page's inline script
# fails on `window.opener` — which shows that the page's CSP let that script run (by its hash).
EXPECTED_ERROR = {"/docs/oauth2-redirect": "reading 'swaggerUIRedirectOauth2'"}


# The desk's pages (web/), opened by a browser that has not logged in: the public ones show
# themselves, every other one sends it to the login form. One server for all of them.
PUBLIC = {"/login": "/login", "/bao-cao": "/bao-cao", "/bao-cao/da-gui": "/bao-cao/da-gui?ma=ABCD2345",
          "/tra-cuu": "/tra-cuu"}
STAFF = {"/": "/", "/desk/cases": "/desk/cases", "/desk/cases/{code}": "/desk/cases/NH-2026-000001",
         "/desk/cases/{code}/do/{name}": "/desk/cases/NH-2026-000001/do/assess",
         "/desk/cases/{code}/attachments/{attachment_id}": "/desk/cases/NH-2026-000001/attachments/1",
         "/desk/intake": "/desk/intake", "/desk/intake/da-gui": "/desk/intake/da-gui",
         "/desk/audit": "/desk/audit", "/desk/audit/access": "/desk/audit/access",
         "/desk/audit/verify": "/desk/audit/verify", "/desk/stats": "/desk/stats", "/desk/admin": "/desk/admin",
         "/desk/admin/users/{user_id}/deactivate": "/desk/admin/users/1/deactivate",
         "/desk/admin/users/{user_id}/revoke": "/desk/admin/users/1/revoke",
         "/desk/admin/directory": "/desk/admin/directory", "/desk/admin/settings": "/desk/admin/settings",
         "/desk/admin/keys": "/desk/admin/keys"}
# Printouts (web/pages/prints.py): the page and the Word file, of the whole file and of one form.
STAFF |= {"/desk/cases/{code}/print": "/desk/cases/NH-2026-000001/print",
          "/desk/cases/{code}/print/{form}": "/desk/cases/NH-2026-000001/print/mau-01",
          "/desk/cases/{code}/print.docx": "/desk/cases/NH-2026-000001/print.docx",
          "/desk/cases/{code}/print/{form}.docx": "/desk/cases/NH-2026-000001/print/mau-01.docx"}
# The handover package of a transferred case (web/pages/handover.py).
STAFF |= {"/desk/cases/{code}/handover.zip": "/desk/cases/NH-2026-000001/handover.zip"}


def test_every_html_page_is_checked(db: Database) -> None:
    app = create_app(Runtime(db=db, clock=FrozenClock(T0), policy=CommunePolicy(code_prefix="NH", match_secret=b"t")))
    install(app)
    pages = {r.path for r in iter_route_contexts(app.routes) if isinstance(r.original_route, APIRoute)
             and "GET" in (r.methods or ()) and (
                 (isinstance(r.response_class, type) and issubclass(r.response_class, HTMLResponse))
                 or r.original_route.endpoint.__module__.startswith("web."))}
    assert pages == set(PAGES) | set(PUBLIC) | set(STAFF)


def test_desk_pages_render_with_the_outside_network_cut(kipthoi_server: KipthoiServer,
                                                        guarded_page: GuardedPage) -> None:
    page = guarded_page.page
    for route, path in {**PUBLIC, **STAFF}.items():
        response = page.goto(kipthoi_server.url(path), wait_until="networkidle")
        assert response is not None and response.status < 500, route
        if route in STAFF:
            assert "/login?next=" in page.url, route
        assert page.locator("footer").get_by_text("111").count() == 1, route
        headers = httpx.get(kipthoi_server.url(path), follow_redirects=True).headers
        assert headers["x-frame-options"] == "DENY", route
        assert "script-src 'self'" in headers["content-security-policy"], route
        assert "unsafe-inline" not in headers["content-security-policy"], route
        # Under 100 KB before images (the weight limit), the stylesheet and scripts included.
        weight = len(httpx.get(kipthoi_server.url(path), follow_redirects=True).content)
        assert weight < 100_000, (route, weight)
    for asset in ("/static/kipthoi.css", "/static/desk.js", "/static/draft.js"):
        assert len(httpx.get(kipthoi_server.url(asset)).content) < 30_000, asset
    guarded_page.shoot("desk-login")
    assert guarded_page.blocked == [], guarded_page.blocked
    assert guarded_page.problems == [], guarded_page.problems


@pytest.mark.parametrize("route", list(PAGES))
def test_page_renders_with_the_outside_network_cut(route: str, kipthoi_server: KipthoiServer,
                                                   guarded_page: GuardedPage) -> None:
    path, shows = PAGES[route]
    page = guarded_page.page
    response = page.goto(kipthoi_server.url(path), wait_until="networkidle")
    assert response is not None and response.status < 500
    if shows is not None:
        shows(page)
    page.wait_for_load_state("networkidle")
    name = route.strip("/").replace("/", "-").replace("{", "").replace("}", "")
    guarded_page.shoot(name)
    assert guarded_page.blocked == [], "requests to other hosts: " + ", ".join(guarded_page.blocked)
    stopped = [u for p in guarded_page.problems if "Content Security Policy" in p
               for u in re.findall(r"'(https?://[^']+)'", p) if urlsplit(u).hostname not in LOCAL_HOSTS]
    assert set(stopped) <= STOPPED_BY_CSP.get(route, set()), stopped
    broken = [p for p in guarded_page.problems if ("page error" in p and EXPECTED_ERROR.get(route, "@") not in p)
              or ("Content Security Policy" in p and not any(u in p for u in stopped))]
    assert broken == [], broken
    headers = httpx.get(kipthoi_server.url(path)).headers
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    scripts = [d for d in headers["content-security-policy"].split(";") if d.strip().startswith("script-src")]
    assert not any("unsafe-inline" in d or "*" in d for d in scripts)


def test_a_page_cannot_be_framed(kipthoi_server: KipthoiServer, guarded_page: GuardedPage) -> None:
    """Chromium itself refuses: another origin's page that frames /docs gets an empty frame."""
    page = guarded_page.page
    # A page of another origin (localhost is not 127.0.0.1 for the browser's same-origin rules)
    # is not reachable here, so the framing page is written in place.
    page.set_content(f"<iframe id='f' src='{kipthoi_server.url('/docs')}' width=800 height=600></iframe>")
    page.wait_for_timeout(1500)
    frame = page.frame_locator("#f")
    assert frame.locator(".opblock").count() == 0
    assert any("frame-ancestors" in p or "X-Frame-Options" in p or "refused to connect" in p.lower()
               for p in guarded_page.problems) or page.frames[1].url in ("", "about:blank",
                                                                        "chrome-error://chromewebdata/")
    assert guarded_page.blocked == []
