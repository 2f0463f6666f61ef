"""The dashboard's routes."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from surge.engine import Engine

from .apps import AppsPages
from .bulk import BulkPages
from .events import EventsPages
from .functions import FunctionsPages
from .runs import RunsPages

__all__ = ["dashboard_routes"]


def dashboard_routes(engine: Engine) -> list[BaseRoute]:
    """The dashboard's routes, served beside the API by `surge dev` and `surge start`."""
    apps, runs, functions = AppsPages(engine), RunsPages(engine), FunctionsPages(engine)
    events, bulk = EventsPages(engine), BulkPages(engine)
    return [
        Route("/", _home, methods=["GET"]),
        Route("/runs", runs.list, methods=["GET"]),
        Route("/runs/live", runs.live, methods=["GET"]),
        Route("/runs/bulk", bulk.confirm, methods=["GET"]),
        Route("/runs/bulk", bulk.act, methods=["POST"]),
        Route("/runs/selected", bulk.selected, methods=["POST"]),
        Route("/runs/{run_id}", runs.detail, methods=["GET"]),
        Route("/runs/{run_id}/cancel", runs.cancel, methods=["POST"]),
        Route("/runs/{run_id}/rerun", runs.rerun, methods=["POST"]),
        Route("/events", events.list, methods=["GET"]),
        Route("/events/send", events.send_form, methods=["GET"]),
        Route("/events/send", events.send, methods=["POST"]),
        Route("/events/{event_id}", events.detail, methods=["GET"]),
        Route("/events/{event_id}/resend", events.resend, methods=["POST"]),
        Route("/functions", functions.list, methods=["GET"]),
        Route("/functions/{slug}", functions.detail, methods=["GET"]),
        Route("/functions/{slug}/invoke", functions.invoke, methods=["POST"]),
        Route("/functions/{slug}/pause", functions.pause, methods=["POST"]),
        Route("/functions/{slug}/resume", functions.resume, methods=["POST"]),
        Route("/apps", apps.list, methods=["GET"]),
        Route("/apps", apps.add, methods=["POST"]),
        Route("/apps/{app_id}/resync", apps.resync, methods=["POST"]),
        Mount("/static", StaticFiles(packages=[("surge.dashboard", "static")]), name="static"),
    ]


async def _home(request: Request) -> Response:
    return RedirectResponse("/runs", status_code=302)
