"""One place maps domain errors to HTTP. Every error body has the same shape (`ErrorBody`):
a machine-readable `code`, a Vietnamese `message`, its English `message_en`, and, where it
applies, the `field` and the `rule` it broke. No stack trace or SQL ever reaches a client."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from states.identity.login import AuthFailed, TooManyAttempts
from states.kernel.errors import (
    DomainError,
    Forbidden,
    GuardFailed,
    IdempotencyConflict,
    IllegalTrigger,
    InvalidInput,
    NotFound,
    StaleVersion,
    UnknownTrigger,
)

log = logging.getLogger(__name__)


class FieldError(BaseModel):
    field: str
    rule: str
    message: str


class ErrorBody(BaseModel):
    code: str
    message: str
    message_en: str
    field: str | None = None
    rule: str | None = None
    errors: list[FieldError] | None = None
    allowed_triggers: list[str] | None = None
    current_version: int | None = None


STATUS: dict[type[DomainError], int] = {
    NotFound: 404,
    UnknownTrigger: 404,
    InvalidInput: 422,
    GuardFailed: 422,
    IllegalTrigger: 409,
    StaleVersion: 409,
    IdempotencyConflict: 409,
    Forbidden: 403,
    AuthFailed: 401,
    TooManyAttempts: 429,
}


def _body(code: str, vi: str, en: str, **extra: Any) -> dict[str, Any]:
    return ErrorBody(code=code, message=vi, message_en=en, **extra).model_dump(exclude_none=True)


def error_response(status: int, code: str, vi: str, en: str, **extra: Any) -> JSONResponse:
    return JSONResponse(status_code=status, content=_body(code, vi, en, **extra))


def status_of(exc: DomainError) -> int:
    """The HTTP status of a domain error (the desk's pages answer with the same)."""
    return next((s for t, s in STATUS.items() if isinstance(exc, t)), 400)


def _domain(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    status = status_of(exc)
    extra = {k: v for k, v in exc.extra.items() if k in ("allowed_triggers", "current_version")}
    response = error_response(status, exc.code, exc.message_vi, exc.message_en,
                              field=exc.field, rule=exc.rule, **extra)
    if "retry_after" in exc.extra:
        response.headers["Retry-After"] = str(exc.extra["retry_after"])
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def _field_name(loc: tuple[Any, ...]) -> str:
    # Drop the "body" prefix and the discriminator tag pydantic adds for tagged unions.
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] if parts[0] == "body" else parts
    # The tag is only ever followed by the field: a lone "phone" is a field (an official's phone).
    if len(parts) > 1 and parts[0] in ("hotline_111", "online", "phone", "in_person", "third_party",
                                       "HotlineReport", "StaffReport", "CitizenReport"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Malformed JSON is located by a character offset, not a field: name the body.
    errors = [FieldError(field="body" if e["type"] == "json_invalid" else _field_name(tuple(e["loc"])),
                         rule=e["type"], message=str(e["msg"])) for e in exc.errors()]
    first = errors[0] if errors else FieldError(field="body", rule="invalid", message="invalid")
    return error_response(
        422, "validation_error",
        f"Dữ liệu không hợp lệ ở trường '{first.field}': {first.message}",
        f"Invalid value for '{first.field}': {first.message}",
        field=first.field, rule=first.rule, errors=[e.model_dump() for e in errors])


def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, (ValueError, RecursionError)):
        # FastAPI could not decode the body (not UTF-8, nested too deep): answer as for bad JSON.
        return _validation(request, RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error"}]))
    vi = {401: "Cần đăng nhập (mã truy cập hoặc khoá API).", 404: "Không tìm thấy.",
          405: "Phương thức không được hỗ trợ.", 413: "Yêu cầu quá lớn."
          }.get(exc.status_code, "Yêu cầu không hợp lệ.")
    return JSONResponse(status_code=exc.status_code, headers=exc.headers,
                        content=_body(f"http_{exc.status_code}", vi, str(exc.detail)))


def _db_busy(_: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", type(exc).__name__)
    return JSONResponse(status_code=503, headers={"Retry-After": "1"}, content=_body(
        "database_busy", "Hệ thống đang bận, vui lòng thử lại.", "The database is busy; retry shortly."))


def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    # Starlette runs a sync handler in a worker thread, outside the `except` block, where
    # `log.exception` finds no exception and logs "NoneType: None": pass the exception itself.
    log.error("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "Lỗi hệ thống; đã ghi nhận.",
                          "Internal error; it has been logged.")


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(OperationalError, _db_busy)
    app.add_exception_handler(Exception, _unexpected)


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error responses a route can give."""
    text = {400: "Bad request", 401: "No, unknown, expired or revoked credentials",
            403: "Role not allowed",
            404: "Not found", 409: "Illegal trigger, stale version or reused idempotency key",
            413: "Body too large", 422: "A field breaks a rule (named in `field` and `rule`)",
            429: "Too many requests or failed logins; retry after `Retry-After` seconds",
            503: "Database busy; retry"}
    # Every route reads or writes the database, and a busy database answers 503: document it.
    return {c: {"model": ErrorBody, "description": text[c]} for c in sorted({*codes, 503})}
