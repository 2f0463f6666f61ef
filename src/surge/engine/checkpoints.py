"""Checkpoints: steps an app runs one after another inside a single call, reported as each
finishes (`POST /v1/checkpoint/{run id}/async`; `docs/protocol.md`, "Checkpointing").

Every call tells the app its work item (`ctx.qi_id`: the item's id, attempt and lease token)
and its function (`ctx.fn_id`). An SDK that checkpoints runs a step, reports it here, and goes
on to the next one in the same call once the server has written it; the call's own answer then
says what comes next (`RunComplete`, a sleep, a step error ...). A checkpoint counts only
while its call still holds the item (else `StaleDispatch`, HTTP 409, nothing written: the SDK
stops); each of its steps is memoized as the commit of an ordinary call would, so it is never
run again, and appears in the run's history with its own timing and attempt. A run cancelled
while the call was in flight keeps those steps too, as it keeps an ordinary call's, and the
answer is a 409 all the same: nothing after them runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from surge.core import codec
from surge.core.clock import Clock
from surge.core.errors import InvalidInput, StaleDispatch
from surge.core.limits import MAX_NESTING, too_deep
from surge.core.opcodes import Op, Opcode, parse_ops
from surge.core.span_metadata import MetadataUpdate
from surge.storage import HistoryEntry, Memo, Storage, WorkItem
from surge.storage.checkpoints import Checkpoint

from .responses import sent_event_ids, step_metadata

_MEMO_OPS = frozenset({Opcode.STEP_RUN, Opcode.STEP})
_SKIPPED = frozenset({Opcode.STEP_PLANNED, Opcode.NONE, Opcode.DEFER_ADD, Opcode.DEFER_ABORT})
"""Ops a checkpoint may carry that write nothing: the leading edge of a step about to run,
and (as in an ordinary answer) defers, which Surge does not run."""
_FIELDS = frozenset(
    {"run_id", "fn_id", "qi_id", "request_id", "generation_id", "request_started_at", "steps", "ts"}
)


def queue_item_ref(item: WorkItem) -> str:
    """The `ctx.qi_id` of a call for `item`: what a checkpoint must name to count."""
    return f"{item.id}:{item.attempt}:{item.lease_token}"


@dataclass(frozen=True, slots=True)
class ItemRef:
    """A call's work item, as its `ctx.qi_id` names it."""

    item_id: int
    attempt: int
    lease_token: str


def parse_queue_item_ref(value: Any) -> ItemRef:
    """Read a `qi_id` this server sent; `InvalidInput` for anything else."""
    if isinstance(value, str):
        item_id, _, rest = value.partition(":")
        attempt, _, token = rest.partition(":")
        if item_id.isdigit() and attempt.isdigit() and token:
            return ItemRef(int(item_id), int(attempt), token)
    raise InvalidInput(
        f"qi_id must be the ctx.qi_id of the call the steps ran in, got {value!r}", field="qi_id"
    )


class Checkpoints:
    """Writes the checkpoints apps send."""

    def __init__(self, storage: Storage, clock: Clock) -> None:
        self._storage = storage
        self._clock = clock

    async def save(self, run_id: str, body: bytes) -> int:
        """Write the checkpoint `body` for `run_id`; return how many steps it memoized.

        Raises:
            InvalidInput: The body is not a checkpoint (400), names another run, or carries
                an op that is not a finished step.
            StaleDispatch: The call no longer holds its work item (nothing was written), or
                the run has ended (the steps were written, as a call's commit would keep them).
        """
        raw = _object(body)
        if raw.get("run_id") not in (None, run_id):
            raise InvalidInput(
                f"run_id {raw.get('run_id')!r} is not the run of the URL ({run_id})",
                field="run_id",
            )
        ref = parse_queue_item_ref(raw.get("qi_id"))
        steps = raw.get("steps")
        if not isinstance(steps, list):
            raise InvalidInput("steps must be an array of opcodes", field="steps")
        ops = parse_ops(steps)
        now = self._clock.now()
        memos: list[Memo] = []
        history: list[HistoryEntry] = []
        metadata: list[tuple[str, MetadataUpdate]] = []
        sent: list[str] = []
        for index, op in enumerate(ops):
            if op.op in _SKIPPED:
                continue
            if op.op not in _MEMO_OPS:
                raise InvalidInput(
                    f"steps[{index}] is a {op.op.value}: only finished steps (StepRun) can be"
                    " checkpointed; answer the call with it instead",
                    field="steps",
                )
            outcome = {"data": op.data}
            memos.append(Memo(step_id=op.id, outcome=outcome, name=op.name, op="StepRun", at=now))
            history.append(_completed(run_id, op, ref, now))
            metadata += step_metadata(run_id, op)
            sent += sent_event_ids(op)
        if not memos:
            return 0
        checkpoint = Checkpoint(
            run_id=run_id,
            item_id=ref.item_id,
            lease_token=ref.lease_token,
            memos=memos,
            history=history,
            metadata=metadata,
            sent_events=sent,
            at=now,
        )
        if not await self._storage.checkpoints.save(checkpoint):
            raise StaleDispatch(
                f"run {run_id} has ended (it was cancelled while this call was in flight): the"
                " steps are kept, and nothing after them runs"
            )
        return len(memos)


def _object(body: bytes) -> dict[str, Any]:
    raw = codec.json_object(body, _FIELDS, what="the checkpoint")
    if too_deep(raw.get("steps")):
        raise InvalidInput(
            f"a step's output nests more than {MAX_NESTING} levels deep", field="steps"
        )
    return raw


def _completed(run_id: str, op: Op, ref: ItemRef, now: int) -> HistoryEntry:
    """The history line of a checkpointed step: it ran for the time its timing says (by the
    app's clock), up to when the server got it (by the server's), and was not queued."""
    ran = op.duration_ms
    began = now - ran if ran is not None else now
    detail = {"name": op.name or op.display_name or None, "due": began, "began": began}
    return HistoryEntry(
        run_id=run_id,
        at=now,
        kind="step_completed",
        step_id=op.id,
        attempt=ref.attempt,
        detail={"checkpoint": True, **{k: v for k, v in detail.items() if v is not None}},
    )
