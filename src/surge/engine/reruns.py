"""What a rerun from a step keeps of the original run, and an edited step input.

A rerun from step S starts with the steps the original finished before S memoized, so S is
the first to run again. Its input may be edited: the arguments S runs with instead of those
in the app's code. The server sends them as S's memo ``{"input": [args]}`` until S is
memoized (`requests.step_memos`); the TypeScript SDK runs the step with them (Inngest's
"rerun from step" with an edited input). The Python SDKs would read that memo as S's result,
so an edited input is refused for any app not on the TypeScript SDK.
"""

from __future__ import annotations

from typing import Any

from surge.core.errors import InvalidInput
from surge.storage import Memo, RunState

from .registry import Snapshot

__all__ = ["EDITABLE_INPUT_SDKS", "check_takes_input", "kept_steps"]

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
    an edited step input."""
    app_id = next((f.app_id for f in snapshot.state.functions if f.id == function_id), "")
    app = next((a for a in snapshot.state.apps if a.id == app_id), None)
    sdk = app.sdk if app is not None else ""
    if not sdk.startswith(EDITABLE_INPUT_SDKS):
        raise InvalidInput(
            f"app {app_id!r} runs on {sdk or 'an unknown SDK'}, which would read an"
            " edited input as the step's result: only the TypeScript SDK (js:) runs a step with"
            " one; rerun from the step as it was",
            field="input",
        )
