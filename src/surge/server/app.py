"""The HTTP application: every route of a Surge server node."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Collection, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from surge.core import codec
from surge.engine import Engine

from . import (
    cancellations_api,
    checkpoint_api,
    events_api,
    functions_api,
    replays_api,
    rest_api,
    sync_api,
)
from .auth import Access
from .graphql.endpoint import graphql_endpoint
from .openapi import openapi_document
from .responses import error_response


def create_app(
    engine: Engine,
    *,
    event_keys: frozenset[str] = frozenset(),
    start_opts: dict[str, Any] | None = None,
    pages: Sequence[BaseRoute] = (),
    allowed_hosts: Collection[str] = (),
) -> Starlette:
    """The ASGI app of one server node; its lifespan starts and stops `engine`.

    With `event_keys`, `POST /e/{key}` accepts only those keys. With signing keys in the
    engine's config, every other API call must carry one as `Authorization: Bearer`, and
    pages a login session; without (dev mode), requests must name a local host or one of
    `allowed_hosts` (`auth.Access`).
    `pages` are served beside the API (the dashboard's: `surge.dashboard`, which the
    command line passes in; the server layer does not import it).
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.loop = asyncio.get_running_loop()
        app.state.closing = asyncio.Event()  # set by `SurgeServer` on a stop signal
        await engine.start()
        try:
            yield
        finally:
            await engine.stop()

    routes = [
        Route("/e/{key}", events_api.send_events, methods=["POST"]),
        Route("/fn/register", sync_api.register, methods=["POST"]),
        Route("/fn/remove", sync_api.remove, methods=["DELETE"]),
        Route("/health", sync_api.health, methods=["GET"]),
        Route("/dev", sync_api.dev_info, methods=["GET"]),
        Route("/v1/openapi.json", _openapi, methods=["GET"]),
        Route("/v1/events", rest_api.list_events, methods=["GET"]),
        Route("/v1/events/{event_id}", rest_api.get_event, methods=["GET"]),
        Route("/v1/events/{event_id}/runs", rest_api.event_runs, methods=["GET"]),
        Route("/v1/runs", rest_api.list_runs, methods=["GET"]),
        Route("/v1/runs/{run_id}", rest_api.get_run, methods=["GET"]),
        Route("/v1/runs/{run_id}", rest_api.cancel_run, methods=["DELETE"]),
        Route("/v1/runs/{run_id}/history", rest_api.run_history, methods=["GET"]),
        Route("/v1/runs/{run_id}/rerun", rest_api.rerun, methods=["POST"]),
        Route("/v1/runs/{run_id}/metadata", rest_api.update_metadata, methods=["POST"]),
        *(
            Route(f"{prefix}{{run_id}}/async", checkpoint_api.checkpoint_async, methods=["POST"])
            for prefix in checkpoint_api.PREFIXES
        ),
        Route("/v1/cancellations", cancellations_api.create, methods=["POST"]),
        Route("/v1/cancellations", cancellations_api.list_all, methods=["GET"]),
        Route("/v1/cancellations/{cancellation_id}", cancellations_api.delete, methods=["DELETE"]),
        Route("/v1/functions/{function_id}/pause", functions_api.pause, methods=["POST"]),
        Route("/v1/functions/{function_id}/resume", functions_api.resume, methods=["POST"]),
        Route("/v1/replays", replays_api.create, methods=["POST"]),
        Route("/v1/replays", replays_api.list_all, methods=["GET"]),
        Route("/v1/replays/{replay_id}", replays_api.get, methods=["GET"]),
        Route("/v0/runs/{run_id}", rest_api.cancel_run, methods=["DELETE"]),
        Route("/v0/runs/{run_id}/batch", rest_api.run_batch, methods=["GET"]),
        Route("/v0/runs/{run_id}/actions", rest_api.run_actions, methods=["GET"]),
        Route("/v0/gql", graphql_endpoint, methods=["POST"]),
        Route("/metrics", sync_api.metrics, methods=["GET"]),
        *pages,
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: _not_found, 405: _method_not_allowed},
        middleware=[
            Middleware(
                Access,
                keys=engine.config.signing_keys,
                logins=engine.logins,
                allowed_hosts=allowed_hosts,
            ),
            Middleware(checkpoint_api.CheckpointRoute, engine=engine),
        ],
    )
    app.state.engine = engine
    app.state.event_keys = event_keys
    app.state.start_opts = start_opts or {}
    return app


_OPENAPI = codec.dumps(openapi_document())


async def _openapi(request: Request) -> Response:
    return Response(_OPENAPI, media_type="application/json")


async def _not_found(request: Request, exc: Exception) -> Response:
    return error_response(f"no such endpoint: {request.method} {request.url.path}", 404)


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    return error_response(f"{request.method} is not allowed on {request.url.path}", 405)
