"""Records of what operators do to functions and runs: bulk cancellations, suspensions of
functions (a paused function), bulk replays.

Re-exported by `records` (and `surge.storage`) with the rest of the storage's vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Cancellation", "Replay", "ReplayProgress", "Suspension"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Cancellation:
    """A bulk cancellation: the running runs of `function_id` started in
    [`started_after`, `started_before`) whose trigger matches `expression` are cancelled, by a
    job that counts them in `cancelled` and sets `done_at` when it has gone through them."""

    id: str
    app_id: str
    function_id: str
    """The function's slug (``<app id>-<function id>``)."""
    started_after: int
    started_before: int
    expression: str | None
    created_at: int
    cancelled: int = 0
    done_at: int | None = None
    requested_by: str | None = None
    """Who or what asked: ``"pause"`` when pausing its function did; `None`, the API."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Suspension:
    """A paused function: while it lasts, an event it matches records a skipped run
    (``skip_reason`` ``"paused"``) and its cron does not fire. Runs already running go on,
    unless pausing it also cancelled them (a `Cancellation` with `requested_by` ``"pause"``)."""

    function_id: str
    suspended_at: int
    suspended_by: str
    """Who paused it (``"api"``: the REST or GraphQL API)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ReplayProgress:
    """How a bulk replay's runs fare: how many it started, and how many of those ended."""

    started: int = 0
    running: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    skipped: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class Replay:
    """A bulk replay: the runs of `function_id` started in [`started_after`,
    `started_before`) that ended with one of `statuses` are rerun, in run id order, by a job
    that counts them in `started` and sets `done_at` when it has gone through them. `total`
    is how many there were when it was created."""

    id: str
    app_id: str
    function_id: str
    started_after: int
    started_before: int
    statuses: tuple[str, ...]
    created_at: int
    requested_by: str
    total: int
    started: int = 0
    done_at: int | None = None
    progress: ReplayProgress = field(default_factory=ReplayProgress)
    """Filled in by `Storage.get_replay`, not stored."""
