"""Ending a run: the run update and the `inngest/function.*` events it emits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from surge.core import events as wire_events
from surge.core.ids import new_ulid
from surge.storage import IngestEntry, RunState, RunStatus, RunUpdate

EntryFactory = Callable[[dict[str, Any]], IngestEntry]
"""Turns an event into an `IngestEntry` with the runs it triggers (see `Ingestor.entry_for`)."""


def error_value(name: str, message: str, **extra: Any) -> dict[str, Any]:
    """An error in the serialized shape both SDKs read: `{name, message, stack}`."""
    return {"name": name, "message": message, "stack": "", **extra}


def finish_run(
    state: RunState,
    *,
    status: RunStatus,
    now: int,
    entry_for: EntryFactory,
    output: Any = None,
    error: Any = None,
) -> tuple[RunUpdate, list[IngestEntry]]:
    """The update that ends a run, and the internal events announcing it.

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
    if status is RunStatus.COMPLETED:
        data["result"] = output
    else:
        data["error"] = error
    update = RunUpdate(status=status, ended_at=now, output=output, error=error)
    names = [wire_events.FUNCTION_FINISHED]
    if status is RunStatus.FAILED:
        names.append(wire_events.FUNCTION_FAILED)
    elif status is RunStatus.CANCELLED:
        names.append(wire_events.FUNCTION_CANCELLED)
    entries = []
    for name in names:
        event_id = run.id if name == wire_events.FUNCTION_FAILED else new_ulid(now)
        entries.append(entry_for(wire_events.internal_event(name, data, id=event_id, ts=now)))
    return update, entries
