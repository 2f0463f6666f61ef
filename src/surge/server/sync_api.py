"""App sync and server status: `/fn/register`, `/fn/remove`, `/dev`, `/health`
(`docs/protocol.md`, "Sync" and "Server endpoints")."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from surge.core import codec
from surge.core.errors import InvalidInput
from surge.core.limits import MAX_REQUEST_BYTES
from surge.engine import Engine
from surge.engine.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE

from .responses import JSONResponse, error_response, invalid_input_response, read_body


async def register(request: Request) -> Response:
    engine: Engine = request.app.state.engine
    try:
        body = await read_body(request, MAX_REQUEST_BYTES)
        result = await engine.sync_app(body, request.headers)
    except InvalidInput as exc:
        return invalid_input_response(exc)
    return JSONResponse({"ok": True, "modified": result.modified, "app_id": result.app_id})


async def remove(request: Request) -> Response:
    """Remove an app by URL, given as `?url=` or in a JSON body `{"url": ...}`."""
    engine: Engine = request.app.state.engine
    url = request.query_params.get("url")
    if url is None:
        try:
            body = codec.loads(await read_body(request, 64 * 1024) or b"{}")
        except (codec.JSONDecodeError, InvalidInput):
            body = None
        url = body.get("url") if isinstance(body, dict) else None
    if not isinstance(url, str) or not url:
        return error_response('url is required, as ?url= or a JSON body {"url": ...}', 400)
    if not await engine.remove_app(url):
        return error_response(f"no app is registered at {url}", 404)
    return JSONResponse({"ok": True})


async def health(request: Request) -> Response:
    return JSONResponse({"status": 200, "message": "OK"})


async def metrics(request: Request) -> Response:
    """The node's metrics in the Prometheus exposition format (`engine/metrics.py`)."""
    engine: Engine = request.app.state.engine
    return Response(await engine.metrics_text(), media_type=METRICS_CONTENT_TYPE)


async def dev_info(request: Request) -> Response:
    """What the dev server knows: its options, apps and functions (`inngest dev`'s `/dev`)."""
    engine: Engine = request.app.state.engine
    status = await engine.status()
    return JSONResponse(
        {
            "version": engine.version,
            "startOpts": request.app.state.start_opts,
            "functions": [
                {
                    **_function_info(f.id, f.name, f.config, f.url),
                    "notEnforced": status.not_enforced.get(f.id, []),
                    "paused": f.id in status.suspended,
                }
                for f in status.functions
            ],
            "handlers": [
                {"url": app.url, "id": app.id, "sdk": app.sdk, "framework": app.framework}
                for app in status.apps
            ],
            "apps": [
                {"url": ping.url, "error": ping.error, "pinged_at": ping.pinged_at}
                for ping in status.pings
            ],
            "features": {},
        }
    )


def _function_info(slug: str, name: str, config: dict[str, Any], url: str) -> dict[str, Any]:
    steps = config.get("steps") or {}
    return {
        "id": slug,
        "slug": slug,
        "name": name,
        "triggers": config.get("triggers") or [],
        "steps": [
            {
                "id": step_id,
                "name": step.get("name", step_id) if isinstance(step, dict) else step_id,
                "uri": url,
                **(
                    {"retries": step["retries"]}
                    if isinstance(step, dict) and "retries" in step
                    else {}
                ),
            }
            for step_id, step in (steps.items() if isinstance(steps, dict) else [])
        ],
    }
