"""The Apps page (``/apps``): what synced, from where, with which SDK and when; sync errors;
a resync; an app added by its URL (`surge dev`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from surge.core.errors import InvalidInput
from surge.engine import Engine
from surge.engine.engine import NodeStatus

from .rendering import form, render
from .times import moment

__all__ = ["AppsPages"]

EXAMPLE_URL = "http://127.0.0.1:3000/api/inngest"


class AppsPages:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def list(self, request: Request) -> Response:
        synced = request.query_params.get("synced")
        here = str(request.base_url).rstrip("/")
        return await self._page(notice=f"App {synced} synced." if synced else None, here=here)

    async def add(self, request: Request) -> Response:
        """Add an app by its URL: the SDK there is asked to sync."""
        try:
            fields = await form(request)
        except InvalidInput as exc:
            return await self._page(error=exc.message, status=413)
        url = fields.get("url", "").strip()
        if not url:
            return await self._page(error=f"Give the URL the app serves, e.g. {EXAMPLE_URL}",
                                    status=400)  # fmt: skip
        return await self._sync(url)

    async def resync(self, request: Request) -> Response:
        app_id = request.path_params["app_id"]
        status = await self._engine.status()
        app = next((a for a in status.apps if a.id == app_id), None)
        if app is None:
            return await self._page(error=f"There is no app {app_id!r}.", status=404)
        return await self._sync(app.url)

    async def _sync(self, url: str) -> Response:
        try:
            app = await self._engine.add_app(url)
        except InvalidInput as exc:
            return await self._page(error=exc.message, status=400, url=url)
        return RedirectResponse(f"/apps?synced={quote(app.id)}", status_code=303)

    async def _page(
        self,
        *,
        notice: str | None = None,
        error: str | None = None,
        status: int = 200,
        url: str = "",
        here: str = "",
    ) -> Response:
        node = await self._engine.status()
        context = {
            "apps": _apps(node),
            "failing": _failing(node),
            "dev": self._engine.config.server_kind == "dev",
            "notice": notice,
            "error": error,
            "url": url,
            "here": here or "http://127.0.0.1:8288",
        }
        return render("apps.html", context, page="apps", status=status)


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
                "synced_at": moment(app.synced_at) or "never",
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
