"""Token-bucket rate limits for what anyone may call without credentials: public intake
(`POST /reports` without an `Authorization` header), public tracking
(`GET /public/reports/{code}`) and logging in (`POST /auth/token`, per client address here and
per username in its router).

The buckets live in this process's memory: each worker process counts on its own, so with N
workers a client gets up to N times the configured rate. That is the intended trade-off (no
shared store to run, nothing to fail open); the per-account login throttle, which is what stops
password guessing, is in the database and shared. Behind a reverse proxy the client address is
the one uvicorn takes from `X-Forwarded-For` for the proxies it trusts (`--forwarded-allow-ips`).

Time comes from the injected clock, so tests refill buckets by moving a `FrozenClock`."""

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_response
from api.limits import SECURITY_HEADERS
from states.clock import Clock


@dataclass(frozen=True)
class Rule:
    per_minute: float  # the steady rate
    burst: int  # how many may come at once


@dataclass(frozen=True)
class RateLimits:
    public_intake: Rule = Rule(per_minute=10, burst=20)
    public_status: Rule = Rule(per_minute=60, burst=30)
    login_per_address: Rule = Rule(per_minute=30, burst=20)
    login_per_username: Rule = Rule(per_minute=10, burst=10)


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited; retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class Limiter:
    """One bucket per (rule, key); the least recently used go first when there are too many."""

    limits: RateLimits
    clock: Clock
    max_keys: int = 100_000
    _buckets: "OrderedDict[tuple[str, str], _Bucket]" = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hit(self, rule_name: str, key: str) -> None:
        """Take one token, or raise `RateLimited` with the seconds until there is one."""
        rule: Rule = getattr(self.limits, rule_name)
        rate = rule.per_minute / 60.0
        now = self.clock.now().timestamp()
        with self._lock:
            bucket = self._buckets.pop((rule_name, key), None)
            if bucket is None:
                bucket = _Bucket(tokens=float(rule.burst), at=now)
            else:
                bucket.tokens = min(float(rule.burst), bucket.tokens + max(0.0, now - bucket.at) * rate)
                bucket.at = now
            self._buckets[(rule_name, key)] = bucket
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return
            missing = 1.0 - bucket.tokens
        raise RateLimited(math.ceil(missing / rate) if rate > 0 else 3600)


def too_many(retry_after: int) -> JSONResponse:
    response = error_response(429, "rate_limited", "Quá nhiều yêu cầu; vui lòng thử lại sau.",
                              f"Too many requests; retry after {retry_after} s.")
    response.headers["Retry-After"] = str(retry_after)
    for name, value in SECURITY_HEADERS:
        response.headers[name.decode()] = value.decode()
    return response


def handle(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RateLimited)
    return too_many(exc.retry_after)


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _rule_for(scope: Scope) -> str | None:
    method, path = scope.get("method"), scope.get("path", "")
    if method == "POST" and path == "/reports":
        headers = dict(scope.get("headers", []))
        return None if b"authorization" in headers else "public_intake"
    if method == "GET" and path.startswith("/public/reports/"):
        return "public_status"
    if method == "POST" and path == "/auth/token":
        return "login_per_address"
    return None


class RateLimit:
    """Plain ASGI, outside the body limit: a client over its rate is refused before its body
    is read."""

    def __init__(self, app: ASGIApp, limiter: Limiter) -> None:
        self.app, self.limiter = app, limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rule = _rule_for(scope) if scope["type"] == "http" else None
        if rule is not None:
            try:
                self.limiter.hit(rule, client_address(scope))
            except RateLimited as exc:
                await too_many(exc.retry_after)(scope, receive, send)
                return
        await self.app(scope, receive, send)
