"""The Runs page's filter: app or function, statuses, a time window (by when runs started or
ended), and a CEL search; read from and written to a query string, and turned into the
queries and acts that use it."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from surge.core.errors import InvalidInput
from surge.storage import RunQuery, RunStatus

__all__ = ["STATUSES", "RunFilter", "moment_text", "read_moment"]

STATUSES = {status.value: status for status in RunStatus}
TIME_FIELDS = ("started", "ended")
"""What the window bounds: when runs started (were queued), or when they ended."""
SEARCH_WINDOW_MS = 7 * 24 * 3600 * 1000
"""How far back a search reads when no start is given."""
_MINUTE = "%Y-%m-%dT%H:%M"


@dataclass(frozen=True)
class RunFilter:
    function: str | None
    statuses: tuple[str, ...]
    since: int | None
    """The window's start, epoch ms (a ``datetime-local`` input read as UTC), bounding when
    runs started or, with `time_field` ``ended``, when they ended."""
    until: int | None
    """The window's end (exclusive)."""
    now: int
    parent: str | None = None
    """Only runs started by events this run sent (a fan-out's children)."""
    app: str | None = None
    time_field: str = "started"
    expression: str | None = None
    """A CEL expression over ``event`` (the trigger) and ``output`` (a search)."""

    @property
    def acts_on_window(self) -> bool:
        """Whether bulk acts can take this filter: one function, by start time, no search."""
        return bool(self.function) and self.time_field == "started" and not self.expression

    @classmethod
    def from_params(cls, params: QueryParams | Mapping[str, Any], *, now: int) -> RunFilter:
        values = params.getlist("status") if isinstance(params, QueryParams) else []
        time_field = params.get("time") or "started"
        if time_field not in TIME_FIELDS:
            raise InvalidInput(f"time must be one of {', '.join(TIME_FIELDS)}, got {time_field!r}")
        return cls(
            function=params.get("function") or None,
            statuses=tuple(s for s in values if s in STATUSES),
            since=read_moment(params.get("from")),
            until=read_moment(params.get("until")),
            now=now,
            parent=params.get("parent") or None,
            app=params.get("app") or None,
            time_field=time_field,
            expression=(params.get("if") or "").strip() or None,
        )

    def query(
        self, *, statuses: Sequence[RunStatus] | None = None, limit: int = 100,
        cursor: str | None = None,
    ) -> RunQuery:  # fmt: skip
        chosen = statuses if statuses is not None else [STATUSES[s] for s in self.statuses]
        by_end = self.time_field == "ended"
        started_from = None if by_end else self.since
        if self.expression and started_from is None:
            started_from = self.now - SEARCH_WINDOW_MS
        return RunQuery(
            function_id=self.function,
            statuses=tuple(chosen) or None,
            started_from=started_from,
            started_until=None if by_end else self.until,
            ended_from=self.since if by_end else None,
            ended_until=self.until if by_end else None,
            parent_run_id=self.parent,
            limit=limit,
            cursor=cursor,
        )

    def window(self) -> tuple[int, int]:
        """The start-time range [after, before) an act over the filter's runs covers (all
        time by default)."""
        return self.since or 0, self.until or self.now + 1

    def encode(self, **extra: str) -> str:
        pairs = [("app", self.app or ""), ("function", self.function or "")]
        pairs += [("status", s) for s in self.statuses]
        pairs += [
            ("from", moment_text(self.since)),
            ("until", moment_text(self.until)),
        ]
        pairs += [("time", "" if self.time_field == "started" else self.time_field)]
        pairs += [("if", self.expression or ""), ("parent", self.parent or "")]
        pairs += [(name, value) for name, value in extra.items() if value]
        return urlencode([(k, v) for k, v in pairs if v])

    def inputs(self) -> dict[str, str]:
        """The window as the form's ``datetime-local`` inputs show it."""
        return {"from": moment_text(self.since), "until": moment_text(self.until)}


def read_moment(text: str | None) -> int | None:
    """A ``datetime-local`` value (``2026-12-03T09:30``) read as UTC.

    Raises:
        InvalidInput: It is not one.
    """
    if not text:
        return None
    try:
        moment = datetime.datetime.strptime(text[:16], _MINUTE).replace(tzinfo=datetime.UTC)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a time such as 2026-12-03T09:30 (UTC)") from None
    return int(moment.timestamp() * 1000)


def moment_text(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime(_MINUTE)
