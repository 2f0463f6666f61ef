"""The query API in Inngest's REST v1 shapes, and the v0 endpoints SDKs call
(`docs/protocol.md`, "Server endpoints")."""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from surge.core.durations import parse_time
from surge.core.errors import Conflict, InvalidInput, NotFound
from surge.core.limits import MAX_PAGE_SIZE
from surge.engine import Engine
from surge.engine.requests import step_memos
from surge.storage import (
    EventQuery,
    EventRecord,
    HistoryEntry,
    OpenGather,
    RunQuery,
    RunRecord,
    Waiting,
)

from . import bodies
from .responses import JSONResponse, error_response, invalid_input_response

T = TypeVar("T")


def iso(ms: int | None) -> str | None:
    """Milliseconds since the epoch as RFC 3339 UTC with milliseconds."""
    if ms is None:
        return None
    moment = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_json(event: EventRecord) -> dict[str, Any]:
    payload = event.payload
    return {
        "internal_id": event.internal_id,
        "id": event.id,
        "name": event.name,
        "data": payload.get("data", {}),
        "user": payload.get("user", {}),
        "ts": event.ts,
        "v": payload.get("v"),
        "received_at": iso(event.received_at),
        "source_run_id": event.source_run_id,
    }


def run_json(run: RunRecord) -> dict[str, Any]:
    return {
        "run_id": run.id,
        "run_started_at": iso(run.started_at),
        "function_id": run.function_id,
        "function_version": 1,
        "environment_id": "dev",
        "event_id": run.event_ids[0] if run.event_ids else None,
        "event_ids": run.event_ids,
        "batch_id": run.batch_id,
        "original_run_id": run.original_run_id,
        "parent_run_id": run.parent_run_id,
        "cron": run.cron,
        "status": run.status.value,
        "skip_reason": run.skip_reason,
        "ended_at": iso(run.ended_at),
        "output": run.output,
        "error": run.error,
        "waiting": _waiting_json(run.waiting),
    }


def _waiting_json(waiting: Waiting | None) -> dict[str, Any] | None:
    """Why a run has not begun (or its next step waits): ``concurrency``, ``throttle`` or
    ``priority``, with when it is due for the last two."""
    if waiting is None:
        return None
    return {"reason": waiting.reason, "until": iso(waiting.until)}


EventDetail = tuple[EventRecord, list[RunRecord], list[OpenGather]]


async def _event_detail(engine: Engine, key: str) -> EventDetail:
    event = await engine.get_event(key)
    runs = await engine.event_runs(event.internal_id, limit=MAX_PAGE_SIZE)
    return event, runs, await engine.event_gathers(event.internal_id)


def _event_detail_json(detail: EventDetail) -> dict[str, Any]:
    """An event, the runs it started (skipped ones with their reason, batched ones with their
    batch) and the debounces or batches it still waits in."""
    event, runs, gathers = detail
    return {
        **event_json(event),
        "runs": [
            {
                "run_id": r.id,
                "function_id": r.function_id,
                "status": r.status.value,
                "skip_reason": r.skip_reason,
                "batch_id": r.batch_id,
            }
            for r in runs
        ],
        "pending": [
            {
                "kind": g.kind,
                "batch_id": g.id,
                "function_id": g.function_id,
                "closes_at": iso(g.closes_at),
            }
            for g in gathers
        ],
    }


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def endpoint(
    handler: Callable[[Request, Engine], Awaitable[Any]],
) -> Callable[[Request], Awaitable[Response]]:
    """A route answering with what `handler` returns: in the REST v1 envelope, or as it is
    when it is a `Response`; bad input gets 400, something missing 404, a command the state
    forbids 409, as JSON errors."""

    async def route(request: Request) -> Response:
        engine = _engine(request)
        try:
            result = await handler(request, engine)
        except InvalidInput as exc:
            return invalid_input_response(exc)
        except NotFound as exc:
            return error_response(str(exc), 404)
        except Conflict as exc:
            return error_response(str(exc), 409)
        if isinstance(result, Response):
            return result
        fetched_at = iso(engine.now())
        return JSONResponse({"data": result, "metadata": {"fetched_at": fetched_at}})

    return route


def _limit(request: Request, default: int = 100) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_PAGE_SIZE}", field="limit")
    return int(raw)


def _time_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return parse_time(raw)
    except (InvalidInput, ValueError):
        raise InvalidInput(f"{name} must be an RFC 3339 time, got {raw!r}", field=name) from None


def page_of(request: Request) -> dict[str, Any]:
    """The ``limit`` and ``cursor`` of a listing."""
    return {"limit": _limit(request), "cursor": request.query_params.get("cursor")}


@endpoint
async def list_events(request: Request, engine: Engine) -> Any:
    query = EventQuery(
        name=request.query_params.get("name"),
        received_after=_time_param(request, "received_after"),
        received_before=_time_param(request, "received_before"),
        source_run_id=request.query_params.get("source_run_id"),
        **page_of(request),
    )
    expression = request.query_params.get("if")
    if expression is None:
        return [event_json(e) for e in await engine.list_events(query)]
    found = await engine.search_events(query, expression)
    metadata = {
        "fetched_at": iso(engine.now()),
        "cursor": found.cursor,
        "scanned": found.scanned,
    }
    return JSONResponse({"data": [event_json(e) for e in found.events], "metadata": metadata})


@endpoint
async def list_runs(request: Request, engine: Engine) -> Any:
    of = request.query_params.get
    query = RunQuery(
        function_id=of("function_id"),
        parent_run_id=of("parent_run_id"),
        original_run_id=of("original_run_id"),
        **page_of(request),
    )
    return [run_json(r) for r in await engine.list_runs(query)]


def by_id(
    param: str, read: Callable[[Engine, str], Awaitable[T]], render: Callable[[T], Any]
) -> Callable[[Request], Awaitable[Response]]:
    """A route that reads one thing by the id in path parameter `param` and renders it."""

    async def handler(request: Request, engine: Engine) -> Any:
        return render(await read(engine, request.path_params[param]))

    return endpoint(handler)


def _history_json(entries: list[HistoryEntry]) -> list[dict[str, Any]]:
    return [
        {"at": iso(h.at), "kind": h.kind, "step_id": h.step_id, "attempt": h.attempt, **h.detail}
        for h in entries
    ]


def _runs_of_event(engine: Engine, event_id: str) -> Awaitable[list[RunRecord]]:
    return engine.event_runs(event_id, limit=MAX_PAGE_SIZE)


get_event = by_id("event_id", _event_detail, _event_detail_json)
event_runs = by_id("event_id", _runs_of_event, lambda runs: [run_json(r) for r in runs])
get_run = by_id("run_id", Engine.get_run, run_json)
cancel_run = by_id("run_id", Engine.cancel_run, run_json)


@endpoint
async def rerun(request: Request, engine: Engine) -> Any:
    """Rerun from the start, or with ``{"from_step": "<step id>"}`` from that step (and with
    ``"input": [args]``, the step's arguments edited)."""
    body = await bodies.json_object(request, frozenset({"from_step", "input"}), optional=True)
    from_step = body.get("from_step")
    if from_step is not None and not isinstance(from_step, str):
        raise InvalidInput("from_step must be a step id", field="from_step")
    run_id = await engine.rerun(
        request.path_params["run_id"], from_step=from_step, step_input=body.get("input")
    )
    return {"run_id": run_id}


@endpoint
async def update_metadata(request: Request, engine: Engine) -> Any:
    """Span metadata for the run, or its step: ``{"target": {"run_id", "step_id"?},
    "metadata": [{"kind", "op", "values"}]}``, as the TypeScript SDK sends it."""
    body = await bodies.json_object(request, frozenset({"target", "metadata"}))
    run_id = request.path_params["run_id"]
    target = body.get("target") or {}
    if not isinstance(target, dict):
        raise InvalidInput("target must be an object", field="target")
    if target.get("run_id", run_id) != run_id:
        raise InvalidInput("target.run_id is not the run in the URL", field="target.run_id")
    step_id = target.get("step_id")
    if step_id is not None and not isinstance(step_id, str):
        raise InvalidInput("target.step_id must be a step id", field="target.step_id")
    if step_id is None and any(target.get(k) is not None for k in _STEP_TARGETS):
        raise InvalidInput("target.step_id must be given with step_index, step_attempt or span_id")
    count = await engine.update_metadata(run_id, step_id, body.get("metadata"))
    return {"updated": count}


_STEP_TARGETS = ("step_index", "step_attempt", "span_id")
run_history = by_id("run_id", Engine.run_history, _history_json)
run_batch = by_id("run_id", Engine.run_state, lambda state: JSONResponse(state.events))
"""`GET /v0/runs/{id}/batch`: the run's events, for requests sent with `use_api`."""
run_actions = by_id(
    "run_id",
    Engine.run_state,
    lambda state: JSONResponse(step_memos(state)),
)
"""`GET /v0/runs/{id}/actions`: the run's memoized steps, for requests sent with `use_api`."""
