"""Light checks of a function's flow-control options (concurrency, throttle, cancel...).

The options stay in `FunctionConfig.raw` exactly as the SDK sent them; these checks only
reject shapes the engine could not use, and hand every CEL expression they find to a checker.
Each problem is raised as an `OptionProblem(field, problem)` for `surge.core.functions` to
wrap into an `InvalidFunction` naming the function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from surge.core.durations import parse_duration
from surge.core.errors import InvalidInput, OptionProblem
from surge.core.limits import (
    BATCH_TIMEOUT_MS,
    DEBOUNCE_PERIOD_MS,
    MAX_BATCH_SIZE,
    MAX_DURATION_MS,
    MAX_INT,
    RATE_LIMIT_PERIOD_MS,
    THROTTLE_PERIOD_MS,
)

__all__ = ["OptionProblem", "check_options", "duration_problem"]

ExpressionCheck = Callable[[str], object]

_CONCURRENCY_SCOPES = frozenset({"fn", "env", "account"})
_SINGLETON_MODES = frozenset({"skip", "cancel"})
_MAX_CONCURRENCY_ITEMS = 2


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _require_object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise OptionProblem(field, "must be an object")
    return value


def _check_expr(value: Any, field: str, check: ExpressionCheck | None) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise OptionProblem(field, "must be a string expression")
    if check is not None and value.strip():
        try:
            check(value)
        except InvalidInput as exc:
            raise OptionProblem(field, exc.message) from None


def _check_int(
    value: Any, field: str, *, minimum: int, maximum: int = MAX_INT, required: bool = True
) -> None:
    if value is None and not required:
        return
    if not _is_int(value) or not minimum <= value <= maximum:
        raise OptionProblem(field, f"must be an integer from {minimum} to {maximum}")


def duration_problem(value: Any) -> str | None:
    """Why `value` is not a usable duration option (a string such as ``"30s"``, more than
    zero and at most `MAX_DURATION_MS`), or `None` if it is one."""
    if not isinstance(value, str):
        return 'must be a duration string such as "30s"'
    try:
        seconds = parse_duration(value)
    except InvalidInput as exc:
        return exc.message
    if seconds <= 0:
        return f"duration {value!r} must be more than zero"
    if seconds * 1000 > MAX_DURATION_MS:
        return f"duration {value!r} is too long (the limit is {MAX_DURATION_MS // 86_400_000} days)"
    return None


def _check_duration(
    value: Any, field: str, *, required: bool = True, within: tuple[int, int] | None = None
) -> None:
    if value is None and not required:
        return
    problem = duration_problem(value)
    if problem is None and within is not None:
        low, high = within
        if not low <= parse_duration(value) * 1000 <= high:
            problem = f"{value!r} is out of range: from {_span(low)} to {_span(high)}"
    if problem is not None:
        raise OptionProblem(field, problem)


def _span(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def _check_concurrency_item(item: Any, field: str, check: ExpressionCheck | None) -> None:
    obj = _require_object(item, field)
    _check_int(obj.get("limit"), f"{field}.limit", minimum=0)
    _check_expr(obj.get("key"), f"{field}.key", check)
    scope = obj.get("scope")
    if scope is not None and (not isinstance(scope, str) or scope not in _CONCURRENCY_SCOPES):
        raise OptionProblem(f"{field}.scope", "must be one of fn, env, account")


def _check_concurrency_list(value: Any, field: str, check: ExpressionCheck | None) -> None:
    if not isinstance(value, list):
        raise OptionProblem(field, "must be an array")
    if len(value) > _MAX_CONCURRENCY_ITEMS:
        raise OptionProblem(
            field, f"at most {_MAX_CONCURRENCY_ITEMS} concurrency limits, got {len(value)}"
        )
    for i, item in enumerate(value):
        _check_concurrency_item(item, f"{field}[{i}]", check)


def _check_concurrency(value: Any, check: ExpressionCheck | None) -> None:
    field = "concurrency"
    if _is_int(value):
        _check_int(value, field, minimum=0)
    elif isinstance(value, list):
        _check_concurrency_list(value, field, check)
    elif isinstance(value, dict) and "limit" not in value and ({"fn", "step"} & value.keys()):
        for part in ("fn", "step"):
            if part in value:
                _check_concurrency_list(value[part], f"{field}.{part}", check)
    elif isinstance(value, dict):
        _check_concurrency_item(value, field, check)
    else:
        raise OptionProblem(field, "must be an integer, an object or an array of objects")


def _check_limited(value: Any, field: str, check: ExpressionCheck | None) -> None:
    obj = _require_object(value, field)
    _check_int(obj.get("limit"), f"{field}.limit", minimum=1)
    span = THROTTLE_PERIOD_MS if field == "throttle" else RATE_LIMIT_PERIOD_MS
    _check_duration(obj.get("period"), f"{field}.period", within=span)
    _check_int(obj.get("burst"), f"{field}.burst", minimum=0, required=False)
    _check_expr(obj.get("key"), f"{field}.key", check)


def _check_debounce(value: Any, check: ExpressionCheck | None) -> None:
    obj = _require_object(value, "debounce")
    _check_duration(obj.get("period"), "debounce.period", within=DEBOUNCE_PERIOD_MS)
    _check_duration(
        obj.get("timeout"), "debounce.timeout", required=False, within=DEBOUNCE_PERIOD_MS
    )
    _check_expr(obj.get("key"), "debounce.key", check)


def _check_batch(value: Any, check: ExpressionCheck | None) -> None:
    obj = _require_object(value, "batchEvents")
    _check_int(obj.get("maxSize"), "batchEvents.maxSize", minimum=1, maximum=MAX_BATCH_SIZE)
    _check_duration(obj.get("timeout"), "batchEvents.timeout", within=BATCH_TIMEOUT_MS)
    _check_expr(obj.get("key"), "batchEvents.key", check)
    _check_expr(obj.get("if"), "batchEvents.if", check)


def _check_cancel(value: Any, check: ExpressionCheck | None) -> None:
    if not isinstance(value, list):
        raise OptionProblem("cancel", "must be an array")
    for i, item in enumerate(value):
        field = f"cancel[{i}]"
        obj = _require_object(item, field)
        event = obj.get("event")
        if not isinstance(event, str) or not event:
            raise OptionProblem(f"{field}.event", "must be a non-empty event name")
        _check_expr(obj.get("if"), f"{field}.if", check)
        _check_duration(
            obj.get("timeout"), f"{field}.timeout", required=False, within=(0, MAX_DURATION_MS)
        )


def _check_singleton(value: Any, check: ExpressionCheck | None) -> None:
    obj = _require_object(value, "singleton")
    mode = obj.get("mode")
    if mode is not None and (not isinstance(mode, str) or mode not in _SINGLETON_MODES):
        raise OptionProblem("singleton.mode", "must be skip or cancel")
    _check_expr(obj.get("key"), "singleton.key", check)


def _check_misc(fn: dict[str, Any], check: ExpressionCheck | None) -> None:
    if fn.get("priority") is not None:
        priority = _require_object(fn["priority"], "priority")
        _check_expr(priority.get("run"), "priority.run", check)
    if fn.get("timeouts") is not None:
        timeouts = _require_object(fn["timeouts"], "timeouts")
        _check_duration(timeouts.get("start"), "timeouts.start", required=False)
        _check_duration(timeouts.get("finish"), "timeouts.finish", required=False)
    _check_expr(fn.get("idempotency"), "idempotency", check)


def check_options(fn: dict[str, Any], check: ExpressionCheck | None) -> None:
    """Check the flow-control options of one function config.

    Args:
        fn: The function object as sent by the SDK (keys as the SDKs spell them).
        check: Compiles a CEL expression, raising `InvalidInput` if it is invalid; ``None``
            skips expression checks.

    Raises:
        OptionProblem: The first unusable option found.
    """
    if fn.get("concurrency") is not None:
        _check_concurrency(fn["concurrency"], check)
    for name in ("throttle", "rateLimit"):
        if fn.get(name) is not None:
            _check_limited(fn[name], name, check)
    if fn.get("debounce") is not None:
        _check_debounce(fn["debounce"], check)
    if fn.get("batchEvents") is not None:
        _check_batch(fn["batchEvents"], check)
    if fn.get("cancel") is not None:
        _check_cancel(fn["cancel"], check)
    if fn.get("singleton") is not None:
        _check_singleton(fn["singleton"], check)
    _check_misc(fn, check)
