"""Records of runs that wait for something: pauses.

Re-exported by `records` (and `surge.storage`) with the rest of the storage's vocabulary.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

__all__ = ["Pause", "PauseKind"]


class PauseKind(enum.Enum):
    """What a matching event does to a paused run."""

    WAIT = "wait"
    """`step.waitForEvent`: the step's value is the event."""
    INVOKE = "invoke"
    """`step.invoke`: the step's outcome is the invoked run's (from its
    ``inngest/function.finished``)."""
    CANCEL = "cancel"
    """`cancelOn`: the run is cancelled."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Pause:
    """A run waiting for an event (`core/matching.py` says how it is indexed)."""

    id: str
    run_id: str
    step_id: str
    """The waiting step (for `CANCEL`, the ``cancelOn`` entry it came from)."""
    kind: PauseKind
    event_name: str
    expression: str | None
    """CEL over ``event`` (the run's trigger) and ``async`` (the candidate), or `None`."""
    match_key: str | None
    """`core.matching.match_key` a candidate must have (`None`: evaluate every candidate)."""
    created_at: int
    """Only events received from then on match."""
    expires_at: int | None = None
    """No event received from then on matches."""
    trigger: dict[str, Any] | None = None
    """The run's first event (filled in for matching, not stored)."""
