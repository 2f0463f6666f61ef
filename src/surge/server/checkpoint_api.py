"""`POST /v1/checkpoint/{run id}/async`: steps an app ran inside a call still in flight
(`engine/checkpoints.py`; `docs/protocol.md`, "Checkpointing").

Answers 200 once the steps are written; 409 when the call no longer holds its work item or the
run has ended (the TypeScript SDK then stops); 413 for a body over `MAX_REQUEST_BYTES`; 400,
naming the problem, for anything that is not a checkpoint.

A checkpointing app sends one of these per step, as often as calls without it, so
`CheckpointRoute` serves them ahead of the router and its exception middleware (after `Access`,
which checks the signing key as for any API call).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from surge.core.errors import InvalidInput, StaleDispatch
from surge.core.limits import MAX_REQUEST_BYTES
from surge.engine import Engine

from .responses import JSONResponse, error_response, invalid_input_response, read_body

PREFIXES = ("/v1/checkpoint/", "/v1/http/runs/")
"""The public prefix, and that of Inngest's private beta, which its server still answers."""
_SUFFIX = "/async"


async def checkpoint_async(request: Request) -> Response:
    return await _checkpoint(request, request.app.state.engine, request.path_params["run_id"])


async def _checkpoint(request: Request, engine: Engine, run_id: str) -> Response:
    try:
        body = await read_body(request, MAX_REQUEST_BYTES)
        steps = await engine.checkpoints.save(run_id, body)
    except InvalidInput as exc:
        return invalid_input_response(exc)
    except StaleDispatch as exc:
        return error_response(str(exc), 409, run_id=run_id)
    return JSONResponse({"run_id": run_id, "steps": steps})


class CheckpointRoute:
    """Serves `checkpoint_async` without the router's work (its routes still answer other
    methods, with 405)."""

    def __init__(self, app: ASGIApp, *, engine: Engine) -> None:
        self._app = app
        self._engine = engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            run_id = _run_of(scope["path"])
            if run_id:
                response = await _checkpoint(Request(scope, receive), self._engine, run_id)
                await response(scope, receive, send)
                return
        await self._app(scope, receive, send)


def _run_of(path: str) -> str | None:
    for prefix in PREFIXES:
        if path.startswith(prefix) and path.endswith(_SUFFIX):
            run_id = path[len(prefix) : -len(_SUFFIX)]
            return run_id if run_id and "/" not in run_id else None
    return None
