"""A checkpoint: steps an app ran inside a call still in flight, written before it answers.

The run's row is locked first, as by every run-scoped writer, so a checkpoint and the
commit of its call apply one after the other, each seeing the other's memos. The checkpoint
counts only while its call still holds the work item with the same lease token: the database
checks it in the same round trip as the writes (`Expect`), and a failed check changes nothing.
It also renews the item's lease, as a heartbeat would. A run cancelled while the call was in
flight keeps the steps the call finished, as an ordinary call's commit would; the caller
learns that the run has ended, so that nothing after them runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from surge.core import codec
from surge.core.errors import StaleDispatch
from surge.core.span_metadata import MetadataUpdate

from ..records import HistoryEntry, Memo
from ..statements import Expect, InsertRows, LockRows, Rule, Statement, execute, fetch_one
from ..tables import HISTORY
from . import span_metadata
from .commit import INSERT_MEMO

_HELD = "UPDATE work_items SET due_at = ? WHERE id = ? AND lease_token = ? AND run_id = ?"
_ENDED = "SELECT ended_at FROM runs WHERE id = ?"


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """Steps a call (`item_id` leased with `lease_token`) reports as done while in flight."""

    run_id: str
    item_id: int
    lease_token: str
    memos: Sequence[Memo]
    history: Sequence[HistoryEntry] = ()
    metadata: Sequence[tuple[str, MetadataUpdate]] = field(default_factory=tuple)
    sent_events: Sequence[str] = ()
    """Internal ids of events the steps sent (`step.sendEvent`): the run is their source."""
    at: int
    lease_until: int
    """The item's lease is renewed to this time."""


def save(cp: Checkpoint) -> Rule[bool]:
    """Write `cp`'s memos (each appended to the run's stack unless its step is memoized
    already), history and metadata; return whether the run goes on (`False`: it has ended,
    cancelled while the call was in flight). `StaleDispatch`, changing nothing, if the item
    is no longer leased with `cp.lease_token`."""
    run_id = cp.run_id

    def stale() -> StaleDispatch:
        return StaleDispatch(
            f"the call that sent this checkpoint no longer holds its work item ({cp.item_id}):"
            f" run {run_id} has moved on without it"
        )

    held = execute(_HELD, cp.lease_until, cp.item_id, cp.lease_token, run_id)
    statements: list[Statement] = [
        LockRows("runs", "id", (run_id,)),
        Expect(held, 1, stale),
        fetch_one(_ENDED, run_id),
    ]
    for memo in cp.memos:
        outcome = codec.dumps_str(memo.outcome)
        statements.append(
            execute(INSERT_MEMO, run_id, memo.step_id, run_id, memo.name, memo.op, outcome, memo.at)
        )
    if cp.history:
        statements.append(InsertRows(HISTORY, [HISTORY.row_of(entry) for entry in cp.history]))
    if cp.sent_events:
        sql = "UPDATE events SET source_run_id = ? WHERE internal_id {in_texts}"
        statements.append(execute(sql, run_id, list(cp.sent_events)))
    results = yield tuple(statements)
    if cp.metadata:
        yield from span_metadata.update_metadata(run_id, cp.metadata, at=cp.at, lock=False)
    row = results[2]
    return row is not None and row[0] is None
