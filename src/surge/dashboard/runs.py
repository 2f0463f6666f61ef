"""The Runs pages: the list (``/runs``, filtered by function and status, newest first, paged
by cursor) and one run (``/runs/{id}``: its steps as a waterfall with their outputs and
errors, its trigger events, the fan-out around it, and cancel and rerun)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from surge.core.errors import Conflict, InvalidInput, NotFound
from surge.engine import Engine
from surge.engine.traces import Span, span_output
from surge.storage import RunQuery, RunRecord, RunStatus

from .filters import STATUSES, RunFilter
from .rendering import duration, error_page, form, pretty_json, render, when

__all__ = ["RunsPages", "run_row"]

PAGE_SIZE = 50
CHILDREN_SHOWN = 50
COUNT_CAP = 100_000


class RunsPages:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def list(self, request: Request) -> Response:
        params = request.query_params
        try:
            run_filter = RunFilter.from_params(params, now=self._engine.now())
        except InvalidInput as exc:
            return error_page(str(exc), status=400, page="runs")
        query = run_filter.query(limit=PAGE_SIZE, cursor=params.get("cursor") or None)
        runs = await self._engine.list_runs(query)
        node = await self._engine.status()
        older = None
        if len(runs) == PAGE_SIZE:
            older = "/runs?" + run_filter.encode(cursor=runs[-1].id)
        context = {
            "runs": [run_row(run) for run in runs],
            "functions": sorted(f.id for f in node.functions),
            "function": run_filter.function or "",
            "statuses": run_filter.statuses,
            "all_statuses": list(STATUSES),
            "window": run_filter.inputs(),
            "parent": run_filter.parent,
            "filter": run_filter.encode(),
            "here": str(request.url.path) + ("?" + str(params) if params else ""),
            "older": older,
            "notice": params.get("notice"),
        }
        return render("runs.html", context, page="runs")

    async def detail(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        try:
            run = await self._engine.get_run(run_id)
            state = await self._engine.run_state(run_id)
            trace = await self._engine.run_trace(run_id)
        except NotFound as exc:
            return error_page(str(exc), status=404, page="runs")
        children = await self._engine.list_runs(
            RunQuery(parent_run_id=run_id, limit=CHILDREN_SHOWN)
        )
        child_counts = await self._child_counts(run_id) if children else {}
        reruns = await self._engine.list_runs(RunQuery(original_run_id=run_id, limit=20))
        steps = [_step_row(span, trace, state) for span in trace.children]
        context = {
            "run": run_row(run),
            "output": None if run.output is None else pretty_json(run.output),
            "error": None if run.error is None else pretty_json(run.error),
            "events": [pretty_json(event) for event in state.events],
            "steps": steps,
            "children": [run_row(child) for child in children],
            "more_children": len(children) == CHILDREN_SHOWN,
            "child_counts": child_counts,
            "reruns": [run_row(rerun) for rerun in reruns],
            "notice": request.query_params.get("notice"),
        }
        return render("run.html", context, page="runs")

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
        origin = f" from {fields.get('step_name') or from_step}" if from_step else ""
        notice = urlencode({"notice": f"Rerun of {run_id}{origin}."})
        return RedirectResponse(f"/runs/{new_id}?{notice}", status_code=303)


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
        "started": when(run.started_at),
        "ended": when(run.ended_at),
        "duration": duration(run.started_at, run.ended_at),
        "running": run.status is RunStatus.RUNNING,
        "parent": run.parent_run_id,
        "original": run.original_run_id,
        "replay": run.replay_id,
        "cron": run.cron,
    }


def _step_row(span: Span, root: Span, state: Any) -> dict[str, Any]:
    """A step's row of the waterfall: where its bar starts and how wide it is, in percent of
    the run's span, and what it returned or why it failed."""
    start = root.queued_at
    end = max(root.ended_at or 0, *(s.ended_at or s.queued_at for s in root.children), start + 1)
    total = end - start
    began = span.started_at if span.started_at is not None else span.queued_at
    finished = span.ended_at if span.ended_at is not None else end
    output = error = None
    if span.output_id is not None:
        try:
            result = span_output(state, span.step_id)
        except NotFound:
            result = None
        if result is not None and result.error is not None:
            error = pretty_json(result.error)
        elif result is not None:
            output = pretty_json(result.data)
    return {
        "name": span.name,
        "step_id": span.step_id,
        "op": span.step_type,
        "status": span.status.value,
        "attempts": span.attempts,
        "duration": duration(began, span.ended_at),
        "offset": round(100 * (began - start) / total, 2),
        "width": max(0.5, round(100 * (finished - began) / total, 2)),
        "output": output,
        "error": error,
    }
