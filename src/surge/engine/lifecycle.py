"""Runs resumed or ended from outside their own calls: events that match pauses, cancelling
one run (the API, `cancelOn`), and bulk cancellations.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from surge.core.clock import Clock
from surge.core.durations import parse_duration
from surge.core.errors import NotFound, StaleLease
from surge.storage import Commit, NextCall, PauseKind, RunRecord, RunStatus, Storage, WorkItem

from .conditions import Conditions
from .expressions import compile_expression
from .finish import RunEnded, ending, error_value
from .registry import Registry, Snapshot
from .waits import resumed_with

logger = logging.getLogger(__name__)

CANCEL_BATCH = 200
"""How many runs a bulk cancellation's job reads and cancels per turn in the queue."""


class Lifecycle:
    """Resumes and cancels runs; `complete` writes a handled work item's (empty) commit."""

    def __init__(
        self,
        storage: Storage,
        registry: Registry,
        clock: Clock,
        conditions: Conditions,
        complete: Callable[[Commit], Awaitable[NextCall | None]],
    ) -> None:
        self._storage = storage
        self._registry = registry
        self._clock = clock
        self._conditions = conditions
        self._complete = complete

    async def match(self, item: WorkItem) -> None:
        """Events arrived that pauses wait for: resume each waiting step whose pause an event
        matches (the earliest event wins), cancel each run whose ``cancelOn`` it matches."""
        found = await self._storage.pause_candidates(item.payload.get("events") or [])
        taken: set[str] = set()
        for event, candidates in found:
            for pause in candidates:
                if pause.id in taken or pause.run_id in taken:
                    continue
                variables = {"event": pause.trigger or {}, "async": event.payload}
                if pause.expression and not compile_expression(pause.expression).matches(variables):
                    continue
                now = self._clock.now()
                detail = {"event_id": event.internal_id, "event": event.name}
                if pause.kind is PauseKind.CANCEL:
                    await self.cancel(pause.run_id, detail={"by": "cancelOn", **detail})
                    taken.add(pause.run_id)
                    continue
                outcome = resumed_with(pause, event.payload)
                await self._storage.resume(pause, outcome=outcome, at=now, detail=detail)
                taken.add(pause.id)
        await self._complete(Commit(item=item, at=self._clock.now()))

    async def cancel_runs(self, item: WorkItem) -> None:
        """Go on with a bulk cancellation: cancel its next batch of runs whose trigger
        matches, and record how far it got (queued again from there, or done)."""
        cancellation_id = str(item.payload.get("cancellation"))
        limit = CANCEL_BATCH
        cancellation, runs = await self._storage.cancellation_batch(
            cancellation_id, after=str(item.payload.get("after") or ""), limit=limit
        )
        if cancellation is None:  # deleted: the job stops
            await self._complete(Commit(item=item, at=self._clock.now()))
            return
        expression = cancellation.expression
        # "pause": pausing the function asked for it (`Engine.suspend_function`).
        by = cancellation.requested_by or "cancellation"
        detail = {"by": by, "cancellation_id": cancellation.id}
        cancelled = 0
        for run_id, trigger in runs:
            if expression and not compile_expression(expression).matches({"event": trigger}):
                continue
            if await self._cancelled_now(run_id, detail):
                cancelled += 1
        after = runs[-1][0] if len(runs) == limit else None
        try:
            await self._storage.cancellation_progress(
                item, cancelled=cancelled, after=after, at=self._clock.now()
            )
        except StaleLease:
            logger.warning(
                "lease lost during a bulk cancellation; it will go on from its last batch"
            )

    async def _cancelled_now(self, run_id: str, detail: dict[str, Any]) -> bool:
        try:
            state = await self._storage.load_run_state(run_id)
        except NotFound:
            return False
        if state.run.status.is_final:
            return False
        run = await self.cancel(run_id, detail=detail)
        return run.status is RunStatus.CANCELLED

    async def cancel(
        self, run_id: str, *, detail: dict[str, Any] | None = None, error: Any = None
    ) -> RunRecord:
        """Cancel a run: no further step starts, and `inngest/function.cancelled` is emitted,
        all in one commit; `error` says why, when no one asked for it. A run that already
        ended is returned as it is. `NotFound`."""
        state = await self._storage.load_run_state(run_id)
        if state.run.status.is_final:
            return state.run
        at = self._clock.now()
        _, events = ending(state, RunEnded(status=RunStatus.CANCELLED, error=error), now=at)

        async def cancel(snapshot: Snapshot) -> RunRecord:
            entries = await self._conditions.entries(snapshot, events, now=at)
            return await self._storage.cancel_run(
                run_id,
                at=at,
                events=entries,
                registry_version=snapshot.version,
                detail=detail,
                error=error,
            )

        return await self._registry.current(cancel)

    async def cancel_item(self, item: WorkItem) -> None:
        """A singleton's new run replaced run `payload["run"]`: cancel it."""
        run_id = str(item.payload.get("run"))
        try:
            await self.cancel(run_id, detail=item.payload.get("detail") or {})
        except NotFound:
            pass
        await self._complete(Commit(item=item, at=self._clock.now()))

    async def timeout(self, item: WorkItem) -> None:
        """Cancel the run of `item` if it outlived a timeout: ``timeouts.start`` (its app not
        called within it of its event) or ``timeouts.finish`` (not ended within it of its
        first call; checked again later if it began later than the check was set for)."""
        which = str(item.payload.get("timeout"))
        run_id = item.run_id or ""
        now = self._clock.now()
        try:
            state = await self._storage.load_run_state(run_id)
        except NotFound:
            state = None
        # The item stands alone now: its commit does not touch the run.
        done = Commit(item=replace(item, run_id=None), at=now)
        if state is None or state.run.status.is_final:
            await self._complete(done)
            return
        began = await self._storage.run_began_at(run_id, now=now)
        limit = self._limit(state.run.function_id, which)
        if limit is None or (which == "start" and began is not None):
            await self._complete(done)  # no such timeout any more, or it began in time
            return
        if which == "finish" and (began or now) + limit[1] > now:
            # Not begun yet, or begun after the run's start: its clock runs from then.
            await self._complete(replace(done, retry_at=(began or now) + limit[1]))
            return
        what = "start" if which == "start" else "finish"
        message = f"the run did not {what} within its timeouts.{which} ({limit[0]})"
        error = error_value("FunctionTimeout", message)
        await self.cancel(run_id, detail={"by": f"timeouts.{which}"}, error=error)
        await self._complete(done)

    def _limit(self, function_id: str, which: str) -> tuple[str, int] | None:
        """The function's timeout `which`, as written and in milliseconds."""
        function = self._registry.function(function_id)
        timeouts = function.raw.get("timeouts") if function is not None else None
        text = timeouts.get(which) if isinstance(timeouts, dict) else None
        if not isinstance(text, str) or not text:
            return None
        return text, int(parse_duration(text) * 1000)
