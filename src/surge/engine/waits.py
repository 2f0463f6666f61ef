"""Waiting steps: what a `WaitForEvent` or `InvokeFunction` op begins, and what ends it.

Each begins a `Pause` (indexed by `core.matching`) and a wake item at its timeout that
memoizes the timeout's outcome: `null` for a wait, the SDKs' `InngestInvokeTimeoutError` for
an invoke. An invoke also sends ``inngest/function.invoked`` to its target, which starts only
that function (the executor matches it, since that needs the registry); the child's
``inngest/function.finished`` carries the invoke's ``correlation_id``, and matching it
resumes the parent with the child's result or error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from surge.core import events as wire_events
from surge.core.durations import parse_duration
from surge.core.errors import InvalidInput
from surge.core.functions import FunctionConfig
from surge.core.ids import new_ulid
from surge.core.matching import equality_index
from surge.core.opcodes import Op
from surge.storage import NewWorkItem, Pause, PauseKind, RunState, WorkKind, step_key

from .expressions import check_expression
from .finish import error_value

MAX_WAIT_MS = 366 * 24 * 3600 * 1000
"""The longest a wait or an invoke may wait: a year (and a day), as Inngest's."""

INVOKE_TIMEOUT_ERROR = error_value(
    "InngestInvokeTimeoutError", "Timed out waiting for invoked function to complete"
)


@dataclass(frozen=True, kw_only=True)
class Invoke:
    """A `step.invoke` to start: its target, the event data and version, its pause."""

    step_id: str
    function_id: str
    data: dict[str, Any]
    version: str | None
    pause: Pause

    @property
    def correlation_id(self) -> str:
        return correlation_id(self.pause.run_id, self.step_id)


def correlation_id(run_id: str, step_id: str) -> str:
    """What links an invoke to its child's ``inngest/function.finished``."""
    return f"{run_id}.{step_id}"


def begin_wait(state: RunState, op: Op, *, now: int) -> tuple[Pause, NewWorkItem]:
    """The pause and timeout of a `WaitForEvent` op. `InvalidInput` names what is wrong
    with it (no event name, a bad timeout or expression)."""
    opts = op.opts or {}
    name = op.name or opts.get("event")
    if not isinstance(name, str) or not name:
        raise InvalidInput("step.waitForEvent has no event name")
    expression = opts.get("if")
    if expression is not None:
        if not isinstance(expression, str):
            raise InvalidInput("step.waitForEvent's 'if' must be a string")
        try:
            check_expression(expression)
        except InvalidInput as exc:
            raise InvalidInput(f"step.waitForEvent for {name!r}: {exc}") from None
    expires = now + _timeout_ms(opts.get("timeout"), what="step.waitForEvent")
    pause = _pause(state, op.id, PauseKind.WAIT, name, expression or None, now, expires)
    return pause, _timeout(pause, outcome=None)


def begin_invoke(state: RunState, op: Op, *, now: int) -> Invoke:
    """The invoke an `InvokeFunction` op asks for (its target not looked up yet).
    `InvalidInput` names what is wrong with it."""
    opts = op.opts or {}
    function_id = opts.get("function_id")
    if not isinstance(function_id, str) or not function_id:
        raise InvalidInput("step.invoke has no function_id")
    payload = opts.get("payload") or {}
    if not isinstance(payload, dict):
        raise InvalidInput("step.invoke's payload must be an object")
    data = payload.get("data") or {}
    if not isinstance(data, dict):
        raise InvalidInput("step.invoke's payload.data must be an object")
    version = payload.get("v")
    timeout = opts.get("timeout")
    expires = now + (MAX_WAIT_MS if timeout is None else _timeout_ms(timeout, what="step.invoke"))
    correlation = correlation_id(state.run.id, op.id)
    expression = f'async.data.correlation_id == "{correlation}"'
    finished = wire_events.FUNCTION_FINISHED
    pause = _pause(state, op.id, PauseKind.INVOKE, finished, expression, now, expires)
    return Invoke(
        step_id=op.id,
        function_id=function_id,
        data=data,
        version=version if isinstance(version, str) else None,
        pause=pause,
    )


def invoke_timeout(invoke: Invoke) -> NewWorkItem:
    """The wake item that ends `invoke` with the SDKs' timeout error."""
    return _timeout(invoke.pause, outcome={"error": INVOKE_TIMEOUT_ERROR})


def invoked_event(invoke: Invoke, state: RunState, *, app_id: str, now: int) -> dict[str, Any]:
    """The ``inngest/function.invoked`` event that starts `invoke`'s target."""
    data = dict(invoke.data)
    data["_inngest"] = {
        "fn_id": invoke.function_id,
        "correlation_id": invoke.correlation_id,
        "expire": invoke.pause.expires_at,
        "gid": invoke.pause.id,
        "name": wire_events.FUNCTION_INVOKED,
        "source_app_id": app_id,
        "source_fn_id": state.run.function_id,
        "source_run_id": state.run.id,
    }
    return wire_events.internal_event(
        wire_events.FUNCTION_INVOKED, data, id=new_ulid(now), ts=now, v=invoke.version
    )


def cancel_pauses(
    function: FunctionConfig, trigger: dict[str, Any], run_id: str, *, now: int
) -> tuple[Pause, ...]:
    """The ``cancelOn`` pauses of a run of `function` started by `trigger`: one per entry,
    waiting for its event (and ``if``) until its ``timeout``, if it has one."""
    entries = function.raw.get("cancel")
    if not isinstance(entries, list):
        return ()
    pauses = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("event"), str):
            continue
        expression = entry.get("if") if isinstance(entry.get("if"), str) else None
        timeout = entry.get("timeout")
        expires = None
        if isinstance(timeout, str) and timeout:
            expires = now + _timeout_ms(timeout, what="cancelOn")
        index_key = equality_index(expression, trigger)
        pauses.append(
            Pause(
                id=new_ulid(now),
                run_id=run_id,
                step_id=f"cancel:{index}",
                kind=PauseKind.CANCEL,
                event_name=entry["event"],
                expression=expression or None,
                match_key=None if index_key is None else index_key[1],
                created_at=now,
                expires_at=expires,
            )
        )
    return tuple(pauses)


def resumed_with(pause: Pause, event: dict[str, Any]) -> Any:
    """The memo a matching `event` gives `pause`'s step: the event itself for a wait; the
    child's ``{"data": result}`` or ``{"error": error}`` for an invoke."""
    if pause.kind is PauseKind.WAIT:
        return event
    data = event.get("data") or {}
    if "error" in data and data["error"] is not None:
        return {"error": data["error"]}
    return {"data": data.get("result")}


def _pause(
    state: RunState,
    step_id: str,
    kind: PauseKind,
    name: str,
    expression: str | None,
    now: int,
    expires: int,
) -> Pause:
    trigger = state.events[0] if state.events else {}
    index = equality_index(expression, trigger)
    return Pause(
        id=new_ulid(now),
        run_id=state.run.id,
        step_id=step_id,
        kind=kind,
        event_name=name,
        expression=expression,
        match_key=None if index is None else index[1],
        created_at=now,
        expires_at=expires,
    )


def _timeout(pause: Pause, *, outcome: Any) -> NewWorkItem:
    assert pause.expires_at is not None
    payload: dict[str, Any] = {"pause": pause.id}
    if outcome is not None:
        payload["outcome"] = outcome
    return NewWorkItem(
        kind=WorkKind.WAKE,
        due_at=pause.expires_at,
        run_id=pause.run_id,
        step_id=pause.step_id,
        payload=payload,
        unique_key=step_key(pause.run_id, pause.step_id),
    )


def _timeout_ms(value: Any, *, what: str) -> int:
    """A timeout as the SDKs send it (a duration string, or milliseconds), capped at
    `MAX_WAIT_MS`."""
    if isinstance(value, bool) or value is None:
        raise InvalidInput(f"{what} has no timeout")
    if isinstance(value, (int, float)):
        ms = int(value)
    elif isinstance(value, str):
        try:
            ms = int(parse_duration(value) * 1000)
        except (InvalidInput, ValueError):
            raise InvalidInput(f"{what} has an unreadable timeout {value!r}") from None
    else:
        raise InvalidInput(f"{what}'s timeout must be a duration string")
    return min(max(ms, 0), MAX_WAIT_MS)
