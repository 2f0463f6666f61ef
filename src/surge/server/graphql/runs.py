"""``runs``: a page of runs by time, status and function, with a cursor and a capped count."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from graphql import GraphQLResolveInfo

from surge.core.durations import parse_time
from surge.core.errors import InvalidInput
from surge.core.limits import MAX_PAGE_SIZE
from surge.engine import Engine
from surge.storage import RunQuery, RunStatus

from .resolvers import Resolver, engine_of, run_object

COUNT_CAP = 10_000
"""`totalCount` stops counting here: a count is a scan."""
_STATUSES = {
    "RUNNING": (RunStatus.RUNNING,),
    "QUEUED": (),  # a Surge run exists once it is due: none is only queued
    "COMPLETED": (RunStatus.COMPLETED,),
    "FAILED": (RunStatus.FAILED,),
    "CANCELLED": (RunStatus.CANCELLED,),
    "SKIPPED": (RunStatus.SKIPPED,),
}


async def runs(
    _: Any,
    info: GraphQLResolveInfo,
    first: int,
    orderBy: list[dict[str, Any]],
    filter: dict[str, Any],
    after: str | None = None,
) -> dict[str, Any]:
    engine = engine_of(info)
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise InvalidInput(f"first must be from 1 to {MAX_PAGE_SIZE}, got {first}")
    since = parse_time_field(filter["from"], "filter.from")
    until = (
        None if filter.get("until") is None else parse_time_field(filter["until"], "filter.until")
    )
    by_end = filter.get("timeField") == "ENDED_AT"
    query = RunQuery(
        limit=first + 1,
        cursor=after,
        function_ids=await _function_ids(engine, filter),
        statuses=_statuses(filter.get("status")),
        started_from=None if by_end else since,
        started_until=None if by_end else until,
        ended_from=since if by_end else None,
        ended_until=until if by_end else None,
        oldest_first=_oldest_first(orderBy),
    )
    if filter.get("query") and by_end:
        raise InvalidInput("a search (filter.query) reads runs by start time: use QUEUED_AT")
    if filter.get("query"):
        return await _searched(engine, replace(query, limit=first), str(filter["query"]), after)
    found = await engine.list_runs(query)
    page = found[:first]

    async def total(info: GraphQLResolveInfo) -> int:  # counted only when asked: a scan
        return await engine.count_runs(replace(query, limit=COUNT_CAP), cap=COUNT_CAP)

    return {
        "edges": [{"node": run_object(engine, run), "cursor": run.id} for run in page],
        "pageInfo": {
            "hasNextPage": len(found) > first,
            "hasPreviousPage": after is not None,
            "startCursor": page[0].id if page else None,
            "endCursor": page[-1].id if page else None,
        },
        "totalCount": total,
    }


async def _searched(
    engine: Engine, query: RunQuery, expression: str, after: str | None
) -> dict[str, Any]:
    """A page of a CEL search: under its scan budget it may hold fewer runs than asked, and
    `endCursor` is the last run it read, so the next page goes on from there; `totalCount`
    is what this page found (counting every match would scan everything)."""
    found = await engine.search_runs(query, expression)
    page = found.runs
    return {
        "edges": [{"node": run_object(engine, run), "cursor": run.id} for run in page],
        "pageInfo": {
            "hasNextPage": found.cursor is not None,
            "hasPreviousPage": after is not None,
            "startCursor": page[0].id if page else None,
            "endCursor": found.cursor,
        },
        "totalCount": len(page),
    }


QUERY: dict[str, Resolver] = {"runs": runs}


def _oldest_first(order: list[dict[str, Any]]) -> bool:
    if not order:
        return False
    if len(order) > 1 or order[0]["field"] == "ENDED_AT":
        raise InvalidInput("orderBy: one field, QUEUED_AT or STARTED_AT, is served")
    return bool(order[0]["direction"] == "ASC")


def _statuses(names: list[str] | None) -> tuple[RunStatus, ...] | None:
    if not names:
        return None
    return tuple(status for name in names for status in _STATUSES[name])


async def _function_ids(engine: Engine, filter: dict[str, Any]) -> tuple[str, ...] | None:
    slugs = filter.get("functionIDs")
    apps = filter.get("appIDs")
    if not slugs and not apps:
        return None
    chosen = set(slugs or [])
    if apps:
        status = await engine.status()
        of_apps = {f.id for f in status.functions if f.app_id in set(apps)}
        chosen = chosen & of_apps if slugs else of_apps
    return tuple(sorted(chosen))


def parse_time_field(value: Any, field: str) -> int:
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be an RFC 3339 time, got {value!r}")
    try:
        return parse_time(value)
    except InvalidInput as exc:
        raise InvalidInput(f"{field}: {exc.message}") from None
