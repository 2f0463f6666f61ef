"""What a listing asks for: a page, and the filters of events and runs (re-exported by
`records`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .records import RunStatus

__all__ = ["EventQuery", "Page", "RunQuery"]


@dataclass(frozen=True, kw_only=True)
class Page:
    """How many records a listing returns (newest first), and where the last page ended."""

    limit: int = 100
    cursor: str | None = None
    """The id of the last record of the previous page: only older ones are listed."""


@dataclass(frozen=True, kw_only=True)
class EventQuery(Page):
    """Which events to list: by name and by when they were received (after: inclusive,
    before: exclusive)."""

    name: str | None = None
    names: tuple[str, ...] | None = None
    """Of any of these names."""
    include_internal: bool = True
    """With the ``inngest/...`` events Surge emits (function finished, cron ticks, ...)."""
    received_after: int | None = None
    received_before: int | None = None
    source_run_id: str | None = None
    """Sent by this run (`step.sendEvent`)."""


@dataclass(frozen=True, kw_only=True)
class RunQuery(Page):
    """Which runs to list: started by an event (an internal id), of a function, or started by
    an event another run sent."""

    event_id: str | None = None
    function_id: str | None = None
    parent_run_id: str | None = None
    original_run_id: str | None = None
    """Reruns of this run."""
    function_ids: tuple[str, ...] | None = None
    """Of any of these functions (none: no run)."""
    statuses: tuple[RunStatus, ...] | None = None
    """With any of these statuses."""
    started_from: int | None = None
    """Started at or after this time (inclusive)."""
    started_until: int | None = None
    """Started before this time."""
    ended_from: int | None = None
    """Ended at or after this time (inclusive); only ended runs."""
    ended_until: int | None = None
    """Ended before this time; only ended runs."""
    oldest_first: bool = False
    """Oldest first, and `cursor` the last of the previous page: only newer ones."""
