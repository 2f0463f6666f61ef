"""Ending a run: the run update, and the ``inngest/function.*`` events that announce it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from surge.core import events as wire_events
from surge.core.ids import new_ulid
from surge.storage import RunState, RunStatus, RunUpdate


@dataclass(frozen=True, kw_only=True)
class RunEnded:
    """A run ended: completed with `output`, or failed or was cancelled with `error`."""

    status: RunStatus
    output: Any = None
    error: Any = None


def error_value(name: str, message: str, **extra: Any) -> dict[str, Any]:
    """An error in the serialized shape both SDKs read: `{name, message, stack}`."""
    return {"name": name, "message": message, "stack": "", **extra}


def ending(state: RunState, ended: RunEnded, *, now: int) -> tuple[RunUpdate, list[dict[str, Any]]]:
    """The update that ends the run, and the internal events announcing it.

    Every ending emits `inngest/function.finished`; a failure also emits
    `inngest/function.failed` (whose id is the run id, as in Inngest), which is what
    triggers `onFailure` handlers; a cancellation emits `inngest/function.cancelled`.
    """
    run = state.run
    data: dict[str, Any] = {
        "function_id": run.function_id,
        "run_id": run.id,
        "event": state.events[0] if state.events else {},
        "events": state.events,
    }
    correlation = invoked_by(state.events[0] if state.events else None)
    if correlation is not None:
        data["correlation_id"] = correlation  # resumes the step.invoke that started it
    if ended.status is RunStatus.COMPLETED:
        data["result"] = ended.output
    elif ended.status is RunStatus.CANCELLED and ended.error is None:
        data["error"] = error_value("Error", "function cancelled")  # Inngest's wording
    else:
        data["error"] = ended.error
    update = RunUpdate(status=ended.status, ended_at=now, output=ended.output, error=ended.error)
    names = [wire_events.FUNCTION_FINISHED]
    if ended.status is RunStatus.FAILED:
        names.append(wire_events.FUNCTION_FAILED)
    elif ended.status is RunStatus.CANCELLED:
        names.append(wire_events.FUNCTION_CANCELLED)
    events = []
    for name in names:
        event_id = run.id if name == wire_events.FUNCTION_FAILED else new_ulid(now)
        events.append(wire_events.internal_event(name, data, id=event_id, ts=now))
    return update, events


def invoked_by(trigger: dict[str, Any] | None) -> str | None:
    """The correlation id of the `step.invoke` whose event `trigger` is, if it is one."""
    if not trigger or trigger.get("name") != wire_events.FUNCTION_INVOKED:
        return None
    meta = (trigger.get("data") or {}).get("_inngest")
    value = meta.get("correlation_id") if isinstance(meta, dict) else None
    return value if isinstance(value, str) else None
