"""Flow-control keys: a CEL expression over a run's event, evaluated to one queue per value.

A key's identity is hashes, not the value itself: the expression's and its value's, so that
keys stay short whatever the event holds, and two expressions giving equal values stay apart.
"""

from __future__ import annotations

import hashlib
from typing import Any

from surge.core import codec

from .expressions import compile_expression

__all__ = ["MISSING", "digest", "key_value", "value_digest"]

MISSING = object()
"""What `key_value` returns when the expression cannot be evaluated (a missing field)."""


def key_value(expression: str, event: dict[str, Any]) -> Any:
    """The value of `expression` over `event` (as ``event``), or `MISSING`."""
    try:
        return compile_expression(expression).evaluate({"event": event})
    except Exception:  # a missing field, a type error
        return MISSING


def digest(text: str | bytes) -> str:
    """A short, stable hash of `text`."""
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()[:24]


def value_digest(value: Any) -> str:
    """`digest` of a key's value (`MISSING` counts as ``null``)."""
    return digest(codec.dumps(None if value is MISSING else value))
