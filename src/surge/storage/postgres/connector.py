"""PostgreSQL: any number of server nodes sharing one database.

Rules run on a small pool of psycopg async connections (`pool`), their statements sent in
batches (`batch`), and are run again there when the database drops a connection or aborts a
transaction for a serialization failure or a deadlock. Wake-ups cross nodes with
``LISTEN``/``NOTIFY`` (`listen`). Migrations run on `open` under an advisory lock.

The pool needs no session of its own (its advisory locks are the transaction's), so it may
go through a pooler in transaction mode such as PgBouncer; the listener and the migrations
need a session, and take a direct connection (`session_conninfo`) then.
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
        pool_size: The most connections this node opens for operations run alone (its group
            commits take one more, `pool.GROUPS`).
        session_conninfo: A direct connection to the same database, for what needs a
            session (``LISTEN``, the migrations' lock), when `conninfo` goes through a
            transaction-mode pooler; the pool then prepares no statements (a pooler may hand
            each transaction another server connection).
    """

    dialect = "postgres"

    def __init__(
        self, conninfo: str, *, pool_size: int = POOL_SIZE, session_conninfo: str | None = None
    ) -> None:
        super().__init__()
        self.conninfo = conninfo
        self.session_conninfo = session_conninfo or conninfo
        node_id = secrets.token_hex(8)
        self._db = Database(
            conninfo,
            size=pool_size,
            node_id=node_id,
            on_wake=self._notify_wake,
            on_notes=self._tell_notes,
            prepare=session_conninfo is None,
        )
        self._listener = Listener(self.session_conninfo, node_id=node_id, on_wake=self._notify_wake)

    async def open(self, *, now: int) -> None:
        """Apply pending migrations and start listening for other nodes' work."""
        try:
            await asyncio.to_thread(apply_migrations, self.session_conninfo, now=now)
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

    def read(self, rule: RuleFactory[T]) -> Awaitable[T]:
        """Run a read-only rule in one message with the reads waiting with it (`reads`)."""
        return self._db.read(rule)
