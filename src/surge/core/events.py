"""Event ingest validation for ``POST /e/{key}``, and internal event names
(`docs/protocol.md`, "Events").

`parse_events` turns a request body into normalized event dicts::

    {"name": str, "data": dict, "id"?: str, "ts": int, "user": dict, "v"?: str}

Every rejection is an `InvalidInput` whose ``field`` is the path of the offending value
(``events[3].name`` inside an array, ``name`` for a single object) and whose message names the
problem and that path.
"""

from __future__ import annotations

from typing import Any

from surge.core import codec
from surge.core.errors import InvalidInput
from surge.core.limits import (
    ABSOLUTE_MAX_EVENT_BYTES,
    MAX_EVENTS_PER_REQUEST,
    MAX_ID_LENGTH,
    MAX_NAME_LENGTH,
    MAX_NESTING,
    text_problem,
    too_deep,
)

__all__ = [
    "FUNCTION_CANCELLED",
    "FUNCTION_FAILED",
    "FUNCTION_FINISHED",
    "FUNCTION_INVOKED",
    "INTERNAL_PREFIX",
    "MAX_TS_MS",
    "MIN_TS_MS",
    "SCHEDULED_TIMER",
    "internal_event",
    "parse_events",
]

MIN_TS_MS = 315_532_800_000
"""1980-01-01T00:00:00Z: the earliest accepted ``ts``."""
MAX_TS_MS = 4_102_444_800_000
"""2100-01-01T00:00:00Z: the latest accepted ``ts``."""

INTERNAL_PREFIX = "inngest/"
FUNCTION_FINISHED = "inngest/function.finished"
FUNCTION_FAILED = "inngest/function.failed"
FUNCTION_CANCELLED = "inngest/function.cancelled"
FUNCTION_INVOKED = "inngest/function.invoked"
SCHEDULED_TIMER = "inngest/scheduled.timer"


def _fail(field: str, problem: str, status: int = 400) -> InvalidInput:
    message = f"{field}: {problem}" if field else problem
    return InvalidInput(message, field=field, status=status)


def _path(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def parse_events(body: bytes, *, max_event_bytes: int, now_ms: int) -> list[dict[str, Any]]:
    """Validate and normalize the body of an event send.

    Args:
        body: The raw JSON request body: one event object or an array of 1..5000 of them.
        max_event_bytes: Largest accepted encoded event; capped at `ABSOLUTE_MAX_EVENT_BYTES`.
        now_ms: Receive time in epoch ms, used for events whose ``ts`` is missing or 0.

    Returns:
        The normalized events, in request order.

    Raises:
        InvalidInput: The body or an event is invalid (status 400), or an event is larger
            than the limit (status 413).
    """
    try:
        decoded = codec.loads(body)
    except codec.JSONDecodeError as exc:
        raise _fail("", f"malformed JSON: {exc}") from None
    if isinstance(decoded, dict):
        items: list[Any] = [decoded]
        prefixes = [""]
    elif isinstance(decoded, list):
        if not decoded:
            raise _fail("events", "no events in request: send at least one event")
        if len(decoded) > MAX_EVENTS_PER_REQUEST:
            raise _fail(
                "events",
                f"too many events: {len(decoded)} in one request "
                f"(the limit is {MAX_EVENTS_PER_REQUEST})",
            )
        items = decoded
        prefixes = [f"events[{i}]" for i in range(len(decoded))]
    else:
        raise _fail("", "request body must be an event object or an array of event objects")
    limit = min(max_event_bytes, ABSOLUTE_MAX_EVENT_BYTES)
    return [
        _parse_one(item, prefix, limit, now_ms)
        for item, prefix in zip(items, prefixes, strict=True)
    ]


def _parse_one(item: Any, prefix: str, limit: int, now_ms: int) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise _fail(prefix, f"each event must be a JSON object, got {_kind(item)}")
    if too_deep(item):
        raise _fail(
            prefix or "event",
            f"arrays and objects nest too deeply (the limit is {MAX_NESTING} levels,"
            " counting the event itself)",
        )
    size = len(codec.dumps(item))
    if size > limit:
        raise _fail(
            prefix,
            f"event is too large: {size} bytes (the limit is {limit} bytes)",
            status=413,
        )
    event: dict[str, Any] = {
        "name": _name(item.get("name"), _path(prefix, "name")),
        "data": _data(item.get("data"), _path(prefix, "data")),
    }
    id_field = _path(prefix, "id")
    event_id = _optional_str(item.get("id"), id_field)
    if event_id:
        event["id"] = _identifier(event_id, id_field, "event id", MAX_ID_LENGTH)
    event["ts"] = _ts(item.get("ts"), _path(prefix, "ts"), now_ms)
    event["user"] = _object(item.get("user"), _path(prefix, "user"))
    version_field = _path(prefix, "v")
    version = _optional_str(item.get("v"), version_field)
    if version is not None:
        event["v"] = _identifier(version, version_field, "event version", MAX_NAME_LENGTH)
    return event


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _name(value: Any, field: str) -> str:
    if value is None:
        raise _fail(field, "event name is required")
    if not isinstance(value, str):
        raise _fail(field, f"event name must be a string, got {_kind(value)}")
    if not value:
        raise _fail(field, "event name must not be empty")
    _identifier(value, field, "event name", MAX_NAME_LENGTH)
    if value[: len(INTERNAL_PREFIX)].lower() == INTERNAL_PREFIX:
        raise _fail(field, "event name is reserved for internal use")
    return value


def _object(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(field, f"must be a JSON object, got {_kind(value)}")
    return value


def _data(value: Any, field: str) -> dict[str, Any]:
    data = _object(value, field)
    if "_inngest" in data:
        data = {k: v for k, v in data.items() if k != "_inngest"}
    return data


def _identifier(value: str, field: str, what: str, max_length: int) -> str:
    problem = text_problem(value, what=what, max_length=max_length)
    if problem is not None:
        raise _fail(field, problem)
    return value


def _optional_str(value: Any, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _fail(field, f"must be a string, got {_kind(value)}")


def _ts(value: Any, field: str, now_ms: int) -> int:
    if value is None:
        return now_ms
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(field, f"must be an integer of epoch milliseconds, got {_kind(value)}")
    if isinstance(value, float):
        if not value.is_integer():
            raise _fail(field, f"must be an integer of epoch milliseconds, got {value}")
        value = int(value)
    if value == 0:
        return now_ms
    if not MIN_TS_MS <= value <= MAX_TS_MS:
        raise _fail(
            field,
            f"timestamp {value} is out of range: must be epoch milliseconds "
            "between 1980-01-01 and 2100-01-01",
        )
    return int(value)


def internal_event(
    name: str, data: dict[str, Any], *, id: str, ts: int, v: str | None = None
) -> dict[str, Any]:
    """Build a server-generated event (``inngest/...``), bypassing the reserved-name check.

    Args:
        name: The internal event name, e.g. `FUNCTION_FINISHED`.
        data: The event data, kept as given (including any ``_inngest`` key).
        id: The event id.
        ts: Event time in epoch ms.
        v: Optional event version.

    Returns:
        An event dict shaped like the ones `parse_events` returns.
    """
    event: dict[str, Any] = {"name": name, "data": data, "id": id, "ts": ts, "user": {}}
    if v is not None:
        event["v"] = v
    return event
