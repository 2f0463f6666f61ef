"""Connections to PostgreSQL: a small pool, and the one place transient errors are retried.

`Database.run` lends a rule a pooled connection (a `Session`) and, when the database drops the
connection, fails over or aborts the transaction for a serialization failure or a deadlock,
runs the whole rule again on a fresh connection after a short backoff. Other driver errors
become `StorageError`. Nothing outside `storage/postgres/` sees a psycopg exception.

A rule that asks for a transaction waits for the node's next group commit (`group`) instead,
when one is already running, and a read (`Database.read`) for the next batch of reads
(`reads`); alone, either runs as any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from surge.core.errors import StorageError, StorageUnavailable

from ..connector import RuleFactory
from ..records import RUN_ENDED
from ..statements import Note, Rule, execute
from .batch import NOTIFY_CHANNEL, ExpectFailed, Session
from .group import Member, drive_group
from .reads import drive_reads

logger = logging.getLogger(__name__)

T = TypeVar("T")

ATTEMPTS = 8
"""Tries of one operation before it fails with `StorageUnavailable` (4.5 s of backoff)."""
_FIRST_BACKOFF_S = 0.05
_MAX_BACKOFF_S = 1.5

GROUPS = 1
"""Group commits a node runs at once: one, so the rules of a node's groups never wait for
each other's locks (two groups would hold them in no common order)."""
GROUP_LIMIT = 60
"""The most rules in a group: every one of them waits for the group's commit, and each takes a
savepoint when the group runs again with them (`group`), of which PostgreSQL tracks 64 per
transaction cheaply (past that, every snapshot of every backend looks transactions up on disk
until the group ends)."""

READERS = 2
"""Batches of reads (`reads`) a node has out at once."""

NOTIFY_INTERVAL_S = 0.005
"""Shortest time between two of a node's ``NOTIFY``s while it keeps queueing work."""


def is_transient(exc: BaseException) -> bool:
    """Whether running the operation again may succeed.

    psycopg files lost connections, admin shutdowns, failovers, serialization failures and
    deadlocks (SQLSTATE classes 08, 40, 57, 53) under `OperationalError`.
    """
    return isinstance(exc, psycopg.OperationalError)


def translate(exc: psycopg.Error) -> StorageError:
    """`exc` as a member of the `StorageError` family."""
    cls = StorageUnavailable if is_transient(exc) else StorageError
    error = cls(f"postgres: {exc}{_hint(exc)}")
    error.__cause__ = exc
    return error


def _hint(exc: psycopg.Error) -> str:
    if exc.sqlstate == _NO_SUCH_PREPARED_STATEMENT:
        # Prepared on this connection, gone on the next transaction: a pooler swapped it.
        return (
            " (is the PostgreSQL URL a pooler in transaction mode, such as PgBouncer? Give"
            " --postgres-session-uri a direct URL of the database: Surge then prepares no"
            " statements through the pooler)"
        )
    return ""


_NO_SUCH_PREPARED_STATEMENT = "26000"


async def connect(conninfo: str) -> AsyncConnection[TupleRow]:
    """A new autocommit connection: `Session` opens transactions itself, and sends statements
    as text (so psycopg's own statement preparing is off)."""
    return await AsyncConnection.connect(
        conninfo,
        autocommit=True,
        prepare_threshold=None,
        application_name="surge",
        client_encoding="utf8",
    )


class Database:
    """A pool of up to `size` connections running rules, with retries.

    Args:
        conninfo: A libpq URL or key/value string.
        size: The most connections open at once for rules run alone (group commits have
            `groups` more).
        node_id: Sent with every ``NOTIFY`` so this node's listener can ignore its own.
        on_wake: Called on the event loop after a transaction that asked for a wake commits.
        prepare: Whether statements are prepared on each connection (not through a
            transaction-mode pooler: `Session`).
        groups: Group commits run at once (`GROUPS`); 0 runs every rule alone.
    """

    def __init__(
        self,
        conninfo: str,
        *,
        size: int,
        node_id: str,
        on_wake: Callable[[], None],
        on_notes: Callable[[list[Note]], None] = lambda notes: None,
        prepare: bool = True,
        groups: int = GROUPS,
    ) -> None:
        self._conninfo = conninfo
        self._prepare = prepare
        self._node_id = node_id
        self._on_wake = on_wake
        self._on_notes = on_notes
        self._slots = asyncio.Semaphore(size)
        self._idle: list[Session] = []
        self._inflight = 0
        self._drained: asyncio.Event | None = None
        self._closed = False
        self._notifier: asyncio.Task[None] | None = None
        self._notify_again = False
        self._group_idle: list[Session] = []
        self._groups = _Queue("surge-pg-group", groups, self._alone, self._group)
        self._reads = _Queue("surge-pg-reads", READERS, self._alone_read, self._read_batch)

    async def run(self, rule: RuleFactory[T], *, transaction: bool = True) -> T:
        """Run a rule, retrying transient failures (see `Connector.run`).

        Raises:
            StorageUnavailable: The database stayed unreachable through every attempt.
            StorageError: The database refused the operation, or the storage is closed.
        """
        if transaction and self._groups.runners:
            return await self._counted(self._groups.join(rule))
        return await self._counted(self._retrying(rule, transaction))

    async def read(self, rule: RuleFactory[T]) -> T:
        """Run a rule that only reads, in one message with the reads waiting with it
        (`reads`); see `run`."""
        return await self._counted(self._reads.join(rule))

    async def _counted(self, operation: Coroutine[Any, Any, T]) -> T:
        """`operation`'s value, counted as in flight (`close` waits for it)."""
        if self._closed:
            operation.close()
            raise StorageError("the PostgreSQL storage is closed")
        self._inflight += 1
        try:
            return await operation
        finally:
            self._inflight -= 1
            if self._inflight == 0 and self._drained is not None:
                self._drained.set()

    async def close(self) -> None:
        """Refuse new operations, let running ones finish, then close every connection."""
        if self._closed:
            return
        self._closed = True
        if self._inflight:
            self._drained = asyncio.Event()
            await self._drained.wait()
        if self._notifier is not None:
            await self._notifier  # the last operations' wake-ups still reach the other nodes
        idle, self._idle, self._group_idle = self._idle + self._group_idle, [], []
        for session in idle:
            with contextlib.suppress(psycopg.Error):
                await session.conn.close()

    async def _retrying(
        self, rule: RuleFactory[T], transaction: bool, *, grouped: bool = False
    ) -> T:
        delay = _FIRST_BACKOFF_S
        for attempt in range(1, ATTEMPTS + 1):
            try:
                if grouped:
                    return await self._once_grouped(rule)
                return await self._once(rule, transaction)
            except psycopg.Error as exc:
                if not is_transient(exc) or attempt == ATTEMPTS:
                    raise translate(exc) from exc
                logger.warning(
                    "postgres operation failed; retrying",
                    extra={"attempt": attempt, "error": str(exc).strip()},
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF_S)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(self, rule: RuleFactory[T], transaction: bool) -> T:
        async with self._slots:
            session = await self._session()
            try:
                value = await session.drive(rule(), transaction=transaction)
                woke, notes = session.woke, session.notes
            finally:
                await self._put_back(session)
        self._committed(woke, notes)
        return value

    async def _once_grouped(self, rule: RuleFactory[T]) -> T:
        """`_once` on the group runners' connection (see `_group`)."""
        session = await self._group_session()
        try:
            value = await session.drive(rule(), transaction=True)
            woke, notes = session.woke, session.notes
        finally:
            await self._put_back(session, self._group_idle)
        self._committed(woke, notes)
        return value

    async def _session(self) -> Session:
        if self._idle:
            return self._idle.pop()
        return Session(await connect(self._conninfo), prepare=self._prepare)

    async def _group_session(self) -> Session:
        if self._group_idle:
            return self._group_idle.pop()
        return Session(await connect(self._conninfo), prepare=self._prepare)

    def _committed(self, woke: bool, notes: list[Note]) -> None:
        """Tell this node's listeners, and the other nodes, what committed operations did."""
        if notes:
            self._on_notes(notes)
        if woke:
            self._on_wake()
            self._notify_others()
        elif any(note.what == RUN_ENDED for note in notes):
            self._notify_others()  # pages following runs on other nodes look again

    # -- group commit (`group`) ------------------------------------------------------------------

    async def _alone(self, member: Member, *, grouped: bool = True) -> None:
        try:
            value = await self._retrying(member.factory, grouped, grouped=grouped)
        except Exception as exc:
            _settle(member.future, None, exc)
        else:
            _settle(member.future, value, None)

    async def _alone_read(self, member: Member) -> None:
        await self._alone(member, grouped=False)

    def _deliver(self, members: list[Member]) -> None:
        """Tell what the members that committed did, then give every member its outcome."""
        done = [member for member in members if member.error is None]
        self._committed(any(m.woke for m in done), [note for m in done for note in m.notes])
        for member in members:
            _settle(member.future, member.value, member.error)

    async def _group(self, members: list[Member]) -> None:
        failure: BaseException | None = None
        try:
            # A connection of the group runners' own: waiting for a slot of the pool, behind
            # the reads of every worker, would hold up every rule in the group.
            session = await self._group_session()
            try:
                await drive_group(session, members)
            except BaseException:
                await session.abandon()
                raise
            finally:
                await self._put_back(session, self._group_idle)
        except psycopg.Error as exc:
            failure = exc
        except BaseException as exc:
            for member in members:
                _settle(member.future, None, exc)
            raise
        if failure is not None:
            # Each rule again on its own, with retries: a lost connection or a deadlock
            # passes, and an error of one rule's making goes to that rule alone.
            logger.info(
                "postgres group commit failed; running its rules alone",
                extra={"rules": len(members), "error": str(failure).strip()},
            )
            for member in members:
                await self._alone(member)
            return
        self._deliver(members)

    # -- shared round trips for reads (`reads`) -------------------------------------------------

    async def _read_batch(self, members: list[Member]) -> None:
        try:
            async with self._slots:
                session = await self._session()
                try:
                    await drive_reads(session, members)
                except BaseException:
                    await session.abandon()
                    raise
                finally:
                    await self._put_back(session)
        except (psycopg.Error, ExpectFailed):
            # Reads may run again: each on its own, with retries.
            await asyncio.gather(*(self._alone_read(member) for member in members))
            return
        except BaseException as exc:
            for member in members:
                _settle(member.future, None, exc)
            raise
        self._deliver(members)

    def _notify_others(self) -> None:
        """Send the other nodes a ``NOTIFY``, coalescing the wake-ups asked for meanwhile.

        PostgreSQL serializes the commits of all transactions that notify (they take one
        database-wide lock until the commit is flushed), so a ``NOTIFY`` in every step's commit
        would make those commits queue behind each other. Instead a node sends its own, after
        the work it announces has committed: the first at once, then, while wake-ups keep
        coming, one per `NOTIFY_INTERVAL_S` for all of them. A busy node needs no wake-up to
        take more work; only an idle one waits for it, and then at most that interval.
        """
        if self._notifier is not None:
            self._notify_again = True
            return
        self._notifier = asyncio.create_task(self._send_notifies(), name="surge-pg-notify")

    async def _send_notifies(self) -> None:
        def notify() -> Rule[None]:
            yield execute("SELECT pg_notify(?, ?)", NOTIFY_CHANNEL, self._node_id)

        try:
            again = True
            while again:
                self._notify_again = False
                await self._retrying(notify, transaction=False)
                await asyncio.sleep(NOTIFY_INTERVAL_S)
                again = self._notify_again
        except StorageError as exc:
            # The listeners reconnect and wake their nodes after an outage, and the others
            # find the work by their safety poll: a lost wake-up only delays.
            logger.warning("could not notify other nodes", extra={"error": str(exc)})
        finally:
            self._notifier = None

    async def _put_back(self, session: Session, idle: list[Session] | None = None) -> None:
        conn = session.conn
        if not conn.broken and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            (self._idle if idle is None else idle).append(session)
            return
        # A connection that broke or was left inside a transaction is not worth repairing; one
        # that broke most likely saw the server restart, which broke the idle ones as well.
        doomed = [session]
        if conn.broken:
            doomed += self._idle + self._group_idle
            self._idle, self._group_idle = [], []
        for each in doomed:
            with contextlib.suppress(psycopg.Error):
                await each.conn.close()


def _settle(future: asyncio.Future[T], value: T, error: BaseException | None) -> None:
    if future.done():  # its caller was cancelled
        return
    if error is None:
        future.set_result(value)
    else:
        future.set_exception(error)


class _Queue:
    """Rules waiting to run together (a group commit, a batch of reads), and the runners,
    `runners` at most, that take them `GROUP_LIMIT` at a time: one alone with `alone`,
    several with `together`."""

    def __init__(
        self,
        name: str,
        runners: int,
        alone: Callable[[Member], Awaitable[None]],
        together: Callable[[list[Member]], Awaitable[None]],
    ) -> None:
        self.name = name
        self.runners = runners
        self._alone = alone
        self._together = together
        self._waiting: list[Member] = []
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()
        """The runners' tasks, held here so they are not collected."""

    async def join(self, rule: RuleFactory[T]) -> T:
        """Queue `rule`, start a runner if fewer than `runners` run, and await its outcome."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiting.append(Member(rule, future))
        if self._running < self.runners:
            self._running += 1
            task = asyncio.create_task(self._run(), name=self.name)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _run(self) -> None:
        """Run what is waiting, a batch at a time, until nothing is."""
        try:
            while self._waiting:
                members = [m for m in self._waiting[:GROUP_LIMIT] if not m.future.cancelled()]
                del self._waiting[:GROUP_LIMIT]
                if len(members) == 1:
                    await self._alone(members[0])
                elif members:
                    await self._together(members)
        finally:
            # With no await since the queue was last seen empty: a rule queued from here on
            # starts a runner of its own.
            self._running -= 1
