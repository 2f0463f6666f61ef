"""A checkpoint: steps an app ran inside a call still in flight, written before it answers.

The run's row is locked first, as by every run-scoped writer, so a checkpoint and the
commit of its call apply one after the other, each seeing the other's memos. The checkpoint
counts only while its call still holds the work item with the same lease token: it is read in
the same round trip as the writes, which a failed check rolls back. (The lease itself is kept
by the scheduler's heartbeat of the node making the call, as for any call in flight.) A run
cancelled while the call was in flight keeps the steps the call finished, as an ordinary
call's commit would; the caller learns that the run has ended, so that nothing after them
runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from surge.core import codec
from surge.core.errors import StaleDispatch
from surge.core.span_metadata import MetadataUpdate

from ..records import HistoryEntry, Memo
from ..statements import LockRows, Rule, Statement, execute, fetch_one
from ..tables import HISTORY
from . import span_metadata
from .commit import INSERT_MEMO

# A step's history line, unless the run has one for it already: a checkpoint the SDK sends
# again (its answer lost after the commit) writes nothing twice, as its memo shows.
_COMPLETED_ONCE = (
    "INSERT INTO history (run_id, at, kind, step_id, attempt, detail) SELECT CAST(? AS TEXT),"
    " CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS INTEGER), CAST(? AS TEXT)"
    " WHERE NOT EXISTS (SELECT 1 FROM history WHERE run_id = ? AND step_id = ? AND kind = ?)"
)
# The run's end (NULL while it goes on), if the call still holds its item; else no row.
_HELD = (
    "SELECT r.ended_at FROM work_items w JOIN runs r ON r.id = w.run_id"
    " WHERE w.id = ? AND w.lease_token = ? AND w.run_id = ?"
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


def save(cp: Checkpoint) -> Rule[bool]:
    """Write `cp`'s memos (each appended to the run's stack unless its step is memoized
    already), history and metadata; return whether the run goes on (`False`: it has ended,
    cancelled while the call was in flight). `StaleDispatch`, changing nothing, if the item
    is no longer leased with `cp.lease_token`."""
    run_id = cp.run_id

    statements: list[Statement] = [
        LockRows("runs", "id", (run_id,)),
        fetch_one(_HELD, cp.item_id, cp.lease_token, run_id),
    ]
    for memo in cp.memos:
        outcome = codec.dumps_str(memo.outcome)
        statements.append(
            execute(INSERT_MEMO, run_id, memo.step_id, run_id, memo.name, memo.op, outcome, memo.at)
        )
    for entry in cp.history:
        row = HISTORY.row_of(entry)
        statements.append(execute(_COMPLETED_ONCE, *row, entry.run_id, entry.step_id, entry.kind))
    if cp.sent_events:
        sql = "UPDATE events SET source_run_id = ? WHERE internal_id {in_texts}"
        statements.append(execute(sql, run_id, list(cp.sent_events)))
    results = yield tuple(statements)
    held = results[1]
    if held is None:  # raised in the transaction: the writes above are rolled back
        raise StaleDispatch(
            f"the call that sent this checkpoint no longer holds its work item ({cp.item_id}):"
            f" run {run_id} has moved on without it"
        )
    if cp.metadata:
        yield from span_metadata.update_metadata(run_id, cp.metadata, at=cp.at, lock=False)
    return bool(held[0] is None)
