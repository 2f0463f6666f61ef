"""The Functions pages: every function (``/functions``) and one (``/functions/{slug}``): its
triggers, retries and flow control (marking what this server does not enforce), a chart of
its runs over the last hour, day or week (``?window=``, `run_chart.py`), its recent runs, an
invoke with a payload, and pause / resume."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from surge.core.errors import InvalidInput, NotFound
from surge.engine import Engine
from surge.engine.throughput import DEFAULT_WINDOW
from surge.storage import FunctionRecord, RunQuery

from .rendering import error_page, form, pretty_json, render
from .run_chart import chart_view
from .runs import run_row
from .times import moment

__all__ = ["FunctionsPages"]

RECENT_RUNS = 20
FLOW_OPTIONS = (
    "concurrency",
    "throttle",
    "rateLimit",
    "debounce",
    "batchEvents",
    "priority",
    "idempotency",
    "singleton",
    "cancel",
    "timeouts",
)


class FunctionsPages:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def list(self, request: Request) -> Response:
        node = await self._engine.status()
        rows = [
            {
                "slug": f.id,
                "name": f.name,
                "app": f.app_id,
                "triggers": _triggers(f),
                "paused": f.id in node.suspended,
                "not_enforced": node.not_enforced.get(f.id, []),
            }
            for f in sorted(node.functions, key=lambda f: f.id)
        ]
        return render("functions.html", {"functions": rows}, page="functions")

    async def detail(self, request: Request) -> Response:
        return await self._page(
            request.path_params["slug"],
            notice=request.query_params.get("notice"),
            window=request.query_params.get("window") or DEFAULT_WINDOW,
        )

    async def invoke(self, request: Request) -> Response:
        slug = request.path_params["slug"]
        fields: dict[str, str] = {}
        try:
            fields = await form(request)
            data = _payload(fields.get("data", ""))
            event_id = await self._engine.invoke_function(slug, data=data)
        except NotFound as exc:
            return error_page(str(exc), status=404, page="functions")
        except InvalidInput as exc:
            return await self._page(
                slug, error=exc.message, status=400, data=fields.get("data", "")
            )
        runs = await self._engine.event_runs(event_id, limit=1)
        target = f"/runs/{runs[0].id}" if runs else f"/functions/{slug}"
        return RedirectResponse(f"{target}?notice=Invoked+{slug}.", status_code=303)

    async def pause(self, request: Request) -> Response:
        slug = request.path_params["slug"]
        try:
            fields = await form(request)
            cancel = fields.get("cancel_running") == "on"
            await self._engine.suspend_function(slug, by="dashboard", cancel_running=cancel)
        except NotFound as exc:
            return error_page(str(exc), status=404, page="functions")
        notice = "Paused; its running runs are being cancelled." if cancel else "Paused."
        return RedirectResponse(f"/functions/{slug}?notice={notice}", status_code=303)

    async def resume(self, request: Request) -> Response:
        slug = request.path_params["slug"]
        try:
            await self._engine.resume_function(slug)
        except NotFound as exc:
            return error_page(str(exc), status=404, page="functions")
        return RedirectResponse(f"/functions/{slug}?notice=Resumed.", status_code=303)

    async def _page(
        self,
        slug: str,
        *,
        notice: str | None = None,
        error: str | None = None,
        status: int = 200,
        data: str = "{}",
        window: str = DEFAULT_WINDOW,
    ) -> Response:
        node = await self._engine.status()
        function = next((f for f in node.functions if f.id == slug), None)
        if function is None:
            return error_page(f"no function {slug!r} is registered", status=404, page="functions")
        try:
            chart = await self._engine.throughput.function_runs(slug, window=window)
        except InvalidInput as exc:
            return error_page(f"Cannot chart its runs: {exc}", status=400, page="functions")
        config = function.config
        runs = await self._engine.list_runs(RunQuery(function_id=slug, limit=RECENT_RUNS))
        suspension = node.suspended.get(slug)
        ignored = node.not_enforced.get(slug, [])
        context = {
            "function": {
                "slug": slug,
                "name": function.name,
                "app": function.app_id,
                "triggers": _triggers(function),
                "retries": _retries(config),
                "flow": [
                    {"name": name, "value": pretty_json(config[name]), "ignored": name in ignored}
                    for name in FLOW_OPTIONS
                    if config.get(name) not in (None, [], {}, "")
                ],
                "not_enforced": ignored,
                "paused": suspension is not None,
                "paused_at": moment(suspension.suspended_at) if suspension else "",
                "paused_by": suspension.suspended_by if suspension else "",
            },
            "chart": chart_view(chart),
            "runs": [run_row(run) for run in runs],
            "data": data,
            "notice": notice,
            "error": error,
        }
        return render("function.html", context, page="functions", status=status)


def _triggers(function: FunctionRecord) -> list[str]:
    found = []
    for trigger in function.config.get("triggers") or []:
        if not isinstance(trigger, dict):
            continue
        if trigger.get("event"):
            condition = f" if {trigger['expression']}" if trigger.get("expression") else ""
            found.append(f"event {trigger['event']}{condition}")
        elif trigger.get("cron"):
            found.append(f"cron {trigger['cron']}")
    return found or ["invoke only"]


def _retries(config: dict[str, Any]) -> int:
    steps = config.get("steps") or {}
    for step in steps.values() if isinstance(steps, dict) else []:
        attempts = (step.get("retries") or {}).get("attempts") if isinstance(step, dict) else None
        if isinstance(attempts, int):
            return attempts
    return 4


def _payload(text: str) -> dict[str, Any]:
    """The invoke form's data: a JSON object.

    Raises:
        InvalidInput: It is not one, saying where.
    """
    try:
        value = orjson.loads(text or "{}")
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the data is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"the data must be a JSON object, got {type(value).__name__}")
    return value
