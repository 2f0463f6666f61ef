"""Running work items: call the app for a step, wake a sleeper, fire a cron tick; write what
each produced."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from surge.core import codec
from surge.core.clock import Clock
from surge.core.errors import AppTimeout, AppUnreachable, NotFound, StaleLease
from surge.core.functions import CronTrigger, FunctionConfig
from surge.core.http_client import AppClient
from surge.core.ids import new_ulid
from surge.core.signing import canonical_json, signature
from surge.storage import (
    Commit,
    HistoryEntry,
    IngestEntry,
    Memo,
    NewWorkItem,
    NextCall,
    Note,
    RunState,
    RunStatus,
    RunUpdate,
    Storage,
    Then,
    WorkItem,
    WorkKind,
)
from surge.storage.records import DISCOVERY, RUN_ENDED

from .conditions import Conditions
from .config import EngineConfig
from .cron import jittered, next_fire, timer_event
from .finish import RunEnded, ending, error_value, invoked_by
from .http_steps import HttpSteps
from .ingest import entry_for
from .lifecycle import Lifecycle
from .metrics import Metrics
from .registry import Registry, Snapshot
from .replays import Replays
from .requests import build_request_body, step_url
from .responses import Call, Outcome, interpret
from .retries import RetryPolicy
from .scheduler import LEASE_AHEAD_MS
from .upkeep import Upkeep
from .waits import Invoke, invoke_timeout, invoked_event

logger = logging.getLogger(__name__)


class Executor:
    """Runs leased work items, and writes every run's outcome."""

    def __init__(
        self,
        storage: Storage,
        registry: Registry,
        client: AppClient,
        clock: Clock,
        config: EngineConfig,
        conditions: Conditions,
        metrics: Metrics,
    ) -> None:
        self._storage = storage
        self._registry = registry
        self._conditions = conditions
        self._client = client
        self._clock = clock
        self._policy = RetryPolicy(interval=config.retry_interval)
        self._signing_key = config.signing_key
        self._lease_ms = int(config.lease_timeout * 1000)
        self.lifecycle = Lifecycle(storage, registry, clock, conditions, self._commit)
        self.replays = Replays(storage, registry, clock)
        self.upkeep = Upkeep(storage, clock, self._commit, retention_ms=config.retention_ms)
        self._metrics = metrics
        self._http = HttpSteps(allow_private=config.allow_private_http_steps)
        self.backlogged: Callable[[], bool] = lambda: False
        """Whether the queue holds due work no worker has taken (`Scheduler.backlogged`):
        then a run's next call goes through the queue instead of straight on."""

    async def close(self) -> None:
        await self._http.close()

    async def handle(self, item: WorkItem, state: RunState | None = None) -> NextCall | None:
        """Run one leased work item (a call with its run's `state`, when the last commit read
        it); return the run's next call when it is due at once, leased to this worker to go
        straight on with (`Commit.lease_next_ms`).

        An item the scheduler leased before it is due (by up to `LEASE_AHEAD_MS`) is held
        until then, and a call then reads its run again (it may have been cancelled
        meanwhile); a wake-up is written at once, dated when it is due, so that its run's
        next call is leased and ready to go then. An item leased further ahead (a test
        driving time) is not held."""
        early = item.due_at - self._clock.now()
        if 0 < early <= LEASE_AHEAD_MS and item.kind is not WorkKind.WAKE:
            await self._clock.sleep(early / 1000)
            state = None
        if item.kind is WorkKind.CALL:
            return await self.call(item, state)
        if item.kind is WorkKind.WAKE:
            return await self.wake(item)
        if item.kind is WorkKind.CRON:
            await self.fire_cron(item)
        elif item.kind is WorkKind.FLUSH:
            await self.flush(item)
        elif item.kind is WorkKind.MATCH:
            await self.lifecycle.match(item)
        elif item.kind is WorkKind.CANCEL_RUNS:
            await self.lifecycle.cancel_runs(item)
        elif item.kind is WorkKind.UPKEEP:
            await self.upkeep.turn(item)
        elif item.kind is WorkKind.REPLAY_RUNS:
            await self.replays.go_on(item)
        elif item.kind is WorkKind.CANCEL:
            await self.lifecycle.cancel_item(item)
        elif item.kind is WorkKind.TIMEOUT:
            await self.lifecycle.timeout(item)
        return None

    async def flush(self, item: WorkItem) -> None:
        """Close a debounce or event batch that is due, starting its run."""
        now = self._clock.now()
        try:
            await self._storage.flush(item, now=now, run_id=new_ulid(now))
        except StaleLease:
            logger.warning(
                "lease lost before a flush; it will run again", extra={"key": item.payload}
            )

    async def call(self, item: WorkItem, state: RunState | None = None) -> NextCall | None:
        """Call the app for `item`'s run (whose `state` is read unless given) and write the
        outcome; return the run's next call if it is leased to this worker."""
        assert item.run_id is not None
        if state is None:
            try:
                state = await self._storage.load_run_state(item.run_id)
            except NotFound:
                return await self.write(item, Outcome(), state=None)
        if state.run.status.is_final or _already_memoized(state, item):
            return await self.write(item, Outcome(), state=state)
        function = self._registry.function(state.run.function_id)
        if function is None:
            # Perhaps synced through another node a moment ago.
            await self._registry.load()
            function = self._registry.function(state.run.function_id)
        if function is None:
            message = f"function {state.run.function_id!r} is no longer registered by any app"
            error = error_value("FunctionNotFound", message)
            now = self._clock.now()
            history = HistoryEntry(
                run_id=state.run.id,
                at=now,
                kind="failed",
                step_id=item.step_id,
                detail={"error": error},
            )
            ended = RunEnded(status=RunStatus.FAILED, error=error)
            return await self.write(item, Outcome(history=[history], ended=ended), state=state)
        began = self._clock.now()
        answer = await self._send(state, function, item)
        call = Call(
            state=state,
            function=function,
            item=item,
            now=self._clock.now(),
            policy=self._policy,
            began=began,
        )
        outcome = interpret(call, answer)
        if outcome.http_steps:
            outcome = await self._make_requests(call, outcome)
        return await self.write(item, outcome, state=state)

    async def _make_requests(self, call: Call, outcome: Outcome) -> Outcome:
        """Make the requests of the call's HTTP steps (`http_steps`) and memoize each
        response; when one failed in a way worth retrying, retry the call instead."""
        steps = outcome.http_steps
        results = await asyncio.gather(*(self._http.perform(step) for step in steps))
        now = self._clock.now()
        item, run_id = call.item, call.state.run.id
        retry = next((r.retry for r in results if r.retry is not None), None)
        if retry is not None and item.attempt + 1 < call.function.max_attempts:
            due = now + call.policy.delay_ms(item.attempt)
            error = error_value("HttpStepError", retry)
            entry = HistoryEntry(
                run_id=run_id,
                at=now,
                kind="call_error",
                step_id=item.step_id,
                attempt=item.attempt,
                detail={"error": error, "retry_at": due},
            )
            return Outcome(retry_at=due, history=[entry])
        for step, result in zip(steps, results, strict=True):
            memo_outcome = result.outcome
            if result.retry is not None:
                memo_outcome = {"error": error_value("HttpStepError", result.retry)}
            failed = isinstance(memo_outcome, dict) and "error" in memo_outcome
            op = "AIGateway" if step.kind == "ai" else "Gateway"
            outcome.memos.append(
                Memo(step_id=step.step_id, outcome=memo_outcome, name=step.name, op=op, at=now)
            )
            detail = {**step.shown(), "status": result.status}
            if failed:
                detail["error"] = memo_outcome["error"]
            outcome.history.append(
                HistoryEntry(
                    run_id=run_id,
                    at=now,
                    kind="step_failed" if failed else "step_completed",
                    step_id=step.step_id,
                    attempt=item.attempt,
                    detail={k: v for k, v in detail.items() if v is not None},
                )
            )
        if outcome.then is Then.NOTHING:
            outcome.then = Then.DISCOVER_IF_IDLE
        outcome.http_steps = []
        return outcome

    async def _send(self, state: RunState, function: FunctionConfig, item: WorkItem) -> Any:
        encode = canonical_json if self._signing_key else codec.dumps
        body = build_request_body(state, function, item, encode=encode)
        headers = {
            "content-type": "application/json",
            "x-run-id": state.run.id,
            "x-inngest-req-version": str(state.run.request_version),
            "x-inngest-step-id": item.step_id,
        }
        if self._signing_key:
            headers["x-inngest-signature"] = signature(body, self._signing_key)
        url = step_url(function.url, item.step_id)
        started = time.perf_counter()
        try:
            answer = await self._client.request("POST", url, body=body, headers=headers)
        except AppUnreachable as exc:
            result = "timeout" if isinstance(exc, AppTimeout) else "unreachable"
            self._metrics.called(function.id, result, time.perf_counter() - started)
            return exc
        result = "ok" if answer.status < 400 else "error"
        self._metrics.called(function.id, result, time.perf_counter() - started)
        return answer

    async def wake(self, item: WorkItem) -> NextCall | None:
        """A sleep ended, or a pause timed out: memoize the outcome the item carries
        (`null` unless it says otherwise), end the pause, and resume the run."""
        payload = item.payload
        pause = payload.get("pause")
        op = "Sleep" if pause is None else "Timeout"
        at = max(self._clock.now(), item.due_at)
        memo = Memo(step_id=item.step_id, outcome=payload.get("outcome"), op=op, at=at)
        outcome = Outcome(memos=[memo], then=Then.DISCOVER_IF_IDLE)
        if pause is not None:
            outcome.history.append(
                HistoryEntry(
                    run_id=item.run_id or "",
                    at=memo.at,
                    kind="timed_out",
                    step_id=item.step_id,
                )
            )
        return await self.write(item, outcome, state=None, pauses_done=[pause] if pause else [])

    async def fire_cron(self, item: WorkItem) -> None:
        """Start a run for a cron tick, and schedule the next tick, in one commit.

        A tick that fell due while the server was down fires once when it is back; the next
        tick is counted from now (less this tick's jitter), so missed ticks are not replayed
        one by one. Each tick is due a random delay of up to the trigger's ``jitter`` after
        its schedule. A tick whose function or schedule is no longer registered is dropped;
        while its function is paused, a tick starts nothing and the next one is scheduled.
        """
        payload = item.payload
        now = self._clock.now()

        async def fire(snapshot: Snapshot) -> None:
            function = snapshot.functions.get(str(payload.get("function_id")))
            trigger = _cron_trigger(function, str(payload.get("cron")))
            if function is None or trigger is None:
                await self._commit(Commit(item=item, at=now))
                return
            fire_at = int(payload["fire_at"])  # when it was scheduled; due later by its jitter
            delay = max(0, item.due_at - fire_at)
            following = next_fire(trigger, max(now - delay, fire_at))
            next_tick = NewWorkItem(
                kind=WorkKind.CRON,
                due_at=jittered(trigger, following),
                payload={**payload, "fire_at": following},
                unique_key=item.unique_key,
            )
            commit = Commit(item=item, at=now, enqueue=[next_tick])
            if function.id not in snapshot.suspended:
                event = timer_event(trigger, fire_at + delay, scheduled_ms=fire_at)
                entry = entry_for(snapshot, event, now=now, start=function.id, cron=trigger.cron)
                commit.events = [entry]
                commit.registry_version = snapshot.version
            await self._commit(commit)

        await self._registry.current(fire)

    async def write(
        self,
        item: WorkItem,
        outcome: Outcome,
        *,
        state: RunState | None,
        pauses_done: list[str] | None = None,
    ) -> NextCall | None:
        """Commit `outcome` for `item` (ending `pauses_done`); return the run's next call,
        leased to this worker, if one is due at once. When the run ended, its
        ``inngest/function.*`` events, and the events of the invokes it begins, are matched
        against the registry as it is when they are stored.

        A lost lease is logged, not raised: the item runs again.
        """
        at = self._clock.now()
        if item.kind is WorkKind.WAKE:
            at = max(at, item.due_at)  # leased ahead: its run goes on when it is due
        # A run goes on at once after a timer (lateness counts), else only with no backlog.
        going_on = item.kind is WorkKind.WAKE or not self.backlogged()
        lease = self._lease_ms if going_on else None
        if outcome.ended is None and not outcome.invokes:  # no events: nothing to match
            commit = to_commit(item, outcome, at=at, lease_next_ms=lease)
            commit.pauses_done = pauses_done or []
            return await self._commit(commit)
        if state is None:
            raise ValueError("ending a run or invoking needs its state")
        run_state = state
        trigger = state.events[0] if state.events else {}
        update: RunUpdate | None = None
        events: list[dict[str, Any]] = []
        if outcome.ended is not None:
            update, events = ending(run_state, outcome.ended, now=at)

        async def write_at(snapshot: Snapshot) -> NextCall | None:
            entries = await self._conditions.entries(snapshot, events, now=at)
            ended = None
            if update is not None:
                ended = Ended(update=update, entries=entries, registry_version=snapshot.version)
            commit = to_commit(item, outcome, at=at, ended=ended, lease_next_ms=lease)
            commit.pauses_done = pauses_done or []
            commit.lingering = run_state.run.lingering
            if update is not None and update.status is not None:
                ended_as = (run_state.run.function_id, update.status.value)
                commit.notes.append(Note(RUN_ENDED, ended_as, subject=run_state.run.id))
            # A run's own inngest/function.* events are matched against pauses without a
            # read, unless an invoke waits for them (then at once).
            commit.lazy_match = ended is not None and invoked_by(trigger) is None
            if outcome.invokes:
                _start_invokes(commit, outcome.invokes, snapshot, run_state, at=at)
            return await self._commit(commit)

        return await self._registry.current(write_at)

    async def _commit(self, commit: Commit) -> NextCall | None:
        try:
            return await self._storage.commit(commit)
        except StaleLease:
            logger.warning(
                "lease lost before commit; the item will run again",
                extra={"run_id": commit.item.run_id, "step_id": commit.item.step_id},
            )
            return None


@dataclass(frozen=True, kw_only=True)
class Ended:
    """How a run ends: its update, and its events matched at `registry_version`."""

    update: RunUpdate
    entries: list[IngestEntry]
    registry_version: int


def to_commit(
    item: WorkItem,
    outcome: Outcome,
    *,
    at: int,
    ended: Ended | None = None,
    lease_next_ms: int | None = None,
) -> Commit:
    """The `Commit` that writes `outcome`, and the run's end when it `ended`; with
    `lease_next_ms`, asking for the run's next call leased (`Commit.lease_next_ms`)."""
    update = outcome.run_update
    entries: list[IngestEntry] = []
    if ended is not None:
        update, entries = ended.update, ended.entries
        if outcome.run_update is not None and outcome.run_update.request_version is not None:
            update = _with_version(update, outcome.run_update.request_version)
    return Commit(
        item=item,
        at=at,
        memos=list(outcome.memos),
        run_update=update,
        history=outcome.history,
        events=list(entries),
        enqueue=list(outcome.enqueue),
        then=outcome.then,
        retry_at=outcome.retry_at,
        link_events_to_run=list(outcome.sent_events),
        registry_version=ended.registry_version if ended is not None and entries else None,
        pauses=list(outcome.pauses),
        lease_next_ms=lease_next_ms,
        metadata=outcome.metadata,
    )


def _start_invokes(
    commit: Commit, invokes: list[Invoke], snapshot: Snapshot, state: RunState, *, at: int
) -> None:
    """Add to `commit` what each invoke begins: the event starting its target, linked to the
    run, its pause and timeout; or, for a target not registered, the step's error."""
    for invoke in invokes:
        target = snapshot.functions.get(invoke.function_id)
        if target is None:
            message = (
                f"step.invoke: no function {invoke.function_id!r} is registered (an id is"
                " '<app id>-<function id>')"
            )
            error = error_value("FunctionNotFound", message)
            commit.memos.append(
                Memo(step_id=invoke.step_id, outcome={"error": error}, op="InvokeFunction", at=at)
            )
            if commit.then is Then.NOTHING:
                commit.then = Then.DISCOVER_IF_IDLE
            continue
        source = state.run.function_id
        app_id = next((f.app_id for f in snapshot.state.functions if f.id == source), "")
        event = invoked_event(invoke, state, app_id=app_id, now=at)
        entry = entry_for(snapshot, event, now=at, start=target.id)
        commit.events.append(entry)
        commit.link_events_to_run.append(entry.event.internal_id)
        commit.pauses.append(invoke.pause)
        commit.enqueue.append(invoke_timeout(invoke))
    commit.registry_version = snapshot.version


def _with_version(update: RunUpdate, version: int) -> RunUpdate:
    return RunUpdate(
        status=update.status,
        ended_at=update.ended_at,
        output=update.output,
        error=update.error,
        request_version=version,
    )


def _cron_trigger(function: FunctionConfig | None, cron: str) -> CronTrigger | None:
    for trigger in function.triggers if function is not None else ():
        if isinstance(trigger, CronTrigger) and trigger.cron == cron:
            return trigger
    return None


def _already_memoized(state: RunState, item: WorkItem) -> bool:
    if item.step_id == DISCOVERY:
        return False
    return any(memo.step_id == item.step_id for memo in state.memos)
