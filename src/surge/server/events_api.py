"""`POST /e/{key}`: the event API (`docs/protocol.md`, "Events")."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from surge.core.errors import InvalidInput
from surge.core.limits import MAX_EVENT_REQUEST_BYTES
from surge.engine import Engine

from .responses import JSONResponse, error_response, invalid_input_response, read_body


async def send_events(request: Request) -> Response:
    engine: Engine = request.app.state.engine
    key = request.path_params["key"]
    keys: frozenset[str] = request.app.state.event_keys
    if not key or (keys and key not in keys):
        return error_response("Event key not found", 401)
    try:
        body = await read_body(request, MAX_EVENT_REQUEST_BYTES)
        ids = await engine.send_events(body, seed=request.headers.get("x-inngest-event-id-seed"))
    except InvalidInput as exc:
        return invalid_input_response(exc)
    return JSONResponse({"ids": ids, "status": 200})
