"""The query API in Inngest's REST v1 shapes, and the v0 endpoints SDKs call (PROTOCOL §5, §6)."""

from __future__ import annotations

import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from surge.core.durations import parse_time
from surge.core.errors import InvalidInput, NotFound
from surge.engine import Engine
from surge.storage import EventRecord, RunRecord

from .responses import JSONResponse, error_response, invalid_input_response, v1

MAX_LIMIT = 1000


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
        "batch_id": None,
        "original_run_id": None,
        "parent_run_id": run.parent_run_id,
        "cron": run.cron,
        "status": run.status.value,
        "ended_at": iso(run.ended_at),
        "output": run.output,
        "error": run.error,
    }


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _limit(request: Request, default: int = 100) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_LIMIT}", field="limit")
    return int(raw)


def _time_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return parse_time(raw)
    except (InvalidInput, ValueError):
        raise InvalidInput(f"{name} must be an RFC 3339 time, got {raw!r}", field=name) from None


async def list_events(request: Request) -> Response:
    try:
        events = await _engine(request).storage.list_events(
            name=request.query_params.get("name"),
            received_after=_time_param(request, "received_after"),
            received_before=_time_param(request, "received_before"),
            limit=_limit(request),
            cursor=request.query_params.get("cursor"),
        )
    except InvalidInput as exc:
        return invalid_input_response(exc)
    return v1([event_json(e) for e in events])


async def get_event(request: Request) -> Response:
    try:
        event = await _engine(request).storage.get_event(request.path_params["event_id"])
    except NotFound:
        return error_response(f"event {request.path_params['event_id']!r} not found", 404)
    return v1(event_json(event))


async def event_runs(request: Request) -> Response:
    storage = _engine(request).storage
    try:
        event = await storage.get_event(request.path_params["event_id"])
    except NotFound:
        return error_response(f"event {request.path_params['event_id']!r} not found", 404)
    runs = await storage.list_runs(event_id=event.internal_id, limit=MAX_LIMIT)
    return v1([run_json(r) for r in runs])


async def list_runs(request: Request) -> Response:
    try:
        runs = await _engine(request).storage.list_runs(
            function_id=request.query_params.get("function_id"),
            parent_run_id=request.query_params.get("parent_run_id"),
            limit=_limit(request),
            cursor=request.query_params.get("cursor"),
        )
    except InvalidInput as exc:
        return invalid_input_response(exc)
    return v1([run_json(r) for r in runs])


async def get_run(request: Request) -> Response:
    try:
        run = await _engine(request).storage.get_run(request.path_params["run_id"])
    except NotFound:
        return error_response(f"run {request.path_params['run_id']!r} not found", 404)
    return v1(run_json(run))


async def run_history(request: Request) -> Response:
    storage = _engine(request).storage
    run_id = request.path_params["run_id"]
    try:
        await storage.get_run(run_id)
    except NotFound:
        return error_response(f"run {run_id!r} not found", 404)
    entries = await storage.run_history(run_id)
    return v1(
        [
            {
                "at": iso(h.at),
                "kind": h.kind,
                "step_id": h.step_id,
                "attempt": h.attempt,
                **h.detail,
            }
            for h in entries
        ]
    )


async def cancel_run(request: Request) -> Response:
    try:
        run = await _engine(request).cancel(request.path_params["run_id"])
    except NotFound:
        return error_response(f"run {request.path_params['run_id']!r} not found", 404)
    return v1(run_json(run))


async def run_batch(request: Request) -> Response:
    """`GET /v0/runs/{id}/batch`: the run's events, for requests sent with `use_api`."""
    try:
        state = await _engine(request).storage.load_run_state(request.path_params["run_id"])
    except NotFound:
        return error_response(f"run {request.path_params['run_id']!r} not found", 404)
    return JSONResponse(state.events)


async def run_actions(request: Request) -> Response:
    """`GET /v0/runs/{id}/actions`: the run's memoized steps, for requests sent with `use_api`."""
    try:
        state = await _engine(request).storage.load_run_state(request.path_params["run_id"])
    except NotFound:
        return error_response(f"run {request.path_params['run_id']!r} not found", 404)
    return JSONResponse({memo.step_id: memo.outcome for memo in state.memos})
