"""`POST /v1/checkpoint/{run id}/async`: steps an app ran inside a call still in flight
(`engine/checkpoints.py`; `docs/protocol.md`, "Checkpointing").

Answers 200 once the steps are written; 409 when the call no longer holds its work item or the
run has ended (the TypeScript SDK then stops); 413 for a body over `MAX_REQUEST_BYTES`; 400,
naming the problem, for anything that is not a checkpoint.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from surge.core.errors import InvalidInput, StaleDispatch
from surge.core.limits import MAX_REQUEST_BYTES
from surge.engine import Engine

from .responses import JSONResponse, error_response, invalid_input_response, read_body


async def checkpoint_async(request: Request) -> Response:
    engine: Engine = request.app.state.engine
    run_id = request.path_params["run_id"]
    try:
        body = await read_body(request, MAX_REQUEST_BYTES)
        steps = await engine.checkpoints.save(run_id, body)
    except InvalidInput as exc:
        return invalid_input_response(exc)
    except StaleDispatch as exc:
        return error_response(str(exc), 409, run_id=run_id)
    return JSONResponse({"run_id": run_id, "steps": steps})
