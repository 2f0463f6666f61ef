"""JSON encoding used on every wire and in storage (orjson: fast and strict)."""

from __future__ import annotations

from typing import Any

import orjson

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
