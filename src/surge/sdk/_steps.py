"""Step tools: ``ctx.step`` for async handlers (`Step`) and for sync handlers (`SyncStep`).

Both share the replay logic of `RunState`; they differ only in how a user callable runs.
In an async handler a sync callable runs in a worker thread so it cannot stall the loop.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from ._event import Event, EventType, event_from_wire
from ._ops import invoke_op, sleep_op, sleep_until_op, wait_op
from ._options import Duration
from ._run import MISSING, BranchDone, RunState
from ._send import Events, prepare_events
from ._serialize import decoder_for, return_type

if TYPE_CHECKING:
    from ._function import Function

__all__ = ["AsyncSend", "Step", "SyncSend", "SyncStep"]

P = ParamSpec("P")
T = TypeVar("T")
T1 = TypeVar("T1")
T2 = TypeVar("T2")
T3 = TypeVar("T3")
D = TypeVar("D")

AsyncSend = Callable[[list[dict[str, Any]]], Awaitable[list[str]]]
SyncSend = Callable[[list[dict[str, Any]]], list[str]]
_SEND_OPTS = {"type": "step.sendEvent"}


def _since(began: int) -> dict[str, int]:
    """A step's timing as the TypeScript SDK reports it: start and duration, nanoseconds."""
    return {"a": began, "b": time.time_ns() - began}


def _decode(fn: Callable[..., Any], value: Any) -> Any:
    if value is None:
        return None
    decode = decoder_for(return_type(fn))
    return value if decode is None else decode(value)


class _Tools:
    """What both flavours share: the steps that never run in the app."""

    __slots__ = ("_run", "_typed")

    def __init__(self, run: RunState, typed: Mapping[str, EventType[Any]]) -> None:
        self._run = run
        self._typed = typed

    def _memo(self, step_id: str) -> tuple[str, int, Any]:
        run = self._run
        hashed, index = run.identify(step_id)
        return hashed, index, run.memo(hashed)

    def _sleep(self, step_id: str, duration: Duration) -> None:
        hashed, index, memo = self._memo(step_id)
        if memo is MISSING:
            self._run.report(sleep_op(hashed, step_id, index, duration))

    def _sleep_until(self, step_id: str, when: datetime | str) -> None:
        hashed, index, memo = self._memo(step_id)
        if memo is MISSING:
            self._run.report(sleep_until_op(hashed, step_id, index, when))

    def _wait(
        self, step_id: str, event: str | EventType[Any], timeout: Duration, if_exp: str | None
    ) -> Event[Any] | None:
        name = event if isinstance(event, str) else event.name
        hashed, index, memo = self._memo(step_id)
        if memo is MISSING:
            self._run.report(wait_op(hashed, step_id, index, name, timeout, if_exp))
        raw = RunState.unwrap(step_id, memo)
        if raw is None:
            return None
        event_type = event if isinstance(event, EventType) else self._typed.get(name)
        data = event_type.validate(raw.get("data") or {}) if event_type is not None else None
        return event_from_wire(raw, data)

    def _invoke(
        self,
        step_id: str,
        function: Function[Any] | str,
        data: Any,
        timeout: Duration | None,
        v: str | None,
    ) -> Any:
        slug = function if isinstance(function, str) else function.slug
        hashed, index, memo = self._memo(step_id)
        if memo is MISSING:
            self._run.report(invoke_op(hashed, step_id, index, slug, data, timeout, v))
        value = RunState.unwrap(step_id, memo)
        if isinstance(function, str) or value is None:
            return value
        return function.decode_output(value)


class Step(_Tools):
    """The step tools of an async handler (``ctx.step``)."""

    __slots__ = ("_send",)

    def __init__(self, run: RunState, typed: Mapping[str, EventType[Any]], send: AsyncSend) -> None:
        super().__init__(run, typed)
        self._send = send

    async def _settle(self) -> None:
        """Report the steps this call finished before anything else happens (checkpointing:
        `RunState.pending`)."""
        run = self._run
        if run.pending and run.checkpoint is not None:
            await run.checkpoint.flush_async(run)

    @overload
    async def run(
        self, step_id: str, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T: ...
    @overload
    async def run(
        self, step_id: str, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T: ...
    async def run(
        self, step_id: str, fn: Callable[P, Any], /, *args: P.args, **kwargs: P.kwargs
    ) -> Any:
        """Run `fn(*args, **kwargs)` once, durably: on replay its memoized result comes back.

        The result may be any JSON value, dataclass or pydantic model; with a return
        annotation on `fn` a replayed result is rebuilt as that type. A failure is retried
        per the function's ``retries``; when it fails for good, `StepError` is raised here.
        """
        run = self._run
        hashed, index = run.identify(step_id)
        memo = run.memo(hashed)
        if memo is not MISSING:
            return _decode(fn, run.unwrap(step_id, memo))
        await self._settle()
        run.reach_run(hashed, step_id, index)
        positional = run.arguments(hashed, args)
        began = time.time_ns()
        try:
            if inspect.iscoroutinefunction(fn):
                value = await fn(*positional, **kwargs)
            else:
                value = await asyncio.to_thread(fn, *positional, **kwargs)
                if inspect.isawaitable(value):
                    value = await value
        except Exception as exc:
            run.failed(hashed, step_id, index, exc)
        return _decode(fn, run.completed(hashed, step_id, index, value, timing=_since(began)))

    async def send_event(self, step_id: str, events: Events) -> list[str]:
        """Send one event or a list, once; return their ids. Large lists are split."""
        run = self._run
        hashed, index = run.identify(step_id)
        memo = run.memo(hashed)
        if memo is not MISSING:
            ids: list[str] = run.unwrap(step_id, memo)
            return ids
        await self._settle()
        run.reach_run(hashed, step_id, index, _SEND_OPTS)
        began = time.time_ns()
        try:
            ids = await self._send(prepare_events(events, self._typed))
        except Exception as exc:
            run.failed(hashed, step_id, index, exc)
        sent: list[str] = run.completed(
            hashed, step_id, index, ids, _SEND_OPTS, timing=_since(began)
        )
        return sent

    async def sleep(self, step_id: str, duration: Duration) -> None:
        """Pause the run for `duration` (``"1h"``, seconds, or a `timedelta`)."""
        await self._settle()
        self._sleep(step_id, duration)

    async def sleep_until(self, step_id: str, when: datetime | str) -> None:
        """Pause the run until `when` (an aware datetime, or an ISO-8601 string)."""
        await self._settle()
        self._sleep_until(step_id, when)

    @overload
    async def wait_for_event(
        self, step_id: str, event: EventType[D], *, timeout: Duration, if_exp: str | None = None
    ) -> Event[D] | None: ...
    @overload
    async def wait_for_event(
        self, step_id: str, event: str, *, timeout: Duration, if_exp: str | None = None
    ) -> Event | None: ...
    async def wait_for_event(
        self,
        step_id: str,
        event: str | EventType[Any],
        *,
        timeout: Duration,
        if_exp: str | None = None,
    ) -> Event[Any] | None:
        """Wait for an event named `event` matching `if_exp`; ``None`` after `timeout`.

        In `if_exp`, ``event`` is the run's trigger and ``async`` the awaited event, e.g.
        ``"event.data.order_id == async.data.order_id"``.
        """
        await self._settle()
        return self._wait(step_id, event, timeout, if_exp)

    @overload
    async def invoke(
        self,
        step_id: str,
        function: Function[T],
        *,
        data: Any = None,
        timeout: Duration | None = None,
        v: str | None = None,
    ) -> T: ...
    @overload
    async def invoke(
        self,
        step_id: str,
        function: str,
        *,
        data: Any = None,
        timeout: Duration | None = None,
        v: str | None = None,
    ) -> Any: ...
    async def invoke(
        self,
        step_id: str,
        function: Function[Any] | str,
        *,
        data: Any = None,
        timeout: Duration | None = None,
        v: str | None = None,
    ) -> Any:
        """Run another function (by reference, or its ``"<app>-<fn>"`` id) and return its
        result; its failure is raised here as `StepError`."""
        await self._settle()
        return self._invoke(step_id, function, data, timeout, v)

    @overload
    async def parallel(
        self, a: Callable[[], Awaitable[T1]], b: Callable[[], Awaitable[T2]], /
    ) -> tuple[T1, T2]: ...
    @overload
    async def parallel(
        self,
        a: Callable[[], Awaitable[T1]],
        b: Callable[[], Awaitable[T2]],
        c: Callable[[], Awaitable[T3]],
        /,
    ) -> tuple[T1, T2, T3]: ...
    @overload
    async def parallel(self, *branches: Callable[[], Awaitable[T]]) -> tuple[T, ...]: ...
    async def parallel(self, *branches: Callable[[], Awaitable[Any]]) -> tuple[Any, ...]:
        """Run branches (each a callable returning an awaitable of steps) in parallel and
        wait for all of them; return their results in order."""
        await self._settle()
        run = self._run
        saved = run.enter_group(race=False)
        results: list[Any] = []
        pending = False
        try:
            for branch in branches:
                try:
                    results.append(await branch())
                except BranchDone:
                    pending = True
        finally:
            ops = run.exit_group(saved)
        if pending:
            run.group_pending(ops)
        return tuple(results)

    async def race(self, *branches: Callable[[], Awaitable[T]]) -> T:
        """Run branches in parallel; return the result of the first to finish."""
        await self._settle()
        run = self._run
        saved = run.enter_group(race=True)
        best: tuple[int, T] | None = None
        try:
            for branch in branches:
                run.branch_start()
                try:
                    value = await branch()
                except BranchDone:
                    continue
                if best is None or run.branch_position < best[0]:
                    best = (run.branch_position, value)
        finally:
            ops = run.exit_group(saved)
        if best is None:
            run.group_pending(ops)
        return best[1]


class SyncStep(_Tools):
    """The step tools of a sync handler (``ctx.step``): the same tools, without ``await``."""

    __slots__ = ("_send",)

    def __init__(self, run: RunState, typed: Mapping[str, EventType[Any]], send: SyncSend) -> None:
        super().__init__(run, typed)
        self._send = send

    def _settle(self) -> None:
        """Report the steps this call finished before anything else happens."""
        run = self._run
        if run.pending and run.checkpoint is not None:
            run.checkpoint.flush_sync(run)

    def run(self, step_id: str, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn(*args, **kwargs)` once, durably (see `Step.run`)."""
        run = self._run
        hashed, index = run.identify(step_id)
        memo = run.memo(hashed)
        if memo is not MISSING:
            value: T = _decode(fn, run.unwrap(step_id, memo))
            return value
        self._settle()
        run.reach_run(hashed, step_id, index)
        began = time.time_ns()
        try:
            value = fn(*run.arguments(hashed, args), **kwargs)
        except Exception as exc:
            run.failed(hashed, step_id, index, exc)
        done: T = _decode(fn, run.completed(hashed, step_id, index, value, timing=_since(began)))
        return done

    def send_event(self, step_id: str, events: Events) -> list[str]:
        """Send one event or a list, once; return their ids (see `Step.send_event`)."""
        run = self._run
        hashed, index = run.identify(step_id)
        memo = run.memo(hashed)
        if memo is not MISSING:
            ids: list[str] = run.unwrap(step_id, memo)
            return ids
        self._settle()
        run.reach_run(hashed, step_id, index, _SEND_OPTS)
        began = time.time_ns()
        try:
            ids = self._send(prepare_events(events, self._typed))
        except Exception as exc:
            run.failed(hashed, step_id, index, exc)
        sent: list[str] = run.completed(
            hashed, step_id, index, ids, _SEND_OPTS, timing=_since(began)
        )
        return sent

    def sleep(self, step_id: str, duration: Duration) -> None:
        """Pause the run for `duration`."""
        self._settle()
        self._sleep(step_id, duration)

    def sleep_until(self, step_id: str, when: datetime | str) -> None:
        """Pause the run until `when`."""
        self._settle()
        self._sleep_until(step_id, when)

    @overload
    def wait_for_event(
        self, step_id: str, event: EventType[D], *, timeout: Duration, if_exp: str | None = None
    ) -> Event[D] | None: ...
    @overload
    def wait_for_event(
        self, step_id: str, event: str, *, timeout: Duration, if_exp: str | None = None
    ) -> Event | None: ...
    def wait_for_event(
        self,
        step_id: str,
        event: str | EventType[Any],
        *,
        timeout: Duration,
        if_exp: str | None = None,
    ) -> Event[Any] | None:
        """Wait for an event (see `Step.wait_for_event`)."""
        self._settle()
        return self._wait(step_id, event, timeout, if_exp)

    @overload
    def invoke(
        self,
        step_id: str,
        function: Function[T],
        *,
        data: Any = None,
        timeout: Duration | None = None,
        v: str | None = None,
    ) -> T: ...
    @overload
    def invoke(
        self,
        step_id: str,
        function: str,
        *,
        data: Any = None,
        timeout: Duration | None = None,
        v: str | None = None,
    ) -> Any: ...
    def invoke(
        self,
        step_id: str,
        function: Function[Any] | str,
        *,
        data: Any = None,
        timeout: Duration | None = None,
        v: str | None = None,
    ) -> Any:
        """Run another function and return its result (see `Step.invoke`)."""
        self._settle()
        return self._invoke(step_id, function, data, timeout, v)

    @overload
    def parallel(self, a: Callable[[], T1], b: Callable[[], T2], /) -> tuple[T1, T2]: ...
    @overload
    def parallel(
        self, a: Callable[[], T1], b: Callable[[], T2], c: Callable[[], T3], /
    ) -> tuple[T1, T2, T3]: ...
    @overload
    def parallel(self, *branches: Callable[[], T]) -> tuple[T, ...]: ...
    def parallel(self, *branches: Callable[[], Any]) -> tuple[Any, ...]:
        """Run branches in parallel and wait for all (see `Step.parallel`)."""
        self._settle()
        run = self._run
        saved = run.enter_group(race=False)
        results: list[Any] = []
        pending = False
        try:
            for branch in branches:
                try:
                    results.append(branch())
                except BranchDone:
                    pending = True
        finally:
            ops = run.exit_group(saved)
        if pending:
            run.group_pending(ops)
        return tuple(results)

    def race(self, *branches: Callable[[], T]) -> T:
        """Run branches in parallel; return the first to finish (see `Step.race`)."""
        self._settle()
        run = self._run
        saved = run.enter_group(race=True)
        best: tuple[int, T] | None = None
        try:
            for branch in branches:
                run.branch_start()
                try:
                    value = branch()
                except BranchDone:
                    continue
                if best is None or run.branch_position < best[0]:
                    best = (run.branch_position, value)
        finally:
            ops = run.exit_group(saved)
        if best is None:
            run.group_pending(ops)
        return best[1]
