"""A checkpoint: steps an app ran inside a call still in flight, written before it answers.

The run's row is locked first, as by every run-scoped writer, so a checkpoint and the
commit of its call apply one after the other, each seeing the other's memos. The checkpoint
counts only while its call still holds the work item with the same lease token, and only for
a run that has not ended: both are checked by the database in the same round trip as the
writes (`Expect`), and a failed check changes nothing. It also renews the item's lease, as a
heartbeat would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from surge.core import codec
from surge.core.errors import StaleDispatch
from surge.core.span_metadata import MetadataUpdate

from ..records import HistoryEntry, Memo
from ..statements import Expect, InsertRows, LockRows, Rule, Statement, execute
from ..tables import HISTORY
from . import span_metadata
from .commit import INSERT_MEMO

# The item is still leased with the call's token, and its run has not ended: one statement.
_HELD = (
    "UPDATE work_items SET due_at = ? WHERE id = ? AND lease_token = ? AND run_id = ?"
    " AND EXISTS (SELECT 1 FROM runs WHERE id = ? AND ended_at IS NULL)"
)


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


def save(cp: Checkpoint) -> Rule[None]:
    """Write `cp`'s memos (each appended to the run's stack unless its step is memoized
    already), history and metadata; `StaleDispatch`, changing nothing, if the run has ended
    or the item is no longer leased with `cp.lease_token`."""
    run_id = cp.run_id

    def stale() -> StaleDispatch:
        return StaleDispatch(
            f"run {run_id} has ended (or does not exist), or the call that sent this checkpoint"
            f" no longer holds its work item ({cp.item_id}): the run has moved on without it"
        )

    held = execute(_HELD, cp.lease_until, cp.item_id, cp.lease_token, run_id, run_id)
    statements: list[Statement] = [LockRows("runs", "id", (run_id,)), Expect(held, 1, stale)]
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
    yield tuple(statements)
    if cp.metadata:
        yield from span_metadata.update_metadata(run_id, cp.metadata, at=cp.at, lock=False)
