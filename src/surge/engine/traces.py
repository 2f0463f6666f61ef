"""A run's trace: a root span for the run and a span per step, built from what is stored.

Nothing is recorded for traces alone: a run's history (when each step was planned, began
to sleep or wait, failed an attempt) and its memos (each step's outcome, in the order the
steps finished) are all a trace needs. A step's span is queued when the history first names
it and ends with its memo; its output is read back by its `output_id`.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from surge.core.errors import NotFound
from surge.storage import (
    DISCOVERY,
    HistoryEntry,
    Memo,
    RunRecord,
    RunState,
    RunStatus,
    SpanMetadata,
)

__all__ = [
    "Span",
    "SpanOutput",
    "SpanStatus",
    "build_trace",
    "output_key",
    "span_output",
    "step_target",
    "with_metadata",
]

_HASHED = re.compile(r"[0-9a-f]{40}")


class SpanStatus(enum.Enum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    WAITING = "WAITING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    SKIPPED = "SKIPPED"


_RUN_STATUS = {
    RunStatus.COMPLETED: SpanStatus.COMPLETED,
    RunStatus.FAILED: SpanStatus.FAILED,
    RunStatus.CANCELLED: SpanStatus.CANCELLED,
    RunStatus.SKIPPED: SpanStatus.SKIPPED,
}
# A memo's op (the SDK's opcode, or the server's for what it memoizes) as a span's step op.
_STEP_OPS = {
    "Step": "RUN",
    "StepRun": "RUN",
    "StepFailed": "RUN",
    "Sleep": "SLEEP",
    "WaitForEvent": "WAIT_FOR_EVENT",
    "InvokeFunction": "INVOKE",
    "AIGateway": "AI_GATEWAY",
    "Gateway": "AI_GATEWAY",
}
# What a step's history says it began, for a step not memoized yet (or memoized by a timeout).
_WAIT_DETAIL = frozenset({"until", "event", "if", "function_id"})
_BEGAN = {
    "sleeping": ("SLEEP", SpanStatus.WAITING),
    "waiting": ("WAIT_FOR_EVENT", SpanStatus.WAITING),
    "invoking": ("INVOKE", SpanStatus.WAITING),
}


@dataclass(kw_only=True)
class Span:
    """The run (the root) or one of its steps."""

    span_id: str
    run_id: str
    function_id: str
    name: str
    status: SpanStatus
    queued_at: int
    started_at: int | None = None
    ended_at: int | None = None
    attempts: int = 0
    step_id: str | None = None
    step_op: str | None = None
    step_type: str = ""
    """What the span is, as the SDKs' harnesses match it: a step's op (``RUN``, ``SLEEP``...),
    ``FINALIZATION`` for the run's end (its output is the run's), ``""`` for the root."""
    output_id: str | None = None
    parent_span_id: str | None = None
    children: list[Span] = field(default_factory=list)
    waits_for: Mapping[str, Any] | None = None
    """What a sleep, wait or invoke waits for, as its history says: ``until`` (ms), and the
    ``event`` and ``if`` of a wait or the ``function_id`` of an invoke."""
    metadata: Sequence[SpanMetadata] = ()
    """What the SDK attached to the run (the root) or to the step (`with_metadata`); nothing
    allocated for a span without (a long trace's spans are many)."""

    @property
    def duration_ms(self) -> int | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return max(0, self.ended_at - self.started_at)


@dataclass(frozen=True, kw_only=True)
class SpanOutput:
    """What a span produced: its data, or its error."""

    data: Any = None
    error: dict[str, Any] | None = None


def output_key(run_id: str, step_id: str | None) -> str:
    """The opaque id of a span's output: its run and step (none: the run's own)."""
    raw = f"{run_id}:{step_id or ''}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_output_key(key: str) -> tuple[str, str | None]:
    """The run and step of an `output_key`.

    Raises:
        NotFound: It is not one.
    """
    try:
        raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise NotFound(f"no span output {key!r}") from None
    run_id, sep, step_id = raw.partition(":")
    if not sep or not run_id:
        raise NotFound(f"no span output {key!r}")
    return run_id, step_id or None


def build_trace(state: RunState, history: Sequence[HistoryEntry]) -> Span:
    """The trace of `state`'s run: its span, with one child per step, in the order the steps
    finished (those still going last, in the order they began)."""
    run = state.run
    root = Span(
        span_id=run.id,
        run_id=run.id,
        function_id=run.function_id,
        name=run.function_id,
        status=_run_status(run, history),
        queued_at=run.started_at,
        started_at=first_call_at(history),
        ended_at=run.ended_at,
        attempts=1,
        output_id=output_key(run.id, None) if run.ended_at is not None else None,
    )
    memos = {memo.step_id: memo for memo in state.memos}
    steps: dict[str, Span] = {}
    for entry in history:
        step_id = entry.step_id
        if step_id is None or step_id == DISCOVERY or entry.kind == "step_planned":
            continue
        span = steps.get(step_id)
        if span is None:
            span = steps[step_id] = _step_span(run, step_id, entry.at)
        _note(span, entry)
    for memo in state.memos:
        span = steps.get(memo.step_id)
        if span is None:  # memoized in the call that ran it: no history line before
            span = steps[memo.step_id] = _step_span(run, memo.step_id, memo.at)
        _finish(span, memo)
    done = [steps[memo.step_id] for memo in state.memos]
    going = [span for step_id, span in steps.items() if step_id not in memos]
    for span in going:
        if run.status.is_final:
            span.status = SpanStatus.CANCELLED if run.status is RunStatus.CANCELLED else span.status
            span.ended_at = span.ended_at or run.ended_at
    for span in steps.values():
        span.step_type = span.step_op or "RUN"
    root.children = [*done, *going]
    if run.ended_at is not None and run.status is not RunStatus.SKIPPED:
        root.children.append(_finalization(root, run))
    return root


def step_target(state: RunState, step_id: str) -> str:
    """The hashed id of the run's step `step_id`: given as the user wrote it (the name of a
    finished step, or hashed as the SDKs hash ids), or already hashed."""
    for memo in state.memos:
        if step_id in (memo.step_id, memo.name):
            return memo.step_id
    if _HASHED.fullmatch(step_id):
        return step_id
    return hashlib.sha1(step_id.encode()).hexdigest()  # as the SDKs hash step ids


def with_metadata(root: Span, metadata: Sequence[SpanMetadata]) -> Span:
    """`root` with the run's metadata on it and each step's on the step's span."""
    steps = {span.step_id: span for span in root.children if span.step_id is not None}
    for entry in metadata:
        span = root if not entry.step_id else steps.get(entry.step_id)
        if span is not None:
            span.metadata = [*span.metadata, entry]
    return root


def _step_span(run: RunRecord, step_id: str, at: int) -> Span:
    """A step's span as first seen at `at`: running, named by its id until told better."""
    return Span(
        span_id=f"{run.id}:{step_id}",
        run_id=run.id,
        function_id=run.function_id,
        name=step_id,
        status=SpanStatus.RUNNING,
        queued_at=at,
        started_at=at,
        step_id=step_id,
        parent_span_id=run.id,
    )


def _finalization(root: Span, run: RunRecord) -> Span:
    """The span of the run's end: its output is the run's (what it returned, or its error)."""
    assert run.ended_at is not None
    last = max((c.ended_at or c.queued_at for c in root.children), default=run.started_at)
    return Span(
        span_id=f"{run.id}:finalization",
        run_id=run.id,
        function_id=run.function_id,
        name="Finalization",
        status=root.status,
        queued_at=min(last, run.ended_at),
        started_at=min(last, run.ended_at),
        ended_at=run.ended_at,
        attempts=1,
        step_type="FINALIZATION",
        output_id=output_key(run.id, None),
        parent_span_id=run.id,
    )


def span_output(state: RunState, step_id: str | None) -> SpanOutput:
    """The output of a step's span (`None`: the run's).

    Raises:
        NotFound: The step has no output (yet), or the run has not ended.
    """
    run = state.run
    if step_id is None:
        if not run.status.is_final:
            raise NotFound(f"run {run.id} has no output yet")
        if run.status is RunStatus.FAILED or run.error is not None:
            return SpanOutput(error=_error(run.error))
        return SpanOutput(data=run.output)
    memo = next((m for m in state.memos if m.step_id == step_id), None)
    if memo is None:
        raise NotFound(f"step {step_id!r} of run {run.id} has no output yet")
    return _memo_output(memo)


def step_outputs(state: RunState) -> dict[str, SpanOutput]:
    """The output of every finished step of the run, by step id (a long trace's, in one
    pass)."""
    return {memo.step_id: _memo_output(memo) for memo in state.memos}


def _memo_output(memo: Memo) -> SpanOutput:
    outcome = memo.outcome
    if isinstance(outcome, dict) and "error" in outcome and "data" not in outcome:
        return SpanOutput(error=_error(outcome["error"]))
    if isinstance(outcome, dict) and "data" in outcome:
        return SpanOutput(data=outcome["data"])
    return SpanOutput(data=outcome)


def _run_status(run: RunRecord, history: Sequence[HistoryEntry]) -> SpanStatus:
    final = _RUN_STATUS.get(run.status)
    if final is not None:
        return final
    return SpanStatus.RUNNING if history else SpanStatus.QUEUED


def first_call_at(history: Sequence[HistoryEntry]) -> int | None:
    """When the run's first call was sent, as far as its history tells (its first line that
    names a step is enough: `runs.first_call`)."""
    for entry in history:
        if entry.step_id is not None:
            sent = entry.detail.get("began")
            return sent if isinstance(sent, int) and sent <= entry.at else entry.at
    return None


def _note(span: Span, entry: HistoryEntry) -> None:
    """What a history line says about its step's span."""
    span.attempts = max(span.attempts, entry.attempt + 1)
    detail = entry.detail
    name = detail.get("name")
    if isinstance(name, str) and name:
        span.name = name
    due, sent = detail.get("due"), detail.get("began")
    if isinstance(due, int) and isinstance(sent, int):
        if span.started_at is None or sent < span.started_at:
            # Its earliest call: queued from when that fell due until it was sent.
            span.queued_at, span.started_at = min(due, sent), sent
    waits = _BEGAN.get(entry.kind)
    if waits is not None:
        span.step_op, span.status = waits
        span.waits_for = {k: v for k, v in detail.items() if k in _WAIT_DETAIL}
    elif entry.kind in ("step_error", "call_error"):
        span.status = SpanStatus.RUNNING  # retried


def _finish(span: Span, memo: Memo) -> None:
    if memo.name:
        span.name = memo.name
    span.step_op = _STEP_OPS.get(memo.op, span.step_op or "RUN")
    outcome = memo.outcome
    failed = isinstance(outcome, dict) and "error" in outcome and "data" not in outcome
    span.status = SpanStatus.FAILED if failed else SpanStatus.COMPLETED
    span.ended_at = memo.at
    span.attempts = max(span.attempts, 1)
    span.output_id = output_key(span.run_id, span.step_id)


def _error(error: Any) -> dict[str, Any]:
    if isinstance(error, dict):
        return {
            "name": str(error.get("name") or "Error"),
            "message": str(error.get("message") or ""),
            "stack": error.get("stack") if isinstance(error.get("stack"), str) else None,
            "cause": error.get("cause"),
        }
    return {"name": "Error", "message": str(error), "stack": None, "cause": None}
