"""The thread that owns the SQLite connection and commits operations in groups.

Coroutines submit an operation (a callable taking a `Tx`) and await its future. The thread takes
the operations queued so far, for up to `BATCH_BUDGET_S`, and runs them in one transaction:
each inside its own savepoint, so a failing operation rolls back alone and gets its exception
while the others commit (an operation submitted without one is a read or a single statement,
which SQLite already undoes alone when it fails). One commit then covers the whole group,
which is what lets thousands of small commits per second through a single connection, while
the budget keeps any operation from waiting behind the whole queue's work. Futures are
resolved on their event loop only after COMMIT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from surge.core.errors import StorageError, StorageUnavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")

_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
_BEGIN_ATTEMPTS = 4
_BUSY_TIMEOUT_MS = 5000

BATCH_BUDGET_S = 0.010
"""How long a group keeps taking queued operations: every one in it waits for its COMMIT, so
a group as long as the queue would delay the first for the whole queue's work."""


class Tx:
    """What an operation receives: the connection, inside an open transaction."""

    __slots__ = ("conn", "notes", "woke")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.woke = False
        self.notes: list[Any] = []

    def wake(self) -> None:
        """Ask for the wake listeners to run once this operation has committed."""
        self.woke = True


@dataclass(slots=True)
class _Pending:
    op: Callable[[Tx], Any]
    future: asyncio.Future[Any]
    savepoint: bool


_Outcome = tuple[asyncio.Future[Any], Any, BaseException | None]
_STOP = object()


def is_busy(exc: BaseException) -> bool:
    """Whether `exc` is SQLite reporting another connection holding a lock."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _BUSY_CODES
    text = str(exc)
    return "locked" in text or "busy" in text


def translate(exc: BaseException) -> BaseException:
    """Map driver errors onto the `StorageError` family; leave every other exception alone."""
    if not isinstance(exc, sqlite3.Error):
        return exc
    cls = StorageUnavailable if is_busy(exc) else StorageError
    error = cls(f"sqlite: {exc}")
    error.__cause__ = exc
    return error


def connect(path: str) -> sqlite3.Connection:
    """Open `path` in autocommit mode (transactions are explicit) with Surge's pragmas."""
    conn = sqlite3.connect(path, isolation_level=None, cached_statements=512)
    conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    # NORMAL in WAL mode is durable against process crashes; only an OS crash or power loss
    # can drop the last commits, never corrupt the file.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA temp_store = MEMORY")
    return conn


class Writer:
    """Runs operations on one connection in a dedicated thread, committing them in groups."""

    def __init__(
        self,
        path: str,
        *,
        setup: Callable[[sqlite3.Connection], None],
        on_wake: Callable[[], None],
        on_notes: Callable[[list[Any]], None] = lambda notes: None,
    ) -> None:
        self._path = path
        self._setup = setup
        self._on_wake = on_wake
        self._on_notes = on_notes
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._closed = True

    async def start(self) -> None:
        """Start the thread, connect and run `setup`; raises what either raised."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        ready: asyncio.Future[None] = loop.create_future()
        self._stopped = loop.create_future()
        self._thread = threading.Thread(
            target=self._main, args=(loop, ready), name="surge-sqlite-writer", daemon=True
        )
        self._closed = False
        self._thread.start()
        try:
            await ready
        except BaseException:
            self._closed = True
            raise

    async def submit(self, op: Callable[[Tx], T], *, savepoint: bool = True) -> T:
        """Run `op` in the writer thread, inside a transaction, and return its result.

        With `savepoint`, a failing `op` leaves no trace; without, only its failing
        statement is undone (enough for an `op` that reads, or writes in one statement).
        """
        if self._closed:
            raise StorageError("the SQLite storage is closed")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put(_Pending(op, future, savepoint))
        result: T = await future
        return result

    async def stop(self) -> None:
        """Run what is queued, then stop the thread and close the connection."""
        if self._closed or self._thread is None or self._stopped is None:
            return
        self._closed = True
        self._queue.put(_STOP)
        await self._stopped
        self._thread.join()  # it has already left its loop; this is only bookkeeping

    # -- the thread ----------------------------------------------------------------------------

    def _main(self, loop: asyncio.AbstractEventLoop, ready: asyncio.Future[None]) -> None:
        conn: sqlite3.Connection | None = None
        try:
            conn = connect(self._path)
            self._setup(conn)
        except Exception as exc:
            if conn is not None:
                conn.close()
            _deliver(loop, [(ready, None, translate(exc))])
            return
        _deliver(loop, [(ready, None, None)])
        try:
            self._serve(conn)
        finally:
            conn.close()
            self._fail_leftovers()
            if self._stopped is not None:
                _deliver(loop, [(self._stopped, None, None)])

    def _serve(self, conn: sqlite3.Connection) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP or self._run_batch(conn, first):
                return

    def _fail_leftovers(self) -> None:
        # An operation submitted while `stop` was being called may land behind the sentinel.
        with contextlib.suppress(queue.Empty):
            while True:
                item = self._queue.get_nowait()
                if item is not _STOP:
                    error = StorageError("the SQLite storage is closed")
                    _deliver(item.future.get_loop(), [(item.future, None, error)])

    def _run_batch(self, conn: sqlite3.Connection, first: _Pending) -> bool:
        """Run `first` and whatever else is queued, for up to `BATCH_BUDGET_S`, in one
        transaction; return whether a stop was asked for meanwhile."""
        ops: list[_Pending] = []
        stopping = False

        def taken() -> Iterator[_Pending]:
            nonlocal stopping
            ops.append(first)
            yield first
            deadline = time.perf_counter() + BATCH_BUDGET_S
            while time.perf_counter() < deadline:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    return
                if item is _STOP:
                    stopping = True
                    return
                ops.append(item)
                yield item

        try:
            _begin(conn)
            outcomes, woke, notes = _run_ops(conn, taken())
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            error = translate(exc)
            logger.warning("sqlite batch failed", extra={"ops": len(ops), "error": str(error)})
            outcomes, woke, notes = [(p.future, None, error) for p in ops], False, []
        # Scheduled ahead of the results, so listeners have run by the time a caller resumes.
        if woke and self._loop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._on_wake)
        if notes and self._loop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._on_notes, notes)
        by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for outcome in outcomes:
            by_loop.setdefault(outcome[0].get_loop(), []).append(outcome)
        for loop, group in by_loop.items():
            _deliver(loop, group)
        return stopping


def _begin(conn: sqlite3.Connection) -> None:
    for attempt in range(_BEGIN_ATTEMPTS):
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or attempt == _BEGIN_ATTEMPTS - 1:
                raise
            time.sleep(0.01 * (attempt + 1))


def _run_ops(
    conn: sqlite3.Connection, ops: Iterable[_Pending]
) -> tuple[list[_Outcome], bool, list[Any]]:
    outcomes: list[_Outcome] = []
    woke = False
    notes: list[Any] = []
    for pending in ops:
        tx = Tx(conn)
        savepoint = pending.savepoint
        if savepoint:
            conn.execute("SAVEPOINT op")
        try:
            value = pending.op(tx)
        except Exception as exc:
            if not conn.in_transaction:
                # SQLite rolled the whole transaction back itself (disk full, I/O error): the
                # operations before this one are lost too, so the batch fails as a whole.
                raise
            if savepoint:
                conn.execute("ROLLBACK TO op")
                conn.execute("RELEASE op")
            outcomes.append((pending.future, None, translate(exc)))
            continue
        if savepoint:
            conn.execute("RELEASE op")
        woke = woke or tx.woke
        notes += tx.notes
        outcomes.append((pending.future, value, None))
    return outcomes, woke, notes


def _deliver(loop: asyncio.AbstractEventLoop, outcomes: list[_Outcome]) -> None:
    with contextlib.suppress(RuntimeError):  # the loop closed while we worked
        loop.call_soon_threadsafe(_resolve, outcomes)


def _resolve(outcomes: list[_Outcome]) -> None:
    for future, value, error in outcomes:
        if future.done():  # the awaiting task was cancelled
            continue
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)
