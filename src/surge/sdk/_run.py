"""One call's replay state: memo lookup, step identities, and the opcodes a call reports.

A call replays the handler from the top. Each step tool asks `RunState` about its step:
memoized steps return their value; the first new step either runs now (immediate
execution, or the step the server targeted) or is reported as an opcode. Reporting ends
the call by raising `Interrupt`, a `BaseException` so that user ``except Exception``
blocks cannot swallow it. Inside a parallel group a new step instead ends only its branch
(`BranchDone`) and is collected with the others (`docs/protocol.md`, "Opcodes" and "Step
planning and parallel steps").
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING, Any, NoReturn

import orjson

from surge.core.ids import hash_step_id
from surge.core.run_errors import (
    NonRetriableError,
    OutputNotSerializable,
    RetryAfterError,
    StepError,
)

from ._serialize import encode

if TYPE_CHECKING:
    from ._checkpoint import Checkpoint

__all__ = ["MISSING", "BranchDone", "Interrupt", "RunState", "error_value"]

MISSING: Any = object()
_MEMO_KEYS = frozenset({"data", "error"})
_RACE_OPTS = {"parallelMode": "race"}


class Interrupt(BaseException):
    """Ends the call: the handler cannot go further until the server acts on `ops`.

    Attributes:
        ops: The opcodes to report in a 206 answer.
        retry_after: A ``Retry-After`` header value, for a retriable step error.
        no_retry: The ``X-Inngest-No-Retry`` header value, when one applies.
    """

    def __init__(
        self, ops: list[dict[str, Any]], *, retry_after: str | None = None, no_retry: bool = False
    ) -> None:
        super().__init__("surge: this call ends here; do not catch Interrupt")
        self.ops = ops
        self.retry_after = retry_after
        self.no_retry = no_retry


class BranchDone(BaseException):
    """A branch of a parallel group reached a step that is not done yet."""


class Stale(BaseException):
    """The server refused a checkpoint: the run has ended or moved on without this call,
    which must stop at once (`Checkpoint`)."""


def error_value(exc: BaseException) -> dict[str, Any]:
    """An exception in the shape both SDKs read: ``{name, message, stack}``."""
    if isinstance(exc, StepError):
        return {"name": exc.name, "message": exc.message, "stack": exc.stack}
    stack = "".join(traceback.format_exception(exc))
    return {"name": type(exc).__name__, "message": str(exc), "stack": stack}


def _is_input(memo: Any) -> bool:
    """Whether a memo is an edited step input, ``{"input": [args]}`` and nothing else."""
    return type(memo) is dict and len(memo) == 1 and isinstance(memo.get("input"), list)


class RunState:
    """What one call knows: memos, the targeted step, and the steps reached so far."""

    __slots__ = (
        "_counts",
        "_planned",
        "_pos",
        "_race",
        "_stack_index",
        "attempt",
        "checkpoint",
        "hits",
        "inputs",
        "max_attempts",
        "pending",
        "plan_only",
        "stack",
        "steps",
        "target",
    )

    def __init__(
        self,
        *,
        steps: dict[str, Any],
        target: str | None = None,
        plan_only: bool = False,
        attempt: int = 0,
        max_attempts: int = 5,
        stack: list[str] | None = None,
    ) -> None:
        # An edited input (a rerun from that step) is no memo: the step runs with it.
        self.inputs = {h: m["input"] for h, m in steps.items() if _is_input(m)}
        self.steps = (
            {h: m for h, m in steps.items() if h not in self.inputs} if self.inputs else steps
        )
        self.target = target
        self.plan_only = plan_only
        self.attempt = attempt
        self.max_attempts = max_attempts
        self.stack = stack or []
        self.hits = 0
        self.checkpoint: Checkpoint | None = None
        """Set when this call runs new steps one after another, reporting each (`Checkpoint`)."""
        self.pending: list[dict[str, Any]] = []
        """Steps finished in this call and not reported yet: the step tools report them before
        the next step begins, the call's answer carries the rest."""
        self._counts: dict[str, int] = {}
        self._planned: list[dict[str, Any]] | None = None
        self._race = False
        self._pos = -1
        self._stack_index: dict[str, int] | None = None

    @property
    def replaying(self) -> bool:
        """Whether memoized steps remain ahead: the handler is re-running old code."""
        return self.hits < len(self.steps)

    def identify(self, step_id: str) -> tuple[str, int]:
        """The hashed id of the next use of `step_id`, and its repeat index (§2.4)."""
        counts = self._counts
        index = counts.get(step_id, 0)
        counts[step_id] = index + 1
        return hash_step_id(step_id, index), index

    def arguments(self, hashed: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
        """The positional arguments step `hashed` runs with: `args` as the code gives them,
        unless a rerun edited them."""
        edited = self.inputs.get(hashed)
        return tuple(edited) if edited is not None else args

    def memo(self, hashed: str) -> Any:
        """The raw memo of step `hashed`, or `MISSING`."""
        memo = self.steps.get(hashed, MISSING)
        if memo is not MISSING:
            self.hits += 1
            if self._planned is not None:
                self._track(hashed)
        return memo

    def _track(self, hashed: str) -> None:
        if self._stack_index is None:
            self._stack_index = {h: i for i, h in enumerate(self.stack)}
        self._pos = max(self._pos, self._stack_index.get(hashed, len(self.stack)))

    @staticmethod
    def unwrap(step_id: str, memo: Any) -> Any:
        """A memo's value: ``{"data"}`` unwrapped, ``{"error"}`` raised, anything else as is."""
        if type(memo) is dict and memo.keys() <= _MEMO_KEYS:
            error = memo.get("error")
            if error is not None:
                raise StepError.from_wire(step_id, error)
            return memo.get("data")
        return memo

    # -- new steps --------------------------------------------------------------------------

    def reach_run(self, hashed: str, step_id: str, index: int, opts: Any = None) -> None:
        """A runnable step without a memo: return if it must run now, else raise."""
        if hashed == self.target or (
            self.target is None and self._planned is None and not self.plan_only
        ):
            return
        op = {
            "op": "StepPlanned",
            "id": hashed,
            "name": step_id,
            "displayName": step_id,
            "opts": opts,
            "userland": {"id": step_id, "index": index or None},
        }
        self.report(op)

    def report(self, op: dict[str, Any]) -> NoReturn:
        """A step that cannot complete in this call: end the branch or the call with `op`."""
        if self._planned is not None:
            if self.target is None:
                if self._race:
                    op["opts"] = {**(op.get("opts") or {}), **_RACE_OPTS}
                self._planned.append(op)
            raise BranchDone
        raise Interrupt([op])

    def completed(
        self,
        hashed: str,
        step_id: str,
        index: int,
        value: Any,
        opts: Any = None,
        *,
        timing: dict[str, int] | None = None,
    ) -> Any:
        """The step ran and returned `value`, in `timing` (``{"a": start, "b": duration}``,
        nanoseconds): report it (§2.3 ``StepRun``), ending the call; or, when the call
        checkpoints, keep it as done and return its value as a replay would read it."""
        try:
            raw = encode(value, f"step {step_id!r}")
        except OutputNotSerializable as exc:
            self.failed(hashed, step_id, index, exc)
        if self._race:
            opts = {**(opts or {}), **_RACE_OPTS}
        op = {
            "op": "StepRun",
            "id": hashed,
            "name": step_id,
            "displayName": step_id,
            "opts": opts,
            "data": orjson.Fragment(raw),
            "userland": {"id": step_id, "index": index or None},
        }
        if timing is not None:
            op["timing"] = timing
        if self.checkpoint is None or self._planned is not None:
            raise Interrupt([op])
        self.pending.append(op)
        data = orjson.loads(raw)
        self.steps[hashed] = {"data": data}
        self.stack.append(hashed)
        self.hits += 1
        return data

    def failed(self, hashed: str, step_id: str, index: int, exc: BaseException) -> NoReturn:
        """The step raised `exc`: a retriable ``StepError`` or a final ``StepFailed``."""
        final = isinstance(exc, NonRetriableError | OutputNotSerializable) or (
            self.attempt + 1 >= self.max_attempts
        )
        op = {
            "op": "StepFailed" if final else "StepError",
            "id": hashed,
            "name": step_id,
            "displayName": step_id,
            "error": error_value(exc),
            "userland": {"id": step_id, "index": index or None},
        }
        if self._race:
            op["opts"] = dict(_RACE_OPTS)
        retry_after = exc.header if isinstance(exc, RetryAfterError) and not final else None
        raise Interrupt([op], retry_after=retry_after, no_retry=final)

    # -- parallel groups --------------------------------------------------------------------

    def enter_group(self, race: bool) -> tuple[list[dict[str, Any]] | None, bool]:
        saved = (self._planned, self._race)
        self._planned = []
        self._race = race
        return saved

    def exit_group(self, saved: tuple[list[dict[str, Any]] | None, bool]) -> list[dict[str, Any]]:
        ops = self._planned or []
        self._planned, self._race = saved
        return ops

    def branch_start(self) -> None:
        self._pos = -1

    @property
    def branch_position(self) -> int:
        """Where in completion order the current branch's last memoized step finished."""
        return self._pos

    def group_pending(self, ops: list[dict[str, Any]]) -> NoReturn:
        """A group has unfinished branches: pass their ops to the enclosing group or call."""
        if self._planned is not None:
            self._planned.extend(ops)
            raise BranchDone
        raise Interrupt(ops)
