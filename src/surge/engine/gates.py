"""A new run's start gates and priority, from its function's options and its event.

* ``idempotency`` (a CEL expression): one run per value in 24 hours; later ones are skipped.
  An event the expression cannot be evaluated on (a missing field) is not held back.
* ``rateLimit`` (``limit`` per ``period``, optional ``key``): runs past the limit are skipped.
* ``throttle`` (``limit`` per ``period``, ``burst``, optional ``key``): runs past the limit
  start later, in order (`storage/rules/gates.py` has the arithmetic).
* ``priority.run`` (a CEL expression): a number of seconds from -600 to 600 (clamped; a
  non-number or a failed evaluation counts as 0). A positive one makes the run's first call
  due that much earlier, ahead of runs queued since; a negative one, that much later.

Gate keys belong to their function: the same key expression in two functions gives two keys.
A rate limit or throttle key that cannot be evaluated counts as ``null``, one shared queue,
still limited.
"""

from __future__ import annotations

from typing import Any

from surge.core.durations import parse_duration
from surge.core.functions import FunctionConfig
from surge.storage import Gate, GateKind

from .keys import MISSING, digest, key_value, value_digest

__all__ = ["IDEMPOTENCY_PERIOD_MS", "MAX_PRIORITY_S", "run_gates", "run_priority_ms"]

IDEMPOTENCY_PERIOD_MS = 24 * 3600 * 1000
"""How long an idempotency key keeps a function from running again."""
MAX_PRIORITY_S = 600
"""The largest priority factor, either way, in seconds."""


def run_gates(function: FunctionConfig, event: dict[str, Any]) -> tuple[Gate, ...]:
    """The gates a run of `function` started by `event` passes, in the order they are
    checked: idempotency, rate limit, throttle."""
    raw = function.raw
    gates: list[Gate] = []
    expression = raw.get("idempotency")
    if isinstance(expression, str) and expression.strip():
        value = key_value(expression, event)
        if value is not MISSING:
            key = _key(GateKind.IDEMPOTENCY, function, expression, value)
            gates.append(Gate(GateKind.IDEMPOTENCY, key, IDEMPOTENCY_PERIOD_MS))
    for kind, option in ((GateKind.RATE_LIMIT, "rateLimit"), (GateKind.THROTTLE, "throttle")):
        config = raw.get(option)
        if not config:
            continue
        expression = config.get("key") or ""
        value = key_value(expression, event) if expression else None
        key = _key(kind, function, expression, value)
        period_ms = int(parse_duration(config["period"]) * 1000)
        burst = int(config.get("burst") or 0) if kind is GateKind.THROTTLE else 0
        gates.append(Gate(kind, key, period_ms, int(config["limit"]), burst))
    return tuple(gates)


def run_priority_ms(function: FunctionConfig, event: dict[str, Any]) -> int:
    """How many milliseconds ahead of its start a run's first call is due (see above)."""
    priority = function.raw.get("priority")
    expression = priority.get("run") if isinstance(priority, dict) else None
    if not isinstance(expression, str) or not expression.strip():
        return 0
    value = key_value(expression, event)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return int(max(-MAX_PRIORITY_S, min(MAX_PRIORITY_S, value)) * 1000)


def _key(kind: GateKind, function: FunctionConfig, expression: str, value: Any) -> str:
    parts = [kind.value, function.id]
    if expression:
        parts += [digest(expression), value_digest(value)]
    return ":".join(parts)
