"""Flow-control options of a function, as registered (`docs/protocol.md`, "Sync")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from surge.core.durations import format_duration, parse_duration

__all__ = [
    "Batch",
    "Cancel",
    "Concurrency",
    "Debounce",
    "Duration",
    "Priority",
    "RateLimit",
    "Singleton",
    "Throttle",
    "Timeouts",
    "duration_str",
]

Duration = str | int | float | timedelta
"""A duration: a Go-style string (``"5m"``, ``"1h30m"``), seconds, or a `timedelta`."""


def duration_str(value: Duration) -> str:
    """`value` as a duration string the server reads; strings are checked and kept."""
    if isinstance(value, str):
        parse_duration(value)
        return value
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    return format_duration(seconds)


def _put(wire: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        wire[key] = value


@dataclass(frozen=True, kw_only=True, slots=True)
class Concurrency:
    """At most `limit` steps running at once, per `key` value, within `scope`."""

    limit: int
    key: str | None = None
    scope: Literal["fn", "env", "account"] | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"limit": self.limit}
        _put(wire, "key", self.key)
        _put(wire, "scope", self.scope)
        return wire


@dataclass(frozen=True, kw_only=True, slots=True)
class Throttle:
    """Start at most `limit` runs per `period` (queueing the rest), per `key` value."""

    limit: int
    period: Duration
    burst: int | None = None
    key: str | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"limit": self.limit, "period": duration_str(self.period)}
        _put(wire, "burst", self.burst)
        _put(wire, "key", self.key)
        return wire


@dataclass(frozen=True, kw_only=True, slots=True)
class RateLimit:
    """Start at most `limit` runs per `period`, skipping the rest, per `key` value."""

    limit: int
    period: Duration
    key: str | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"limit": self.limit, "period": duration_str(self.period)}
        _put(wire, "key", self.key)
        return wire


@dataclass(frozen=True, kw_only=True, slots=True)
class Debounce:
    """Run once after events stop arriving for `period` (at the latest after `timeout`)."""

    period: Duration
    key: str | None = None
    timeout: Duration | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"period": duration_str(self.period)}
        _put(wire, "key", self.key)
        if self.timeout is not None:
            wire["timeout"] = duration_str(self.timeout)
        return wire


@dataclass(frozen=True, kw_only=True, slots=True)
class Batch:
    """Run with up to `max_size` events at once, waiting at most `timeout` to fill a batch."""

    max_size: int
    timeout: Duration
    key: str | None = None
    if_exp: str | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"maxSize": self.max_size, "timeout": duration_str(self.timeout)}
        _put(wire, "key", self.key)
        _put(wire, "if", self.if_exp)
        return wire


@dataclass(frozen=True, kw_only=True, slots=True)
class Priority:
    """A CEL expression giving a run's priority (seconds to move it ahead in the queue)."""

    run: str

    def to_wire(self) -> dict[str, Any]:
        return {"run": self.run}


@dataclass(frozen=True, kw_only=True, slots=True)
class Cancel:
    """Cancel a run when `event` arrives and `if_exp` holds (``event`` vs ``async``)."""

    event: str
    if_exp: str | None = None
    timeout: Duration | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"event": self.event}
        _put(wire, "if", self.if_exp)
        if self.timeout is not None:
            wire["timeout"] = duration_str(self.timeout)
        return wire


@dataclass(frozen=True, kw_only=True, slots=True)
class Timeouts:
    """Cancel a run not started within `start`, or not finished within `finish`."""

    start: Duration | None = None
    finish: Duration | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {}
        if self.start is not None:
            wire["start"] = duration_str(self.start)
        if self.finish is not None:
            wire["finish"] = duration_str(self.finish)
        return wire


@dataclass(frozen=True, kw_only=True, slots=True)
class Singleton:
    """One run at a time per `key` value: ``"skip"`` new ones or ``"cancel"`` the old one."""

    mode: Literal["skip", "cancel"]
    key: str | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"mode": self.mode}
        _put(wire, "key", self.key)
        return wire
