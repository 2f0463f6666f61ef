"""Reading the JSON bodies of the REST v1 commands: an object with known fields, each read
with a clear error naming it."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from surge.core import codec
from surge.core.durations import parse_time
from surge.core.errors import InvalidInput

from .responses import read_body

COMMAND_BODY_BYTES = 64 * 1024
"""The largest body of a command (a cancellation, a replay, a pause, a rerun)."""


async def json_object(
    request: Request, fields: frozenset[str], *, optional: bool = False
) -> dict[str, Any]:
    """The body, a JSON object with no field outside `fields` (`{}` when `optional` and the
    body is empty)."""
    raw = await read_body(request, COMMAND_BODY_BYTES)
    if optional and not raw.strip():
        return {}
    return codec.json_object(raw, fields)


def text(body: dict[str, Any], name: str) -> str:
    """The required non-empty string `name`."""
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{name} must be a non-empty string", field=name)
    return value


def time(body: dict[str, Any], name: str) -> int:
    """The required RFC 3339 time `name`, in milliseconds."""
    value = body.get(name)
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be an RFC 3339 time", field=name)
    try:
        return parse_time(value)
    except (InvalidInput, ValueError):
        raise InvalidInput(f"{name} must be an RFC 3339 time, got {value!r}", field=name) from None


def flag(body: dict[str, Any], name: str) -> bool:
    """The optional boolean `name` (false when absent)."""
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise InvalidInput(f"{name} must be true or false", field=name)
    return value


def texts(body: dict[str, Any], name: str, default: list[str]) -> list[str]:
    """The optional list of strings `name` (`default` when absent)."""
    value = body.get(name, default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{name} must be a list of strings", field=name)
    return value
