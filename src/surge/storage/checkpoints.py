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

    async def save(self, checkpoint: Checkpoint) -> bool:
        """Write a `Checkpoint` atomically; return whether its run goes on (`False`: the run
        has ended, cancelled while the call was in flight; its steps are kept all the same).

        Raises:
            StaleDispatch: The call no longer holds its work item; nothing was written.
        """
        return await self._db.run(lambda: checkpoints.save(checkpoint))
