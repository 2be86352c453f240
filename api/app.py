"""The FastAPI app factory. The composition root (`kipthoi`) builds the runtime and hands it in,
so a test builds an app around its own database and clock without environment variables."""

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from api import docs, errors
from api.deps import Runtime
from api.limits import BodyLimit, SecurityHeaders
from api.ratelimit import Limiter, RateLimit, RateLimited
from api.ratelimit import handle as rate_limited
from api.routers import attachments as case_attachments
from api.routers import auth, cases, deadlines, directory, exports, oversight, reports, users, webhooks
from api.routers import handover as case_handover
from api.routers import prints as case_prints
from api.routers import search as case_search

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"


class Background(Protocol):
    """Work that lives as long as the app (the embedded scheduler)."""

    def start(self) -> None: ...

    def shutdown(self) -> None: ...


def create_app(runtime: Runtime, *, max_body_bytes: int = 256 * 1024,
               background: Background | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if background is not None:
            background.start()
        try:
            yield
        finally:
            if background is not None:
                background.shutdown()

    app = FastAPI(
        lifespan=lifespan,
        title="kipthoi",
        summary="Tiếp nhận và xử lý thông báo, tố giác về xâm hại trẻ em — child-abuse report intake",
        version="0.1.0",
        docs_url=None, redoc_url=None,  # api/docs.py serves them, with their files
    )
    docs.install(app, "kipthoi")
    app.state.runtime = runtime
    errors.install(app)

    app.add_middleware(SecurityHeaders)
    # Outside the app, so that the limit holds before anything reads the body.
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, larger=[
        ("POST", case_attachments.UPLOAD_PATH, case_attachments.body_limit(runtime.policy))])
    # Outside the body limit: a client over its rate is refused before its body is read.
    app.state.limiter = None
    if runtime.rate_limits is not None:
        # Buckets in the database, shared by the workers; keys are HMACs under a key every
        # worker derives alike from the login throttle's (itself from the secret).
        app.state.limiter = Limiter(runtime.rate_limits, runtime.clock, runtime.db,
                                    hmac.new(runtime.auth.throttle_key, b"rate-buckets", "sha256").digest())
        app.add_middleware(RateLimit, limiter=app.state.limiter)
    app.add_exception_handler(RateLimited, rate_limited)
    # Closed unless origins are configured; then only those, and never with credentials
    # (tokens travel in the Authorization header, not in cookies).
    if runtime.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(runtime.cors_origins),
                           allow_credentials=False, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
                           max_age=600)

    # The pages' one stylesheet (web/static): served from here, so no page asks another host.
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/health", tags=["ops"])
    def health() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app.include_router(reports.router)
    app.include_router(cases.router)
    app.include_router(case_attachments.router)
    app.include_router(case_handover.router)
    app.include_router(case_search.router)
    app.include_router(directory.router)
    app.include_router(deadlines.router)
    app.include_router(webhooks.router)
    app.include_router(oversight.router)
    app.include_router(exports.router)
    app.include_router(case_prints.router)
    app.include_router(auth.router)
    app.include_router(users.router)
    return app
