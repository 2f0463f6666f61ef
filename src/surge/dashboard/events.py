"""The Events pages: the list (``/events``: by name, with a CEL search over payloads, newest
first), one event (``/events/{id}``: its payload, the runs it started or was skipped by, the
debounces and batches it waits in, the run that sent it; resend it), and a send-event form."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from surge.core.errors import InvalidInput, NotFound
from surge.engine import Engine
from surge.storage import EventQuery, EventRecord

from .filters import moment_text, read_moment
from .rendering import error_page, form, pretty_json, render
from .runs import run_row
from .times import moment

__all__ = ["EventsPages"]

PAGE_SIZE = 50
RUNS_SHOWN = 100
SEARCH_WINDOW_MS = 7 * 24 * 3600 * 1000
"""How far back a CEL search reads (it needs a time range; the newest are read first)."""
EXAMPLE = '{"name": "app/user.signup", "data": {"user_id": "u-1", "email": "ada@example.com"}}'


class EventsPages:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def list(self, request: Request) -> Response:
        params = request.query_params
        wanted = (params.get("id") or "").strip()
        if wanted:  # one event, by its id: its page (which says if there is none)
            return RedirectResponse(f"/events/{quote(wanted, safe='')}", status_code=303)
        name = (params.get("name") or "").strip()
        expression = (params.get("if") or "").strip()
        cursor = params.get("cursor") or None
        # Surge's own events (a run finished, failed...) only when asked for, or named.
        internal = params.get("internal") == "1" or name.startswith("inngest/")
        context: dict[str, Any] = {
            "name": name,
            "expression": expression,
            "internal": internal,
            "error": None,
        }
        events: list[EventRecord] = []
        next_cursor = None
        try:
            since, until = read_moment(params.get("from")), read_moment(params.get("until"))
            context["window"] = {"from": moment_text(since), "until": moment_text(until)}
            if expression:
                query = EventQuery(
                    name=name or None,
                    include_internal=internal,
                    received_after=since or self._engine.now() - SEARCH_WINDOW_MS,
                    received_before=until,
                    limit=PAGE_SIZE,
                    cursor=cursor,
                )
                found = await self._engine.search_events(query, expression)
                events, next_cursor = found.events, found.cursor
                context["scanned"] = found.scanned
            else:
                query = EventQuery(
                    name=name or None,
                    include_internal=internal,
                    received_after=since,
                    received_before=until,
                    limit=PAGE_SIZE,
                    cursor=cursor,
                )
                events = await self._engine.list_events(query)
                next_cursor = events[-1].internal_id if len(events) == PAGE_SIZE else None
        except InvalidInput as exc:
            context["error"] = exc.message
        context["events"] = [_event_row(e) for e in events]
        if next_cursor is not None:
            kept = [("name", name), ("if", expression), ("cursor", next_cursor)]
            kept += [(k, params[k]) for k in ("from", "until") if params.get(k)]
            kept += [("internal", "1")] if internal else []
            context["older"] = "/events?" + urlencode(kept)
        status = 400 if context["error"] else 200
        return render("events.html", context, page="events", status=status)

    async def detail(self, request: Request) -> Response:
        key = request.path_params["event_id"]
        try:
            event = await self._engine.get_event(key)
        except NotFound as exc:
            return error_page(str(exc), status=404, page="events")
        runs = await self._engine.event_runs(event.internal_id, limit=RUNS_SHOWN)
        gathers = await self._engine.event_gathers(event.internal_id)
        context = {
            "event": _event_row(event),
            "payload": pretty_json(event.payload),
            "runs": [run_row(run) for run in runs],
            "gathers": [
                {
                    "kind": g.kind,
                    "id": g.id,
                    "function": g.function_id,
                    "closes": moment(g.closes_at),
                }
                for g in gathers
            ],
            "notice": request.query_params.get("notice"),
        }
        return render("event.html", context, page="events")

    async def resend(self, request: Request) -> Response:
        """Send the event again as a new one (its own id and time): the way to test a fan-out
        again. Its user-given ``id`` is dropped, or the 24-hour dedupe would skip it."""
        try:
            event = await self._engine.get_event(request.path_params["event_id"])
        except NotFound as exc:
            return error_page(str(exc), status=404, page="events")
        payload = {k: v for k, v in event.payload.items() if k not in ("id", "ts")}
        [new_id] = await self._engine.send_events(orjson.dumps(payload))
        notice = urlencode({"notice": f"Sent again as {new_id}."})
        return RedirectResponse(f"/events/{new_id}?{notice}", status_code=303)

    async def send_form(self, request: Request) -> Response:
        return render("send.html", {"body": EXAMPLE}, page="events")

    async def send(self, request: Request) -> Response:
        """Send the event(s) in the form, as `POST /e/{key}` would, refusing bad JSON or an
        invalid event with the reason, and nothing stored."""
        body = ""
        try:
            body = (await form(request)).get("body", "")
            ids = await self._engine.send_events(body.encode())
        except InvalidInput as exc:
            return render("send.html", {"body": body, "error": exc.message}, page="events",
                          status=400)  # fmt: skip
        notice = urlencode({"notice": f"Sent {len(ids)} event{'s' if len(ids) != 1 else ''}."})
        return RedirectResponse(f"/events/{ids[0]}?{notice}", status_code=303)


def _event_row(event: EventRecord) -> dict[str, Any]:
    return {
        "id": event.internal_id,
        "user_id": event.id,
        "name": event.name,
        "received": moment(event.received_at),
        "sender": event.source_run_id,
        "data": _excerpt(event.payload.get("data")),
    }


def _excerpt(data: Any, limit: int = 120) -> str:
    text = orjson.dumps(data).decode() if data is not None else ""
    return text if len(text) <= limit else text[: limit - 1] + "…"
