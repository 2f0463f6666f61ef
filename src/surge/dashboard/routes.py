"""The dashboard's routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from surge.engine import Engine

from .apps import AppsPages
from .bulk import BulkPages
from .events import EventsPages
from .functions import FunctionsPages
from .rendering import error_page
from .runs import RunsPages

__all__ = ["dashboard_routes"]

Page = Callable[[Request], Awaitable[Response]]


def dashboard_routes(engine: Engine) -> list[BaseRoute]:
    """The dashboard's routes, served beside the API by `surge dev` and `surge start`.

    Every act (a ``POST``) must come from the dashboard's own pages: a request a browser
    sends from another site carries that site's ``Origin`` and is refused, so a web page the
    user visits cannot cancel runs or send events through a dev server on loopback.
    """
    apps, runs, functions = AppsPages(engine), RunsPages(engine), FunctionsPages(engine)
    events, bulk = EventsPages(engine), BulkPages(engine)
    return [
        Route("/", _home, methods=["GET"]),
        Route("/runs", runs.list, methods=["GET"]),
        Route("/runs/live", runs.live, methods=["GET"]),
        Route("/runs/bulk", bulk.confirm, methods=["GET"]),
        Route("/runs/bulk", _same_origin(bulk.act), methods=["POST"]),
        Route("/runs/selected", _same_origin(bulk.selected), methods=["POST"]),
        Route("/runs/{run_id}", runs.detail, methods=["GET"]),
        Route("/runs/{run_id}/cancel", _same_origin(runs.cancel), methods=["POST"]),
        Route("/runs/{run_id}/rerun", _same_origin(runs.rerun), methods=["POST"]),
        Route("/events", events.list, methods=["GET"]),
        Route("/events/send", events.send_form, methods=["GET"]),
        Route("/events/send", _same_origin(events.send), methods=["POST"]),
        Route("/events/{event_id}", events.detail, methods=["GET"]),
        Route("/events/{event_id}/resend", _same_origin(events.resend), methods=["POST"]),
        Route("/functions", functions.list, methods=["GET"]),
        Route("/functions/{slug}", functions.detail, methods=["GET"]),
        Route("/functions/{slug}/invoke", _same_origin(functions.invoke), methods=["POST"]),
        Route("/functions/{slug}/pause", _same_origin(functions.pause), methods=["POST"]),
        Route("/functions/{slug}/resume", _same_origin(functions.resume), methods=["POST"]),
        Route("/apps", apps.list, methods=["GET"]),
        Route("/apps", _same_origin(apps.add), methods=["POST"]),
        Route("/apps/{app_id}/resync", _same_origin(apps.resync), methods=["POST"]),
        Mount("/static", StaticFiles(packages=[("surge.dashboard", "static")]), name="static"),
    ]


def _same_origin(page: Page) -> Page:
    async def checked(request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
            return error_page(f"A request from {origin} may not act here.", status=403)
        return await page(request)

    return checked


async def _home(request: Request) -> Response:
    return RedirectResponse("/runs", status_code=302)
