"""Reads off the writer thread: a few threads, each with its own connection to the file.

In WAL mode readers never wait for the writer, nor it for them, and a read that starts after a
commit returned sees it; so reads need not queue behind the writer's groups of commits (a
run's state was read in 5.6 ms at the median under the seeds' limited fan-out, most of it
waiting for the writer). Each read runs in its own read transaction: one consistent snapshot
for all of its statements.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from .writer import Tx, connect, translate

T = TypeVar("T")

READER_THREADS = 2


class Readers:
    """Runs read-only operations on per-thread connections to `path`."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._local = threading.local()
        self._connections: list[object] = []
        self._pool = ThreadPoolExecutor(READER_THREADS, thread_name_prefix="surge-sqlite-read")

    def submit(self, op: Callable[[Tx], T]) -> asyncio.Future[T]:
        """Run `op` in a reader thread, inside a read transaction."""
        return asyncio.wrap_future(self._pool.submit(self._run, op))

    def _run(self, op: Callable[[Tx], T]) -> T:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self._path)
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
            self._connections.append(conn)
        try:
            conn.execute("BEGIN")
            try:
                return op(Tx(conn))
            finally:
                conn.execute("COMMIT")
        except Exception as exc:
            raise translate(exc) from None

    def close(self) -> None:
        """Wait for running reads and close every connection."""
        self._pool.shutdown(wait=True)
        for conn in self._connections:
            with contextlib.suppress(Exception):
                conn.close()  # type: ignore[attr-defined]
