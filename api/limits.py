"""A request-size limit that holds for chunked bodies too: the bytes are counted as they
arrive, so a client that sends no Content-Length cannot stream an unbounded body at us."""

import json
import re
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _too_large_body(limit: int) -> bytes:
    return json.dumps({"code": "body_too_large", "message": "Yêu cầu quá lớn.",
                       "message_en": f"Request body over {limit} bytes."}, ensure_ascii=False).encode()


class BodyLimit:
    """`larger`: (method, path pattern, limit) of the few routes that take more (file uploads);
    every other route keeps `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int,
                 larger: Sequence[tuple[str, re.Pattern[str], int]] = ()) -> None:
        self.app, self.max_bytes, self.larger = app, max_bytes, tuple(larger)

    def _limit(self, scope: Scope) -> int:
        for method, path, limit in self.larger:
            if scope.get("method") == method and path.fullmatch(scope.get("path", "")):
                return limit
        return self.max_bytes

    async def _reject(self, send: Send, limit: int) -> None:
        body = _too_large_body(limit)
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._reject(send, limit)
            return
        # Read the body here, up to the limit, then replay it: an exception raised from inside
        # the app's own body reading would be turned into a 400 by the framework.
        chunks: list[bytes] = []
        seen = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > limit:
                await self._reject(send, limit)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store"),
                    (b"x-frame-options", b"DENY")]
# Framing is refused everywhere (clickjacking of the acknowledgement page or of /docs with a
# token in it). A response that sets its own policy keeps it (api/docs.py: scripts by hash);
# others get one by kind: an answer of the API loads nothing; an HTML page of ours its own
# stylesheet, images and scripts (the desk's countdowns and the report form's draft keeper, which
# resends to us with fetch), and posts its forms to us only. No inline script or style anywhere.
CSP = b"content-security-policy"
API_CSP = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
HTML_CSP = (b"default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; "
            b"connect-src 'self'; form-action 'self'; "
            b"base-uri 'none'; frame-ancestors 'none'")


class SecurityHeaders:
    """Plain ASGI (not `@app.middleware`, which costs a task and a stream per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower(): v for k, v in headers}
                added = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                if CSP not in present:
                    html = present.get(b"content-type", b"").startswith(b"text/html")
                    added.append((CSP, HTML_CSP if html else API_CSP))
                message["headers"] = headers + added
            await send(message)

        await self.app(scope, receive, with_headers)
