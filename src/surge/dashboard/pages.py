"""The dashboard's routes and pages."""

from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import parse_qs, quote

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from surge.core.errors import InvalidInput
from surge.engine import Engine
from surge.engine.engine import NodeStatus

__all__ = ["dashboard_routes"]

FORM_BYTES = 16 * 1024
"""The largest form a page accepts."""

_TEMPLATES = Environment(
    loader=PackageLoader("surge.dashboard", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def dashboard_routes(engine: Engine) -> list[BaseRoute]:
    """The dashboard's routes, served beside the API by `surge dev` and `surge start`."""
    pages = _Pages(engine)
    return [
        Route("/", pages.home, methods=["GET"]),
        Route("/apps", pages.apps, methods=["GET"]),
        Route("/apps", pages.add_app, methods=["POST"]),
        Route("/apps/{app_id}/resync", pages.resync_app, methods=["POST"]),
        Mount("/static", StaticFiles(packages=[("surge.dashboard", "static")]), name="static"),
    ]


class _Pages:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def home(self, request: Request) -> Response:
        return RedirectResponse("/apps", status_code=302)

    async def apps(self, request: Request) -> Response:
        synced = request.query_params.get("synced")
        notice = f"App {synced} synced." if synced else None
        return await self._apps_page(notice=notice)

    async def add_app(self, request: Request) -> Response:
        """Add an app by its URL (`surge dev`): the SDK there is asked to sync."""
        try:
            form = await _form(request)
        except InvalidInput as exc:
            return await self._apps_page(error=exc.message, status=413)
        url = form.get("url", "").strip()
        if not url:
            example = "http://127.0.0.1:3000/api/inngest"
            return await self._apps_page(error=f"Give the URL the app serves, e.g. {example}",
                                         status=400)  # fmt: skip
        return await self._sync(url)

    async def resync_app(self, request: Request) -> Response:
        app_id = request.path_params["app_id"]
        status = await self._engine.status()
        app = next((a for a in status.apps if a.id == app_id), None)
        if app is None:
            return await self._apps_page(error=f"There is no app {app_id!r}.", status=404)
        return await self._sync(app.url)

    async def _sync(self, url: str) -> Response:
        try:
            app = await self._engine.add_app(url)
        except InvalidInput as exc:
            return await self._apps_page(error=exc.message, status=400, url=url)
        return RedirectResponse(f"/apps?synced={quote(app.id)}", status_code=303)

    async def _apps_page(
        self,
        *,
        notice: str | None = None,
        error: str | None = None,
        status: int = 200,
        url: str = "",
    ) -> Response:
        node = await self._engine.status()
        context = {
            "apps": _apps(node),
            "failing": _failing(node),
            "dev": self._engine.config.server_kind == "dev",
            "notice": notice,
            "error": error,
            "url": url,
        }
        return _render("apps.html", context, status=status, page="apps")


def _apps(node: NodeStatus) -> list[dict[str, Any]]:
    errors = {ping.url: ping.error for ping in node.pings if ping.error}
    rows = []
    for app in sorted(node.apps, key=lambda a: a.id):
        functions = sorted((f for f in node.functions if f.app_id == app.id), key=lambda f: f.id)
        rows.append(
            {
                "id": app.id,
                "url": app.url,
                "sdk": app.sdk or "unknown",
                "framework": app.framework,
                "synced_at": _time(app.synced_at),
                "functions": [
                    {"slug": f.id, "name": f.name, "paused": f.id in node.suspended}
                    for f in functions
                ],
                "error": errors.get(app.url),
            }
        )
    return rows


def _failing(node: NodeStatus) -> list[dict[str, str]]:
    """URLs pinged that no stored app is served at, with why they did not sync."""
    served = {app.url for app in node.apps}
    return [
        {"url": ping.url, "error": ping.error}
        for ping in node.pings
        if ping.error and ping.url not in served
    ]


def _render(template: str, context: dict[str, Any], *, status: int, page: str) -> Response:
    html = _TEMPLATES.get_template(template).render(page=page, **context)
    return HTMLResponse(html, status_code=status)


async def _form(request: Request) -> dict[str, str]:
    """A URL-encoded form's fields (the first value of each)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_BYTES:
            raise InvalidInput(f"the form is larger than {FORM_BYTES // 1024} KiB")
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


def _time(ms: int) -> str:
    if not ms:
        return "never"
    moment = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
