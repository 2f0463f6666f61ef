"""JSON encoding used on every wire and in storage (orjson: fast and strict)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import orjson

from .errors import InvalidInput

JSONDecodeError = orjson.JSONDecodeError


def dumps(value: Any) -> bytes:
    """Encode `value` as compact UTF-8 JSON bytes."""
    return orjson.dumps(value)


def dumps_str(value: Any) -> str:
    """Encode `value` as a compact JSON string."""
    return orjson.dumps(value).decode()


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Decode JSON; raises `JSONDecodeError` (a `ValueError`) on malformed input."""
    return orjson.loads(data)


def dumps_sorted(value: Any) -> bytes:
    """Encode `value` as compact JSON with object keys sorted: a canonical form for hashing."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def json_object(data: bytes, fields: Collection[str], *, what: str = "the body") -> dict[str, Any]:
    """Decode a request body that must be a JSON object with no field outside `fields`;
    `InvalidInput` naming the problem (`what` names the body) otherwise."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"{what} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{what} must be a JSON object, got {type(value).__name__}")
    unknown = sorted(set(value) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields))
        raise InvalidInput(f"unknown field {unknown[0]!r} (known: {known})", field=unknown[0])
    return value
