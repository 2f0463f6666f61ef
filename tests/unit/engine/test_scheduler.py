"""The scheduler, driven by a manual clock over an in-memory SQLite storage: no HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from surge.core.clock import ManualClock
from surge.engine.scheduler import LEASE_AHEAD_MS, Scheduler
from surge.storage import (
    Commit,
    NewWorkItem,
    NextCall,
    RunRecord,
    RunState,
    RunStatus,
    Storage,
    WorkItem,
    WorkKind,
    open_storage,
)

LEASE_MS = 30_000
STATE = RunState(
    run=RunRecord(id="r", function_id="f", status=RunStatus.RUNNING, event_ids=[], started_at=0),
    events=[],
    memos=[],
)


@pytest.fixture
async def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def storage(clock: ManualClock) -> AsyncIterator[Storage]:
    store = open_storage(":memory:")
    await store.open(now=clock.now())
    yield store
    await store.close()


class Worker:
    """A handler that records what it was given and finishes only when told to."""

    def __init__(self, storage: Storage, clock: ManualClock) -> None:
        self.storage = storage
        self.clock = clock
        self.started: list[WorkItem] = []
        self.states: list[RunState | None] = []
        self.release = asyncio.Event()
        self.release.set()
        self.hand_on: dict[str, str] = {}
        """Steps after which the worker goes straight on with another, leased by itself."""

    async def __call__(self, item: WorkItem, state: RunState | None) -> NextCall | None:
        self.started.append(item)
        self.states.append(state)
        await self.release.wait()
        await self.storage.commit(Commit(item=item, at=self.clock.now()))
        following = self.hand_on.get(item.step_id)
        if following is None:
            return None
        now = self.clock.now()
        earliest = NewWorkItem(kind=WorkKind.CALL, due_at=now - 1_000, step_id=following)
        await self.storage.enqueue([earliest])
        [leased] = await self.storage.lease_due(now=now, limit=1, lease_ms=LEASE_MS)
        return NextCall(item=leased, state=STATE)

    def steps(self) -> list[str]:
        return [item.step_id for item in self.started]


@pytest.fixture
def worker(storage: Storage, clock: ManualClock) -> Worker:
    return Worker(storage, clock)


RunScheduler = Callable[..., Awaitable[Scheduler]]


@pytest.fixture
async def scheduler(
    storage: Storage, clock: ManualClock, worker: Worker
) -> AsyncIterator[RunScheduler]:
    started: list[Scheduler] = []

    async def start(workers: int = 10) -> Scheduler:
        scheduler = Scheduler(storage, worker, clock=clock, workers=workers, lease_ms=LEASE_MS)
        scheduler.start()
        started.append(scheduler)
        await settle()
        return scheduler

    yield start
    worker.release.set()
    for scheduler in started:
        await scheduler.stop(grace=1.0)


async def settle() -> None:
    """Let the scheduler and the storage thread finish what they can do without the clock."""
    for _ in range(20):
        await asyncio.sleep(0.005)


def item(step: str, due_at: int) -> NewWorkItem:
    return NewWorkItem(kind=WorkKind.CALL, due_at=due_at, run_id=None, step_id=step)


async def test_work_due_later_waits_for_the_clock(
    storage: Storage, clock: ManualClock, worker: Worker, scheduler: RunScheduler
) -> None:
    await scheduler()
    await storage.enqueue([item("later", clock.now() + 5_000)])
    await settle()

    await clock.advance(4_999)
    await settle()
    assert worker.steps() == []

    await clock.advance(1)
    await settle()
    assert worker.steps() == ["later"]


async def test_timers_are_leased_ahead_of_their_time_and_plain_calls_are_not(
    storage: Storage, clock: ManualClock, worker: Worker, scheduler: RunScheduler
) -> None:
    await scheduler()
    due = clock.now() + 5_000
    timer = NewWorkItem(kind=WorkKind.WAKE, due_at=due, run_id=None, step_id="timer")
    await storage.enqueue([timer, item("call", due)])
    await settle()

    await clock.advance(5_000 - LEASE_AHEAD_MS - 1)
    await settle()
    assert worker.steps() == []

    await clock.advance(1)
    await settle()
    # The handler holds it until it is due (`Executor.handle`).
    assert worker.steps() == ["timer"]
    assert worker.started[0].due_at == due

    await clock.advance(LEASE_AHEAD_MS)
    await settle()
    assert worker.steps() == ["timer", "call"]


async def test_new_work_starts_at_once_without_the_clock_moving(
    storage: Storage, clock: ManualClock, worker: Worker, scheduler: RunScheduler
) -> None:
    await scheduler()
    assert worker.steps() == []  # idle, waiting for work or the next due time

    await storage.enqueue([item("now", clock.now())])
    await settle()

    assert worker.steps() == ["now"]


async def test_due_work_goes_earliest_first(
    storage: Storage, clock: ManualClock, worker: Worker, scheduler: RunScheduler
) -> None:
    now = clock.now()
    await storage.enqueue([item("second", now - 10), item("first", now - 20)])
    await scheduler(workers=1)

    await settle()

    assert worker.steps() == ["first", "second"]


async def test_a_handed_on_item_runs_next_in_the_same_worker_with_its_state(
    storage: Storage, clock: ManualClock, worker: Worker, scheduler: RunScheduler
) -> None:
    now = clock.now()
    worker.hand_on = {"first": "handed"}
    await storage.enqueue([item("first", now - 20), item("other", now - 10)])
    await scheduler(workers=1)

    await settle()

    assert worker.steps() == ["first", "handed", "other"]
    assert worker.states == [None, STATE, None]


async def test_the_queue_is_backlogged_while_due_work_waits_for_a_worker(
    storage: Storage, clock: ManualClock, worker: Worker, scheduler: RunScheduler
) -> None:
    worker.release.clear()
    await storage.enqueue([item(f"s{n}", clock.now()) for n in range(3)])
    running = await scheduler(workers=2)
    assert len(worker.started) == 2 and running.backlogged  # one is due, and no worker free

    worker.release.set()
    await settle()
    assert not running.backlogged  # everything due was taken

    running.wake()  # new work was queued: backlogged until a lease looks
    assert running.backlogged
    await settle()
    assert not running.backlogged


async def test_no_more_items_run_at_once_than_there_are_workers(
    storage: Storage, clock: ManualClock, worker: Worker, scheduler: RunScheduler
) -> None:
    worker.release.clear()
    await storage.enqueue([item(f"s{n}", clock.now()) for n in range(5)])

    await scheduler(workers=2)
    assert len(worker.started) == 2

    worker.release.set()
    await settle()
    assert sorted(worker.steps()) == [f"s{n}" for n in range(5)]


async def test_leases_of_running_items_are_renewed_so_no_one_else_takes_them(
    storage: Storage, clock: ManualClock, worker: Worker, scheduler: RunScheduler
) -> None:
    worker.release.clear()
    await storage.enqueue([item("long", clock.now())])
    await scheduler()
    assert worker.steps() == ["long"]

    for _ in range(6):  # two lease lengths, renewed every third of one
        await clock.advance(LEASE_MS // 3)
        await settle()

    assert await storage.lease_due(now=clock.now(), limit=10, lease_ms=LEASE_MS) == []


async def test_stopping_hands_unfinished_items_back_due_at_once(
    storage: Storage, clock: ManualClock, worker: Worker, scheduler: RunScheduler
) -> None:
    worker.release.clear()
    await storage.enqueue([item("stuck", clock.now())])
    running = await scheduler()
    assert worker.steps() == ["stuck"]

    await running.stop(grace=0.05)

    [again] = await storage.lease_due(now=clock.now(), limit=10, lease_ms=LEASE_MS)
    assert again.step_id == "stuck"
