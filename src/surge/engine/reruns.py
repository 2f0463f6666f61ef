"""What a rerun from a step keeps of the original run, and an edited step input.

A rerun from step S starts with the steps the original finished before S memoized, so S is
the first to run again. Its input may be edited: the arguments S runs with instead of those
in the app's code. The server sends them as S's memo ``{"input": [args]}`` until S is
memoized (`requests.step_memos`); the TypeScript SDK runs the step with them (Inngest's
"rerun from step" with an edited input), and so does the Surge SDK, which says so at sync
(``capabilities.step_input``). Inngest's Python SDK would read that memo as S's result, so an
edited input is refused for an app on any other SDK.
"""

from __future__ import annotations

from typing import Any

from surge.core.clock import Clock
from surge.core.errors import Conflict, InvalidInput, NotFound
from surge.storage import Memo, RunState, Storage

from .ingest import rerun_of
from .registry import Registry, Snapshot

__all__ = ["EDITABLE_INPUT_SDKS", "Reruns", "check_takes_input", "kept_steps"]

EDITABLE_INPUT_SDKS = ("js:",)
"""Prefixes of the SDK names (as apps sync them) that run a step with an edited input."""


def kept_steps(
    state: RunState, from_step: str | None, step_input: Any
) -> tuple[list[Memo], dict[str, list[Any]] | None]:
    """The memos a rerun of `state`'s run from `from_step` keeps (none without one), and the
    edited input by hashed step id, if `step_input` is given.

    Raises:
        InvalidInput: The run has no such step, or an input is given without a step or is
            not a list of arguments.
    """
    if from_step is None:
        if step_input is not None:
            raise InvalidInput("an edited input needs the step it is for", field="from_step")
        return [], None
    at = next((i for i, m in enumerate(state.memos) if from_step in (m.step_id, m.name)), None)
    if at is None:
        names = ", ".join(repr(m.name or m.step_id) for m in state.memos) or "none"
        raise InvalidInput(
            f"run {state.run.id} has no step {from_step!r} (its steps: {names})",
            field="from_step",
        )
    if step_input is None:
        return state.memos[:at], None
    if not isinstance(step_input, list):
        raise InvalidInput(
            "input must be a JSON array: the arguments the step runs with", field="input"
        )
    return state.memos[:at], {state.memos[at].step_id: step_input}


def check_takes_input(snapshot: Snapshot, function_id: str) -> None:
    """Raise `InvalidInput` unless the app of function `function_id` runs on an SDK that reads
    an edited step input: the TypeScript SDK, or one that says so at sync (the Surge SDK's
    ``capabilities.step_input``)."""
    app_id = next((f.app_id for f in snapshot.state.functions if f.id == function_id), "")
    app = next((a for a in snapshot.state.apps if a.id == app_id), None)
    sdk = app.sdk if app is not None else ""
    capabilities = app.config.get("capabilities") if app is not None else None
    if sdk.startswith(EDITABLE_INPUT_SDKS) or (
        isinstance(capabilities, dict) and capabilities.get("step_input")
    ):
        return
    raise InvalidInput(
        f"app {app_id!r} runs on {sdk or 'an unknown SDK'}, which would read an edited input"
        " as the step's result: only the TypeScript SDK (js:) and the Surge SDK run a step"
        " with one; rerun from the step as it was",
        field="input",
    )


class Reruns:
    """Starts reruns of runs, one at a time (a bulk replay starts them in batches:
    `replays.py`)."""

    def __init__(self, storage: Storage, registry: Registry, clock: Clock) -> None:
        self._storage = storage
        self._registry = registry
        self._clock = clock

    async def start(
        self,
        run_id: str,
        *,
        by: str = "api",
        from_step: str | None = None,
        step_input: list[Any] | None = None,
    ) -> str:
        """Start the run's function again with the same event(s), as a new run linked to it
        (`RunRecord.original_run_id`); return the new run's id. Its concurrency, throttle and
        singleton apply, not its rate limit or idempotency key. Both runs' histories say so,
        and who asked (`by`: ``api`` for the REST and GraphQL APIs).

        With `from_step` (a step's id, hashed or as the user wrote it), the steps the run
        finished before that one keep their results: the rerun starts with them memoized.
        With `step_input` too (the step's arguments), that step runs with it instead of the
        arguments in the app's code, on an SDK that reads an edited input (see the module).

        Raises:
            NotFound: There is no such run, or its function is no longer registered.
            InvalidInput: The run has no step `from_step`, or `step_input` is not a list or its
                app's SDK cannot take it.
            Conflict: Its function is paused.
        """
        original = await self._storage.get_run(run_id)
        if original.function_id in (await self._registry.load()).suspended:
            raise Conflict(f"function {original.function_id!r} is paused: resume it first")
        state = await self._storage.load_run_state(run_id)
        kept, edited = kept_steps(state, from_step, step_input)
        now = self._clock.now()

        async def start(snapshot: Snapshot) -> str:
            function = snapshot.functions.get(original.function_id)
            if function is None:
                raise NotFound(f"function {original.function_id!r} is no longer registered")
            if edited is not None:
                check_takes_input(snapshot, function.id)
            run = rerun_of(function, original, state.events, now=now)
            await self._storage.rerun(run, by=by, memos=kept, step_input=edited)
            return run.id

        return await self._registry.current(start)
