"""Records of flow control: concurrency limits, start gates (idempotency, rate limit,
throttle, singleton), gathers (debounce, batch) and why a run waits.

Re-exported by `records` (and `surge.storage`) with the rest of the storage's vocabulary.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Gate", "GateKind", "Gather", "GatherKind", "Limit", "OpenGather", "Waiting"]


@dataclass(frozen=True, slots=True)
class Limit:
    """A concurrency limit a run's steps count against: at most `limit` of the steps of every
    run naming `key` execute at once (`engine/concurrency.py` makes the keys)."""

    key: str
    limit: int


class GateKind(enum.Enum):
    """What a start gate does with a run that finds no room (`rules/gates.py`)."""

    IDEMPOTENCY = "idempotency"
    """Skip it: a run with the same key started within the period."""
    RATE_LIMIT = "rate_limit"
    """Skip it: `limit` runs per `period` of the key started already."""
    THROTTLE = "throttle"
    """Delay its start until the key has room: `limit` per `period`, plus `burst`."""
    SINGLETON = "singleton"
    """Skip it: a run with the same key is running (``singleton`` with mode ``skip``)."""
    SINGLETON_CANCEL = "singleton_cancel"
    """Start it, and cancel the runs with the same key that are running (mode ``cancel``)."""


@dataclass(frozen=True, slots=True)
class Gate:
    """A rule a new run passes before it starts, on one key (`engine/gates.py` makes them)."""

    kind: GateKind
    key: str
    period_ms: int
    limit: int = 1
    burst: int = 0


@dataclass(frozen=True, slots=True)
class Waiting:
    """Why a run that has not begun waits: ``"concurrency"`` (a full key), ``"throttle"`` or
    ``"priority"`` (its first call is due `until`)."""

    reason: str
    until: int | None = None


@dataclass(frozen=True, slots=True)
class OpenGather:
    """A debounce or event batch an event waits in."""

    kind: str
    id: str
    function_id: str
    closes_at: int


class GatherKind(enum.Enum):
    """How events gather before one run starts with them (`rules/gathers.py`)."""

    DEBOUNCE = "debounce"
    """The last event, once events stop arriving for `period_ms` (or after `timeout_ms`)."""
    BATCH = "batch"
    """Every event, once `max_size` have arrived or `period_ms` has passed since the first."""


@dataclass(frozen=True, slots=True)
class Gather:
    """Where a new run's event waits, on one key, instead of starting a run at once."""

    kind: GatherKind
    key: str
    period_ms: int
    timeout_ms: int | None = None
    max_size: int = 1
