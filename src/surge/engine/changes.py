"""Telling pages that follow runs (the dashboard's live lists) when runs start or end.

A storage note listener: each committed operation of this node that started, skipped or
ended runs wakes whoever waits. Other nodes' changes are not heard here: a waiter also
gives up after its timeout and looks again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from surge.storage import RUN_ENDED, RUN_SKIPPED, RUN_STARTED, Note

__all__ = ["RunChanges"]

_CHANGES = frozenset({RUN_STARTED, RUN_SKIPPED, RUN_ENDED})


class RunChanges:
    """Wakes waiters when this node's operations start, skip or end runs."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def noted(self, notes: Sequence[Note]) -> None:
        if any(note.what in _CHANGES for note in notes):
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()

    async def wait(self, timeout: float) -> bool:
        """Until runs change (True) or `timeout` seconds pass (False)."""
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            return False
        return True
