"""The GraphQL fields that list what the server holds: events, the stream of events and cron
ticks with their runs, functions and apps (`schema.graphql`)."""

from __future__ import annotations

import asyncio
from typing import Any

from graphql import GraphQLResolveInfo

from surge.core import codec
from surge.core.errors import InvalidInput
from surge.core.limits import MAX_PAGE_SIZE
from surge.engine.engine import NodeStatus
from surge.storage import AppRecord, EventQuery, EventRecord, FunctionRecord, RunQuery, RunRecord

from .resolvers import RUN_STATUS, Resolver, engine_of, time

EVENTS_PAGE = 50
"""How many events `events` answers with (Inngest's dev server: the latest 50)."""
CRON_EVENT = "inngest/scheduled.timer"


async def events(_: Any, info: GraphQLResolveInfo, query: dict[str, Any]) -> list[dict[str, Any]]:
    engine = engine_of(info)
    page = EventQuery(limit=EVENTS_PAGE, cursor=query.get("lastEventId"))
    return [event_object(event) for event in await engine.list_events(page)]


async def event(_: Any, info: GraphQLResolveInfo, query: dict[str, Any]) -> dict[str, Any]:
    engine = engine_of(info)
    return event_object(await engine.get_event(str(query["eventId"])))


async def stream(_: Any, info: GraphQLResolveInfo, query: dict[str, Any]) -> list[dict[str, Any]]:
    engine = engine_of(info)
    limit = int(query.get("limit") or 20)
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"limit must be from 1 to {MAX_PAGE_SIZE}, got {limit}")
    internal = bool(query.get("includeInternalEvents"))
    after = query.get("after")
    items: list[dict[str, Any]] = []
    cursor = query.get("before")
    # Internal events left out are skipped over: read on until the page is full.
    while len(items) < limit:
        page = await engine.list_events(EventQuery(limit=limit, cursor=cursor))
        for record in page:
            if after is not None and record.internal_id <= after:
                return items
            cron = record.name == CRON_EVENT
            if internal or cron or not record.name.startswith("inngest/"):
                items.append(_stream_item(record, cron=cron))
                if len(items) == limit:
                    break
        if len(page) < limit:
            break
        cursor = page[-1].internal_id
    return items


async def functions(_: Any, info: GraphQLResolveInfo) -> list[dict[str, Any]]:
    status = await _status(info)
    apps = {app.id: app for app in status.apps}
    return [function_object(f, apps, status.functions) for f in status.functions]


async def function_by_slug(
    _: Any, info: GraphQLResolveInfo, query: dict[str, Any]
) -> dict[str, Any] | None:
    status = await _status(info)
    apps = {app.id: app for app in status.apps}
    slug = query["functionSlug"]
    found = next((f for f in status.functions if f.id == slug), None)
    return None if found is None else function_object(found, apps, status.functions)


async def apps(_: Any, info: GraphQLResolveInfo) -> list[dict[str, Any]]:
    status = await _status(info)
    return [app_object(app, status.functions) for app in status.apps]


QUERY: dict[str, Resolver] = {
    "events": events,
    "event": event,
    "stream": stream,
    "functions": functions,
    "functionBySlug": function_by_slug,
    "apps": apps,
}


def event_object(record: EventRecord) -> dict[str, Any]:
    async def function_runs(info: GraphQLResolveInfo) -> list[dict[str, Any]]:
        return await _runs_of(info, record)

    async def total_runs(info: GraphQLResolveInfo) -> int:
        return len(await _runs_of(info, record))

    payload = codec.dumps_str(record.payload)
    return {
        "id": record.internal_id,
        "externalID": record.id if record.id != record.internal_id else None,
        "name": record.name,
        "createdAt": time(record.received_at),
        "payload": payload,
        "raw": payload,
        "totalRuns": total_runs,
        "functionRuns": function_runs,
    }


def _stream_item(record: EventRecord, *, cron: bool) -> dict[str, Any]:
    async def runs(info: GraphQLResolveInfo) -> list[dict[str, Any]]:
        return await _runs_of(info, record)

    schedule = record.payload.get("data", {}).get("cron") if cron else None
    return {
        "id": record.internal_id,
        "trigger": str(schedule or record.name),
        "type": "CRON" if cron else "EVENT",
        "createdAt": time(record.received_at),
        "runs": runs,
        "inBatch": False,
    }


async def _runs_of(info: GraphQLResolveInfo, record: EventRecord) -> list[dict[str, Any]]:
    engine = engine_of(info)
    runs = await engine.list_runs(RunQuery(event_id=record.internal_id, limit=MAX_PAGE_SIZE))
    status = await _status(info)
    names = {f.id: f for f in status.functions}
    apps = {app.id: app for app in status.apps}
    return [function_run(run, names, apps, status.functions) for run in runs]


async def _status(info: GraphQLResolveInfo) -> NodeStatus:
    """The apps and functions, read once per request (however many runs name them)."""
    pending: asyncio.Future[NodeStatus] | None = info.context.get("status")
    if pending is None:
        pending = info.context["status"] = asyncio.ensure_future(engine_of(info).status())
    return await pending


def function_run(
    run: RunRecord,
    functions: dict[str, FunctionRecord],
    apps: dict[str, AppRecord],
    every: list[FunctionRecord],
) -> dict[str, Any]:
    record = functions.get(run.function_id)
    output = None
    if run.status.is_final:
        output = codec.dumps_str(run.error if run.error is not None else run.output)
    return {
        "id": run.id,
        "functionID": run.function_id,
        "name": record.name if record is not None else run.function_id,
        "function": None if record is None else function_object(record, apps, every),
        "status": RUN_STATUS[run.status],
        "startedAt": time(run.started_at),
        "finishedAt": time(run.ended_at),
        "output": output,
        "eventID": run.event_ids[0] if run.event_ids else "",
        "batchID": run.batch_id,
        "cron": run.cron,
    }


def function_object(
    record: FunctionRecord, apps: dict[str, AppRecord], every: list[FunctionRecord]
) -> dict[str, Any]:
    config = record.config
    triggers = []
    for trigger in config.get("triggers") or []:
        if isinstance(trigger, dict) and isinstance(trigger.get("event"), str):
            triggers.append({"type": "EVENT", "value": trigger["event"]})
        elif isinstance(trigger, dict) and isinstance(trigger.get("cron"), str):
            triggers.append({"type": "CRON", "value": trigger["cron"]})
    limit = 0
    concurrency = config.get("concurrency")
    if isinstance(concurrency, list) and concurrency and isinstance(concurrency[0], dict):
        limit = int(concurrency[0].get("limit") or 0)
    app = apps.get(record.app_id)
    return {
        "id": record.id,
        "name": record.name,
        "slug": record.id,
        "config": codec.dumps_str(config),
        "concurrency": limit,
        "triggers": triggers,
        "url": record.url,
        "appID": record.app_id,
        "app": None if app is None else (lambda info: app_object(app, every)),
        "isPaused": lambda info: _is_paused(info, record.id),
    }


async def _is_paused(info: GraphQLResolveInfo, function_id: str) -> bool:
    return function_id in (await _status(info)).suspended


def app_object(app: AppRecord, every: list[FunctionRecord]) -> dict[str, Any]:
    language, _, version = app.sdk.partition(":")
    own = [f for f in every if f.app_id == app.id]
    apps = {app.id: app}
    return {
        "id": app.id,
        "externalID": app.id,
        "name": str(app.config.get("appName") or app.id),
        "sdkLanguage": language,
        "sdkVersion": version,
        "framework": app.framework or None,
        "url": app.url,
        "checksum": app.checksum or None,
        "error": None,
        "functions": lambda info: [function_object(f, apps, every) for f in own],
        "functionCount": len(own),
        "connected": True,
        "autodiscovered": False,
        "method": "SERVE",
    }
