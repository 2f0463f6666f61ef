"""What a database backend provides: run a rule in a transaction, and say when work is queued.

A connector is the thin per-dialect layer under `Storage`: it connects, applies migrations,
renders the statements rules yield into its dialect, and runs them. It holds no domain rule;
those are in `storage/rules/`, written once.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .statements import Note, Rule

T = TypeVar("T")

WakeListener = Callable[[], None]
NoteListener = Callable[[list[Note]], None]
RuleFactory = Callable[[], Rule[T]]
"""Makes a fresh run of a rule: a connector may run it again after a transient failure."""


class Connector(abc.ABC):
    """One database, reached through one driver."""

    dialect: str
    """``"sqlite"`` or ``"postgres"``."""

    def __init__(self) -> None:
        self._wake_listeners: list[WakeListener] = []
        self._note_listeners: list[NoteListener] = []

    def add_wake_listener(self, listener: WakeListener) -> None:
        """Call `listener` (on the event loop) after every commit that queued work, on any
        node sharing the database (and, from other nodes, after commits that ended runs)."""
        self._wake_listeners.append(listener)

    def _notify_wake(self) -> None:
        for listener in self._wake_listeners:
            listener()

    def add_note_listener(self, listener: NoteListener) -> None:
        """Call `listener` (on the event loop) with the `Note`s of each operation of this
        node that committed."""
        self._note_listeners.append(listener)

    def _tell_notes(self, notes: list[Note]) -> None:
        for listener in self._note_listeners:
            listener(notes)

    @abc.abstractmethod
    async def open(self, *, now: int) -> None:
        """Connect and apply pending migrations (safe when several nodes start at once).

        `now` is recorded as the time the migrations were applied.
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish in-flight operations and release every connection."""

    @abc.abstractmethod
    def run(self, rule: RuleFactory[T], *, transaction: bool = True) -> Awaitable[T]:
        """Run a rule; await its value, or what it raises (having changed nothing).

        Not a coroutine itself: it hands back the driver's, one layer less on the hot path.

        Args:
            rule: Makes the rule's generator (again, if the connector retries it).
            transaction: Whether statements sent after the rule read a result must commit
                together with those before. A rule that writes nothing, or writes in a single
                statement, does not need it.

        Raises:
            StorageUnavailable: The database stayed unreachable through every retry.
            StorageError: The database refused the operation.
        """

    def read(self, rule: RuleFactory[T]) -> Awaitable[T]:
        """Run a rule that only reads, sharing a round trip with other reads waiting at the
        same moment where the connector can (`run` with `transaction` off, by default)."""
        return self.run(rule, transaction=False)
