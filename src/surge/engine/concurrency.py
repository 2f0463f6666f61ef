"""A run's concurrency limits: the keys its steps count against, fixed when it starts.

A function declares up to two limits in `concurrency`: an integer, an object, an array of
objects, or Inngest's ``{"fn": [...], "step": [...]}`` form, whose ``step`` entries these are
(its ``fn`` entries limit whole runs, which Surge does not enforce: `not_enforced` reports
them). Each limit has a ``scope`` (``fn``, the default, ``env`` or ``account``) and optionally
a ``key``: a CEL expression over the run's event, one queue per value. A ``limit`` of 0 means
no limit, as in Inngest.

A key's identity follows Inngest's: the scope, the function (for ``fn``), the key
expression's hash and its value's hash. So an ``env`` or ``account`` limit is shared by every
function that declares the same key expression, and evaluates it to the same value; ``fn``
limits are the function's own. A key expression that fails to evaluate (a missing field)
counts as the value ``null``: every such run shares one queue, still limited.
"""

from __future__ import annotations

from typing import Any

from surge.core.functions import FunctionConfig
from surge.storage import Limit

from .keys import digest, key_value, value_digest

__all__ = ["declared_limits", "run_limits"]


def declared_limits(concurrency: Any) -> list[dict[str, Any]]:
    """The step-level limits of a function's `concurrency` option, as objects."""
    if concurrency is None:
        return []
    if isinstance(concurrency, int) and not isinstance(concurrency, bool):
        return [{"limit": concurrency}]
    if isinstance(concurrency, dict):
        if "limit" not in concurrency and {"fn", "step"} & concurrency.keys():
            return list(concurrency.get("step") or [])
        return [concurrency]
    return list(concurrency)


def run_limits(function: FunctionConfig, event: dict[str, Any]) -> tuple[Limit, ...]:
    """The limits a run of `function` started by `event` counts against."""
    declared = function.raw.get("concurrency")
    if declared is None:
        return ()
    limits = []
    for item in declared_limits(declared):
        limit = item.get("limit") or 0
        if limit <= 0:
            continue
        scope = item.get("scope") or "fn"
        parts = [scope, function.id if scope == "fn" else ""]
        expression = item.get("key")
        if expression:
            parts += [digest(expression), value_digest(key_value(expression, event))]
        limits.append(Limit(":".join(parts), limit))
    return tuple(limits)
