"""A local HTTP server that speaks the part of Twilio's REST API kipthoi uses, so tests and
benchmarks exercise the real `twilio` client on the wire.

`POST /2010-04-01/Accounts/{AccountSid}/Messages.json` (form-encoded, HTTP basic auth) answers
like Twilio: 201 with a message resource, or an error body `{code, message, more_info, status}`.
What it answers is scripted per request: `script(["ok", "500", "timeout", "429", "21211"])`;
when the script runs out it answers "ok"."""

import base64
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

ERRORS = {
    "429": (429, 20429, "Too Many Requests"),
    "500": (500, 20500, "Internal Server Error"),
    "503": (503, 20503, "Service Unavailable"),
    "21211": (400, 21211, "The 'To' number is not a valid phone number."),
    "21610": (400, 21610, "Attempt to send to unsubscribed recipient"),
    "21614": (400, 21614, "'To' number is not a valid mobile number"),
    "30003": (400, 30003, "Unreachable destination handset"),
    "401": (401, 20003, "Authenticate"),
}


@dataclass
class Received:
    account_sid: str
    form: dict[str, str]
    authorization: str | None
    at: float


@dataclass
class FakeTwilio:
    account_sid: str = "AC" + "0" * 32
    auth_token: str = "fake-auth-token"
    timeout_sleep: float = 3.0
    requests: list[Received] = field(default_factory=list)
    _script: deque[str] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, answers: list[str]) -> None:
        with self._lock:
            self._script.extend(answers)

    def _next(self) -> str:
        with self._lock:
            return self._script.popleft() if self._script else "ok"

    def start(self) -> "FakeTwilio":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out separately: no 40 ms stall

            def log_message(self, *_: Any) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length).decode()
                parts = self.path.strip("/").split("/")
                if len(parts) != 4 or parts[0] != "2010-04-01" or parts[3] != "Messages.json":
                    self._send(404, {"code": 20404, "message": "Not found", "status": 404})
                    return
                auth = self.headers.get("Authorization")
                expected = "Basic " + base64.b64encode(
                    f"{fake.account_sid}:{fake.auth_token}".encode()).decode()
                form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                with fake._lock:
                    fake.requests.append(Received(parts[2], form, auth, time.time()))
                if auth != expected:
                    self._send(401, {"code": 20003, "message": "Authenticate", "status": 401})
                    return
                answer = fake._next()
                if answer == "timeout":
                    time.sleep(fake.timeout_sleep)
                    answer = "500"
                if answer in ERRORS:
                    status, code, message = ERRORS[answer]
                    self._send(status, {"code": code, "message": message, "status": status,
                                        "more_info": f"https://www.twilio.com/docs/errors/{code}"})
                    return
                sid = "SM" + uuid.uuid4().hex
                self._send(201, {
                    "sid": sid, "account_sid": parts[2], "to": form.get("To"), "from": form.get("From"),
                    "messaging_service_sid": form.get("MessagingServiceSid"), "body": form.get("Body"),
                    "status": "queued", "num_segments": "1", "direction": "outbound-api",
                    "date_created": "Mon, 02 Mar 2026 02:00:00 +0000", "price": None, "error_code": None,
                    "uri": f"/2010-04-01/Accounts/{parts[2]}/Messages/{sid}.json",
                })

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def provider_for(fake: "FakeTwilio") -> Any:
    """The real `twilio` client's provider, pointed at this fake (imported here so that the
    fake itself stays free of kipthoi's code)."""
    from notifications.providers import TwilioConfig, TwilioProvider

    return TwilioProvider(TwilioConfig(account_sid=fake.account_sid, auth_token=fake.auth_token,
                                       from_number="+15005550006", base_url=fake.base_url))
