"""Searching events and runs with a CEL expression, under a scan budget.

A search needs an indexed filter — an event name, or for runs their functions, and a time
range — and reads what it selects newest first (or oldest first), a page at a time,
evaluating the expression on each: over ``event`` (an event; a run's trigger) and, for a run,
``output``. It stops when it has
a page of matches, when it has read `SCAN_BUDGET` events, or at the range's end; the cursor it
returns is the last event it read, so the next search goes on from there. A search never
scans the whole table, however rare its matches.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from surge.core.errors import InvalidInput
from surge.core.limits import MAX_EXPRESSION_LENGTH
from surge.storage import EventQuery, EventRecord, RunQuery, RunRecord, Storage

from .expressions import Expression, check_expression

SCAN_BUDGET = 10_000
"""How many events one search reads at most."""
SCAN_PAGE = 500
"""How many events it reads per storage query."""


@dataclass(frozen=True, kw_only=True)
class EventSearch:
    """What a search found, and where the next one goes on (`None`: the range is done)."""

    events: list[EventRecord]
    cursor: str | None
    scanned: int


async def search_events(storage: Storage, query: EventQuery, expression: str) -> EventSearch:
    """The events `query` selects (by name and time range, newest first) for which the CEL
    `expression` over ``event`` holds: at most `query.limit`, reading at most `SCAN_BUDGET`.

    Raises:
        InvalidInput: No event name or no time range, or a bad expression.
    """
    if not query.name and not query.names:
        raise InvalidInput("a search needs an event name (name)", field="name")
    if query.received_after is None:
        raise InvalidInput("a search needs a time range (received_after)", field="received_after")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise InvalidInput(f"if is longer than {MAX_EXPRESSION_LENGTH} characters", field="if")
    try:
        compiled = check_expression(expression)
    except InvalidInput as exc:
        raise InvalidInput(str(exc), field="if") from None
    found: list[EventRecord] = []
    cursor, scanned = query.cursor, 0
    while scanned < SCAN_BUDGET:
        size = min(SCAN_PAGE, SCAN_BUDGET - scanned)
        page = await storage.list_events(replace(query, cursor=cursor, limit=size))
        for event in page:
            scanned += 1
            cursor = event.internal_id
            if compiled.matches({"event": event.payload}):
                found.append(event)
                if len(found) == query.limit:
                    return EventSearch(events=found, cursor=cursor, scanned=scanned)
        if len(page) < size:
            return EventSearch(events=found, cursor=None, scanned=scanned)
    return EventSearch(events=found, cursor=cursor, scanned=scanned)


@dataclass(frozen=True, kw_only=True)
class RunSearch:
    """The runs a search found, and where the next one goes on (`None`: the range is done)."""

    runs: list[RunRecord]
    cursor: str | None
    scanned: int


async def search_runs(storage: Storage, query: RunQuery, expression: str) -> RunSearch:
    """The runs `query` selects (of its functions, from its start time) for which the CEL
    `expression` over ``event`` (the trigger) and ``output`` holds: at most `query.limit`,
    reading at most `SCAN_BUDGET`.

    Raises:
        InvalidInput: No function or no start time, or a bad expression.
    """
    if not query.function_ids and not query.function_id:
        raise InvalidInput("a search of runs needs their functions (functionIDs or appIDs)")
    if query.started_from is None:
        raise InvalidInput("a search of runs needs a time range (from)")
    compiled = _compiled(expression)
    found: list[RunRecord] = []
    cursor, scanned = query.cursor, 0
    while scanned < SCAN_BUDGET:
        size = min(SCAN_PAGE, SCAN_BUDGET - scanned)
        page = await storage.list_runs(replace(query, cursor=cursor, limit=size))
        triggers = await storage.event_payloads([r.event_ids[0] for r in page if r.event_ids])
        for run in page:
            scanned += 1
            cursor = run.id
            event = triggers.get(run.event_ids[0], {}) if run.event_ids else {}
            if compiled.matches({"event": event, "output": run.output}):
                found.append(run)
                if len(found) == query.limit:
                    return RunSearch(runs=found, cursor=cursor, scanned=scanned)
        if len(page) < size:
            return RunSearch(runs=found, cursor=None, scanned=scanned)
    return RunSearch(runs=found, cursor=cursor, scanned=scanned)


def _compiled(expression: str) -> Expression:
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise InvalidInput(f"the query is longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        return check_expression(expression)
    except InvalidInput as exc:
        raise InvalidInput(str(exc), field="if") from None
