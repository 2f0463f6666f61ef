"""Pausing and resuming a function: ``POST /v1/functions/{function_id}/pause`` and
``/resume`` (`docs/protocol.md`, "Server endpoints")."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from surge.engine import Engine
from surge.storage import Suspension

from . import bodies
from .rest_api import endpoint, iso


def suspension_json(suspension: Suspension) -> dict[str, Any]:
    return {
        "function_id": suspension.function_id,
        "paused": True,
        "paused_at": iso(suspension.suspended_at),
        "paused_by": suspension.suspended_by,
    }


@endpoint
async def pause(request: Request, engine: Engine) -> Any:
    """Pause; with ``{"cancel_running": true}`` also cancel the function's running runs."""
    body = await bodies.json_object(request, frozenset({"cancel_running"}), optional=True)
    suspension = await engine.suspend_function(
        request.path_params["function_id"], cancel_running=bodies.flag(body, "cancel_running")
    )
    return suspension_json(suspension)


@endpoint
async def resume(request: Request, engine: Engine) -> Any:
    function_id = request.path_params["function_id"]
    was_paused = await engine.resume_function(function_id)
    return {"function_id": function_id, "paused": False, "was_paused": was_paused}
