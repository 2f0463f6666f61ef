"""The storage interface: every domain operation the engine and the server need.

Each backend (SQLite, PostgreSQL) implements `Storage` and passes the contract suite in
`tests/integration/storage/`. Methods are coroutines; a backend may run its driver in a
thread. Driver exceptions never escape: backends raise the `StorageError` family from
`surge.core.errors`, and retry transient failures themselves.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

from .records import (
    AppRecord,
    Commit,
    EventRecord,
    FunctionRecord,
    HistoryEntry,
    IngestEntry,
    NewWorkItem,
    RunRecord,
    RunState,
    WorkItem,
)

WakeListener = Callable[[], None]


class Storage(abc.ABC):
    """Durable state of a Surge deployment."""

    # -- lifecycle ---------------------------------------------------------------------------

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and apply pending schema migrations (safe if several nodes start at once)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish in-flight writes and release every connection."""

    @abc.abstractmethod
    async def recover(self, *, single_node: bool) -> None:
        """Prepare stored work after a start.

        With `single_node`, every lease is dropped at once, since no other node can hold one;
        otherwise expired leases are left to lapse on their own.
        """

    def __init__(self) -> None:
        self._wake_listeners: list[WakeListener] = []

    def add_wake_listener(self, listener: WakeListener) -> None:
        """Register a callback run (on the event loop) whenever new work may be due.

        Backends call `_notify_wake` after every commit that enqueued work, on any node
        sharing the database.
        """
        self._wake_listeners.append(listener)

    def _notify_wake(self) -> None:
        for listener in self._wake_listeners:
            listener()

    # -- apps and functions ------------------------------------------------------------------

    @abc.abstractmethod
    async def sync_app(
        self, app: AppRecord, functions: list[FunctionRecord], crons: list[NewWorkItem]
    ) -> bool:
        """Store an app and replace its functions; return whether anything changed.

        "Changed" means the app's `checksum` differs from the stored one (or the app is new).
        Functions of this app that are not in `functions` are deleted. Cron work items are
        reconciled in the same transaction: `crons` (each with a `unique_key`) are enqueued
        unless an item with that key exists, and this app's cron items whose key is not in
        `crons` are deleted.
        """

    @abc.abstractmethod
    async def remove_app(self, url: str) -> bool:
        """Delete the app served at `url`, its functions and its cron items.

        Returns whether an app was removed.
        """

    @abc.abstractmethod
    async def list_apps(self) -> list[AppRecord]:
        """Every synced app, ordered by id."""

    @abc.abstractmethod
    async def apps_fingerprint(self) -> str:
        """A short value that changes whenever an app is synced with changes, or removed.

        Nodes compare it to notice syncs made through another node.
        """

    @abc.abstractmethod
    async def list_functions(self) -> list[FunctionRecord]:
        """Every function of every app, ordered by id."""

    # -- events and runs ---------------------------------------------------------------------

    @abc.abstractmethod
    async def ingest(self, entries: list[IngestEntry]) -> list[str]:
        """Store events and create the runs they trigger, all in one transaction.

        Returns, for each entry in order, the internal id of the stored event. An entry whose
        `internal_id` is already stored, or whose user-given `id` was stored within its
        `dedupe_window_ms` (counting earlier entries of the same call), is not stored again
        and creates no runs; its returned id is the one already stored. Each new run gets a
        discovery work item due at its `started_at`.
        """

    @abc.abstractmethod
    async def get_event(self, internal_id: str) -> EventRecord:
        """The event with this internal id (or, failing that, this user id). Raises `NotFound`."""

    @abc.abstractmethod
    async def list_events(
        self,
        *,
        name: str | None = None,
        received_after: int | None = None,
        received_before: int | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> list[EventRecord]:
        """Events newest first. `cursor` is an internal id: return only events older than it."""

    @abc.abstractmethod
    async def get_run(self, run_id: str) -> RunRecord:
        """The run with this id, its `parent_run_id` filled in. Raises `NotFound`."""

    @abc.abstractmethod
    async def list_runs(
        self,
        *,
        event_id: str | None = None,
        function_id: str | None = None,
        parent_run_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> list[RunRecord]:
        """Runs newest first, filtered by triggering event, function or parent run."""

    @abc.abstractmethod
    async def load_run_state(self, run_id: str) -> RunState:
        """A run with its events and memos (in stack order). Raises `NotFound`."""

    @abc.abstractmethod
    async def cancel_run(self, run_id: str, *, at: int) -> RunRecord:
        """Mark a running run `Cancelled` and delete its work items; return the run.

        A run that already ended is returned unchanged. Raises `NotFound`.
        """

    @abc.abstractmethod
    async def run_history(self, run_id: str) -> list[HistoryEntry]:
        """The run's history in the order it was written."""

    # -- the queue ---------------------------------------------------------------------------

    @abc.abstractmethod
    async def lease_due(self, *, now: int, limit: int, lease_ms: int) -> list[WorkItem]:
        """Lease up to `limit` items due at or before `now`, earliest (then highest priority) first.

        A leased item is hidden from other callers until `now + lease_ms`; after that it is
        due again, and its old lease token no longer completes it.
        """

    @abc.abstractmethod
    async def next_due_at(self) -> int | None:
        """The earliest due time of any work item, leased or not; `None` when the queue is empty."""

    @abc.abstractmethod
    async def commit(self, commit: Commit) -> None:
        """Apply a `Commit` atomically (see its docstring for the order of effects).

        Raises `StaleLease`, changing nothing, when the item's lease token no longer matches.
        A memo whose step is already memoized for the run is skipped, so a step committed
        once is never committed again.
        """

    @abc.abstractmethod
    async def extend_leases(self, items: list[WorkItem], *, until: int) -> None:
        """Push the lease of each item still held with its token to `until` (a heartbeat).

        Items whose lease was lost are left alone; a later commit of theirs raises `StaleLease`.
        """

    @abc.abstractmethod
    async def release(self, items: list[WorkItem], *, now: int) -> None:
        """Hand back leased items unfinished: due again at `now`, for any node to lease.

        Items whose lease was lost are left alone.
        """

    @abc.abstractmethod
    async def enqueue(self, items: list[NewWorkItem]) -> None:
        """Add work items outside of a commit (same `unique_key` rule as `Commit.enqueue`)."""
