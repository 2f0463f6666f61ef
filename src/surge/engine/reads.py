"""The engine's reads of events, runs and traces: what the HTTP API, GraphQL and the dashboard
show. `Engine` offers them; they only read storage (and the node's clock)."""

from __future__ import annotations

from surge.core.clock import Clock
from surge.storage import (
    EventQuery,
    EventRecord,
    HistoryEntry,
    OpenGather,
    RunQuery,
    RunRecord,
    RunState,
    RunStatus,
    Storage,
)

from .search import EventSearch, RunSearch, search_events, search_runs
from .traces import (
    Span,
    SpanOutput,
    build_trace,
    first_call_at,
    parse_output_key,
    span_output,
    with_metadata,
)

__all__ = ["Reads"]


class Reads:
    """The queries of `Engine` over its storage."""

    _storage: Storage
    _clock: Clock

    def now(self) -> int:
        """The node's clock, in epoch milliseconds."""
        return self._clock.now()

    async def list_events(self, query: EventQuery) -> list[EventRecord]:
        """The events `query` selects, newest first."""
        return await self._storage.list_events(query)

    async def search_events(self, query: EventQuery, expression: str) -> EventSearch:
        """The events of one name in a time range whose payload the CEL `expression` holds
        for, under a scan budget (`search.py`). `InvalidInput`."""
        return await search_events(self._storage, query, expression)

    async def search_runs(self, query: RunQuery, expression: str) -> RunSearch:
        """The runs of some functions from a start time for which the CEL `expression` over
        their trigger (``event``) and ``output`` holds, under a scan budget (`search.py`).
        `InvalidInput`."""
        return await search_runs(self._storage, query, expression)

    async def get_event(self, key: str) -> EventRecord:
        """The event with this internal id, else the latest with this user id. `NotFound`."""
        return await self._storage.get_event(key)

    async def event_runs(self, key: str, *, limit: int) -> list[RunRecord]:
        """The runs an event started, newest first. `NotFound` if there is no such event."""
        event = await self._storage.get_event(key)
        return await self._storage.list_runs(RunQuery(event_id=event.internal_id, limit=limit))

    async def list_runs(self, query: RunQuery) -> list[RunRecord]:
        """The runs `query` selects, newest first."""
        return await self._storage.list_runs(query)

    async def count_events(self, query: EventQuery, *, cap: int) -> int:
        """How many events `query` selects (its page aside), counting up to `cap`."""
        return await self._storage.count_events(query, cap=cap)

    async def count_runs(self, query: RunQuery, *, cap: int) -> int:
        """How many runs `query` selects (its page aside), counting up to `cap`."""
        return await self._storage.count_runs(query, cap=cap)

    async def get_run(self, run_id: str) -> RunRecord:
        """The run with this id, with why it waits if it does (`RunRecord.waiting`). `NotFound`
        if there is none."""
        run = await self._storage.get_run(run_id)
        if run.status is not RunStatus.RUNNING:
            return run
        run.waiting = await self._storage.run_waiting(run_id, now=self.now())
        return run

    async def event_gathers(self, key: str) -> list[OpenGather]:
        """The open debounces and event batches an event waits in. `NotFound` if there is no
        such event."""
        event = await self._storage.get_event(key)
        return await self._storage.pending_gathers(event.internal_id)

    async def run_history(self, run_id: str) -> list[HistoryEntry]:
        """The run's history in the order it was written. `NotFound` if there is no run."""
        await self._storage.get_run(run_id)
        return await self._storage.run_history(run_id)

    async def run_started_at(self, run_id: str) -> int | None:
        """When the run's first call was sent, as its trace has it (`None`: not yet)."""
        return first_call_at([entry] if (entry := await self._storage.first_call(run_id)) else [])

    async def run_state(self, run_id: str) -> RunState:
        """The run's events and memoized steps (what an SDK fetches with ``use_api``)."""
        return await self._storage.load_run_state(run_id)

    async def run_trace(self, run_id: str, *, state: RunState | None = None) -> Span:
        """The run's trace (`traces.build_trace`, of `state` if read already), with its span
        metadata. `NotFound` if there is no run."""
        state = state or await self._storage.load_run_state(run_id)
        trace = build_trace(state, await self._storage.run_history(run_id))
        return with_metadata(trace, await self._storage.span_metadata(run_id))

    async def span_output(self, output_id: str) -> SpanOutput:
        """The output of a span of a trace, by its `Span.output_id`. `NotFound` if there is
        none (yet)."""
        run_id, step_id = parse_output_key(output_id)
        return span_output(await self._storage.load_run_state(run_id), step_id)
