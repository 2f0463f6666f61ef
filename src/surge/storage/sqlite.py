"""The SQLite backend: one file, one connection, one writer thread committing in groups.

Every operation, reads included, runs on the thread in `_sqlite_writer`, which batches whatever
is queued into one transaction. The SQL of each operation lives in the `_sqlite_*` modules by
noun; this class only routes calls to them. Wake listeners run on the event loop that opened
the storage, after the commit that queued the work.
"""

from __future__ import annotations

import os
import sqlite3

from . import _sqlite_apps as apps
from . import _sqlite_queue as work
from . import _sqlite_runs as runs
from ._sqlite_ingest import ingest_entries
from ._sqlite_writer import Writer
from .base import Storage
from .migrations import SQLiteMigrationTarget, load_migrations, migrate
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

__all__ = ["SQLiteStorage"]


def _apply_migrations(conn: sqlite3.Connection) -> None:
    migrate(SQLiteMigrationTarget(conn), load_migrations("sqlite"))


class SQLiteStorage(Storage):
    """`Storage` in a SQLite file (WAL mode), for a single node or a few sharing one disk.

    Args:
        path: The database file; its directory is created on `open`. ``":memory:"`` works too.
    """

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self._writer = Writer(path, setup=_apply_migrations, on_wake=self._notify_wake)

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Create the file (and its directory) if needed and apply pending migrations."""
        if self.path != ":memory:" and not self.path.startswith("file:"):
            directory = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(directory, exist_ok=True)
        await self._writer.start()

    async def close(self) -> None:
        """Commit what is queued, stop the writer thread and close the connection."""
        await self._writer.stop()

    async def recover(self, *, single_node: bool) -> None:
        """With `single_node`, make every leased item due now and forget its lease."""
        await self._writer.submit(lambda tx: work.recover_leases(tx, single_node=single_node))

    # -- apps and functions ------------------------------------------------------------------

    async def sync_app(
        self, app: AppRecord, functions: list[FunctionRecord], crons: list[NewWorkItem]
    ) -> bool:
        """See `Storage.sync_app`; an older app row with the same URL is replaced."""
        return await self._writer.submit(lambda tx: apps.sync_app(tx, app, functions, crons))

    async def remove_app(self, url: str) -> bool:
        """See `Storage.remove_app`."""
        return await self._writer.submit(lambda tx: apps.remove_app(tx.conn, url))

    async def list_apps(self) -> list[AppRecord]:
        """See `Storage.list_apps`."""
        return await self._writer.submit(lambda tx: apps.list_apps(tx.conn))

    async def list_functions(self) -> list[FunctionRecord]:
        """See `Storage.list_functions`."""
        return await self._writer.submit(lambda tx: apps.list_functions(tx.conn))

    # -- events and runs ---------------------------------------------------------------------

    async def ingest(self, entries: list[IngestEntry]) -> list[str]:
        """See `Storage.ingest`."""
        if not entries:
            return []
        return await self._writer.submit(lambda tx: ingest_entries(tx, entries))

    async def get_event(self, internal_id: str) -> EventRecord:
        """See `Storage.get_event`."""
        return await self._writer.submit(lambda tx: runs.get_event(tx.conn, internal_id))

    async def list_events(
        self,
        *,
        name: str | None = None,
        received_after: int | None = None,
        received_before: int | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> list[EventRecord]:
        """See `Storage.list_events`; `received_after` is inclusive, `received_before` not."""
        return await self._writer.submit(
            lambda tx: runs.list_events(
                tx.conn,
                name=name,
                received_after=received_after,
                received_before=received_before,
                limit=limit,
                cursor=cursor,
            )
        )

    async def get_run(self, run_id: str) -> RunRecord:
        """See `Storage.get_run`."""
        return await self._writer.submit(lambda tx: runs.get_run(tx.conn, run_id))

    async def list_runs(
        self,
        *,
        event_id: str | None = None,
        function_id: str | None = None,
        parent_run_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> list[RunRecord]:
        """See `Storage.list_runs`; `event_id` is an internal id, `cursor` a run id."""
        return await self._writer.submit(
            lambda tx: runs.list_runs(
                tx.conn,
                event_id=event_id,
                function_id=function_id,
                parent_run_id=parent_run_id,
                limit=limit,
                cursor=cursor,
            )
        )

    async def load_run_state(self, run_id: str) -> RunState:
        """See `Storage.load_run_state`."""
        return await self._writer.submit(lambda tx: runs.load_run_state(tx.conn, run_id))

    async def cancel_run(self, run_id: str, *, at: int) -> RunRecord:
        """See `Storage.cancel_run`; the history gets a ``"cancelled"`` entry."""
        return await self._writer.submit(lambda tx: runs.cancel_run(tx, run_id, at))

    async def run_history(self, run_id: str) -> list[HistoryEntry]:
        """See `Storage.run_history`."""
        return await self._writer.submit(lambda tx: runs.run_history(tx.conn, run_id))

    # -- the queue ---------------------------------------------------------------------------

    async def lease_due(self, *, now: int, limit: int, lease_ms: int) -> list[WorkItem]:
        """See `Storage.lease_due`; a returned item's `due_at` is the time it fell due."""
        return await self._writer.submit(lambda tx: work.lease_due(tx.conn, now, limit, lease_ms))

    async def next_due_at(self) -> int | None:
        """See `Storage.next_due_at`."""
        return await self._writer.submit(lambda tx: work.next_due_at(tx.conn))

    async def commit(self, commit: Commit) -> None:
        """See `Storage.commit`."""
        await self._writer.submit(lambda tx: work.apply_commit(tx, commit))

    async def extend_leases(self, items: list[WorkItem], *, until: int) -> None:
        """See `Storage.extend_leases`."""
        await self._writer.submit(lambda tx: work.extend_leases(tx, items, until))

    async def release(self, items: list[WorkItem], *, now: int) -> None:
        """See `Storage.release`."""
        await self._writer.submit(lambda tx: work.release(tx, items, now))

    async def apps_fingerprint(self) -> str:
        """See `Storage.apps_fingerprint`."""
        return await self._writer.submit(lambda tx: apps.fingerprint(tx.conn))

    async def enqueue(self, items: list[NewWorkItem]) -> None:
        """See `Storage.enqueue`."""
        if items:
            await self._writer.submit(lambda tx: work.enqueue(tx, items))
