"""Pydantic types shared by every API: timestamps, identifiers, the error shape."""

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints, WithJsonSchema

ISO_EXAMPLE = "2024-05-01T09:30:00Z"


def parse_iso8601(value: Any) -> datetime:
    """An aware UTC datetime from an ISO-8601 string with a UTC offset; anything else is refused."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"must be an ISO-8601 timestamp such as {ISO_EXAMPLE}, got {value!r}") from None
    else:
        raise ValueError(f"must be an ISO-8601 timestamp string such as {ISO_EXAMPLE}")
    if parsed.tzinfo is None:
        raise ValueError(f"needs a UTC offset or Z, e.g. {ISO_EXAMPLE}")
    return parsed.astimezone(UTC)


Timestamp = Annotated[
    datetime,
    BeforeValidator(parse_iso8601),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": [ISO_EXAMPLE]}),
]

Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class StrictModel(BaseModel):
    """A request body: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class FieldProblem(BaseModel):
    field: str
    problem: str
    type: str


class ErrorResponse(BaseModel):
    """The one shape of every error Casewise returns."""

    error: str
    message: str
    detail: list[FieldProblem] = []
