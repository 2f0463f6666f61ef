"""The dashboard's routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from surge.core.errors import InvalidInput
from surge.engine import Engine

from .apps import AppsPages
from .bulk import SELECTED_BYTES, BulkPages
from .events import EventsPages
from .functions import FunctionsPages
from .login import LoginPages
from .rendering import error_page, form_lists, signed_in_as
from .runs import RunsPages

__all__ = ["dashboard_routes"]

Page = Callable[[Request], Awaitable[Response]]


def dashboard_routes(engine: Engine) -> list[BaseRoute]:
    """The dashboard's routes, served beside the API by `surge dev` and `surge start`.

    Every act (a ``POST``) must come from the dashboard's own pages: a request a browser
    sends from another site carries that site's ``Origin`` and is refused, so a web page the
    user visits cannot cancel runs or send events through a dev server on loopback; and a
    signed-in viewer's act must carry the session's CSRF token (a form's ``csrf`` field or
    the ``X-CSRF-Token`` header), which no other site can read.
    """
    apps, runs, functions = AppsPages(engine), RunsPages(engine), FunctionsPages(engine)
    events, bulk, login = EventsPages(engine), BulkPages(engine), LoginPages(engine)
    return [
        Route("/login", login.form, methods=["GET"]),
        Route("/login", _act(login.log_in), methods=["POST"]),
        Route("/logout", _act(login.log_out), methods=["POST"]),
        Route("/", _home, methods=["GET"]),
        Route("/runs", _shown(runs.list), methods=["GET"]),
        Route("/runs/live", _shown(runs.live), methods=["GET"]),
        Route("/runs/bulk", _shown(bulk.confirm), methods=["GET"]),
        Route("/runs/bulk", _act(bulk.act), methods=["POST"]),
        Route("/runs/selected", _act(bulk.selected), methods=["POST"]),
        Route("/replays/{replay_id}", _shown(bulk.progress), methods=["GET"]),
        Route("/runs/{run_id}", _shown(runs.detail), methods=["GET"]),
        Route("/runs/{run_id}/cancel", _act(runs.cancel), methods=["POST"]),
        Route("/runs/{run_id}/rerun", _act(runs.rerun), methods=["POST"]),
        Route("/events", _shown(events.list), methods=["GET"]),
        Route("/events/send", _shown(events.send_form), methods=["GET"]),
        Route("/events/send", _act(events.send), methods=["POST"]),
        Route("/events/{event_id}", _shown(events.detail), methods=["GET"]),
        Route("/events/{event_id}/resend", _act(events.resend), methods=["POST"]),
        Route("/functions", _shown(functions.list), methods=["GET"]),
        Route("/functions/{slug}", _shown(functions.detail), methods=["GET"]),
        Route("/functions/{slug}/invoke", _act(functions.invoke), methods=["POST"]),
        Route("/functions/{slug}/pause", _act(functions.pause), methods=["POST"]),
        Route("/functions/{slug}/resume", _act(functions.resume), methods=["POST"]),
        Route("/apps", _shown(apps.list), methods=["GET"]),
        Route("/apps", _act(apps.add), methods=["POST"]),
        Route("/apps/{app_id}/resync", _act(apps.resync), methods=["POST"]),
        Mount("/static", StaticFiles(packages=[("surge.dashboard", "static")]), name="static"),
    ]


def _shown(page: Page) -> Page:
    """`page`, rendered for the signed-in viewer (if any: the middleware, `server/auth.py`,
    puts the session at ``request.state.session``)."""

    async def shown(request: Request) -> Response:
        session = getattr(request.state, "session", None)
        if session is None:
            return await page(request)
        with signed_in_as(session.csrf_token):
            return await page(request)

    return shown


def _act(page: Page) -> Page:
    """`page`, an act: refused unless it comes from this server's pages (see above)."""
    shown = _shown(page)

    async def checked(request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
            return error_page(f"A request from {origin} may not act here.", status=403)
        session = getattr(request.state, "session", None)
        if session is not None and request.url.path != "/login":
            token = request.headers.get("x-csrf-token")
            if token is None:
                try:
                    token = (await form_lists(request, limit=SELECTED_BYTES)).get("csrf", [""])[0]
                except InvalidInput as exc:
                    return error_page(exc.message, status=400)
            if not session.carries(token):
                return error_page(
                    "This form did not come from this dashboard, or its session has ended:"
                    " reload the page and try again.",
                    status=403,
                )
        return await shown(request)

    return checked


async def _home(request: Request) -> Response:
    return RedirectResponse("/runs", status_code=302)
