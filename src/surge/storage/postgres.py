"""The PostgreSQL backend: any number of server nodes sharing one database.

Operations run on a small pool of psycopg async connections (`_pg_pool`), each in its own
transaction in pipeline mode, and are retried there when the database drops a connection or
aborts a transaction for a serialization failure or deadlock. The SQL of each operation lives in
the `_pg_*` modules by noun; this class only routes calls to them. Wake-ups cross nodes with
``LISTEN``/``NOTIFY`` (`_pg_listen`). Migrations run on `open` under an advisory lock.
"""

from __future__ import annotations

import asyncio
import secrets

import psycopg

from . import _pg_apps as apps
from . import _pg_queue as work
from . import _pg_runs as runs
from ._pg_ingest import ingest_entries
from ._pg_listen import Listener
from ._pg_pool import Database, PgTx, translate
from ._pg_schema import apply_migrations
from .base import Storage
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

__all__ = ["PostgresStorage"]

POOL_SIZE = 8
"""Connections per node besides the listener's; more buy little on a few cores."""


class PostgresStorage(Storage):
    """`Storage` in a PostgreSQL database (version 13 or later).

    Args:
        conninfo: A libpq URL (``postgresql://user@host:5432/db``) or key/value string.
        pool_size: The most connections this node opens for operations.
    """

    def __init__(self, conninfo: str, *, pool_size: int = POOL_SIZE) -> None:
        super().__init__()
        self.conninfo = conninfo
        node_id = secrets.token_hex(8)
        self._db = Database(conninfo, size=pool_size, node_id=node_id, on_wake=self._notify_wake)
        self._listener = Listener(conninfo, node_id=node_id, on_wake=self._notify_wake)

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Apply pending migrations and start listening for other nodes' work."""
        try:
            await asyncio.to_thread(apply_migrations, self.conninfo)
            await self._listener.start()
        except psycopg.Error as exc:
            raise translate(exc) from exc

    async def close(self) -> None:
        """Let running operations finish, then close every connection."""
        await self._db.close()
        await self._listener.stop()

    async def recover(self, *, single_node: bool) -> None:
        """With `single_node`, make every leased item due now and forget its lease."""
        await self._db.run(lambda tx: work.recover_leases(tx, single_node=single_node))

    # -- apps and functions ------------------------------------------------------------------

    async def sync_app(
        self, app: AppRecord, functions: list[FunctionRecord], crons: list[NewWorkItem]
    ) -> bool:
        """See `Storage.sync_app`; an older app row with the same URL is replaced."""
        return await self._db.run(lambda tx: apps.sync_app(tx, app, functions, crons))

    async def remove_app(self, url: str) -> bool:
        """See `Storage.remove_app`."""
        return await self._db.run(lambda tx: apps.remove_app(tx, url))

    async def list_apps(self) -> list[AppRecord]:
        """See `Storage.list_apps`."""
        return await self._db.run(apps.list_apps, transaction=False)

    async def list_functions(self) -> list[FunctionRecord]:
        """See `Storage.list_functions`."""
        return await self._db.run(apps.list_functions, transaction=False)

    # -- events and runs ---------------------------------------------------------------------

    async def ingest(self, entries: list[IngestEntry]) -> list[str]:
        """See `Storage.ingest`."""
        if not entries:
            return []
        return await self._db.run(lambda tx: ingest_entries(tx, entries))

    async def get_event(self, internal_id: str) -> EventRecord:
        """See `Storage.get_event`."""
        return await self._db.run(lambda tx: runs.get_event(tx, internal_id), transaction=False)

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

        async def op(tx: PgTx) -> list[EventRecord]:
            return await runs.list_events(
                tx,
                name=name,
                received_after=received_after,
                received_before=received_before,
                limit=limit,
                cursor=cursor,
            )

        return await self._db.run(op, transaction=False)

    async def get_run(self, run_id: str) -> RunRecord:
        """See `Storage.get_run`."""
        return await self._db.run(lambda tx: runs.get_run(tx, run_id), transaction=False)

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

        async def op(tx: PgTx) -> list[RunRecord]:
            return await runs.list_runs(
                tx,
                event_id=event_id,
                function_id=function_id,
                parent_run_id=parent_run_id,
                limit=limit,
                cursor=cursor,
            )

        return await self._db.run(op, transaction=False)

    async def load_run_state(self, run_id: str) -> RunState:
        """See `Storage.load_run_state`."""
        return await self._db.run(lambda tx: runs.load_run_state(tx, run_id), transaction=False)

    async def cancel_run(self, run_id: str, *, at: int) -> RunRecord:
        """See `Storage.cancel_run`; the history gets a ``"cancelled"`` entry."""
        return await self._db.run(lambda tx: runs.cancel_run(tx, run_id, at))

    async def run_history(self, run_id: str) -> list[HistoryEntry]:
        """See `Storage.run_history`."""
        return await self._db.run(lambda tx: runs.run_history(tx, run_id), transaction=False)

    # -- the queue ---------------------------------------------------------------------------

    async def lease_due(self, *, now: int, limit: int, lease_ms: int) -> list[WorkItem]:
        """See `Storage.lease_due`; a returned item's `due_at` is the time it fell due."""
        # One statement: autocommit makes it its own transaction, one round trip in all.
        return await self._db.run(
            lambda tx: work.lease_due(tx, now, limit, lease_ms), transaction=False
        )

    async def next_due_at(self) -> int | None:
        """See `Storage.next_due_at`."""
        return await self._db.run(work.next_due_at, transaction=False)

    async def commit(self, commit: Commit) -> None:
        """See `Storage.commit`."""
        await self._db.run(
            lambda tx: work.apply_commit(tx, commit),
            transaction=not work.commit_in_one_statement(commit),
        )

    async def extend_leases(self, items: list[WorkItem], *, until: int) -> None:
        """See `Storage.extend_leases`."""
        await self._db.run(lambda tx: work.extend_leases(tx, items, until))

    async def release(self, items: list[WorkItem], *, now: int) -> None:
        """See `Storage.release`."""
        await self._db.run(lambda tx: work.release(tx, items, now))

    async def apps_fingerprint(self) -> str:
        """See `Storage.apps_fingerprint`."""
        return await self._db.run(apps.fingerprint, transaction=False)

    async def enqueue(self, items: list[NewWorkItem]) -> None:
        """See `Storage.enqueue`."""
        if items:
            await self._db.run(lambda tx: work.enqueue(tx, items))
