"""Function suspensions: pausing a function and resuming it (Inngest's "pause function").

While a function is suspended, an event it matches records a skipped run (``skip_reason``
``"paused"``, ready for a bulk replay) and its cron does not fire; its running runs go on, or
are cancelled by a bulk cancellation when the operator asks. ``Pause`` already names a
waiting run (`storage.Pause`), hence the name.
"""

from __future__ import annotations

import logging

from surge.core.clock import Clock
from surge.core.errors import NotFound
from surge.core.ids import new_ulid
from surge.storage import Cancellation, Storage, Suspension

from .registry import Registry

__all__ = ["Suspensions"]

logger = logging.getLogger(__name__)


class Suspensions:
    """Pauses and resumes functions, reloading the registry so this node sees it at once
    (other nodes see the registry version bump)."""

    def __init__(self, storage: Storage, registry: Registry, clock: Clock) -> None:
        self._storage = storage
        self._registry = registry
        self._clock = clock

    async def suspend(
        self, function_id: str, *, by: str = "api", cancel_running: bool = False
    ) -> Suspension:
        """Pause a function (its slug): from now on an event it matches records a skipped
        run (``skip_reason`` ``"paused"``, ready for a bulk replay) and its cron does not
        fire. Its running runs go on, or with `cancel_running` are cancelled by a bulk
        cancellation. Pausing a paused function changes nothing but `cancel_running`.
        `NotFound`."""
        snapshot = await self._registry.load()
        function = snapshot.functions.get(function_id)
        if function is None:
            raise NotFound(f"no function {function_id!r} is registered")
        now = self._clock.now()
        cancel = None
        if cancel_running:
            app_id = next(f.app_id for f in snapshot.state.functions if f.id == function_id)
            cancel = Cancellation(
                id=new_ulid(now),
                app_id=app_id,
                function_id=function_id,
                started_after=0,
                started_before=now + 1,
                expression=None,
                created_at=now,
                requested_by="pause",
            )
        suspension = Suspension(function_id=function_id, suspended_at=now, suspended_by=by)
        suspension = await self._storage.suspend_function(suspension, cancel=cancel)
        await self._registry.load()
        logger.info("function %s paused", function_id, extra={"by": by})
        return suspension

    async def resume(self, function_id: str) -> bool:
        """Resume a paused function (its slug): events start it again and its cron fires.
        Whether it was paused. `NotFound` if no such function is registered."""
        if self._registry.function(function_id) is None:
            await self._registry.load()
            if self._registry.function(function_id) is None:
                raise NotFound(f"no function {function_id!r} is registered")
        resumed = await self._storage.resume_function(function_id)
        await self._registry.load()
        return resumed
