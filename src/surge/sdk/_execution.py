"""Running a function for one execution request, and the answer it gives
(`docs/protocol.md`, "Execution")."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import orjson

from surge.core.errors import InvalidInput
from surge.core.ids import hash_step_id
from surge.core.run_errors import (
    EventDataInvalid,
    NonRetriableError,
    OutputNotSerializable,
    RetryAfterError,
    StepError,
)

from ._checkpoint import Checkpoint
from ._context import Context, ReplayQuietLogger, SyncContext
from ._event import Event, event_from_wire
from ._function import Function
from ._run import BranchDone, Interrupt, RunState, Stale, error_value
from ._serialize import dumps, fragment
from ._steps import AsyncSend, Step, SyncSend, SyncStep

__all__ = ["Call", "Outcome", "parse_call", "run_async", "run_sync"]

RUN_COMPLETE_ID = hash_step_id("complete", 0)
"""The id of the ``RunComplete`` op (the TypeScript SDK's)."""


@dataclass(slots=True, kw_only=True)
class Call:
    """An execution request's body, read (§2.1)."""

    event: dict[str, Any]
    events: list[dict[str, Any]]
    steps: dict[str, Any]
    run_id: str
    attempt: int = 0
    max_attempts: int = 5
    plan_only: bool = False
    stack: list[str] = field(default_factory=list)
    use_api: bool = False
    fn_id: str = ""
    qi_id: str = ""
    """The call's function and work item, which a checkpoint names (`_checkpoint`); empty
    when the server does not take checkpoints."""

    def may_checkpoint(self, target: str | None) -> bool:
        """Whether the server takes checkpoints of this call and it runs the function from
        the top on its first attempt (a retry answers with its first step, as usual)."""
        return (
            bool(self.fn_id and self.qi_id)
            and target is None
            and not self.plan_only
            and (self.attempt == 0)
        )


@dataclass(slots=True)
class Outcome:
    """What to answer: status, body, and the headers specific to this outcome."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def parse_call(body: bytes) -> Call:
    """Read an execution request body; raise `InvalidInput` when it is not one."""
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"execution request is not JSON: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("event"), dict):
        raise InvalidInput("execution request has no 'event' object")
    ctx = raw.get("ctx") or {}
    stack = (ctx.get("stack") or {}).get("stack") or []
    return Call(
        event=raw["event"],
        events=raw.get("events") or [raw["event"]],
        steps=raw.get("steps") or {},
        run_id=str(ctx.get("run_id") or ""),
        attempt=int(ctx.get("attempt") or 0),
        max_attempts=int(ctx.get("max_attempts") or 5),
        plan_only=bool(ctx.get("disable_immediate_execution")),
        stack=stack,
        use_api=bool(raw.get("use_api") or ctx.get("use_api")),
        fn_id=str(ctx.get("fn_id") or ""),
        qi_id=str(ctx.get("qi_id") or ""),
    )


def _state(call: Call, target: str | None, checkpoint: Checkpoint | None) -> RunState:
    run = RunState(
        steps=call.steps,
        target=target,
        plan_only=call.plan_only,
        attempt=call.attempt,
        max_attempts=call.max_attempts,
        stack=call.stack,
    )
    run.checkpoint = checkpoint
    return run


def _events(fn: Function[Any], call: Call) -> tuple[Event[Any], list[Event[Any]]]:
    typed = fn.typed
    if not typed:
        first = event_from_wire(call.event)
        if len(call.events) == 1:
            return first, [first]
        return first, [event_from_wire(e) for e in call.events]

    def read(raw: dict[str, Any]) -> Event[Any]:
        event_type = typed.get(str(raw.get("name")))
        data = event_type.validate(raw.get("data") or {}) if event_type is not None else None
        return event_from_wire(raw, data)

    return read(call.event), [read(e) for e in call.events]


def _parts(fn: Function[Any], call: Call, run: RunState, logger: logging.Logger) -> dict[str, Any]:
    event, events = _events(fn, call)
    return {
        "event": event,
        "events": events,
        "run_id": call.run_id,
        "attempt": call.attempt,
        "max_attempts": call.max_attempts,
        "logger": ReplayQuietLogger(logger, run, call.run_id),
    }


async def run_async(
    fn: Function[Any],
    call: Call,
    target: str | None,
    *,
    send: AsyncSend,
    logger: logging.Logger,
    checkpoint: Checkpoint | None = None,
) -> Outcome:
    """Run an async handler for one call (checkpointing its steps with `checkpoint`)."""
    run = _state(call, target, checkpoint)
    try:
        try:
            ctx = Context(step=Step(run, fn.typed, send), **_parts(fn, call, run, logger))
            result = await fn.handler(ctx)
        except Exception as exc:
            if run.pending and checkpoint is not None:  # keep the steps that did finish
                await checkpoint.flush_async(run)
            return _failure(exc, call)
    except Interrupt as interrupt:
        return _ops(interrupt, run)
    except BranchDone:
        return Outcome(206, b"[]")
    except Stale as stale:
        return _stale(stale)
    return _result(result, run)


def run_sync(
    fn: Function[Any],
    call: Call,
    target: str | None,
    *,
    send: SyncSend,
    logger: logging.Logger,
    checkpoint: Checkpoint | None = None,
) -> Outcome:
    """Run a sync handler for one call (in the caller's thread)."""
    run = _state(call, target, checkpoint)
    try:
        try:
            ctx = SyncContext(step=SyncStep(run, fn.typed, send), **_parts(fn, call, run, logger))
            result = fn.handler(ctx)
        except Exception as exc:
            if run.pending and checkpoint is not None:
                checkpoint.flush_sync(run)
            return _failure(exc, call)
    except Interrupt as interrupt:
        return _ops(interrupt, run)
    except BranchDone:
        return Outcome(206, b"[]")
    except Stale as stale:
        return _stale(stale)
    return _result(result, run)


def _ops(interrupt: Interrupt, run: RunState) -> Outcome:
    headers = {"x-inngest-no-retry": "true" if interrupt.no_retry else "false"}
    if interrupt.retry_after is not None:
        headers["retry-after"] = interrupt.retry_after
    # Steps finished in this call go first (the step tools report them before any other).
    return Outcome(206, orjson.dumps([*run.pending, *interrupt.ops]), headers)


def _stale(stale: Stale) -> Outcome:
    """The server refused a checkpoint: stop, and let no retry follow this call."""
    body = {"name": "StaleDispatch", "message": f"checkpoint refused: {stale}", "code": "stale"}
    return Outcome(400, orjson.dumps(body), {"x-inngest-no-retry": "true"})


def _result(result: Any, run: RunState) -> Outcome:
    try:
        if run.pending:  # the last steps, then the run's result (TypeScript's RunComplete)
            data = fragment(result, "the function")
            complete = {"op": "RunComplete", "id": RUN_COMPLETE_ID, "data": data}
            return Outcome(206, orjson.dumps([*run.pending, complete]))
        return Outcome(200, dumps(result))
    except (TypeError, OutputNotSerializable) as exc:
        problem = OutputNotSerializable(
            f"the function returned a value that cannot be encoded as JSON ({exc}); return "
            "JSON values, dataclasses or pydantic models"
        )
        return _error(400, problem, "output_not_serializable", final=True)


def _failure(exc: Exception, call: Call) -> Outcome:
    if isinstance(exc, StepError):
        return _error(400, exc, "step_errored", final=True)
    if isinstance(exc, NonRetriableError):
        return _error(400, exc, "non_retriable_error", final=True)
    if isinstance(exc, EventDataInvalid):
        return _error(400, exc, "event_data_invalid", final=True)
    if isinstance(exc, RetryAfterError):
        outcome = _error(500, exc, "retry_after_error", final=False)
        outcome.headers["retry-after"] = exc.header
        return outcome
    final = call.attempt + 1 >= call.max_attempts
    return _error(400 if final else 500, exc, "unknown", final=final)


def _error(status: int, exc: BaseException, code: str, *, final: bool) -> Outcome:
    body = {**error_value(exc), "code": code}
    if isinstance(exc, StepError):
        body["name"] = "StepError"
        body["message"] = str(exc)
    return Outcome(status, orjson.dumps(body), {"x-inngest-no-retry": "true" if final else "false"})
