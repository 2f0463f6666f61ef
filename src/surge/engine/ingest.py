"""Events to store: each matched to the functions it triggers, as an `IngestEntry`.

Pure functions of a registry `Snapshot`: the caller writes the entries with the snapshot's
version (`Registry.current`), so they are matched again if apps were synced meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from surge.core.events import parse_events
from surge.core.functions import FunctionConfig
from surge.core.ids import new_ulid, seeded_ulids
from surge.storage import EventRecord, GateKind, IngestEntry, NewRun, RunRecord
from surge.storage.records import DEDUPE_WINDOW_MS

from .concurrency import run_limits
from .finish import invoked_by
from .gates import run_gates, run_gather, run_priority_ms, run_timeouts
from .registry import Snapshot
from .waits import cancel_pauses

PAUSED = "paused"
"""The `skip_reason` of the runs an event records for a paused function."""


def sent_events(
    body: bytes, *, seed: str | None, now: int, max_event_bytes: int
) -> list[tuple[str, dict[str, Any]]]:
    """The events of a `POST /e/{key}` body, each with its internal id and as it is stored.

    Raises `InvalidInput` when any event is invalid. With `seed` (`X-Inngest-Event-Id-Seed`)
    the ids are deterministic, so a retried send stores nothing twice and returns the same ids.
    """
    events = parse_events(body, max_event_bytes=max_event_bytes, now_ms=now)
    if seed:
        ids = seeded_ulids(seed, len(events))
    else:
        # Sorted: within one request, a later event has a later id (ids order listings).
        ids = sorted(new_ulid(now) for _ in events)
    return [(i, stored_payload(event, i)) for event, i in zip(events, ids, strict=True)]


def stored_payload(event: dict[str, Any], internal_id: str) -> dict[str, Any]:
    """`event` as it is stored and as conditions see it: ``id``, ``user`` and ``data`` set."""
    payload = dict(event)
    payload.setdefault("id", internal_id)
    payload.setdefault("user", {})
    payload.setdefault("data", {})
    return payload


def entry_for(
    snapshot: Snapshot,
    event: dict[str, Any],
    *,
    now: int,
    internal_id: str | None = None,
    dedupe: bool = False,
    start: str | None = None,
    cron: str | None = None,
    matched: Sequence[FunctionConfig] | None = None,
    fresh: bool | None = None,
) -> IngestEntry:
    """The entry storing `event` and starting every function it triggers.

    Without `internal_id`, a new one is minted. With `dedupe`, a user-given ``id`` already
    stored in the last 24 hours keeps the event from being stored again. A paused function's
    run is recorded as skipped (``skip_reason`` ``"paused"``). With `start`, the
    event starts that one function instead (a cron tick), whatever the triggers say. With
    `matched`, those are the functions it triggers (decided by `Conditions`); `fresh` says
    whether `internal_id` was just minted (it is, without one).
    """
    fresh = internal_id is None if fresh is None else fresh
    internal_id = internal_id or new_ulid(now)
    payload = stored_payload(event, internal_id)
    if start is not None:
        function = snapshot.functions.get(start)
        targets = [function] if function is not None else []
    else:
        targets = snapshot.index.match(payload) if matched is None else list(matched)
    runs = [
        _paused_run(function, payload, internal_id, now=now, cron=cron)
        if function.id in snapshot.suspended
        else _new_run(function, payload, internal_id, now=now, cron=cron)
        for function in targets
    ]
    record = EventRecord(
        internal_id=internal_id,
        id=payload["id"],
        name=payload["name"],
        payload=payload,
        ts=int(payload.get("ts") or now),
        received_at=now,
    )
    window = DEDUPE_WINDOW_MS if dedupe else 0
    return IngestEntry(event=record, runs=runs, dedupe_window_ms=window, fresh_id=fresh)


def rerun_of(
    function: FunctionConfig,
    original: RunRecord,
    events: list[dict[str, Any]],
    *,
    now: int,
    replay_id: str | None = None,
) -> NewRun:
    """A new run of `function` with `original`'s events, linked to it (and to the bulk
    replay `replay_id` that starts it, if one does). Its concurrency, throttle and singleton
    apply; not its rate limit or idempotency key (they would skip it: the original counted
    already), nor a debounce or batch (its events were gathered)."""
    first = events[0] if events else {}
    run = _new_run(
        function,
        first,
        original.event_ids[0] if original.event_ids else "",
        now=now,
        cron=original.cron,
    )
    kept = tuple(g for g in run.gates if g.kind not in (GateKind.RATE_LIMIT, GateKind.IDEMPOTENCY))
    return replace(
        run,
        event_ids=list(original.event_ids),
        gates=kept,
        gather=None,
        invoked_by=None,
        original_run_id=original.id,
        replay_id=replay_id,
    )


def _paused_run(
    function: FunctionConfig, payload: dict[str, Any], event_id: str, *, now: int, cron: str | None
) -> NewRun:
    """The run an event records for a paused function: skipped, counted by no flow control,
    ready for a bulk replay once the function is resumed."""
    return NewRun(
        id=new_ulid(now),
        function_id=function.id,
        event_ids=[event_id],
        started_at=now,
        cron=cron,
        invoked_by=invoked_by(payload),
        skip_reason=PAUSED,
    )


def _new_run(
    function: FunctionConfig, payload: dict[str, Any], event_id: str, *, now: int, cron: str | None
) -> NewRun:
    run_id = new_ulid(now)
    return NewRun(
        id=run_id,
        function_id=function.id,
        event_ids=[event_id],
        started_at=now,
        cron=cron,
        concurrency=run_limits(function, payload),
        gates=run_gates(function, payload),
        priority_ms=run_priority_ms(function, payload),
        gather=None if cron is not None else run_gather(function, payload),
        pauses=cancel_pauses(function, payload, run_id, now=now),
        timeouts=run_timeouts(function, now),
        invoked_by=invoked_by(payload),
    )
