"""``eventsV2`` and ``eventV2``: events by time range and name, a page at a time, with a CEL
search (`engine/search.py`) when the filter has a ``query``."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from graphql import GraphQLResolveInfo

from surge.core import codec
from surge.core.errors import InvalidInput
from surge.core.limits import MAX_PAGE_SIZE
from surge.storage import EventQuery, EventRecord

from .catalog import event_object
from .resolvers import Resolver, engine_of, time
from .runs import COUNT_CAP, parse_time_field


async def events_v2(
    _: Any, info: GraphQLResolveInfo, first: int, filter: dict[str, Any], after: str | None = None
) -> dict[str, Any]:
    engine = engine_of(info)
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise InvalidInput(f"first must be from 1 to {MAX_PAGE_SIZE}, got {first}")
    names = filter.get("eventNames")
    query = EventQuery(
        limit=first + 1,
        cursor=after,
        names=tuple(names) if names else None,
        include_internal=bool(filter["includeInternalEvents"]),
        received_after=parse_time_field(filter["from"], "filter.from"),
        received_before=None
        if filter.get("until") is None
        else parse_time_field(filter["until"], "filter.until"),
    )
    if filter.get("query"):
        found = await engine.search_events(replace(query, limit=first), str(filter["query"]))
        page, end, more = found.events, found.cursor, found.cursor is not None

        async def matched(info: GraphQLResolveInfo) -> int:
            return len(page)

        total: Any = matched
    else:
        listed = await engine.list_events(query)
        page, more = listed[:first], len(listed) > first
        end = page[-1].internal_id if page else None

        async def total(info: GraphQLResolveInfo) -> int:  # counted only when asked: a scan
            return await engine.count_events(query, cap=COUNT_CAP)

    return {
        "edges": [{"node": event_v2(record), "cursor": record.internal_id} for record in page],
        "pageInfo": {
            "hasNextPage": more,
            "hasPreviousPage": after is not None,
            "startCursor": page[0].internal_id if page else None,
            "endCursor": end,
        },
        "totalCount": total,
    }


async def one_event_v2(_: Any, info: GraphQLResolveInfo, id: str) -> dict[str, Any]:
    return event_v2(await engine_of(info).get_event(id))


def event_v2(record: EventRecord) -> dict[str, Any]:
    """An event as ``EventV2``: its runs as `Event.functionRuns` has them."""
    runs = event_object(record)["functionRuns"]
    user_id = record.payload.get("id")
    return {
        "id": record.internal_id,
        "name": record.name,
        "raw": codec.dumps_str(record.payload),
        "occurredAt": time(record.ts),
        "receivedAt": time(record.received_at),
        "idempotencyKey": user_id if user_id != record.internal_id else None,
        "runs": runs,
    }


QUERY: dict[str, Resolver] = {"eventsV2": events_v2, "eventV2": one_event_v2}
