"""A new run's start gates, priority and gather, from its function's options and its event.

* ``idempotency`` (a CEL expression): one run per value in 24 hours; later ones are skipped.
  An event the expression cannot be evaluated on (a missing field) is not held back.
* ``rateLimit`` (``limit`` per ``period``, optional ``key``): runs past the limit are skipped.
* ``throttle`` (``limit`` per ``period``, ``burst``, optional ``key``): runs past the limit
  start later, in order (`storage/rules/gates.py` has the arithmetic).
* ``singleton`` (optional ``key``, ``mode`` ``skip`` or ``cancel``): while a run with the key
  runs, a new one is skipped (``skip``), or starts and the running one is cancelled.
* ``priority.run`` (a CEL expression): a number of seconds from -600 to 600 (clamped; a
  non-number or a failed evaluation counts as 0). A positive one makes the run's first call
  due that much earlier, ahead of runs queued since; a negative one, that much later.

* ``debounce`` (``period``, optional ``key`` and ``timeout``) and ``batchEvents``
  (``maxSize``, ``timeout``, optional ``key`` and ``if``): the event waits in a gather
  (`storage/rules/gathers.py`) and one run starts later with the debounce's last event or the
  whole batch. An event for which the batch's ``if`` does not hold runs at once, alone.

Gate and gather keys belong to their function: the same key expression in two functions
gives two keys. A rate limit, throttle, debounce or batch key that cannot be evaluated counts
as ``null``, one shared queue, still limited.
"""

from __future__ import annotations

from typing import Any

from surge.core.durations import parse_duration
from surge.core.functions import FunctionConfig
from surge.storage import Gate, GateKind, Gather, GatherKind

from .expressions import compile_expression
from .keys import MISSING, digest, key_value, value_digest

__all__ = [
    "IDEMPOTENCY_PERIOD_MS",
    "MAX_PRIORITY_S",
    "run_gates",
    "run_gather",
    "run_priority_ms",
    "run_timeouts",
]

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
        if key_value(expression, event) is not MISSING:
            key = _key(GateKind.IDEMPOTENCY, function, expression, event)
            gates.append(Gate(GateKind.IDEMPOTENCY, key, IDEMPOTENCY_PERIOD_MS))
    for kind, option in ((GateKind.RATE_LIMIT, "rateLimit"), (GateKind.THROTTLE, "throttle")):
        config = raw.get(option)
        if not config:
            continue
        key = _key(kind, function, config.get("key") or "", event)
        period_ms = _ms(config["period"])
        burst = int(config.get("burst") or 0) if kind is GateKind.THROTTLE else 0
        gates.append(Gate(kind, key, period_ms, int(config["limit"]), burst))
    singleton = raw.get("singleton")
    if isinstance(singleton, dict):
        kind = (
            GateKind.SINGLETON_CANCEL if singleton.get("mode") == "cancel" else GateKind.SINGLETON
        )
        key = _key(GateKind.SINGLETON, function, singleton.get("key") or "", event)
        gates.append(Gate(kind, key, 0))
    return tuple(gates)


def run_timeouts(function: FunctionConfig, now: int) -> tuple[tuple[str, int], ...]:
    """When a run of `function` started at `now` must have begun (``start``) and ended
    (``finish``), from its ``timeouts``."""
    timeouts = function.raw.get("timeouts")
    if not isinstance(timeouts, dict):
        return ()
    return tuple(
        (which, now + _ms(timeouts[which]))
        for which in ("start", "finish")
        if isinstance(timeouts.get(which), str) and timeouts[which]
    )


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


def run_gather(function: FunctionConfig, event: dict[str, Any]) -> Gather | None:
    """Where `event`'s run of `function` waits first: its debounce, or its event batch (when
    the batch's ``if`` holds, or it has none), else nowhere."""
    raw = function.raw
    debounce = raw.get("debounce")
    if debounce:
        key = _key(GatherKind.DEBOUNCE, function, debounce.get("key") or "", event)
        timeout = debounce.get("timeout")
        return Gather(
            GatherKind.DEBOUNCE,
            key,
            _ms(debounce["period"]),
            timeout_ms=_ms(timeout) if timeout else None,
        )
    batch = raw.get("batchEvents")
    if batch:
        condition = batch.get("if")
        if condition and not compile_expression(condition).matches({"event": event}):
            return None
        key = _key(GatherKind.BATCH, function, batch.get("key") or "", event)
        return Gather(GatherKind.BATCH, key, _ms(batch["timeout"]), max_size=int(batch["maxSize"]))
    return None


def _ms(duration: str) -> int:
    return int(parse_duration(duration) * 1000)


def _key(
    kind: GateKind | GatherKind, function: FunctionConfig, expression: str, event: dict[str, Any]
) -> str:
    """The key of a gate or gather: its kind, its function, and the key expression's value."""
    parts = [kind.value, function.id]
    if expression:
        value = key_value(expression, event)
        parts += [digest(expression), value_digest(value)]
    return ":".join(parts)
