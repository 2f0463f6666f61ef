"""A run's steps as a waterfall: one row a step, its bar placed on the run's time line.

A bar has two parts: the time the step's first call waited in the queue (from when it fell
due until it was sent) and the time from then until its result (all its attempts). Sleeps,
waits and invokes say what they wait for; errors show their name, message and stack.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from surge.core.errors import NotFound
from surge.engine.traces import Span, SpanOutput, span_output, step_outputs
from surge.storage import RunState

from .rendering import duration, pretty_json
from .times import moment

__all__ = ["error_view", "waterfall"]

_WAITING_OPS = frozenset({"SLEEP", "WAIT_FOR_EVENT", "INVOKE"})
_OP_LABELS = {
    "RUN": "step",
    "SLEEP": "sleep",
    "WAIT_FOR_EVENT": "wait for event",
    "INVOKE": "invoke",
    "FINALIZATION": "the run's end",
}


def waterfall(root: Span, state: RunState) -> list[dict[str, Any]]:
    """The rows of the run `root`'s steps (`root.children`), in its trace's order."""
    start = root.queued_at
    end = max(
        [start, root.ended_at or 0]
        + [s.ended_at or s.started_at or s.queued_at for s in root.children]
    )
    window = max(1, end - start)
    outputs = step_outputs(state)
    return [_row(span, state, outputs, start, end, window) for span in root.children]


def _row(
    span: Span,
    state: RunState,
    outputs: dict[str, SpanOutput],
    start: int,
    end: int,
    window: int,
) -> dict[str, Any]:
    queued = span.queued_at
    began = span.started_at if span.started_at is not None else queued
    finished = span.ended_at if span.ended_at is not None else end
    row: dict[str, Any] = {
        "name": span.name,
        "step_id": span.step_id,
        "op": span.step_type,
        "op_label": _OP_LABELS.get(span.step_type, span.step_type.lower().replace("_", " ")),
        "status": span.status.value,
        "attempts": span.attempts,
        "duration": duration(began, span.ended_at),
        "queued_for": duration(queued, began) if began > queued else "",
        "queue_offset": _percent(queued - start, window),
        "queue_width": _percent(began - queued, window),
        "offset": _percent(began - start, window),
        "width": max(0.5, _percent(finished - began, window)),
        "waits_for": _waits_for(span),
        "input": _edited_input(state, span.step_id),
        "output": None,
        "error": None,
    }
    if span.output_id is not None:
        try:
            result = outputs[span.step_id] if span.step_id else span_output(state, None)
        except (KeyError, NotFound):
            return row
        if result.error is not None:
            row["error"] = error_view(result.error)
        else:
            row["output"] = pretty_json(result.data)
    return row


def _edited_input(state: RunState, step_id: str | None) -> str | None:
    """The arguments a rerun from this step gave it, edited (`None`: as the code passes)."""
    edited = state.run.step_input or {}
    return pretty_json(edited[step_id]) if step_id in edited else None


def _waits_for(span: Span) -> Markup:
    """What a sleep, wait or invoke waits for, in words (escaped, with its time as a
    `<time>` the page shows in the viewer's zone)."""
    detail = span.waits_for or {}
    if span.step_type not in _WAITING_OPS or not detail:
        return Markup()
    until = detail.get("until")
    deadline = Markup(", until {}").format(moment(until)) if isinstance(until, int) else Markup()
    if span.step_type == "SLEEP":
        return Markup("until {}").format(moment(until)) if isinstance(until, int) else Markup()
    if span.step_type == "WAIT_FOR_EVENT":
        text = Markup("for {}").format(detail.get("event"))
        if detail.get("if"):
            text += Markup(" where <code>{}</code>").format(detail["if"])
        return text + deadline
    return Markup("{}").format(detail.get("function_id")) + deadline


def error_view(error: Any) -> dict[str, str]:
    """An error (a step's or a run's) for reading: ``title`` (name: message), ``stack`` and
    ``cause`` as text."""
    if not isinstance(error, dict):
        return {"title": str(error), "stack": "", "cause": ""}
    name, message = error.get("name") or "Error", error.get("message") or ""
    stack = error.get("stack") if isinstance(error.get("stack"), str) else ""
    cause = error.get("cause")
    return {
        "title": f"{name}: {message}" if message else str(name),
        "stack": str(stack or ""),
        "cause": "" if cause in (None, "", {}) else pretty_json(cause),
    }


def _percent(part: int, window: int) -> float:
    return round(100 * max(0, part) / window, 2)
