"""Bulk replays: ``POST /v1/replays`` (or a preview of one), ``GET /v1/replays`` and
``GET /v1/replays/{replay_id}`` (`docs/protocol.md`, "Server endpoints")."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from surge.engine import Engine
from surge.storage import Replay

from . import bodies
from .rest_api import endpoint, iso, page_of

_FIELDS = frozenset({"function_id", "started_after", "started_before", "statuses", "preview"})
DEFAULT_STATUSES = ["Failed"]


def replay_json(replay: Replay, *, preview: bool = False) -> dict[str, Any]:
    progress = replay.progress
    return {
        "id": None if preview else replay.id,
        "preview": preview,
        "app_id": replay.app_id,
        "function_id": replay.function_id,
        "started_after": iso(replay.started_after),
        "started_before": iso(replay.started_before),
        "statuses": list(replay.statuses),
        "created_at": iso(replay.created_at),
        "requested_by": replay.requested_by,
        "total": replay.total,
        "started": replay.started,
        "done": replay.done_at is not None,
        "done_at": iso(replay.done_at),
        "runs": {
            "running": progress.running,
            "completed": progress.completed,
            "failed": progress.failed,
            "cancelled": progress.cancelled,
            "skipped": progress.skipped,
        },
    }


@endpoint
async def create(request: Request, engine: Engine) -> Any:
    """Start a replay; with ``"preview": true``, only count the runs it would rerun."""
    body = await bodies.json_object(request, _FIELDS)
    preview = bodies.flag(body, "preview")
    replay = await engine.replays.create(
        bodies.text(body, "function_id"),
        started_after=bodies.time(body, "started_after"),
        started_before=bodies.time(body, "started_before"),
        statuses=bodies.texts(body, "statuses", DEFAULT_STATUSES),
        by="api",
        preview=preview,
    )
    return replay_json(replay, preview=preview)


@endpoint
async def list_all(request: Request, engine: Engine) -> Any:
    page = page_of(request)
    listed = await engine.replays.list(limit=page["limit"], before=page["cursor"])
    return [replay_json(replay) for replay in listed]


@endpoint
async def get(request: Request, engine: Engine) -> Any:
    return replay_json(await engine.replays.get(request.path_params["replay_id"]))
