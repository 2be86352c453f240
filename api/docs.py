"""The API's documentation pages, /docs (Swagger UI) and /redoc, with every file they load
served from here — out of the pinned `fastapi-offline` package, which ships Swagger UI's and
ReDoc's release files — so they render in a commune office whose line to the outside is down,
and opening them tells no other host who reads our API.

Each page carries its own Content-Security-Policy: scripts from here only, plus the inline
script FastAPI writes to start Swagger UI, allowed by its SHA-256 rather than by
'unsafe-inline'. ReDoc styles itself with injected <style> elements (styled-components), so
its page allows inline styles — never inline scripts."""

import base64
import hashlib
import re
from functools import lru_cache
from importlib import resources

from fastapi import FastAPI, HTTPException
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, Response

ASSETS = "/docs/assets"
MEDIA_TYPES = {"swagger-ui-bundle.js": "text/javascript; charset=utf-8",
               "swagger-ui.css": "text/css; charset=utf-8",
               "redoc.standalone.js": "text/javascript; charset=utf-8",
               "favicon.png": "image/png"}
OAUTH2_REDIRECT = "/docs/oauth2-redirect"


@lru_cache(maxsize=len(MEDIA_TYPES))
def _asset(name: str) -> bytes:
    return resources.files("fastapi_offline").joinpath("static", name).read_bytes()


def _inline_script_hashes(page: str) -> str:
    return " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in re.findall(r"<script>(.*?)</script>", page, re.DOTALL))


def _policy(script: str, style: str, *extra: str) -> str:
    return "; ".join(["default-src 'none'", f"script-src {script}", f"style-src {style}",
                      "img-src 'self' data:", "connect-src 'self'", "font-src 'self' data:", *extra,
                      "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'"])


def _page(response: HTMLResponse, policy: str) -> HTMLResponse:
    return HTMLResponse(bytes(response.body), headers={"content-security-policy": policy})


def install(app: FastAPI, title: str) -> None:
    """Serve the pages (the app is made with `docs_url=None, redoc_url=None`)."""
    openapi = app.openapi_url or "/openapi.json"
    swagger = get_swagger_ui_html(
        openapi_url=openapi, title=f"{title} — API", oauth2_redirect_url=OAUTH2_REDIRECT,
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon.png",
        # No call to the public validator service with our schema's address.
        swagger_ui_parameters={"validatorUrl": None})
    swagger_html = bytes(swagger.body).decode()
    swagger_policy = _policy(f"'self' {_inline_script_hashes(swagger_html)}", "'self'")
    redoc = get_redoc_html(openapi_url=openapi, title=f"{title} — API (ReDoc)",
                           redoc_js_url=f"{ASSETS}/redoc.standalone.js",
                           redoc_favicon_url=f"{ASSETS}/favicon.png", with_google_fonts=False)
    # ReDoc's search index runs in a worker it makes from a blob.
    redoc_policy = _policy("'self'", "'self' 'unsafe-inline'", "worker-src blob:")
    redirect = get_swagger_ui_oauth2_redirect_html()
    redirect_policy = _policy(f"'self' {_inline_script_hashes(bytes(redirect.body).decode())}", "'self'")

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def swagger_page() -> HTMLResponse:
        return _page(swagger, swagger_policy)

    @app.get(OAUTH2_REDIRECT, response_class=HTMLResponse, include_in_schema=False)
    def oauth2_redirect() -> HTMLResponse:
        return _page(redirect, redirect_policy)

    @app.get("/redoc", response_class=HTMLResponse, include_in_schema=False)
    def redoc_page() -> HTMLResponse:
        return _page(redoc, redoc_policy)

    @app.get(f"{ASSETS}/{{name}}", include_in_schema=False)
    def asset(name: str) -> Response:
        if name not in MEDIA_TYPES:
            raise HTTPException(404)
        # The files change only with the pinned package: a browser may keep them a day.
        return Response(_asset(name), media_type=MEDIA_TYPES[name],
                        headers={"cache-control": "public, max-age=86400"})
