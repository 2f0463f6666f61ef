"""The Runs page's filter: function, statuses and a start-time window, read from and written
to a query string, and turned into the queries and acts that use it."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from surge.core.errors import InvalidInput
from surge.storage import RunQuery, RunStatus

__all__ = ["STATUSES", "RunFilter"]

STATUSES = {status.value: status for status in RunStatus}
_MINUTE = "%Y-%m-%dT%H:%M"


@dataclass(frozen=True)
class RunFilter:
    function: str | None
    statuses: tuple[str, ...]
    started_from: int | None
    """Epoch ms, from a ``datetime-local`` input read as UTC."""
    started_until: int | None
    now: int
    parent: str | None = None
    """Only runs started by events this run sent (a fan-out's children)."""

    @classmethod
    def from_params(cls, params: QueryParams | Mapping[str, Any], *, now: int) -> RunFilter:
        values = params.getlist("status") if isinstance(params, QueryParams) else []
        return cls(
            function=params.get("function") or None,
            statuses=tuple(s for s in values if s in STATUSES),
            started_from=_moment(params.get("from")),
            started_until=_moment(params.get("until")),
            now=now,
            parent=params.get("parent") or None,
        )

    def query(
        self, *, statuses: Sequence[RunStatus] | None = None, limit: int = 100,
        cursor: str | None = None,
    ) -> RunQuery:  # fmt: skip
        chosen = statuses if statuses is not None else [STATUSES[s] for s in self.statuses]
        return RunQuery(
            function_id=self.function,
            statuses=tuple(chosen) or None,
            started_from=self.started_from,
            started_until=self.started_until,
            parent_run_id=self.parent,
            limit=limit,
            cursor=cursor,
        )

    def window(self) -> tuple[int, int]:
        """The start-time range [after, before) an act over the filter's runs covers (all
        time by default)."""
        return self.started_from or 0, self.started_until or self.now + 1

    def encode(self, **extra: str) -> str:
        pairs = [("function", self.function or ""), *(("status", s) for s in self.statuses)]
        pairs += [("from", _text(self.started_from)), ("until", _text(self.started_until))]
        pairs += [("parent", self.parent or "")]
        pairs += [(name, value) for name, value in extra.items() if value]
        return urlencode([(k, v) for k, v in pairs if v])

    def inputs(self) -> dict[str, str]:
        """The window as the form's ``datetime-local`` inputs show it."""
        return {"from": _text(self.started_from), "until": _text(self.started_until)}


def _moment(text: str | None) -> int | None:
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


def _text(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime(_MINUTE)
