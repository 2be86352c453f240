"""Token-bucket rate limits for what anyone may call without credentials: public intake
(`POST /reports` without an `Authorization` header), public tracking
(`GET /public/reports/{code}`) and logging in (`POST /auth/token`, per client address here and
per username in its router).

The buckets are rows of `rate_bucket`, shared by every worker process of `kipthoi serve` (a
per-process count let a client that reached N workers in N times the rate: 80 reports in 1.7 s
opened 40 cases). Taking a token is one statement, `INSERT … ON CONFLICT DO UPDATE … WHERE`
with the refill worked out in SQL on the row as it is when the statement runs, so two workers
never both take the last token (PostgreSQL locks the row for the update; on SQLite it runs
under the write lock). A refused request writes nothing, and after one refusal this process
refuses the same bucket without asking the database until the bucket can have refilled — other
workers can only have emptied it further — so a flood costs the database one read per bucket
per worker, not one write per request. If the database cannot be reached the request is let
through: it will meet the same database and get the ordinary error.

Keys are an HMAC of the client address (or the username): the table names nobody. Rows of
buckets that have been full for longer than their refill time say nothing a missing row does
not, and are deleted now and then. Behind a reverse proxy the client address is the one uvicorn
takes from `X-Forwarded-For` for the proxies it trusts (`--forwarded-allow-ips`).

Time comes from the injected clock, so tests refill buckets by moving a `FrozenClock`."""

import hashlib
import hmac
import logging
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta

from anyio import to_thread
from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import Float, String, TextClause, bindparam, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_response
from api.limits import SECURITY_HEADERS
from models import Database
from models.dialect import PerDialect, Spelling, spelling
from models.types import UTCDateTime
from states.kernel.clock import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rule:
    per_minute: float  # the steady rate
    burst: int  # how many may come at once

    @property
    def refill_seconds(self) -> float:
        """From empty to full: a row older than this is a full bucket."""
        return self.burst * 60.0 / self.per_minute


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


# Tokens counted as one: SQLite's time functions work in milliseconds and a float of seconds
# since 1970 is exact only to about a microsecond, so a bucket refilled exactly to 1 may come out
# a hair short. A thousandth of a token more is nothing to an abuser.
EPSILON = 1e-3


def _take_sql(sql: Spelling) -> TextClause:
    """The refill needs the seconds since `updated_at`, which each database says its own way."""
    least, greatest = sql.least, sql.greatest
    refill = (f"{least}(:burst, rate_bucket.tokens + {greatest}(0.0, :now_s - {sql.epoch('rate_bucket.updated_at')})"
              " * :rate)")
    return text(
        "INSERT INTO rate_bucket (key, tokens, updated_at) VALUES (:key, :burst - 1.0, :now) "
        f"ON CONFLICT (key) DO UPDATE SET tokens = {refill} - 1.0, "
        f"updated_at = {greatest}(rate_bucket.updated_at, :now) "
        f"WHERE {refill} >= 1.0 - :epsilon RETURNING tokens"
    ).bindparams(bindparam("key", type_=String()), bindparam("burst", type_=Float()),
                 bindparam("rate", type_=Float()), bindparam("now_s", type_=Float()),
                 bindparam("now", type_=UTCDateTime()), bindparam("epsilon", type_=Float()))


_TAKE = PerDialect(lambda name: _take_sql(spelling(name)))
_READ = text("SELECT tokens, updated_at FROM rate_bucket WHERE key = :key").columns(
    tokens=Float(), updated_at=UTCDateTime())
_PRUNE = text("DELETE FROM rate_bucket WHERE key LIKE :prefix AND updated_at < :cutoff").bindparams(
    bindparam("cutoff", type_=UTCDateTime()))


@dataclass
class Limiter:
    """One shared bucket per (rule, key), and this process's memory of the buckets it found
    empty (until when), so that a refused client costs nothing more."""

    limits: RateLimits
    clock: Clock
    db: Database
    # HMAC key of bucket keys; the same in every worker (the composition root derives it from
    # the secret), or they would count apart.
    secret: bytes
    prune_every: timedelta = timedelta(minutes=1)
    max_refused: int = 100_000
    _refused: "OrderedDict[str, float]" = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next_prune: float = 0.0

    def bucket_key(self, rule_name: str, key: str) -> str:
        digest = hmac.new(self.secret, key.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{rule_name}:{digest}"

    def refused_here(self, rule_name: str, key: str) -> None:
        """Raise `RateLimited` if this process already knows the bucket is empty (no I/O)."""
        bucket = self.bucket_key(rule_name, key)
        now_s = self.clock.now().timestamp()
        with self._lock:
            until = self._refused.get(bucket)
            if until is None:
                return
            if until <= now_s:
                del self._refused[bucket]
                return
        raise RateLimited(max(1, math.ceil(until - now_s)))

    def hit(self, rule_name: str, key: str) -> None:
        """Take one token, or raise `RateLimited` with the seconds until there is one.
        Blocks on the database: call it from a worker thread, not the event loop."""
        self.refused_here(rule_name, key)
        rule: Rule = getattr(self.limits, rule_name)
        rate = rule.per_minute / 60.0
        bucket = self.bucket_key(rule_name, key)
        now = self.clock.now()
        now_s = now.timestamp()
        try:
            with self.db.write() as session:
                taken = session.execute(_TAKE(session), {
                    "key": bucket, "burst": float(rule.burst), "rate": rate, "now_s": now_s, "now": now,
                    "epsilon": EPSILON}).first()
                row = None if taken is not None else session.execute(_READ, {"key": bucket}).first()
                if now_s >= self._next_prune:
                    self._next_prune = now_s + self.prune_every.total_seconds()
                    self._prune(session, now)
        except SQLAlchemyError:
            log.exception("rate limit store unavailable; letting the request through")
            return
        if taken is not None or row is None:
            return
        tokens = min(float(rule.burst), max(0.0, row.tokens) + max(0.0, now_s - row.updated_at.timestamp()) * rate)
        wait = max(0.0, 1.0 - EPSILON - tokens) / rate
        with self._lock:
            self._refused[bucket] = now_s + wait
            self._refused.move_to_end(bucket)
            while len(self._refused) > self.max_refused:
                self._refused.popitem(last=False)
        raise RateLimited(max(1, math.ceil(wait)))

    def _prune(self, session: Session, now: datetime) -> None:
        for f in fields(self.limits):
            rule: Rule = getattr(self.limits, f.name)
            session.execute(_PRUNE, {"prefix": f"{f.name}:%",
                                     "cutoff": now - timedelta(seconds=rule.refill_seconds)})


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
    is read. The database is asked on a worker thread: on SQLite the write lock may be held by
    intake's group commit, which needs the event loop to finish."""

    def __init__(self, app: ASGIApp, limiter: Limiter) -> None:
        self.app, self.limiter = app, limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rule = _rule_for(scope) if scope["type"] == "http" else None
        if rule is not None:
            address = client_address(scope)
            try:
                self.limiter.refused_here(rule, address)
                await to_thread.run_sync(self.limiter.hit, rule, address)
            except RateLimited as exc:
                await too_many(exc.retry_after)(scope, receive, send)
                return
        await self.app(scope, receive, send)
