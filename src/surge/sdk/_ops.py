"""Opcodes of the steps that never run in the app: sleep, wait for an event, invoke."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ._options import Duration, duration_str
from ._serialize import jsonable

__all__ = ["invoke_op", "iso_utc", "sleep_op", "sleep_until_op", "wait_op"]


def _base(op: str, hashed: str, step_id: str, index: int, name: str) -> dict[str, Any]:
    return {
        "op": op,
        "id": hashed,
        "name": name,
        "displayName": step_id,
        "userland": {"id": step_id, "index": index or None},
    }


def iso_utc(when: datetime | str) -> str:
    """An aware datetime (or an ISO string, kept) as ``2030-01-01T00:00:00.000Z``."""
    if isinstance(when, str):
        return when
    if when.tzinfo is None:
        raise ValueError("sleep_until needs a timezone-aware datetime (e.g. tzinfo=UTC)")
    utc = when.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def sleep_op(hashed: str, step_id: str, index: int, duration: Duration) -> dict[str, Any]:
    """``Sleep`` for a duration: the duration string in ``name`` (as the TS SDK sends it)."""
    return _base("Sleep", hashed, step_id, index, duration_str(duration))


def sleep_until_op(hashed: str, step_id: str, index: int, when: datetime | str) -> dict[str, Any]:
    """``Sleep`` until a time: an ISO-8601 UTC time in ``name``."""
    return _base("Sleep", hashed, step_id, index, iso_utc(when))


def wait_op(
    hashed: str, step_id: str, index: int, event: str, timeout: Duration, if_exp: str | None
) -> dict[str, Any]:
    """``WaitForEvent``: the event name in ``name``, timeout and condition in ``opts``."""
    op = _base("WaitForEvent", hashed, step_id, index, event)
    opts: dict[str, Any] = {"event": event, "timeout": duration_str(timeout)}
    if if_exp:
        opts["if"] = if_exp
    op["opts"] = opts
    return op


def invoke_op(
    hashed: str,
    step_id: str,
    index: int,
    function_id: str,
    data: Any,
    timeout: Duration | None,
    v: str | None,
) -> dict[str, Any]:
    """``InvokeFunction``: run another function with `data` and wait for its result."""
    op = _base("InvokeFunction", hashed, step_id, index, step_id)
    payload: dict[str, Any] = {"data": jsonable(data) if data is not None else {}}
    if v is not None:
        payload["v"] = v
    opts: dict[str, Any] = {"function_id": function_id, "payload": payload}
    if timeout is not None:
        opts["timeout"] = duration_str(timeout)
    op["opts"] = opts
    return op
