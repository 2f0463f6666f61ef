"""Bulk cancellations in Inngest's REST v1 shape: ``POST``, ``GET`` and ``DELETE``
``/v1/cancellations`` (`docs/protocol.md`, "Server endpoints")."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from surge.core.errors import InvalidInput
from surge.core.limits import MAX_EXPRESSION_LENGTH
from surge.engine import Engine
from surge.storage import Cancellation

from . import bodies
from .rest_api import endpoint, iso, page_of

_FIELDS = frozenset({"app_id", "function_id", "started_after", "started_before", "if"})


def cancellation_json(cancellation: Cancellation) -> dict[str, Any]:
    return {
        "id": cancellation.id,
        "environment_id": "dev",
        "app_id": cancellation.app_id,
        "function_id": cancellation.function_id,
        "started_after": iso(cancellation.started_after),
        "started_before": iso(cancellation.started_before),
        "if": cancellation.expression,
        "created_at": iso(cancellation.created_at),
        "cancelled_count": cancellation.cancelled,
        "done": cancellation.done_at is not None,
        "done_at": iso(cancellation.done_at),
        "requested_by": cancellation.requested_by or "api",
    }


@endpoint
async def create(request: Request, engine: Engine) -> Any:
    body = await bodies.json_object(request, _FIELDS)
    expression = body.get("if")
    if expression is not None and (
        not isinstance(expression, str) or len(expression) > MAX_EXPRESSION_LENGTH
    ):
        raise InvalidInput(
            f"if must be a CEL expression of at most {MAX_EXPRESSION_LENGTH} characters", field="if"
        )
    cancellation = await engine.create_cancellation(
        app_id=bodies.text(body, "app_id"),
        function_id=bodies.text(body, "function_id"),
        started_after=bodies.time(body, "started_after"),
        started_before=bodies.time(body, "started_before"),
        expression=expression or None,
    )
    return cancellation_json(cancellation)


@endpoint
async def list_all(request: Request, engine: Engine) -> Any:
    page = page_of(request)
    listed = await engine.list_cancellations(limit=page["limit"], before=page["cursor"])
    return [cancellation_json(c) for c in listed]


@endpoint
async def delete(request: Request, engine: Engine) -> Any:
    cancellation_id = request.path_params["cancellation_id"]
    await engine.delete_cancellation(cancellation_id)
    return {"id": cancellation_id, "deleted": True}
