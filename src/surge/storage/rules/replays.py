"""Bulk replays: a job per replay, rerunning its function's ended runs in batches.

Creating one stores it, with how many runs it selects, and a `REPLAY_RUNS` work item. Each
time the item is handled, the engine reads the next batch of selected runs (`batch`, after
the last run id the job reached) and builds their reruns; `progress` starts them and moves
the job on in one transaction, which first checks that the item is still leased to it. A
batch is thus started once, whichever node holds the item, and every run once: the cursor
only moves forward. The runs select by id, which orders them by start (ids are ULIDs), so a
replay's own reruns, started after it was created, are never selected again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from surge.core import codec
from surge.core.errors import StaleLease
from surge.core.ids import ulid_floor

from ..act_records import Replay, ReplayProgress
from ..records import NewRun, NewWorkItem, RunRecord, RunStatus, WorkItem, WorkKind
from ..statements import WAKE, Expect, InsertRows, Rule, execute, fetch, fetch_one, newest_first
from ..tables import REPLAYS, RUN_COLUMNS, RUN_FROM, WORK_ITEMS, record_from, run_from
from .runs import start_reruns

_SELECTED = "r.function_id = ? AND r.id >= ? AND r.id < ? AND r.status {in_texts}"
_BATCH = (
    f"SELECT {RUN_COLUMNS}, e.payload FROM {RUN_FROM} WHERE {_SELECTED} AND r.id > ?"
    " ORDER BY r.id LIMIT ?"
)
_PROGRESS = (
    "SELECT replay_id, status, COUNT(*) FROM runs WHERE replay_id {in_texts}"
    " GROUP BY replay_id, status"
)


def job_key(replay_id: str) -> str:
    return f"replay:{replay_id}"


def count(
    function_id: str, *, started_after: int, started_before: int, statuses: Sequence[str]
) -> Rule[int]:
    """How many runs of `function_id` started in [`started_after`, `started_before`) have
    one of `statuses`."""
    row = yield fetch_one(
        f"SELECT COUNT(*) FROM runs r WHERE {_SELECTED}",
        function_id,
        ulid_floor(started_after),
        ulid_floor(started_before),
        list(statuses),
    )
    return int(row[0]) if row is not None else 0


def create(replay: Replay) -> Rule[Replay]:
    """Store `replay`, counting the runs it selects in `total`, and queue its job (done at
    once when it selects none)."""
    total = yield from count(
        replay.function_id,
        started_after=replay.started_after,
        started_before=replay.started_before,
        statuses=replay.statuses,
    )
    done_at = None if total else replay.created_at
    stored = replace(replay, total=total, done_at=done_at)
    yield InsertRows(REPLAYS, [REPLAYS.row_of(stored)])
    if total:
        job = NewWorkItem(
            kind=WorkKind.REPLAY_RUNS,
            due_at=replay.created_at,
            payload={"replay": replay.id, "after": ""},
            unique_key=job_key(replay.id),
        )
        yield (InsertRows(WORK_ITEMS, [WORK_ITEMS.row_of(job)]), WAKE)
    return stored


def get(replay_id: str) -> Rule[Replay | None]:
    """The replay, with how its runs fare so far."""
    row = yield fetch_one(f"SELECT {REPLAYS.names()} FROM replays WHERE id = ?", replay_id)
    if row is None:
        return None
    [replay] = yield from _with_progress([_from_row(row)])
    return replay


def listed(*, limit: int, before: str | None = None) -> Rule[list[Replay]]:
    """The `limit` newest replays (of those whose id sorts before `before`), newest first,
    with how their runs fare."""
    page, params = newest_first(before, limit)
    rows = yield fetch(f"SELECT {REPLAYS.names()} FROM replays{page}", *params)
    return (yield from _with_progress([_from_row(row) for row in rows]))


def _with_progress(replays: list[Replay]) -> Rule[list[Replay]]:
    if not replays:
        return []
    rows = yield fetch(_PROGRESS, [replay.id for replay in replays])
    counts: dict[str, dict[RunStatus, int]] = {}
    for replay_id, status, n in rows:
        counts.setdefault(replay_id, {})[RunStatus(status)] = int(n)
    return [replace(replay, progress=_progress(counts.get(replay.id, {}))) for replay in replays]


def _progress(by_status: dict[RunStatus, int]) -> ReplayProgress:
    return ReplayProgress(
        started=sum(by_status.values()),
        running=by_status.get(RunStatus.RUNNING, 0),
        completed=by_status.get(RunStatus.COMPLETED, 0),
        failed=by_status.get(RunStatus.FAILED, 0),
        cancelled=by_status.get(RunStatus.CANCELLED, 0),
        skipped=by_status.get(RunStatus.SKIPPED, 0),
    )


def batch(
    replay_id: str, *, after: str, limit: int
) -> Rule[tuple[Replay | None, list[tuple[RunRecord, dict[str, Any]]]]]:
    """The replay, and its next `limit` selected runs after run id `after`, each with its
    first event."""
    replay = yield from get(replay_id)
    if replay is None:
        return None, []
    rows = yield fetch(
        _BATCH,
        replay.function_id,
        ulid_floor(replay.started_after),
        ulid_floor(replay.started_before),
        list(replay.statuses),
        after,
        limit,
    )
    return replay, [(run_from(row), codec.loads(row[-1]) if row[-1] else {}) for row in rows]


def progress(
    item: WorkItem, reruns: Sequence[NewRun], *, by: str, after: str | None, at: int
) -> Rule[None]:
    """Start `reruns`, a batch of the job of leased `item`, and move the job on to run id
    `after` (`None`: it is done). `StaleLease`, changing nothing, if the lease passed on."""
    replay_id = item.payload["replay"]

    def lost() -> StaleLease:
        return StaleLease(f"work item {item.id} is no longer leased with this token")

    if after is None:
        moved = execute(
            "DELETE FROM work_items WHERE id = ? AND lease_token = ?", item.id, item.lease_token
        )
    else:
        moved = execute(
            "UPDATE work_items SET payload = ?, due_at = ?, lease_token = NULL"
            " WHERE id = ? AND lease_token = ?",
            codec.dumps_str({"replay": replay_id, "after": after}),
            at,
            item.id,
            item.lease_token,
        )
    yield Expect(moved, 1, lost)
    if reruns:
        yield from start_reruns(reruns, by=by)
    done = (
        execute("UPDATE replays SET done_at = ? WHERE id = ? AND done_at IS NULL", at, replay_id)
        if after is None
        else WAKE
    )
    yield (
        execute("UPDATE replays SET started = started + ? WHERE id = ?", len(reruns), replay_id),
        done,
    )


def _from_row(row: Any) -> Replay:
    replay = record_from(Replay, REPLAYS, row)
    return replace(replay, statuses=tuple(replay.statuses))
