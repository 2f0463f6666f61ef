"""Acting on many runs from the Runs page: the runs selected, or every run the filter
matches (one function): cancel them or replay them, with the count shown before acting, and
a replay's progress until it is done (``/replays/{id}``)."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from surge.core.errors import Conflict, InvalidInput, NotFound
from surge.engine import Engine
from surge.storage import RunStatus

from .filters import RunFilter
from .rendering import error_page, form_lists, render
from .times import moment

__all__ = ["BulkPages"]

COUNT_CAP = 100_000
REPLAYABLE = ("Failed", "Cancelled", "Skipped", "Completed")
_WINDOW_ONLY = (
    "A bulk act covers a function's runs by when they started, without a search: tick"
    " the runs instead."
)
SELECTED_BYTES = 128 * 1024
"""The largest list of ticked runs a form may carry (a page shows 50)."""


class BulkPages:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def confirm(self, request: Request) -> Response:
        """How many runs an act on the filter's runs would touch, and a button to go on."""
        act = request.query_params.get("act", "")
        try:
            run_filter = RunFilter.from_params(request.query_params, now=self._engine.now())
        except InvalidInput as exc:
            return error_page(str(exc), status=400, page="runs")
        if run_filter.parent is not None:
            return error_page("A bulk act covers a function's runs, not one fan-out's: tick"
                              " the runs instead.", status=400, page="runs")  # fmt: skip
        if run_filter.function is None:
            return error_page("Choose one function first: bulk acts are per function.",
                              status=400, page="runs")  # fmt: skip
        if not run_filter.acts_on_window:
            return error_page(_WINDOW_ONLY, status=400, page="runs")
        if act == "cancel":
            query = run_filter.query(statuses=(RunStatus.RUNNING,))
            count = await self._engine.count_runs(query, cap=COUNT_CAP)
            what = f"Cancel the {count:,} running runs of {run_filter.function}"
        elif act == "replay":
            statuses = [s for s in run_filter.statuses if s in REPLAYABLE] or ["Failed"]
            try:
                after, before = run_filter.window()
                preview = await self._engine.replays.create(
                    run_filter.function, started_after=after, started_before=before,
                    statuses=statuses, by="dashboard", preview=True,
                )  # fmt: skip
            except (InvalidInput, NotFound, Conflict) as exc:
                return error_page(str(exc), status=400, page="runs")
            count = preview.total
            ended = " or ".join(statuses)
            what = f"Replay the {count:,} runs of {run_filter.function} that ended {ended}"
        else:
            return error_page(f"No such act: {act!r}.", status=400, page="runs")
        context = {"what": what, "count": count, "act": act, "params": str(request.query_params),
                   "back": "/runs?" + run_filter.encode()}  # fmt: skip
        return render("bulk.html", context, page="runs")

    async def act(self, request: Request) -> Response:
        """Carry out a confirmed act on the filter's runs."""
        act = request.query_params.get("act", "")
        try:
            run_filter = RunFilter.from_params(request.query_params, now=self._engine.now())
        except InvalidInput as exc:
            return error_page(str(exc), status=400, page="runs")
        if run_filter.function is None or run_filter.parent is not None:
            return error_page("Choose one function first.", status=400, page="runs")
        if not run_filter.acts_on_window:
            return error_page(_WINDOW_ONLY, status=400, page="runs")
        try:
            if act == "cancel":
                app_id = await self._app_of(run_filter.function)
                after, before = run_filter.window()
                await self._engine.create_cancellation(
                    app_id=app_id, function_id=run_filter.function, started_after=after,
                    started_before=before, expression=None, by="dashboard",
                )  # fmt: skip
                notice = "Cancelling them: each is cancelled in the background."
            elif act == "replay":
                statuses = [s for s in run_filter.statuses if s in REPLAYABLE] or ["Failed"]
                after, before = run_filter.window()
                replay = await self._engine.replays.create(
                    run_filter.function, started_after=after, started_before=before,
                    statuses=statuses, by="dashboard",
                )  # fmt: skip
                notice = f"Replay started: {replay.total:,} runs to rerun."
                return RedirectResponse(
                    f"/replays/{replay.id}?" + urlencode({"notice": notice}), status_code=303
                )
            else:
                return error_page(f"No such act: {act!r}.", status=400, page="runs")
        except (InvalidInput, NotFound, Conflict) as exc:
            return error_page(str(exc), status=400, page="runs")
        return RedirectResponse("/runs?" + run_filter.encode(notice=notice), status_code=303)

    async def progress(self, request: Request) -> Response:
        """A bulk replay's progress: how many runs it has started, how those fared, and
        whether it is done (the page refreshes itself until then)."""
        try:
            replay = await self._engine.replays.get(request.path_params["replay_id"])
        except NotFound as exc:
            return error_page(str(exc), status=404, page="runs")
        fared = replay.progress
        done = replay.done_at is not None and fared.running == 0
        context = {
            "replay": replay,
            "fared": fared,
            "done": done,
            "percent": 100 if not replay.total else min(100, 100 * fared.started // replay.total),
            "since": moment(replay.started_after),
            "until": moment(replay.started_before),
            "runs": "/runs?" + urlencode({"function": replay.function_id}),
            "notice": request.query_params.get("notice"),
        }
        return render("replay.html", context, page="runs")

    async def selected(self, request: Request) -> Response:
        """Cancel or rerun the runs ticked on the list."""
        try:
            fields = await form_lists(request, limit=SELECTED_BYTES)
        except InvalidInput as exc:
            return error_page(str(exc), status=413, page="runs")
        run_ids = fields.get("run", [])
        act = (fields.get("act") or [""])[0]
        if not run_ids:
            return error_page("Tick the runs to act on first.", status=400, page="runs")
        done: list[str] = []
        problems: list[str] = []
        for run_id in run_ids:
            try:
                if act == "cancel":
                    await self._engine.cancel_run(run_id)
                elif act == "rerun":
                    await self._engine.rerun(run_id, by="dashboard")
                else:
                    return error_page(f"No such act: {act!r}.", status=400, page="runs")
                done.append(run_id)
            except (InvalidInput, NotFound, Conflict) as exc:
                problems.append(f"{run_id}: {exc}")
        verb = "Cancelled" if act == "cancel" else "Reran"
        notice = f"{verb} {len(done)} run{'s' if len(done) != 1 else ''}."
        if problems:
            notice += " Not: " + "; ".join(problems)
        back = (fields.get("back") or ["/runs"])[0]
        if not back.startswith("/runs"):  # only ever back to the list
            back = "/runs"
        separator = "&" if "?" in back else "?"
        return RedirectResponse(back + separator + urlencode({"notice": notice}), status_code=303)

    async def _app_of(self, slug: str) -> str:
        node = await self._engine.status()
        function = next((f for f in node.functions if f.id == slug), None)
        if function is None:
            raise NotFound(f"no function {slug!r} is registered")
        return function.app_id
