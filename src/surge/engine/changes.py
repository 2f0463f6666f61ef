"""Telling pages that follow runs (the dashboard's live lists) when runs start or end.

A storage note listener: each committed operation of this node that started, skipped or
ended runs wakes whoever waits. Other nodes' changes come as wake-ups (a storage wake
listener): on PostgreSQL a node tells the others when it queued work or ended runs. A waiter
also gives up after its timeout and looks again, in case a wake-up was lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from surge.storage import RUN_ENDED, RUN_SKIPPED, RUN_STARTED, Note

__all__ = ["RunChanges"]

_CHANGES = frozenset({RUN_STARTED, RUN_SKIPPED, RUN_ENDED})


class RunChanges:
    """Wakes waiters when operations start, skip or end runs."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def noted(self, notes: Sequence[Note]) -> None:
        if any(note.what in _CHANGES for note in notes):
            self.woken()

    def woken(self) -> None:
        """Runs may have changed (another node's work, `Storage.add_wake_listener`)."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait(self, timeout: float) -> bool:
        """Until runs change (True) or `timeout` seconds pass (False)."""
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            return False
        return True
