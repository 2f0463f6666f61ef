"""A step's commit: its outcome, its run's changes and next work, and the events it emits.

The run's row is locked first (every run-scoped writer takes it before any work item), so the
commits of one run's parallel steps apply one after the other, even on different nodes, each
seeing the last one's memos and work items: that is what makes the memo order and
`Then.DISCOVER_IF_IDLE` sound. A call that held concurrency slots hands them to its run's
next call, or frees them (`slots`). Only that hand-over reads a result back (whether the next
call was queued), so on PostgreSQL a commit is one round trip for any run without concurrency
limits; a lost lease is caught by an `Expect` that aborts the whole transaction.
"""

from __future__ import annotations

import functools
from dataclasses import replace

from surge.core import codec
from surge.core.errors import RunEndedMeanwhile, StaleLease

from ..records import (
    DISCOVERY,
    Commit,
    NewWorkItem,
    NextCall,
    RunUpdate,
    Then,
    WorkItem,
    WorkKind,
    step_key,
)
from ..statements import (
    WAKE,
    Expect,
    InsertRows,
    LockRows,
    Rule,
    Statement,
    execute,
    fetch,
    fetch_one,
)
from ..tables import HISTORY, WORK_ITEMS, json_or_null
from . import pauses, slots, span_metadata
from .events import ingest
from .queue import IDLE, enqueued
from .runs import load_run_state

# Only an inserted memo takes a place in the stack; a step already memoized keeps its first.
INSERT_MEMO = (
    "INSERT INTO memos (run_id, step_id, seq, name, op, outcome, at) VALUES"
    " (?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM memos WHERE run_id = ?), ?, ?, ?, ?)"
    " ON CONFLICT (run_id, step_id) DO NOTHING"
)
_CONFLICT = " ON CONFLICT (unique_key) DO NOTHING"
_DISCOVER = (
    "INSERT INTO work_items (kind, run_id, step_id, attempt, priority, due_at, payload, unique_key,"
    " flow, slot1, slot2, lease_token, fell_due_at) SELECT CAST(? AS TEXT), CAST(? AS TEXT),"
    " CAST(? AS TEXT), 0, 0, CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT),"
    " (SELECT r.flow FROM runs r WHERE r.id = CAST(? AS TEXT)), CAST(? AS TEXT), CAST(? AS TEXT),"
    " CAST(? AS TEXT), CAST(? AS BIGINT)"
)
# SQLite's upsert needs a WHERE after a SELECT to parse.
_DISCOVER_ALWAYS = _DISCOVER + " WHERE TRUE" + _CONFLICT
_DISCOVER_IF_IDLE = _DISCOVER + " WHERE " + IDLE.format(also="") + _CONFLICT
_DISCOVER_IF_IDLE_BUT_RETRIED = _DISCOVER + " WHERE " + IDLE.format(also=" AND id <> ?") + _CONFLICT
# The committed call's row becomes its run's next discovery call (`_reusable`): one write of
# the row instead of a delete and an insert, each with its index entries.
_REDISCOVER = (
    "UPDATE work_items SET attempt = 0, priority = 0, payload = '{}', due_at = ?,"
    " lease_token = ?, fell_due_at = ? WHERE id = ? AND lease_token = ?"
)
# Under `DISCOVER_IF_IDLE`, only when the run has no other pending work; else it is deleted
# (`_DELETE_LEASED` as the `Expect`'s `otherwise`), or deleted again at once (`_UNLESS_IDLE`).
_REDISCOVER_IF_IDLE = _REDISCOVER + " AND " + IDLE.format(also=" AND id <> ?")
_UNLESS_IDLE = (
    "DELETE FROM work_items WHERE id = ? AND NOT (" + IDLE.format(also=" AND id <> ?") + ")"
)
_DELETE_LEASED = "DELETE FROM work_items WHERE id = ? AND lease_token = ?"
_INHERIT = (
    "INSERT INTO work_items (kind, run_id, step_id, attempt, priority, due_at, payload,"
    " unique_key, flow, slot1, slot2, lease_token, fell_due_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" + _CONFLICT + " RETURNING id"
)
_RETURNING = " RETURNING id"
_RUNNING = "SELECT 1 FROM runs WHERE id = ? AND ended_at IS NULL"
_RUN_ENDS = frozenset({"completed", "failed"})
"""History kinds that say the run ended: left out when it had ended already."""


def commit(c: Commit, *, token: str = "", ended: bool = False) -> Rule[NextCall | None]:
    """Apply `c` in the order its docstring gives; `StaleLease`, changing nothing, if the
    item's lease passed on. With `c.lease_next_ms`, return the run's next call, leased with
    `token`, if it was queued, and the run's state read in the same transaction.

    A run that ended (was cancelled) while the call was in flight keeps the step's result,
    and nothing after it is queued: a commit that would end the run, emit events or begin a
    pause expects, in the batch it sends anyway, that the run has not ended, and raises
    `RunEndedMeanwhile` (changing nothing) if it has; it is then applied again with `ended`,
    its memos and step history only. For the other commits a late call, queued, finds the
    run ended before it calls the app.
    """
    run_id = _run_of(c)
    if ended:
        c = _after_the_end(c)
    # Statements whose results are not read go out together: one step of the rule each. The
    # run's row is locked first: by the commit's update of the run, when it makes one (it
    # always takes the row, `_update_run`), and otherwise on its own.
    first: list[Statement] = []
    if run_id is not None:
        update = _update_run(run_id, c.run_update) if c.run_update is not None else []
        first += update or [LockRows("runs", "id", (run_id,))]
    # A commit that ends the run finds it ended by its own update (`_update_run`).
    if not ended and run_id is not None and (c.events or c.pauses) and not _ends(c.run_update):
        first.append(Expect(fetch_one(_RUNNING, run_id), 1, RunEndedMeanwhile))
    arriving = {entry.event.name for entry in c.events}
    if arriving or c.pauses:
        first.append(pauses.name_locks(arriving=arriving, waited=(p.event_name for p in c.pauses)))
    names = sorted(arriving) if not c.lazy_match else []
    paths_at = len(first)
    if names:
        first.append(pauses.paths_for(names))
    reused = _reusable(c, run_id)
    if not reused:
        first += _release(c)
    for memo in c.memos:
        outcome = codec.dumps_str(memo.outcome)
        row = (run_id, memo.step_id, run_id, memo.name, memo.op, outcome, memo.at)
        first.append(execute(INSERT_MEMO, *row))
    first += c.notes
    results = yield tuple(first)
    if c.metadata and run_id is not None:  # under the run's row lock, taken first
        yield from span_metadata.update_metadata(run_id, c.metadata, at=c.at, lock=False)
    paths = pauses.read_paths(results[paths_at]) if names else None
    records = _records(c, run_id, lingering=c.lingering is not False)
    yield from pauses.store(c.pauses, along=records)
    # Every advisory lock this commit needs, at once and in order: the slots it frees, and
    # what ingest (the runs its events start) counts on.
    if c.events:
        yield from ingest(
            c.events,
            registry_version=c.registry_version,
            also_lock=c.item.slots,
            paths=paths,
            lazy_match=c.lazy_match,
        )
    elif c.item.slots:
        yield slots.lock(c.item.slots)
    next_call = yield from _next_work(c, run_id, token, reused=reused)
    if next_call is None or next_call.run_id is None:
        return None
    return NextCall(item=next_call, state=(yield from load_run_state(next_call.run_id)))


def _next_work(c: Commit, run_id: str | None, token: str, *, reused: bool) -> Rule[WorkItem | None]:
    """Queue what comes next; pass the committed call's slots to the run's next call, or
    free them. The next call is leased to the committer when it asked (`lease_next_ms`).
    When `reused`, the committed call's row becomes the discovery call (`_reusable`)."""
    heir = _heir(c, run_id)
    then: list[Statement] = []
    if c.link_events_to_run:
        sql = "UPDATE events SET source_run_id = ? WHERE internal_id {in_texts}"
        then.append(execute(sql, run_id, c.link_events_to_run))
    then += enqueued([_with_flow(c, run_id, item) for item in c.enqueue if item is not heir])
    if c.then is not Then.NOTHING and run_id is not None and heir is None:
        then += [*(_rediscover(c, run_id) if reused else [_discover(c, run_id)]), WAKE]
    if then:
        yield tuple(then)
    if heir is not None and run_id is not None:
        queued, next_call = yield from _queue_heir(c, run_id, heir, token, reused=reused)
        if queued:
            return next_call  # the run's next call holds the slots now
    if not c.item.slots:
        return None
    if c.lease_next_ms is not None:
        # The run goes no further now: its slots go straight to the call waiting first for
        # them, leased to this worker.
        lease_until = c.at + c.lease_next_ms
        handed = yield from slots.hand_over(
            c.item.slots, now=c.at, token=token, lease_until=lease_until
        )
        if handed is not None:
            return handed
    yield tuple(slots.freed(c.item.slots))
    return None


def _queue_heir(
    c: Commit, run_id: str, heir: NewWorkItem | str, token: str, *, reused: bool
) -> Rule[tuple[bool, WorkItem | None]]:
    """Queue the run's next call holding the committed call's slots (leased to the
    committer, when it asked); whether it was queued (not there already), and as leased."""
    next_call = _next_call(c, run_id, heir, token)
    slot1, slot2 = (*c.item.slots, None, None)[:2]
    leased = (next_call.lease_token, next_call.due_at) if next_call else (None, None)
    if isinstance(heir, NewWorkItem):
        item = _with_flow(c, run_id, heir)
        if next_call is not None:
            item = replace(item, due_at=c.at + (c.lease_next_ms or 0))
        queued = yield fetch(_INHERIT, *WORK_ITEMS.row_of(item), slot1, slot2, *leased)
    elif reused:
        # The row keeps the slots it holds; it stays queued unless deleted as not idle.
        deleted = yield from _rediscover_read(c, run_id, leased=leased)
        queued = [] if deleted else [(c.item.id,)]
    else:
        queued = yield _discover(c, run_id, slots=(slot1, slot2), leased=leased)
    if next_call is None:
        yield WAKE
    if not queued:
        return False, None
    if next_call is not None:
        next_call.id = queued[0][0]
    return True, next_call


def _next_call(c: Commit, run_id: str, heir: NewWorkItem | str, token: str) -> WorkItem | None:
    """The run's next call as leased to the committer (its id filled in once queued), or
    `None` when the committer did not ask for it."""
    if c.lease_next_ms is None:
        return None
    if isinstance(heir, NewWorkItem):
        kind, step_id, attempt, priority = heir.kind, heir.step_id, heir.attempt, heir.priority
        payload, key, due_at = heir.payload, heir.unique_key, heir.due_at
    else:
        kind, step_id, attempt, priority = WorkKind.CALL, DISCOVERY, 0, 0
        payload, key, due_at = {}, step_key(run_id, DISCOVERY), c.at
    return WorkItem(
        id=0,
        kind=kind,
        due_at=due_at,
        run_id=run_id,
        step_id=step_id,
        attempt=attempt,
        priority=priority,
        payload=payload,
        lease_token=token,
        unique_key=key,
        flow=c.item.flow,
        limits=c.item.limits,
        slots=c.item.slots,
    )


def _with_flow(c: Commit, run_id: str | None, item: NewWorkItem) -> NewWorkItem:
    """`item`, carrying its run's flow control if it belongs to the committed item's run."""
    if c.item.flow is None or item.run_id != run_id:
        return item
    return replace(item, flow=c.item.flow)


def _heir(c: Commit, run_id: str | None) -> NewWorkItem | str | None:
    """The run's next call, which takes over the committed call's slots (if it holds any) and
    its worker (if it asked, `lease_next_ms`): the first call it enqueues due by now, else
    its discovery call (`DISCOVERY`), if it is queued. So a run that has begun keeps its
    place until it sleeps, waits, retries or ends."""
    if not (c.item.slots or c.lease_next_ms) or run_id is None:
        return None
    for item in c.enqueue:
        if item.kind is WorkKind.CALL and item.run_id == run_id and item.due_at <= c.at:
            return item
    return DISCOVERY if c.then is not Then.NOTHING else None


def _reusable(c: Commit, run_id: str | None) -> bool:
    """Whether the committed call's row can become its run's next discovery call: it is that
    discovery call (same `unique_key`), it succeeded (no retry), what comes next is a
    discovery call (not a call this commit enqueues) and nothing enqueued takes its key."""
    if run_id is None or c.retry_at is not None or c.then is Then.NOTHING:
        return False
    key = step_key(run_id, DISCOVERY)
    if c.item.kind is not WorkKind.CALL or c.item.unique_key != key:
        return False
    return not isinstance(_heir(c, run_id), NewWorkItem) and all(
        item.unique_key != key for item in c.enqueue
    )


def _rediscover(
    c: Commit,
    run_id: str,
    *,
    leased: tuple[str | None, int | None] = (None, None),
    read: bool = False,
) -> list[Statement]:
    """The statements that turn the committed call's row into its run's discovery call (as
    `_discover` queues one: `leased` likewise), failing the commit with `StaleLease` if the
    lease passed on. Under `DISCOVER_IF_IDLE` a run with other pending work gets no discovery
    call: its row is deleted instead (one statement on PostgreSQL), or, with `read`, deleted
    again by a second statement that returns its id."""
    token, fell_due_at = leased
    due_at = c.at if token is None else c.at + (c.lease_next_ms or 0)
    item = c.item
    params = (due_at, token, fell_due_at, item.id, item.lease_token)
    if c.then is not Then.DISCOVER_IF_IDLE:
        return [Expect(execute(_REDISCOVER, *params), 1, lambda: _lost(item))]
    if not read:
        update = execute(_REDISCOVER_IF_IDLE, *params, run_id, item.id)
        delete = execute(_DELETE_LEASED, item.id, item.lease_token)
        return [Expect(update, 1, lambda: _lost(item), otherwise=delete)]
    return [
        Expect(execute(_REDISCOVER, *params), 1, lambda: _lost(item)),
        fetch(_UNLESS_IDLE + _RETURNING, item.id, run_id, item.id),
    ]


def _rediscover_read(
    c: Commit, run_id: str, *, leased: tuple[str | None, int | None]
) -> Rule[bool]:
    """`_rediscover`, reading whether the row was deleted again (the run was not idle)."""
    results = yield tuple(_rediscover(c, run_id, leased=leased, read=True))
    return len(results) > 1 and bool(results[1])


def _drop_timeouts(run_id: str) -> Statement:
    """Drop a run's `timeouts` checks (it ended)."""
    return execute(
        "DELETE FROM work_items WHERE run_id = ? AND kind = ? AND lease_token IS NULL",
        run_id,
        WorkKind.TIMEOUT.value,
    )


def _records(c: Commit, run_id: str | None, *, lingering: bool) -> list[Statement]:
    """The commit's history, and the pauses it ends (all of its run's, and its timeout
    checks, when the run ends and has any: `lingering`); those it begins are stored along."""
    statements: list[Statement] = []
    if c.history:
        statements.append(InsertRows(HISTORY, [HISTORY.row_of(entry) for entry in c.history]))
    if c.pauses_done:
        statements.append(execute("DELETE FROM pauses WHERE id {in_texts}", c.pauses_done))
    if run_id is not None and lingering and _ends(c.run_update):
        statements.append(execute("DELETE FROM pauses WHERE run_id = ?", run_id))
        statements.append(_drop_timeouts(run_id))
    if run_id is not None and c.pauses:
        statements.append(execute("UPDATE runs SET lingering = 1 WHERE id = ?", run_id))
    return statements


def _after_the_end(c: Commit) -> Commit:
    """`c` for a run that has ended already: its memos and step history only."""
    return replace(
        c,
        run_update=None,
        history=[entry for entry in c.history if entry.kind not in _RUN_ENDS],
        events=[],
        enqueue=[],
        then=Then.NOTHING,
        lease_next_ms=None,
        pauses=[],
    )


def _ends(update: RunUpdate | None) -> bool:
    return update is not None and update.status is not None and update.status.is_final


def _run_of(c: Commit) -> str | None:
    run_id = c.item.run_id
    if run_id is None:
        for present, what in (
            (c.memos, "memos"),
            (c.run_update is not None, "run_update"),
            (c.link_events_to_run, "link_events_to_run"),
            (c.then is not Then.NOTHING, "then"),
        ):
            if present:
                raise ValueError(f"a commit with {what} needs a work item that belongs to a run")
    return run_id


def _release(c: Commit) -> list[Statement]:
    """Delete the leased item, or move it to its retry."""
    item = c.item

    def lost() -> StaleLease:
        return _lost(item)

    if c.retry_at is None:
        return [Expect(execute(_DELETE_LEASED, item.id, item.lease_token), 1, lost)]
    sql = (
        "UPDATE work_items SET due_at = ?, attempt = attempt + 1, lease_token = NULL,"
        " slot1 = NULL, slot2 = NULL WHERE id = ? AND lease_token = ?"
    )
    return [Expect(execute(sql, c.retry_at, item.id, item.lease_token), 1, lost), WAKE]


def _lost(item: WorkItem) -> StaleLease:
    return StaleLease(f"work item {item.id} is no longer leased with this token")


def _update_run(run_id: str, update: RunUpdate) -> list[Statement]:
    """The statement of `update`, which locks the run's row whatever it finds: an update that
    ends the run expects it running (else the commit is undone: `RunEndedMeanwhile`); any
    other leaves an ended run as it ended, but still takes its row."""
    columns: list[str] = []
    values: list[object] = []
    if update.status is not None:
        columns.append("status")
        values.append(update.status.value)
    if update.ended_at is not None:
        columns.append("ended_at")
        values.append(update.ended_at)
    # `None` means "leave as is", except when the run ends: then it is the final value.
    ending = update.status is not None and update.status.is_final
    if update.output is not None or ending:
        columns.append("output")
        values.append(json_or_null(update.output))
    if update.error is not None or ending:
        columns.append("error")
        values.append(json_or_null(update.error))
    if update.request_version is not None:
        columns.append("request_version")
        values.append(update.request_version)
    if update.force_step_plan is not None:
        columns.append("force_step_plan")
        values.append(update.force_step_plan)
    if not columns:
        return []
    if ending:
        # Ending a run that ended meanwhile (was cancelled) is undone, with all the commit did.
        statement = execute(_ending_sql(tuple(columns)), *values, run_id)
        return [Expect(statement, 1, RunEndedMeanwhile)]
    return [execute(_update_sql(tuple(columns)), *values, run_id)]


@functools.cache
def _ending_sql(columns: tuple[str, ...]) -> str:
    """The same text for the same columns (the connectors cache statements by text)."""
    sets = ", ".join(f"{column} = ?" for column in columns)
    return f"UPDATE runs SET {sets} WHERE id = ? AND ended_at IS NULL"


@functools.cache
def _update_sql(columns: tuple[str, ...]) -> str:
    """As `_ending_sql`; a run that ended (was cancelled) while its call was in flight stays
    as it ended, its row rewritten unchanged: so the statement locks it either way."""
    sets = ", ".join(f"{c} = CASE WHEN ended_at IS NULL THEN ? ELSE {c} END" for c in columns)
    return f"UPDATE runs SET {sets} WHERE id = ?"


def _discover(
    c: Commit,
    run_id: str,
    *,
    slots: tuple[str | None, str | None] | None = None,
    leased: tuple[str | None, int | None] = (None, None),
) -> Statement:
    """Queue a discovery call for the run (with `DISCOVER_IF_IDLE`, only if nothing else is
    queued for it once this commit's own deletes and inserts are done). With `slots`, the
    call holds them, and the statement reads whether it was queued; with a lease token in
    `leased` (and the time it fell due), it is queued leased to the committer."""
    key = step_key(run_id, DISCOVERY)
    slot1, slot2 = slots or (None, None)
    token, fell_due_at = leased
    due_at = c.at if token is None else c.at + (c.lease_next_ms or 0)
    # The flow control is the run's, looked up by its id.
    item = (
        WorkKind.CALL.value,
        run_id,
        DISCOVERY,
        due_at,
        "{}",
        key,
        run_id,
        slot1,
        slot2,
        token,
        fell_due_at,
    )
    params: tuple[object, ...]
    if c.then is Then.DISCOVER:
        sql, params = _DISCOVER_ALWAYS, item
    elif c.retry_at is None:
        # Of two parallel steps finishing together, exactly the later one queues it.
        sql, params = _DISCOVER_IF_IDLE, (*item, run_id)
    else:
        # Only a retried item is still there to leave out: a deleted one's id may be reused
        # already by an item this commit queued (SQLite reuses the highest rowid).
        sql, params = _DISCOVER_IF_IDLE_BUT_RETRIED, (*item, run_id, c.item.id)
    if slots is None:
        return execute(sql, *params)
    return fetch(sql + _RETURNING, *params)
