"""PostgreSQL: any number of server nodes sharing one database.

Rules run on a small pool of psycopg async connections (`pool`), their statements sent in
batches (`batch`), and are run again there when the database drops a connection or aborts a
transaction for a serialization failure or a deadlock. Wake-ups cross nodes with
``LISTEN``/``NOTIFY`` (`listen`). Migrations run on `open` under an advisory lock.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable
from typing import TypeVar

import psycopg

from ..connector import Connector, RuleFactory
from .listen import Listener
from .migrations import apply_migrations
from .pool import Database, translate

__all__ = ["PostgresConnector"]

T = TypeVar("T")

POOL_SIZE = 8
"""Connections per node besides the listener's; more buy little on a few cores."""


class PostgresConnector(Connector):
    """A PostgreSQL database (version 13 or later).

    Args:
        conninfo: A libpq URL (``postgresql://user@host:5432/db``) or key/value string.
        pool_size: The most connections this node opens for operations.
    """

    dialect = "postgres"

    def __init__(self, conninfo: str, *, pool_size: int = POOL_SIZE) -> None:
        super().__init__()
        self.conninfo = conninfo
        node_id = secrets.token_hex(8)
        self._db = Database(
            conninfo,
            size=pool_size,
            node_id=node_id,
            on_wake=self._notify_wake,
            on_notes=self._tell_notes,
        )
        self._listener = Listener(conninfo, node_id=node_id, on_wake=self._notify_wake)

    async def open(self, *, now: int) -> None:
        """Apply pending migrations and start listening for other nodes' work."""
        try:
            await asyncio.to_thread(apply_migrations, self.conninfo, now=now)
            await self._listener.start()
        except psycopg.Error as exc:
            raise translate(exc) from exc

    async def close(self) -> None:
        """Let running operations finish, then close every connection."""
        await self._db.close()
        await self._listener.stop()

    def run(self, rule: RuleFactory[T], *, transaction: bool = True) -> Awaitable[T]:
        """Run the rule on a pooled connection, retrying transient failures."""
        return self._db.run(rule, transaction=transaction)
