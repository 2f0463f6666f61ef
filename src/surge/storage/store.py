"""`Storage`: every domain operation the engine needs, each one a rule run by a connector.

The contract of each operation is in its docstring; the rule that implements it is in
`storage/rules/`, written once for both databases; `tests/integration/storage/` is the
contract suite, and runs every test on SQLite and on PostgreSQL. Storage never reads the
clock: every time it stores comes in as an argument.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from surge.core.errors import RunEndedMeanwhile
from surge.core.span_metadata import MetadataUpdate

from .checkpoints import CheckpointStore
from .connector import Connector, WakeListener
from .leases import Leases
from .logins import LoginStore
from .records import (
    AppRecord,
    Cancellation,
    Commit,
    EventQuery,
    EventRecord,
    FunctionRecord,
    HistoryEntry,
    IngestEntry,
    Leased,
    Memo,
    NewRun,
    NewWorkItem,
    NextCall,
    Note,
    OpenGather,
    Pause,
    RegistryState,
    Replay,
    RunQuery,
    RunRecord,
    RunState,
    SpanMetadata,
    Suspension,
    Waiting,
    WorkItem,
)
from .rules import (
    apps,
    cancellations,
    events,
    gathers,
    pauses,
    queue,
    replays,
    retention,
    runs,
    slots,
    span_metadata,
)
from .rules.commit import commit
from .rules.retention import Pruned
from .stats import StatsStore


class Storage:
    """Durable state of a Surge deployment, on the database its connector reaches."""

    def __init__(self, connector: Connector) -> None:
        self._db = connector
        self.checkpoints = CheckpointStore(connector)
        self.logins = LoginStore(connector)
        self.stats = StatsStore(connector)
        self._leases = Leases(connector)
        self._token_prefix = secrets.token_hex(8) + ":next:"
        self._commits = itertools.count()

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgres"``."""
        return self._db.dialect

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self, *, now: int) -> None:
        """Connect and apply pending schema migrations (safe if several nodes start at once)."""
        await self._db.open(now=now)

    async def close(self) -> None:
        """Finish in-flight writes and release every connection."""
        await self._db.close()

    async def recover(self, *, single_node: bool, now: int) -> None:
        """Prepare stored work after a start.

        With `single_node`, every lease is dropped at once (each item due again when it first
        fell due), since no other node can hold one; otherwise expired leases lapse on their own.
        A call waiting for a concurrency key none holds is unparked (`slots.unpark_stranded`).
        """
        if single_node:
            await self._db.run(lambda: queue.recover_leases(now=now))
        await self._db.run(slots.unpark_stranded)

    def add_wake_listener(self, listener: WakeListener) -> None:
        """Call `listener` (on the event loop) whenever new work may be due: after every
        commit that queued work, on any node sharing the database."""
        self._db.add_wake_listener(listener)

    # -- apps and functions ------------------------------------------------------------------

    async def sync_app(
        self, app: AppRecord, functions: Sequence[FunctionRecord], crons: Sequence[NewWorkItem]
    ) -> bool:
        """Store an app and replace its functions; return whether the app changed.

        "Changed" means the app's `checksum` differs from the stored one (or the app is new).
        An older app at the same URL is removed. Functions of this app that are not in
        `functions` are deleted. Cron items are reconciled in the same transaction: `crons`
        (each with a `unique_key`) are queued unless an item with that key exists, and this
        app's cron items whose key is not in `crons` are deleted. The registry version is
        bumped whenever the set of functions or their configuration changed.
        """
        return await self._db.run(lambda: apps.sync_app(app, functions, crons))

    async def remove_app(self, url: str) -> bool:
        """Delete the app served at `url`, its functions and its cron items, and bump the
        registry version. Returns whether an app was removed."""
        return await self._db.run(lambda: apps.remove_app(url))

    async def registry_state(self) -> RegistryState:
        """Every app and function (ordered by id), and the registry version."""
        return await self._db.run(apps.registry_state, transaction=False)

    async def suspend_function(
        self, suspension: Suspension, *, cancel: Cancellation | None = None
    ) -> Suspension:
        """Suspend (pause) a function, bumping the registry version, unless it already is;
        with `cancel`, also start that bulk cancellation. Return the suspension in force."""
        return await self._db.run(lambda: apps.suspend(suspension, cancel=cancel))

    async def resume_function(self, function_id: str) -> bool:
        """End a function's suspension (bumping the registry version); whether there was one."""
        return await self._db.run(lambda: apps.resume(function_id))

    # -- events and runs ---------------------------------------------------------------------

    async def ingest(
        self, entries: Sequence[IngestEntry], *, registry_version: int | None = None
    ) -> list[str]:
        """Store events and create the runs they trigger, all in one transaction.

        Returns, for each entry in order, the internal id of the stored event. An entry whose
        `internal_id` is already stored, or whose user-given `id` was stored within its
        `dedupe_window_ms` (counting earlier entries of the same call), is not stored again
        and creates no runs; its returned id is the one already stored. Each new run gets a
        discovery work item due at its `started_at`.

        Raises:
            RegistryChanged: `registry_version` (the version the runs were matched against)
                is no longer the stored one; nothing was stored.
        """
        if not entries:
            return []
        return await self._db.run(lambda: events.ingest(entries, registry_version=registry_version))

    async def get_event(self, key: str) -> EventRecord:
        """The event with this internal id (or, failing that, the latest with this user id).

        Raises:
            NotFound: There is none.
        """
        return await self._db.run(lambda: events.get_event(key), transaction=False)

    async def list_events(self, query: EventQuery | None = None) -> list[EventRecord]:
        """The events `query` selects (the latest 100 without one), newest first."""
        chosen = query or EventQuery()
        return await self._db.run(lambda: events.list_events(chosen), transaction=False)

    async def get_run(self, run_id: str) -> RunRecord:
        """The run with this id, its `parent_run_id` filled in.

        Raises:
            NotFound: There is none.
        """
        return await self._db.run(lambda: runs.get_run(run_id), transaction=False)

    async def run_waiting(self, run_id: str, *, now: int) -> Waiting | None:
        """Why run `run_id`'s next call waits at `now` (`Waiting`: before its first step, the
        throttle or priority that made it due later; else a full concurrency key), or `None`."""
        return await self._db.run(lambda: runs.run_waiting(run_id, now=now), transaction=False)

    async def pending_gathers(self, event_id: str) -> list[OpenGather]:
        """The open debounces and event batches the event (internal id) waits in."""
        return await self._db.run(lambda: gathers.pending(event_id), transaction=False)

    async def list_runs(self, query: RunQuery | None = None) -> list[RunRecord]:
        """The runs `query` selects (the latest 100 without one), newest first, each with its
        `parent_run_id`."""
        chosen = query or RunQuery()
        return await self._db.run(lambda: runs.list_runs(chosen), transaction=False)

    async def rerun(
        self,
        run: NewRun,
        *,
        by: str,
        memos: Sequence[Memo] = (),
        step_input: dict[str, list[Any]] | None = None,
    ) -> None:
        """Start `run`, a rerun of another with its events (`NewRun.original_run_id`) and
        `memos` (the original's steps it keeps): its gates and limits apply as to any new run;
        both runs' histories say who asked. `step_input` is an edited step input
        (`RunRecord.step_input`)."""
        await self._db.run(lambda: runs.rerun(run, by=by, memos=memos, step_input=step_input))

    async def event_payloads(self, event_ids: Sequence[str]) -> dict[str, Any]:
        """The payloads of the events with these internal ids (those stored), by id."""
        return await self._db.run(lambda: runs.event_payloads(event_ids), transaction=False)

    async def count_events(self, query: EventQuery, *, cap: int) -> int:
        """How many events `query` selects (its page aside), counting up to `cap`."""
        return await self._db.run(lambda: events.count_events(query, cap=cap), transaction=False)

    async def count_runs(self, query: RunQuery, *, cap: int) -> int:
        """How many runs `query` selects (its page aside), counting up to `cap`."""
        return await self._db.run(lambda: runs.count_runs(query, cap=cap), transaction=False)

    async def load_run_state(self, run_id: str) -> RunState:
        """A run with its events and memos (in stack order).

        Raises:
            NotFound: There is no such run.
        """
        return await self._db.read(lambda: runs.load_run_state(run_id))

    async def run_history(self, run_id: str) -> list[HistoryEntry]:
        """The run's history in the order it was written."""
        return await self._db.run(lambda: runs.run_history(run_id), transaction=False)

    async def first_call(self, run_id: str) -> HistoryEntry | None:
        """The first line of the run's history its calls wrote (`runs.first_call`)."""
        return await self._db.read(lambda: runs.first_call(run_id))

    async def span_metadata(self, run_id: str) -> list[SpanMetadata]:
        """The run's span metadata: its own (`SpanMetadata.step_id` ``""``) and its steps'."""
        return await self._db.run(lambda: span_metadata.span_metadata(run_id), transaction=False)

    async def update_metadata(
        self, run_id: str, updates: Sequence[tuple[str, MetadataUpdate]], *, at: int
    ) -> None:
        """Apply `updates` (each for a step id, ``""`` for the run) to the run's metadata.

        Raises:
            NotFound: There is no such run.
        """
        await self._db.run(lambda: span_metadata.update_metadata(run_id, updates, at=at))

    async def cancel_run(
        self,
        run_id: str,
        *,
        at: int,
        events: Sequence[IngestEntry] = (),
        registry_version: int | None = None,
        detail: dict[str, Any] | None = None,
        error: Any = None,
    ) -> RunRecord:
        """Cancel a running run atomically, and return it.

        In one transaction: the run becomes `Cancelled` at `at`, its queued work items and its
        pauses are deleted, its history gets a ``cancelled`` entry (with `detail`), its error
        is `error` (why, when it was not asked for), and
        `events` are ingested (as by `ingest`). A call in flight keeps its lease: its commit
        keeps the step's result and ends nothing (`commit`). A run that already ended is
        returned unchanged and nothing is stored.

        Raises:
            NotFound: There is no such run.
            RegistryChanged: As for `ingest`; nothing was changed.
        """
        return await self._db.run(
            lambda: runs.cancel_run(
                run_id,
                at=at,
                events=events,
                registry_version=registry_version,
                detail=detail or {},
                error=error,
            )
        )

    async def run_began_at(self, run_id: str, *, now: int) -> int | None:
        """When run `run_id`'s app was first called: its first commit, `now` while its first
        call is in flight, `None` if it was not called yet."""
        return await self._db.run(lambda: runs.run_began_at(run_id, now=now), transaction=False)

    # -- bulk cancellations ------------------------------------------------------------------

    async def create_cancellation(self, cancellation: Cancellation) -> None:
        """Store a bulk cancellation and queue its job (`rules/cancellations.py`)."""
        await self._db.run(lambda: cancellations.create(cancellation))

    async def list_cancellations(
        self, *, limit: int, before: str | None = None
    ) -> list[Cancellation]:
        """The `limit` newest bulk cancellations (whose id sorts before `before`, if given),
        newest first, with how many runs each cancelled so far."""
        return await self._db.run(
            lambda: cancellations.listed(limit=limit, before=before), transaction=False
        )

    async def delete_cancellation(self, cancellation_id: str) -> bool:
        """Delete a bulk cancellation, stopping its job; whether there was one. The runs it
        cancelled stay cancelled."""
        return await self._db.run(lambda: cancellations.delete(cancellation_id))

    async def cancellation_batch(
        self, cancellation_id: str, *, after: str, limit: int
    ) -> tuple[Cancellation | None, list[tuple[str, dict[str, Any]]]]:
        """The cancellation (`None` if deleted) and its next `limit` running runs after run
        id `after`, each with its trigger event."""
        return await self._db.run(
            lambda: cancellations.batch(cancellation_id, after=after, limit=limit),
            transaction=False,
        )

    async def cancellation_progress(
        self, item: WorkItem, *, cancelled: int, after: str | None, at: int
    ) -> None:
        """Record a batch of a cancellation's job: `cancelled` more runs, and the last run id
        it reached (the job is queued again from there), or `None` when it is done.

        Raises:
            StaleLease: The item's lease passed on; nothing was changed.
        """
        await self._db.run(
            lambda: cancellations.progress(item, cancelled=cancelled, after=after, at=at)
        )

    # -- bulk replays ------------------------------------------------------------------------

    async def count_replayable(
        self, function_id: str, *, started_after: int, started_before: int, statuses: Sequence[str]
    ) -> int:
        """How many runs of `function_id` started in [`started_after`, `started_before`)
        have one of `statuses` (what a replay of them would rerun)."""
        return await self._db.run(
            lambda: replays.count(
                function_id,
                started_after=started_after,
                started_before=started_before,
                statuses=statuses,
            ),
            transaction=False,
        )

    async def create_replay(self, replay: Replay) -> Replay:
        """Store a bulk replay with how many runs it selects (`total`) and queue its job
        (`rules/replays.py`); return it as stored."""
        return await self._db.run(lambda: replays.create(replay))

    async def get_replay(self, replay_id: str) -> Replay | None:
        """A bulk replay, with its runs counted by status (`Replay.progress`)."""
        return await self._db.run(lambda: replays.get(replay_id), transaction=False)

    async def list_replays(self, *, limit: int, before: str | None = None) -> list[Replay]:
        """The `limit` newest bulk replays (whose id sorts before `before`, if given), newest
        first, with their progress."""
        return await self._db.run(
            lambda: replays.listed(limit=limit, before=before), transaction=False
        )

    async def replay_batch(
        self, replay_id: str, *, after: str, limit: int
    ) -> tuple[Replay | None, list[tuple[RunRecord, dict[str, Any]]]]:
        """The replay (`None` if unknown) and its next `limit` runs after run id `after`,
        each with its first event."""
        return await self._db.run(
            lambda: replays.batch(replay_id, after=after, limit=limit), transaction=False
        )

    async def replay_progress(
        self, item: WorkItem, reruns: Sequence[NewRun], *, by: str, after: str | None, at: int
    ) -> None:
        """Start a batch of a replay's reruns and move its job on to run id `after` (`None`:
        done), in one transaction.

        Raises:
            StaleLease: The item's lease passed on; nothing was changed.
        """
        await self._db.run(lambda: replays.progress(item, reruns, by=by, after=after, at=at))

    # -- pauses ------------------------------------------------------------------------------

    async def pause_candidates(
        self, event_ids: Sequence[str]
    ) -> list[tuple[EventRecord, list[Pause]]]:
        """Each of the events (internal ids; in arrival order) with the pauses that may match
        it, found through the index (`rules/pauses.py`), each with its run's trigger; their
        expressions are not evaluated."""
        return await self._db.run(lambda: pauses.candidates(event_ids), transaction=False)

    async def resume(self, pause: Pause, *, outcome: Any, at: int, detail: dict[str, Any]) -> bool:
        """End `pause` with `outcome` as its step's memo and go on with its run, in one
        transaction; `False`, changing nothing, if it ended already (`rules/pauses.py`)."""
        return await self._db.run(
            lambda: pauses.resume(pause, outcome=outcome, at=at, detail=detail)
        )

    # -- the queue ---------------------------------------------------------------------------

    async def lease(self, *, now: int, limit: int, lease_ms: int, ahead_ms: int = 0) -> Leased:
        """Lease up to `limit` items due at or before `now`, earliest (then highest priority)
        first; and the earliest due time left in the queue (as `next_due_at`), read at once.
        Timers and urgent calls (`first_due_at`) due within `ahead_ms` are leased too, and
        first: the caller holds them until they are due.

        A leased item is hidden from other callers until `now + lease_ms`; after that it is
        due again, and its old lease token no longer completes it. A returned item's `due_at`
        is the time it fell due. A call of a run with concurrency limits is returned only if
        it holds a slot of each; one that finds a key full waits, parked, for a slot.
        """
        return await self._leases.lease(now=now, limit=limit, lease_ms=lease_ms, ahead_ms=ahead_ms)

    async def lease_due(self, *, now: int, limit: int, lease_ms: int) -> list[WorkItem]:
        """The items of `lease`."""
        return (await self.lease(now=now, limit=limit, lease_ms=lease_ms)).items

    async def prune(
        self, cutoff: int, *, limit: int, events_after: tuple[int, str] = (-1, "")
    ) -> Pruned:
        """Delete a batch of what ended or arrived before `cutoff` (`rules/retention.py`):
        never a running run, an event a run still links to or an open batch holds."""
        return await self._db.run(
            lambda: retention.prune(cutoff, limit=limit, events_after=events_after)
        )

    def add_note_listener(self, listener: Callable[[list[Note]], None]) -> None:
        """Call `listener` with the `Note`s of each of this node's operations that committed
        (runs started, skipped and ended, events stored), for its metrics."""
        self._db.add_note_listener(listener)

    async def next_due_at(self) -> int | None:
        """The earliest due time of any work item, leased or not; `None` when the queue is empty."""
        return await self._db.run(queue.next_due_at, transaction=False)

    async def flush(self, item: WorkItem, *, now: int, run_id: str) -> str | None:
        """Wake the debounce or event batch of a leased `FLUSH` item: when it is due, in one
        transaction, close it and start its run (id `run_id`, with every event it gathered,
        through the same gates and limits as any new run); else move the item to its close.
        Return the run's id, or `None` when none started.

        Raises:
            StaleLease: The item's lease token no longer matches; nothing was changed.
        """
        return await self._db.run(lambda: events.flush(item, now=now, run_id=run_id))

    async def commit(self, commit_: Commit) -> NextCall | None:
        """Apply a `Commit` atomically (see its docstring for the order of effects); return
        the run's next call, leased, with the run's state, when the commit asked for it
        (`Commit.lease_next_ms`) and it was queued.

        A memo whose step is already memoized for the run is skipped, so a step committed
        once is never committed again.

        Raises:
            StaleLease: The item's lease token no longer matches; nothing was changed.
            RegistryChanged: As for `ingest`, for the commit's events; nothing was changed.
        """
        # Unique per commit without a system call each: this storage's prefix and a count.
        token = f"{self._token_prefix}{next(self._commits)}" if commit_.lease_next_ms else ""
        try:
            return await self._db.run(lambda: commit(commit_, token=token))
        except RunEndedMeanwhile:
            # Cancelled while the call was in flight: keep the step's result, end nothing.
            return await self._db.run(lambda: commit(commit_, token=token, ended=True))

    async def extend_leases(self, items: Sequence[WorkItem], *, until: int) -> None:
        """Push the lease of each item still held with its token to `until` (a heartbeat).

        Items whose lease was lost are left alone; a later commit of theirs raises `StaleLease`.
        So are items a transaction holds locked (their commit is under way): the heartbeat
        never waits for one, which could deadlock it with a group of commits.
        """
        await self._db.run(lambda: queue.extend_leases(items, until=until), transaction=False)

    async def release(self, items: Sequence[WorkItem], *, now: int) -> None:
        """Hand back leased items unfinished: due again at `now`, for any node to lease.

        Items whose lease was lost are left alone.
        """
        await self._db.run(lambda: queue.release(items, now=now), transaction=False)

    async def enqueue(self, items: Sequence[NewWorkItem]) -> None:
        """Queue work items outside of a commit (same `unique_key` rule as `Commit.enqueue`)."""
        if items:
            await self._db.run(lambda: queue.enqueue(items), transaction=False)
