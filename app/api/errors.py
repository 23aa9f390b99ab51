"""One handler per failure family, all answering in the one error shape of app.core.schemas.ErrorResponse."""

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.errors import CasewiseError, PayloadTooLarge

log = logging.getLogger(__name__)

_HTTP_CODES = {401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
               413: "payload_too_large", 415: "unsupported_media_type"}


def error_response(status: int, code: str, message: str, detail: Sequence[dict[str, Any]] = (),
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error every failure is reported with."""
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer", **(headers or {})}
    return JSONResponse({"error": code, "message": message, "detail": list(detail)}, status_code=status,
                        headers=headers)


def field_path(loc: Sequence[Any]) -> str:
    """`("body", "events", 2, "type")` as `body.events[2].type`."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _problem(error: dict[str, Any]) -> dict[str, str]:
    message = error["msg"].removeprefix("Value error, ")
    return {"field": field_path(error["loc"]), "problem": message, "type": error["type"]}


def install_error_handlers(app: FastAPI) -> None:
    """Route every failure through error_response."""

    @app.exception_handler(CasewiseError)
    async def _casewise(_: Request, exc: CasewiseError) -> JSONResponse:
        return error_response(exc.status_code, exc.code, exc.message, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [_problem(error) for error in exc.errors()]
        summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:3])
        return error_response(422, "validation_error", f"invalid request: {summary}", problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "bad_request" if exc.status_code < 500 else "internal_error")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal_error", "internal error; it has been logged")


def too_large(limit: int) -> JSONResponse:
    """The 413 for a body over `limit` bytes."""
    exc = PayloadTooLarge(f"request body over the limit of {limit} bytes",
                          detail=[{"field": "body", "problem": f"larger than {limit} bytes", "type": "too_long"}])
    return error_response(exc.status_code, exc.code, exc.message, exc.detail)
