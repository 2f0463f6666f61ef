"""Reading an app's answer to a call and deciding what happens next (`docs/protocol.md`,
"Execution").

`interpret` is pure: given the run, the call that was made and what came back, it returns an
`Outcome`, what happened: memos to keep, work to queue, a retry, or the run's end. Nothing
here does I/O or matches events to functions; the executor writes the outcome.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from surge.core import codec
from surge.core.durations import parse_duration, parse_time
from surge.core.errors import AppUnreachable, InvalidInput
from surge.core.functions import FunctionConfig
from surge.core.http_client import AppResponse
from surge.core.ids import is_ulid
from surge.core.limits import MAX_NESTING, too_deep
from surge.core.opcodes import Op, Opcode, parse_ops
from surge.core.span_metadata import MetadataUpdate, parse_updates
from surge.storage import (
    HistoryEntry,
    Memo,
    NewWorkItem,
    Pause,
    RunState,
    RunStatus,
    RunUpdate,
    Then,
    WorkItem,
    WorkKind,
)
from surge.storage.records import DISCOVERY, step_key

from .finish import RunEnded, error_value
from .http_steps import HttpStep, http_step
from .retries import RetryPolicy, retry_after_ms
from .waits import Invoke, begin_invoke, begin_wait

logger = logging.getLogger(__name__)

MAX_SLEEP_MS = 366 * 24 * 3600 * 1000
_MEMO_OPS = {Opcode.STEP_RUN, Opcode.STEP, Opcode.STEP_FAILED}
_UNSUPPORTED = {
    Opcode.WAIT_FOR_SIGNAL: "step.waitForSignal",
}
_IGNORED = {Opcode.NONE, Opcode.DEFER_ADD, Opcode.DEFER_ABORT}
_SERVER_OPS = {Opcode.WAIT_FOR_EVENT, Opcode.INVOKE_FUNCTION, Opcode.GATEWAY, Opcode.AI_GATEWAY}


@dataclass(kw_only=True, slots=True)
class Call:
    """The call that was made: which run, which work item, at what time."""

    state: RunState
    function: FunctionConfig
    item: WorkItem
    now: int
    """When the app answered."""
    policy: RetryPolicy
    began: int | None = None
    """When the call was sent (the trace's step start; its queue time runs from the item's
    due time to this)."""


@dataclass(kw_only=True, slots=True)
class Outcome:
    """What an app's answer means for its run, in the order a `Commit` applies it."""

    memos: list[Memo] = field(default_factory=list)
    run_update: RunUpdate | None = None
    """Changes to a run that goes on (request version, step planning)."""
    history: list[HistoryEntry] = field(default_factory=list)
    enqueue: list[NewWorkItem] = field(default_factory=list)
    then: Then = Then.NOTHING
    retry_at: int | None = None
    """Call the same work item again at this time."""
    sent_events: list[str] = field(default_factory=list)
    """Ids of events the run sent from a step (`step.sendEvent`): the run is their source."""
    ended: RunEnded | None = None
    """The run ended: the executor ends it and emits the ``inngest/function.*`` events."""
    pauses: list[Pause] = field(default_factory=list)
    """Waits the run begins (their timeouts are in `enqueue`)."""
    invokes: list[Invoke] = field(default_factory=list)
    """Invokes the run begins: the executor looks up each target, sends its event and
    begins its pause, or memoizes the error of an unknown target."""
    http_steps: list[HttpStep] = field(default_factory=list)
    """Requests the server makes for the run before this outcome is written; each one's
    response is memoized for its step (`HttpSteps`)."""
    metadata: list[tuple[str, MetadataUpdate]] = field(default_factory=list)
    """Span metadata the app sent with its steps, each for a step id."""


def interpret(call: Call, answer: AppResponse | AppUnreachable) -> Outcome:
    """What the app's answer to `call` means for its run."""
    if isinstance(answer, AppUnreachable):
        return _function_error(call, error_value("AppUnreachable", str(answer)), None)
    response = answer
    if response.status == 201:
        response = _unwrap_stream(response)
    version = _version(response)
    if 200 <= response.status < 300 and "x-inngest-sdk" not in response.headers:
        message = f"the app answered HTTP {response.status} without an X-Inngest-Sdk header"
        return _function_error(call, error_value("NotAnSDK", message + "; is it a proxy?"), None)
    if response.status == 200:
        try:
            output = _decode(response.body) if response.body.strip() else None
        except (codec.JSONDecodeError, InvalidInput) as exc:
            message = f"the app answered 200 with an unreadable body ({exc}): {_excerpt(response)}"
            return _function_error(call, error_value("InvalidResponse", message), None)
        return _complete(call, output, version)
    if response.status == 206:
        try:
            ops = parse_ops(_decode(response.body))
        except (codec.JSONDecodeError, InvalidInput) as exc:
            message = f"the app answered 206 with unreadable opcodes ({exc}): {_excerpt(response)}"
            return _function_error(call, error_value("InvalidResponse", message), None)
        outcome = _ops(call, ops, response, version)
        outcome.metadata = _metadata(call, ops)
        return outcome
    return _function_error(call, _error_body(response), response)


def _metadata(call: Call, ops: list[Op]) -> list[tuple[str, MetadataUpdate]]:
    """The span metadata sent with `ops`."""
    return [update for op in ops for update in step_metadata(call.state.run.id, op)]


def step_metadata(run_id: str, op: Op) -> list[tuple[str, MetadataUpdate]]:
    """The span metadata sent with `op`, each update for a step id (``""``: the run's); a
    malformed list is left out, with a warning."""
    if op.metadata is None:
        return []
    try:
        parsed = parse_updates(op.metadata)
    except InvalidInput as exc:
        logger.warning(
            "run %s: the metadata of step %s is left out: %s",
            run_id,
            op.name or op.id,
            exc.message,
        )
        return []
    # Sent from inside a step, yet about the whole run: it goes on the run's span.
    return [("" if u.scope == "run" else op.id, u) for u in parsed]


# -- outcomes ---------------------------------------------------------------------------------


def _complete(call: Call, output: Any, version: int | None) -> Outcome:
    return Outcome(
        run_update=_version_update(call, version),
        history=[_history(call, "completed")],
        ended=RunEnded(status=RunStatus.COMPLETED, output=output),
    )


def _fail(call: Call, error: Any, *, extra: _Plan | None = None) -> Outcome:
    plan = extra or _Plan()
    return Outcome(
        memos=plan.memos,
        history=[*plan.history, _history(call, "failed", error=error)],
        sent_events=plan.links,
        ended=RunEnded(status=RunStatus.FAILED, error=error),
    )


def _function_error(call: Call, error: Any, response: AppResponse | None) -> Outcome:
    """A call failed as a whole: retry the same work item, or fail the run for good."""
    no_retry = response is not None and _no_retry(response)
    attempt = call.item.attempt
    if no_retry or attempt + 1 >= call.function.max_attempts:
        return _fail(call, error)
    due = _retry_due(call, response)
    return Outcome(retry_at=due, history=[_history(call, "call_error", error=error, retry_at=due)])


def _retry_due(call: Call, response: AppResponse | None) -> int:
    header = response.headers.get("retry-after") if response is not None else None
    asked = retry_after_ms(header, call.now)
    return asked if asked is not None else call.now + call.policy.delay_ms(call.item.attempt)


@dataclass
class _Plan:
    """What the ops of one 206 add up to, before it becomes an `Outcome`."""

    memos: list[Memo] = field(default_factory=list)
    enqueue: list[NewWorkItem] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    then: Then = Then.NOTHING
    complete: tuple[Any] | None = None
    unsupported: str | None = None
    invalid: str | None = None
    pauses: list[Pause] = field(default_factory=list)
    invokes: list[Invoke] = field(default_factory=list)
    http_steps: list[HttpStep] = field(default_factory=list)


def _ops(call: Call, ops: list[Op], response: AppResponse, version: int | None) -> Outcome:
    if len(ops) == 1 and ops[0].op is Opcode.STEP_ERROR:
        return _step_error(call, ops[0], response)
    plan = _Plan()
    for op in ops:
        _plan_op(call, op, plan)
    if plan.unsupported is not None:
        message = f"{plan.unsupported} is not supported by this Surge server yet"
        return _fail(call, error_value("NotSupported", message), extra=plan)
    if plan.invalid is not None:
        return _fail(call, error_value("InvalidStep", plan.invalid), extra=plan)
    if plan.complete is not None:
        return Outcome(
            memos=plan.memos,
            run_update=_version_update(call, version),
            history=[*plan.history, _history(call, "completed")],
            sent_events=plan.links,
            ended=RunEnded(status=RunStatus.COMPLETED, output=plan.complete[0]),
        )
    non_lazy = sum(op.op not in _IGNORED for op in ops)
    force_plan = True if non_lazy > 1 else None
    if force_plan is None and call.state.run.force_step_plan and (version or 0) >= 2:
        force_plan = False if call.item.step_id == DISCOVERY else None
    if version == call.state.run.request_version:
        version = None  # unchanged: nothing to write
    update = RunUpdate(request_version=version, force_step_plan=force_plan)
    return Outcome(
        memos=plan.memos,
        run_update=None if update == RunUpdate() else update,
        history=plan.history,
        enqueue=plan.enqueue,
        then=plan.then,
        sent_events=plan.links,
        pauses=plan.pauses,
        invokes=plan.invokes,
        http_steps=plan.http_steps,
    )


def _plan_op(call: Call, op: Op, plan: _Plan) -> None:
    run_id = call.state.run.id
    if op.op in _MEMO_OPS:
        outcome = {"error": op.error} if op.op is Opcode.STEP_FAILED else {"data": op.data}
        memo = Memo(step_id=op.id, outcome=outcome, name=op.name, op=op.op.value, at=call.now)
        plan.memos.append(memo)
        plan.links.extend(sent_event_ids(op))
        kind = "step_failed" if op.op is Opcode.STEP_FAILED else "step_completed"
        shown = op.name or op.display_name
        plan.history.append(_history(call, kind, step_id=op.id, name=shown, **_timing(call, op)))
        race = op.parallel_mode == "race"
        plan.then = Then.DISCOVER if race or plan.then is Then.DISCOVER else Then.DISCOVER_IF_IDLE
    elif op.op is Opcode.STEP_PLANNED:
        plan.enqueue.append(
            NewWorkItem(
                kind=WorkKind.CALL,
                due_at=call.now,
                run_id=run_id,
                step_id=op.id,
                unique_key=step_key(run_id, op.id),
            )
        )
        plan.history.append(_history(call, "step_planned", step_id=op.id, name=op.name))
    elif op.op is Opcode.SLEEP:
        due = _sleep_until(op, call.now)
        plan.enqueue.append(
            NewWorkItem(
                kind=WorkKind.WAKE,
                due_at=due,
                run_id=run_id,
                step_id=op.id,
                unique_key=step_key(run_id, op.id),
            )
        )
        name = op.display_name or None
        plan.history.append(_history(call, "sleeping", step_id=op.id, name=name, until=due))
    elif op.op in _SERVER_OPS:
        _plan_server_op(call, op, plan)
    elif op.op in (Opcode.RUN_COMPLETE, Opcode.SYNC_RUN_COMPLETE):
        plan.complete = (op.data,)
    elif op.op is Opcode.DISCOVERY_REQUEST:
        plan.then = Then.DISCOVER
    elif op.op in _UNSUPPORTED:
        plan.unsupported = _UNSUPPORTED[op.op]


def _plan_server_op(call: Call, op: Op, plan: _Plan) -> None:
    """An op the server carries out: a wait, an invoke, or an HTTP step."""
    if op.op is Opcode.WAIT_FOR_EVENT:
        try:
            pause, timeout = begin_wait(call.state, op, now=call.now)
        except InvalidInput as exc:
            plan.invalid = str(exc)
            return
        plan.pauses.append(pause)
        plan.enqueue.append(timeout)
        detail = {"event": pause.event_name, "if": pause.expression, "until": pause.expires_at}
        name = op.display_name or None
        plan.history.append(_history(call, "waiting", step_id=op.id, name=name, **detail))
    elif op.op is Opcode.INVOKE_FUNCTION:
        try:
            invoke = begin_invoke(call.state, op, now=call.now)
        except InvalidInput as exc:
            plan.invalid = str(exc)
            return
        plan.invokes.append(invoke)
        detail = {"function_id": invoke.function_id, "until": invoke.pause.expires_at}
        name = op.display_name or op.name or None
        plan.history.append(_history(call, "invoking", step_id=op.id, name=name, **detail))
    else:
        try:
            plan.http_steps.append(http_step(op))
        except InvalidInput as exc:
            plan.invalid = str(exc)


def _step_error(call: Call, op: Op, response: AppResponse) -> Outcome:
    """A step failed on this attempt: retry it alone, or memoize its error for good."""
    attempt = call.item.attempt
    if _no_retry(response) or attempt + 1 >= call.function.max_attempts:
        memo = Memo(
            step_id=op.id, outcome={"error": op.error}, name=op.name, op="StepFailed", at=call.now
        )
        return Outcome(
            memos=[memo],
            history=[_history(call, "step_failed", step_id=op.id, error=op.error, **_timing(call))],
            then=Then.DISCOVER_IF_IDLE,
        )
    due = _retry_due(call, response)
    timing = _timing(call)
    history = [_history(call, "step_error", step_id=op.id, error=op.error, retry_at=due, **timing)]
    if call.item.step_id == op.id:
        return Outcome(retry_at=due, history=history)
    # The step ran inside a discovery call; its retries target it directly from now on.
    retry = NewWorkItem(
        kind=WorkKind.CALL,
        due_at=due,
        run_id=call.state.run.id,
        step_id=op.id,
        attempt=attempt + 1,
        unique_key=step_key(call.state.run.id, op.id),
    )
    return Outcome(enqueue=[retry], history=history)


# -- reading responses ------------------------------------------------------------------------


def _no_retry(response: AppResponse) -> bool:
    return response.headers.get("x-inngest-no-retry", "").strip().lower() == "true"


def _version(response: AppResponse) -> int | None:
    raw = response.headers.get("x-inngest-req-version")
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _version_update(call: Call, version: int | None) -> RunUpdate | None:
    if version is None or version == call.state.run.request_version:
        return None
    return RunUpdate(request_version=version)


def _decode(body: bytes) -> Any:
    """An app's JSON answer; `InvalidInput` when it nests more deeply than an event may, so
    that whatever is stored from it can be served back."""
    value = codec.loads(body)
    if too_deep(value):
        raise InvalidInput(f"arrays and objects nest more than {MAX_NESTING} levels deep")
    return value


def _excerpt(response: AppResponse, limit: int = 300) -> str:
    text = response.body[:limit].decode("utf-8", "replace")
    return repr(text) + ("…" if len(response.body) > limit else "")


def _error_body(response: AppResponse) -> Any:
    """The error a failed call reports, or a description of what the app did instead."""
    try:
        body = _decode(response.body) if response.body.strip() else None
    except (codec.JSONDecodeError, InvalidInput):
        body = None
    # The Go server's wording, which the SDKs' own test suites expect in a failed run's error.
    status = f"invalid status code: {response.status}"
    if isinstance(body, dict) and ("message" in body or "name" in body or "error" in body):
        return {**body, "error": status}
    what = f"the app answered HTTP {response.status}"
    if "x-inngest-sdk" not in response.headers:
        what += " without an X-Inngest-Sdk header"
    return error_value(
        "AppError", f"{what}: {_excerpt(response)}", status=response.status, error=status
    )


def _unwrap_stream(response: AppResponse) -> AppResponse:
    """A 201 streaming answer: keep-alive spaces, then `{"status", "headers", "body"}`."""
    try:
        wrapped = _decode(response.body.strip())
    except (codec.JSONDecodeError, InvalidInput):
        return AppResponse(status=502, headers=response.headers, body=response.body)
    if not isinstance(wrapped, dict) or not isinstance(wrapped.get("status"), int):
        return AppResponse(status=502, headers=response.headers, body=response.body)
    inner = wrapped.get("body")
    if isinstance(inner, str):
        body = inner.encode()
    else:
        body = codec.dumps(inner)
    headers = dict(response.headers)
    for key, value in (wrapped.get("headers") or {}).items():
        headers[str(key).lower()] = str(value)
    return AppResponse(status=wrapped["status"], headers=headers, body=body)


def _sleep_until(op: Op, now: int) -> int:
    """When a `Sleep` op ends: `opts.duration`, else `name` (a date, or a duration)."""
    target = (op.opts or {}).get("duration") or op.name
    due: int | None = None
    if isinstance(target, str):
        if len(target) >= 10:
            try:
                due = parse_time(target)
            except (InvalidInput, ValueError):
                due = None
        if due is None:
            try:
                due = now + int(parse_duration(target) * 1000)
            except (InvalidInput, ValueError):
                due = now
    return min(max(due if due is not None else now, now), now + MAX_SLEEP_MS)


def sent_event_ids(op: Op) -> list[str]:
    """Event ids a `step.sendEvent` step returned: TS `{ids: [...]}`, Python `[...]`."""
    data = op.data
    ids = data.get("ids") if isinstance(data, dict) else data
    if isinstance(ids, list) and ids and all(isinstance(i, str) and is_ulid(i) for i in ids):
        return ids
    return []


def _timing(call: Call, op: Op | None = None) -> dict[str, int | None]:
    """When the call that ran a step became due and was sent, for the trace's queue time; for
    a step the app ran after others in the same call (its `timing` says it began later than
    the call), when it began, not queued."""
    ran = op.duration_ms if op is not None else None
    if ran is not None and call.began is not None and call.now - ran > call.began + 1:
        began = call.now - ran
        return {"due": began, "began": began}
    return {"due": call.item.due_at, "began": call.began}


def _history(call: Call, kind: str, *, step_id: str | None = None, **detail: Any) -> HistoryEntry:
    return HistoryEntry(
        run_id=call.state.run.id,
        at=call.now,
        kind=kind,
        step_id=step_id if step_id is not None else call.item.step_id,
        attempt=call.item.attempt,
        detail={k: v for k, v in detail.items() if v is not None},
    )
