"""The Runs pages: the list (``/runs``, filtered by function and status, newest first, paged
by cursor) and one run (``/runs/{id}``: its steps as a waterfall with their outputs and
errors, its trigger events, the fan-out around it, and cancel and rerun)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Coroutine, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from surge.core.errors import Conflict, InvalidInput, NotFound
from surge.engine import Engine
from surge.engine.engine import NodeStatus
from surge.storage import EventQuery, RunQuery, RunRecord, RunStatus

from .filters import STATUSES, RunFilter
from .rendering import duration, error_page, form, pretty_json, render, render_text
from .times import moment
from .waterfall import error_view, waterfall

__all__ = ["RunsPages", "run_row"]

PAGE_SIZE = 50
CHILDREN_SHOWN = 50
LIVE_RECHECK_S = 3.0
"""How long a live list waits for this node's changes before it looks anyway (another node
may have started or ended runs)."""
LIVE_BATCH_S = 0.3
"""The least time between two sends of a live list."""
LIVE_LIFETIME_S = 60.0
"""How long one live stream lasts; the browser then reconnects."""
COUNT_CAP = 100_000
SENT_READ = 1_000
"""The most events a run's page reads of those the run sent (to group them by name)."""


class RunsPages:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def list(self, request: Request) -> Response:
        params = request.query_params
        node = await self._engine.status()
        try:
            run_filter = RunFilter.from_params(params, now=self._engine.now())
            runs, next_cursor, scanned = await self._find(
                run_filter, node, cursor=params.get("cursor") or None
            )
        except InvalidInput as exc:
            return error_page(str(exc), status=400, page="runs")
        older = None
        if next_cursor is not None:
            older = "/runs?" + run_filter.encode(cursor=next_cursor)
        context = {
            "runs": [run_row(run) for run in runs],
            "apps": sorted(app.id for app in node.apps),
            "app": run_filter.app or "",
            "functions": sorted(f.id for f in node.functions),
            "function": run_filter.function or "",
            "statuses": run_filter.statuses,
            "all_statuses": list(STATUSES),
            "window": run_filter.inputs(),
            "time_field": run_filter.time_field,
            "expression": run_filter.expression or "",
            "scanned": scanned,
            "bulk": run_filter.acts_on_window and not run_filter.parent,
            "parent": run_filter.parent,
            "filter": run_filter.encode(),
            "here": str(request.url.path) + ("?" + str(params) if params else ""),
            "older": older,
            "notice": params.get("notice"),
        }
        return render("runs.html", context, page="runs")

    async def _find(
        self, run_filter: RunFilter, node: NodeStatus, *, cursor: str | None = None
    ) -> tuple[Sequence[RunRecord], str | None, int | None]:
        """A page of the filter's runs, where the next page starts, and (for a search) how
        many runs it read.

        Raises:
            InvalidInput: A search without a function or app, or a bad expression.
        """
        query = run_filter.query(limit=PAGE_SIZE, cursor=cursor)
        if run_filter.app:
            own = tuple(f.id for f in node.functions if f.app_id == run_filter.app)
            chosen = (run_filter.function,) if run_filter.function in own else ()
            query = replace(query, function_id=None, function_ids=chosen or own)
        if run_filter.expression:
            if not (query.function_id or query.function_ids):
                raise InvalidInput("Choose an app or a function to search their runs.")
            found = await self._engine.search_runs(query, run_filter.expression)
            return found.runs, found.cursor, found.scanned
        runs = await self._engine.list_runs(query)
        return runs, runs[-1].id if len(runs) == PAGE_SIZE else None, None

    async def live(self, request: Request) -> Response:
        """The first page's rows of the filter, as server-sent events: sent again when this
        node starts, skips or ends runs (another node's changes are seen within
        `LIVE_RECHECK_S`), until the client leaves, the server stops, or `LIVE_LIFETIME_S`
        passes (the browser reconnects)."""
        try:
            run_filter = RunFilter.from_params(request.query_params, now=self._engine.now())
        except InvalidInput as exc:
            return error_page(str(exc), status=400, page="runs")
        if run_filter.expression:
            return error_page("A search is not followed live: reload it.", status=400, page="runs")
        closing: asyncio.Event = getattr(request.app.state, "closing", None) or asyncio.Event()
        return StreamingResponse(
            self._stream(request, run_filter, closing),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def _stream(
        self, request: Request, run_filter: RunFilter, closing: asyncio.Event
    ) -> AsyncIterator[str]:
        yield "retry: 1000\n\n"
        deadline = time.monotonic() + LIVE_LIFETIME_S
        last = None
        node = await self._engine.status()
        while time.monotonic() < deadline and not closing.is_set():
            runs, _, _ = await self._find(run_filter, node)
            rows = render_text("run_rows.html", {"runs": [run_row(run) for run in runs]})
            if rows != last:
                last = rows
                yield (
                    "event: runs\n"
                    + "".join(f"data: {line}\n" for line in rows.splitlines())
                    + "\n"
                )
            await _first_of(self._engine.runs_changed(LIVE_RECHECK_S), closing.wait())
            await asyncio.sleep(LIVE_BATCH_S)  # a fan-out's thousands of changes, in batches
            if await request.is_disconnected():
                return

    async def detail(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        try:
            state = await self._engine.run_state(run_id)
            trace = await self._engine.run_trace(run_id, state=state)
        except NotFound as exc:
            return error_page(str(exc), status=404, page="runs")
        run = state.run
        children = await self._engine.list_runs(
            RunQuery(parent_run_id=run_id, limit=CHILDREN_SHOWN)
        )
        child_counts = await self._child_counts(run_id) if children else {}
        tree = await self._fan_out(run, children)
        reruns = await self._engine.list_runs(RunQuery(original_run_id=run_id, limit=20))
        steps = waterfall(trace, state)
        chosen = request.query_params.get("from_step")
        context = {
            "run": run_row(run),
            "first_call": moment(trace.started_at),  # its trace's root span starts then
            "output": None if run.output is None else pretty_json(run.output),
            "run_error": None if run.error is None else error_view(run.error),
            "events": [pretty_json(event) for event in state.events],
            "steps": steps,
            "rerun_steps": [s for s in steps if s["step_id"] and s["op"] == "RUN"],
            "chosen_step": chosen,
            "children": [run_row(child) for child in children],
            "more_children": len(children) == CHILDREN_SHOWN,
            "child_counts": child_counts,
            **tree,
            "reruns": [run_row(rerun) for rerun in reruns],
            "notice": request.query_params.get("notice"),
        }
        return render("run.html", context, page="runs")

    async def _fan_out(self, run: RunRecord, children: Sequence[RunRecord]) -> dict[str, Any]:
        """The fan-out around `run` as a tree: the run that sent its event (if any), and the
        events it sent by name (counted up to `SENT_READ`), each with the runs they started
        among `children` (the newest)."""
        parent = None
        if run.parent_run_id:
            try:
                parent = run_row(await self._engine.get_run(run.parent_run_id))
            except NotFound:  # deleted by retention: the id alone
                parent = {"id": run.parent_run_id, "function": "", "status": ""}
        sent = await self._engine.list_events(EventQuery(source_run_id=run.id, limit=SENT_READ))
        name_of = {event.internal_id: event.name for event in sent}
        counts = Counter(event.name for event in sent)
        groups: dict[str, list[dict[str, Any]]] = {name: [] for name in counts}
        others: list[dict[str, Any]] = []
        for child in children:
            name = name_of.get(child.event_ids[0]) if child.event_ids else None
            (groups[name] if name in groups else others).append(run_row(child))
        return {
            "parent_run": parent,
            "sent": [
                {"name": name, "count": counts[name], "children": groups[name]} for name in counts
            ],
            "sent_more": len(sent) == SENT_READ,
            "other_children": others,
        }

    async def _child_counts(self, run_id: str) -> dict[str, int]:
        """How many runs the events of `run_id` started, by status (each counted up to
        `COUNT_CAP`): a fan-out of thousands, summed up."""
        counts = {}
        for status in RunStatus:
            query = RunQuery(parent_run_id=run_id, statuses=(status,))
            counts[status.value] = await self._engine.count_runs(query, cap=COUNT_CAP)
        return {status: count for status, count in counts.items() if count}

    async def cancel(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        try:
            await self._engine.cancel_run(run_id)
        except NotFound as exc:
            return error_page(str(exc), status=404, page="runs")
        return RedirectResponse(f"/runs/{run_id}?notice=Cancelled.", status_code=303)

    async def _step_name(self, run_id: str, step_id: str) -> str:
        state = await self._engine.run_state(run_id)
        return next((m.name for m in state.memos if m.step_id == step_id and m.name), step_id)

    async def rerun(self, request: Request) -> Response:
        """Rerun from the start, or (``from_step``) from a step, its input (``input``, a JSON
        array of its arguments) edited if given."""
        run_id = request.path_params["run_id"]
        try:
            fields = await form(request)
            from_step = fields.get("from_step") or None
            step_input = _step_input(fields.get("input", ""))
            new_id = await self._engine.rerun(
                run_id, by="dashboard", from_step=from_step, step_input=step_input
            )
        except NotFound as exc:
            return error_page(str(exc), status=404, page="runs")
        except InvalidInput as exc:
            return error_page(str(exc), status=400, page="runs")
        except Conflict as exc:
            return error_page(str(exc), status=409, page="runs")
        origin = f" from {await self._step_name(run_id, from_step)}" if from_step else ""
        notice = urlencode({"notice": f"Rerun of {run_id}{origin}."})
        return RedirectResponse(f"/runs/{new_id}?{notice}", status_code=303)


async def _first_of(*waits: Coroutine[Any, Any, Any]) -> None:
    """Until the first of `waits` is done; the others are cancelled."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _step_input(text: str) -> list[Any] | None:
    """An edited step input from the form: a JSON array, or nothing when left empty.

    Raises:
        InvalidInput: It is not a JSON array.
    """
    if not text.strip():
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the step's input is not JSON: {exc}") from None
    if not isinstance(value, list):
        raise InvalidInput("the step's input must be a JSON array of its arguments")
    return value


def run_row(run: RunRecord) -> dict[str, Any]:
    return {
        "id": run.id,
        "function": run.function_id,
        "status": run.status.value,
        "skip_reason": run.skip_reason,
        "started": moment(run.started_at),
        "ended": moment(run.ended_at),
        "duration": duration(run.started_at, run.ended_at),
        "running": run.status is RunStatus.RUNNING,
        "parent": run.parent_run_id,
        "original": run.original_run_id,
        "replay": run.replay_id,
        "cron": run.cron,
    }
