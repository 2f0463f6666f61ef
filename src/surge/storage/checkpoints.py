"""The storage's checkpoints (`rules/checkpoints.py`): `Storage.checkpoints`."""

from __future__ import annotations

from .connector import Connector
from .rules import checkpoints
from .rules.checkpoints import Checkpoint

__all__ = ["Checkpoint", "CheckpointStore"]


class CheckpointStore:
    """Steps that apps report while their call is still in flight."""

    def __init__(self, db: Connector) -> None:
        self._db = db

    async def save(self, checkpoint: Checkpoint) -> None:
        """Write a `Checkpoint` atomically.

        Raises:
            StaleDispatch: The run has ended, or the call no longer holds its work item;
                nothing was written.
        """
        await self._db.run(lambda: checkpoints.save(checkpoint))
