"""Cross-node wake-ups: one dedicated connection per storage LISTENing on ``surge_work``.

After a transaction that queued work (or ended runs) commits, its node sends
``pg_notify('surge_work', <node id>)`` (coalesced: at most one in flight per node, see
`Database`), which PostgreSQL
delivers to every listener. A node ignores its own notifications (it has already woken its
listeners after the commit) and wakes its listeners for everyone else's. When the connection
drops, the listener reconnects with backoff and wakes once, since notifications sent meanwhile
are lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from .batch import NOTIFY_CHANNEL
from .pool import connect

logger = logging.getLogger(__name__)

_MAX_BACKOFF_S = 5.0


class Listener:
    """Calls `on_wake` on the event loop when another node commits new work."""

    def __init__(self, conninfo: str, *, node_id: str, on_wake: Callable[[], None]) -> None:
        self._conninfo = conninfo
        self._node_id = node_id
        self._on_wake = on_wake
        self._conn: AsyncConnection[TupleRow] | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect and LISTEN; raises the driver's error if the database cannot be reached."""
        self._conn = await self._listen()
        self._task = asyncio.create_task(self._serve(), name="surge-pg-listen")

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._drop()

    async def _listen(self) -> AsyncConnection[TupleRow]:
        conn = await connect(self._conninfo)
        try:
            await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _serve(self) -> None:
        while True:
            conn = self._conn
            try:
                if conn is None:
                    conn = self._conn = await self._reconnect()
                    self._on_wake()  # whatever was notified while we were away
                async for notify in conn.notifies():
                    if notify.payload != self._node_id:
                        self._on_wake()
            except psycopg.Error as exc:
                logger.warning("postgres listener lost its connection", extra={"error": str(exc)})
                await self._drop()

    async def _reconnect(self) -> AsyncConnection[TupleRow]:
        delay = 0.1
        while True:
            try:
                return await self._listen()
            except psycopg.Error:
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF_S)

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                await conn.close()
