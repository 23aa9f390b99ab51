"""Opaque keyset cursors: a page continues after the last row the client saw, whatever was added since."""

import base64
import binascii
import json
from typing import Any

from app.core.errors import InvalidInput, field_problem


def encode_cursor(position: dict[str, Any]) -> str:
    """A URL-safe token for `position` (a dict of JSON values)."""
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str, *, keys: set[str], field: str = "cursor") -> dict[str, Any]:
    """The position in `token`; a token this service did not issue is a validation error on `field`."""
    try:
        padded = token + "=" * (-len(token) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        position = None
    if not isinstance(position, dict) or set(position) != keys:
        raise invalid_cursor(field)
    return position


def invalid_cursor(field: str = "cursor") -> InvalidInput:
    """The error for a cursor this service did not issue."""
    return InvalidInput("invalid cursor", detail=[field_problem(field, "is not a cursor this service issued")])
