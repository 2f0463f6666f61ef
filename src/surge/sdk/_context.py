"""What a handler receives: the event(s), the run's identity, a logger, and the step tools."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any, Generic

from typing_extensions import TypeVar

from ._event import Event
from ._run import RunState
from ._steps import Step, SyncStep

__all__ = ["Context", "ReplayQuietLogger", "SyncContext"]

D = TypeVar("D", default=dict[str, Any])


class ReplayQuietLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger that stays silent while the handler replays memoized steps.

    Each call re-runs the handler from the top; without this, every log line before the
    current step would be written again on every call.
    """

    def __init__(self, logger: logging.Logger, run: RunState, run_id: str) -> None:
        super().__init__(logger, {"run_id": run_id})
        self._run = run

    def isEnabledFor(self, level: int) -> bool:
        return not self._run.replaying and self.logger.isEnabledFor(level)

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs


class _BaseContext(Generic[D]):
    __slots__ = ("attempt", "event", "events", "logger", "max_attempts", "run_id")

    def __init__(
        self,
        *,
        event: Event[D],
        events: list[Event[D]],
        run_id: str,
        attempt: int,
        max_attempts: int,
        logger: logging.LoggerAdapter[logging.Logger],
    ) -> None:
        self.event = event
        self.events = events
        self.run_id = run_id
        self.attempt = attempt
        self.max_attempts = max_attempts
        self.logger = logger

    def __repr__(self) -> str:
        return f"{type(self).__name__}(run_id={self.run_id!r}, event={self.event.name!r})"


class Context(_BaseContext[D]):
    """The context of an async handler.

    Attributes:
        event: The triggering event (``event.data`` is the typed model for a typed event).
        events: Every event of the run: the batch, or ``[event]``.
        run_id: The run's id.
        attempt: The 0-based attempt number of this call.
        max_attempts: How many attempts a failing step or call gets in all.
        logger: A logger that is silent while memoized steps replay.
        step: The step tools: ``await ctx.step.run(...)`` and the rest.
    """

    __slots__ = ("step",)

    def __init__(self, *, step: Step, **parts: Any) -> None:
        super().__init__(**parts)
        self.step = step


class SyncContext(_BaseContext[D]):
    """The context of a sync handler: as `Context`, with step tools that need no ``await``."""

    __slots__ = ("step",)

    def __init__(self, *, step: SyncStep, **parts: Any) -> None:
        super().__init__(**parts)
        self.step = step
