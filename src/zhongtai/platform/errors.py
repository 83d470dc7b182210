"""Problem details (RFC 9457): every error the API returns, with a stable `type`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("zhongtai.errors")
PROBLEM_JSON = "application/problem+json"


class ProblemError(Exception):
    """A failure the caller can act on; rendered as problem+json."""

    status = 400
    type = "bad-request"
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra


class ValidationFailed(ProblemError):
    status, type, title = 422, "validation-error", "Invalid input"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", errors=[{"field": field, "message": message}])


class NotFound(ProblemError):
    status, type, title = 404, "not-found", "Not found"


class Conflict(ProblemError):
    status, type, title = 409, "conflict", "Conflict"


class Forbidden(ProblemError):
    status, type, title = 403, "forbidden", "Forbidden"


class Unauthorized(ProblemError):
    status, type, title = 401, "unauthorized", "Unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class TooManyRequests(ProblemError):
    status, type, title = 429, "too-many-requests", "Too many requests"


def problem(
    status: int,
    type_: str,
    title: str,
    detail: str,
    request: Request,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": type_,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "lines", 0, "qty") -> "lines[0].qty"; the location kind names query/path/header.
    parts = list(loc)
    kind = parts.pop(0) if parts and parts[0] in ("body", "query", "path", "header") else None
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    if kind in ("query", "path", "header"):
        return f"{kind}.{out}" if out else kind
    return out or "body"


_HTTP_TYPES = {
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem(
            exc.status,
            exc.type,
            exc.title,
            exc.detail,
            request,
            headers=exc.headers,
            errors=exc.errors,
            **exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field(e.get("loc", ())), "message": e.get("msg", "invalid")}
            for e in exc.errors()
        ]
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return problem(
                400,
                "malformed-request",
                "Malformed JSON body",
                "body is not valid JSON",
                request,
                errors=[{"field": "body", "message": "not valid JSON"}],
            )
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(422, "validation-error", "Invalid input", detail, request, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        type_, title = _HTTP_TYPES.get(exc.status_code, ("http-error", "HTTP error"))
        detail = exc.detail if isinstance(exc.detail, str) else title
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route or resource at {request.url.path}"
        return problem(exc.status_code, type_, title, detail, request, headers=exc.headers)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        log.info("integrity conflict: %s", exc.orig)
        return problem(
            409, "conflict", "Conflict", "the change conflicts with existing data", request
        )

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, exc: DataError) -> JSONResponse:
        # Input that passed validation but that the database refuses, e.g. a NUL character.
        log.info("unstorable input: %s", exc.orig)
        return problem(
            422,
            "validation-error",
            "Invalid input",
            "a value cannot be stored (control characters such as NUL are not allowed)",
            request,
        )

    @app.exception_handler(OperationalError)
    async def _busy(request: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database unavailable: %s", exc.orig)
        return problem(
            503,
            "unavailable",
            "Service unavailable",
            "the database is busy; retry",
            request,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return problem(
            500, "internal-error", "Internal error", "an unexpected error occurred", request
        )
