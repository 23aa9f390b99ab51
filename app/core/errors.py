"""The one error base class: every failure a client can cause carries its HTTP status and a code."""

from typing import Any


class CasewiseError(Exception):
    """A failure with an HTTP status, a stable machine code and a message for people."""

    status_code: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, detail: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail or []


class NotFound(CasewiseError):
    status_code = 404
    code = "not_found"


class Conflict(CasewiseError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(CasewiseError):
    status_code = 413
    code = "payload_too_large"


class InvalidInput(CasewiseError):
    status_code = 422
    code = "validation_error"


class Unauthenticated(CasewiseError):
    status_code = 401
    code = "unauthenticated"


class Forbidden(CasewiseError):
    status_code = 403
    code = "forbidden"


def field_problem(field: str, problem: str, kind: str = "value_error") -> dict[str, str]:
    """One entry of an error's `detail`: which field, what is wrong with it."""
    return {"field": field, "problem": problem, "type": kind}
