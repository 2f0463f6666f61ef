"""``kill -9`` in the middle of a fan-out loses no run and repeats no committed step.

A real ``surge dev`` runs a 2,000-run dynamic fan-out of an app on the Python SDK
(``tests/compat/py_app``), each step a call of its own; on the TypeScript SDK
(``tests/compat/ts_app``), which checkpoints its steps (both in its first call, each reported to
``/v1/checkpoint`` as it finishes); and on the Surge SDK (``tests/compat/surge_app``), which
checkpoints too. While the worker runs are in full swing the server is
SIGKILLed, then restarted on the same port and SQLite file. The app keeps running throughout
and counts every step execution per run, so the test sees exactly what user code did on both
sides of the crash. (``test_checkpoint_crashes.py`` kills the app instead.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import AppProcess, StandIn, SurgeServer

pytestmark = pytest.mark.compat

WORK_ITEMS = 2000
DEADLINE = 60.0
QUEUE_WORKERS = 100  # concurrent app calls the server makes (its default; passed explicitly)
WORKER_KEYS = ("fetch-item", "process-item", "(returned)")
RETURNED = "(returned)"
STEP_SLEEP_MS = 20  # each worker step takes a little while, so calls are caught in flight
# Each worker run makes three ledger entries (two steps, then the return). Kill once 5/6 of
# them are in: whether the server works breadth-first (every run's first step, then every
# second step...) or run by run, by then runs sit at every stage, from "a step result not yet
# committed" to "handler returned", and about 1,000 entries' worth of work is still ahead.
KILL_AFTER = WORK_ITEMS * len(WORKER_KEYS) * 5 // 6


def worker_entries(counts: dict[str, Any]) -> dict[str, dict[str, int]]:
    """``{run_id: {ledger key: executions}}`` for the fan-out worker runs."""
    return {
        run_id: dict(run["steps"])
        for run_id, run in counts["runs"].items()
        if run["fn"] == "fanout-worker"
    }


def drained_counts(app: AppProcess, wait_until: Callable[..., Any]) -> dict[str, Any]:
    """The app's ledger once calls that were in flight at the kill have finished in the app.

    With the server dead no new call arrives; a call already inside a step finishes (its result
    just has nowhere to go). The ledger is settled when three reads 0.5 s apart agree.
    """
    seen: list[int] = []

    def settled() -> bool:
        seen.append(app.summary()["total_executions"])
        return len(seen) >= 3 and seen[-1] == seen[-2] == seen[-3]

    wait_until(settled, timeout=30, interval=0.5, what="the app to finish in-flight calls")
    return app.counts()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", ["py", "ts", "surge"])
def test_kill_9_mid_fan_out_completes_every_run_and_repeats_only_uncommitted_work(
    surge_server: Callable[..., SurgeServer],
    app_process: Callable[..., AppProcess],
    wait_until: Callable[..., Any],
    kind: str,
) -> None:
    server = surge_server(extra_args=["--queue-workers", str(QUEUE_WORKERS)])
    app = app_process(kind, server)
    sync = app.sync()
    assert sync.status_code == 200 and not sync.json().get("error"), sync.text

    (start_id,) = server.send(
        {
            "name": "compat/fanout.start",
            "data": {"count": WORK_ITEMS, "step_sleep_ms": STEP_SLEEP_MS},
        }
    )
    # Kill only once the orchestrator has finished: its send step is then committed, so the
    # set of 2,000 item events is fixed and the crash can only hit worker runs.
    (orchestrator,) = server.wait_event_runs(start_id, 1, timeout=120)
    assert orchestrator["status"] == "Completed", orchestrator
    event_ids: list[str] = orchestrator["output"]["event_ids"]
    assert len(set(event_ids)) == WORK_ITEMS

    wait_until(
        lambda: app.summary()["by_fn"].get("fanout-worker", 0) >= KILL_AFTER,
        timeout=120,
        interval=0.05,
        what=f"{KILL_AFTER} worker step executions",
    )
    server.stop(kill=True)

    before = worker_entries(drained_counts(app, wait_until))
    finished_before = sum(1 for steps in before.values() if steps.get(RETURNED))
    assert finished_before < WORK_ITEMS, (
        "the whole fan-out finished before the kill, so the crash hit nothing: "
        "raise WORK_ITEMS or STEP_SLEEP_MS"
    )

    server.start()
    worker_runs = server.wait_many_event_runs(event_ids, timeout=240)
    after_counts = app.counts()
    after = worker_entries(after_counts)

    # 1. Every work item ran to completion, in exactly one run.
    items_done = set()
    for event_id, runs in worker_runs.items():
        assert len(runs) == 1, f"event {event_id} has {len(runs)} runs after the restart: {runs}"
        (run,) = runs
        assert run["status"] == "Completed", run
        items_done.add(run["output"]["item_id"])
    assert items_done == {f"item-{i}" for i in range(WORK_ITEMS)}
    run_ids = {runs[0]["run_id"] for runs in worker_runs.values()}
    assert set(after) == run_ids, (
        f"the app executed steps for {len(set(after) - run_ids)} worker runs the server does "
        f"not list for the item events (duplicated events or runs?)"
    )
    assert after_counts["runs"][orchestrator["run_id"]]["steps"] == {"load-ids": 1}

    # 2. What may run again, and what may not.
    #
    # A step's result is safe once the server has committed it; a step executed by a call the
    # server had not finished committing when it died may legitimately run again (the app did
    # the work, but the server never durably learned so). Hence:
    #
    #  a) Before the kill nothing ran twice, and after the restart nothing ran twice: for
    #     every (run, step), executions before <= 1 and executions after the restart <= 1.
    #  b) A step whose result some later call already received as a memo was committed: the
    #     server handed its output to user code, which built on it. If process-item had run
    #     before the kill, fetch-item must have run exactly once overall; if the handler had
    #     returned (both steps memoized), neither step may run again. With checkpointing the
    #     first holds for a reason of its own: the SDK begins a step only once the server has
    #     acknowledged the checkpoint of the one before, and an acknowledged step never runs
    #     again (the code between steps, up to the return, runs on while a checkpoint is in
    #     flight, so a return says nothing about the last step).
    #  c) Every repeat is a call that was in flight at the kill. The server makes at most
    #     QUEUE_WORKERS concurrent calls and commits a call's result before its worker takes
    #     another, so at most QUEUE_WORKERS ledger entries can repeat in total (twice that
    #     with checkpointing, see below).
    repeats = 0
    for run_id, steps in after.items():
        earlier = before.get(run_id, {})
        for key in WORKER_KEYS:
            total, pre = steps.get(key, 0), earlier.get(key, 0)
            assert total >= 1, f"run {run_id} completed without executing {key}: {steps}"
            assert pre <= 1 and total - pre <= 1, (
                f"run {run_id}: {key} ran {pre}x before the kill, {total - pre}x after: "
                "a step ran twice without a crash in between"
            )
            repeats += total - 1
        if earlier.get("process-item"):
            assert steps["fetch-item"] == 1, (
                f"run {run_id}: fetch-item re-ran although process-item had already received "
                f"its result before the kill (before {earlier}, after {steps})"
            )
        # With checkpointing a return says nothing about the last step: the TypeScript SDK
        # runs the code after a step while the step's checkpoint is in flight, and the Surge
        # SDK sends its last step with the call's answer.
        if earlier.get(RETURNED) and kind == "py":
            assert steps["fetch-item"] == steps["process-item"] == 1, (
                f"run {run_id}: a step re-ran although the handler had already returned with "
                f"both results before the kill (before {earlier}, after {steps})"
            )
    # A call in flight repeats one entry; a checkpointing one at most two: the one step not
    # yet acknowledged (the next begins only after the ack) and the return after it.
    per_call = 1 if kind == "py" else 2
    assert repeats <= QUEUE_WORKERS * per_call, (
        f"{repeats} step executions repeated after the restart; at most {QUEUE_WORKERS} calls "
        f"can have been in flight at the kill ({finished_before} runs had returned before it)"
    )


def test_restart_keeps_finished_runs_and_synced_apps(
    surge_server: Callable[..., SurgeServer],
    app_process: Callable[..., AppProcess],
) -> None:
    """After a kill -9 and restart, earlier runs are still there and the app needs no re-sync."""
    server = surge_server()
    app = app_process("py", server)
    assert app.sync().status_code == 200
    (first_id,) = server.send({"name": "compat/flaky.start", "data": {}})
    (first,) = server.wait_event_runs(first_id, 1)
    assert first["status"] == "Completed", first

    server.stop(kill=True)
    server.start()

    assert server.run(first["run_id"])["status"] == "Completed"
    (second_id,) = server.send({"name": "compat/flaky.start", "data": {}})
    (second,) = server.wait_event_runs(second_id, 1)
    assert second["status"] == "Completed", second
    assert app.counts()["runs"][second["run_id"]]["steps"] == {"unreliable-call": 3}


LIMITED_RUNS = 2000
GROUPS = 20  # the limited worker allows 2 steps at once per group: 40 at most overall


@pytest.mark.timeout(300)
def test_kill_9_mid_keyed_fan_out_completes_every_run_and_the_limit_holds(
    surge_server: Callable[..., SurgeServer],
    app_process: Callable[..., AppProcess],
    wait_until: Callable[..., Any],
) -> None:
    server = surge_server()
    app = app_process("py", server)
    sync = app.sync()
    assert sync.status_code == 200 and not sync.json().get("error"), sync.text
    events = [
        {"name": "compat/limited.item", "data": {"group": f"g{n % GROUPS}", "step_sleep_ms": 20}}
        for n in range(LIMITED_RUNS)
    ]
    event_ids = server.send(events)

    wait_until(
        lambda: app.summary()["by_fn"].get("limited-worker", 0) >= LIMITED_RUNS,
        timeout=120,
        interval=0.05,
        what=f"{LIMITED_RUNS} limited step executions",
    )
    server.stop(kill=True)
    before = drained_counts(app, wait_until)
    before_steps = {r: s["steps"] for r, s in before["runs"].items() if s["fn"] == "limited-worker"}
    assert sum(1 for s in before_steps.values() if s.get("second")) < LIMITED_RUNS

    server.start()
    runs = server.wait_many_event_runs(event_ids, timeout=240)
    after = app.counts()

    for event_id, started in runs.items():
        assert len(started) == 1, f"event {event_id} has {len(started)} runs: {started}"
        assert started[0]["status"] == "Completed", started
        steps = after["runs"][started[0]["run_id"]]["steps"]
        earlier = before_steps.get(started[0]["run_id"], {})
        for step in ("first", "second"):
            total, pre = steps.get(step, 0), earlier.get(step, 0)
            assert total >= 1 and pre <= 1 and total - pre <= 1, (step, earlier, steps)
    peak = after["peak_in_flight"]
    assert max(peak[f"g{n}"] for n in range(GROUPS)) == 2, peak
    assert peak["*"] <= 2 * GROUPS, peak


def test_kill_9_loses_no_gathered_event_and_keeps_the_throttle(
    surge_server: Callable[..., SurgeServer],
    app_process: Callable[..., AppProcess],
) -> None:
    server = surge_server()
    app = app_process("py", server)
    sync = app.sync()
    assert sync.status_code == 200 and not sync.json().get("error"), sync.text
    sent = time.time()
    batched = server.send(
        [{"name": "compat/batched.item", "data": {"group": "crash-b", "n": n}} for n in range(5)]
    )
    debounced = server.send(
        [{"name": "compat/debounced.item", "data": {"group": "crash-d", "v": v}} for v in range(3)]
    )
    throttled = server.send(
        [
            {"name": "compat/throttled.item", "data": {"group": "crash-t", "name": n}}
            for n in range(6)
        ]
    )

    # At once: the open batch of 2, the debounce and 3 throttled runs are all still waiting.
    server.stop(kill=True)
    server.start()

    batch_runs = server.wait_many_event_runs(batched, timeout=DEADLINE)
    outputs = sorted({tuple(runs[0]["output"]) for runs in batch_runs.values()})
    assert outputs == [(0, 1, 2), (3, 4)], batch_runs  # each event in exactly one batch
    (debounce_run,) = server.wait_event_runs(debounced[-1], 1, timeout=DEADLINE)
    assert debounce_run["output"] == 2
    assert all(server.event_runs(i) == [] for i in debounced[:-1])
    throttle_runs = server.wait_many_event_runs(throttled, timeout=DEADLINE)
    assert all(runs[0]["status"] == "Completed" for runs in throttle_runs.values())
    marks = app.counts()["marks"]
    # (A step the kill caught before its commit runs again after the restart, in the same run.)
    assert {m["name"] for m in marks["crash-b"]} == {"0,1,2", "3,4"}
    assert {m["name"] for m in marks["crash-d"]} == {"2"}
    # A run's start is its first.
    first: dict[str, float] = {}
    for m in marks["crash-t"]:
        first[m["name"]] = min(first.get(m["name"], m["t"]), m["t"])
    assert sorted(first) == [str(n) for n in range(6)]
    starts = sorted(t - sent for t in first.values())
    # 2 per 2 s, burst 1, from the send, across the restart: never sooner than the pace.
    for k, offset in enumerate(starts[3:], start=1):
        assert offset >= k * 1.0, starts


@pytest.mark.timeout(300)
def test_timers_due_while_the_server_was_down_fire_once_when_it_is_back(
    surge_server: Callable[..., SurgeServer],
    app_process: Callable[..., AppProcess],
    wait_until: Callable[..., Any],
) -> None:
    """A sleep and a wait's timeout fall due during a kill -9 outage: after the restart
    each resumes its run once, right away."""
    server = surge_server()
    app = app_process("py", server)
    assert app.sync().status_code == 200
    group = "outage"
    (waiting,) = server.send(
        {
            "name": "compat/approval.requested",
            "data": {"group": group, "request_id": "r-1", "timeout_ms": 3000},
        }
    )
    (sleeping,) = server.send({"name": "compat/child.run", "data": {"x": 5, "sleep_ms": 3000}})
    wait_until(lambda: app.counts()["marks"].get(group), timeout=DEADLINE, what="the wait to begin")
    time.sleep(0.5)  # both runs' first calls committed: one waits, one sleeps

    server.stop(kill=True)
    time.sleep(4.0)  # both fall due while the server is down
    server.start()

    (waited,) = server.wait_event_runs(waiting, 1, timeout=DEADLINE)
    (slept,) = server.wait_event_runs(sleeping, 1, timeout=DEADLINE)
    assert (waited["status"], waited["output"]) == ("Completed", {"decision": None}), waited
    assert (slept["status"], slept["output"]["doubled"]) == ("Completed", 10), slept
    assert [m["name"] for m in app.counts()["marks"][group]] == ["requested"]
    for run in (waited, slept):
        kinds = [
            h["kind"]
            for h in server.request("GET", f"/v1/runs/{run['run_id']}/history").json()["data"]
        ]
        assert kinds.count("completed") == 1, kinds


def test_kill_9_mid_http_step_requests_it_again_and_never_after_it_completed(
    surge_server: Callable[..., SurgeServer],
    app_process: Callable[..., AppProcess],
    wait_until: Callable[..., Any],
    stand_in: StandIn,
) -> None:
    """The server dies while it waits for the answer to a ``step.ai.infer`` request: after
    the restart the request is made again, and once its answer is memoized, never again."""
    server = surge_server(extra_args=["--allow-private-http-steps"])
    app = app_process("py", server)
    assert app.sync().status_code == 200
    base_url = f"{stand_in.url}/held"

    (event_id,) = server.send({"name": "compat/infer", "data": {"base_url": base_url}})
    wait_until(lambda: len(stand_in.requests) > 0, timeout=DEADLINE, what="the request")
    server.stop(kill=True)
    stand_in.release.set()  # too late for the dead server: nobody reads that answer
    server.start()

    (run,) = server.wait_event_runs(event_id, 1, timeout=DEADLINE)
    assert run["status"] == "Completed", run
    assert run["output"] == {"choices": [{"message": {"content": "held"}}]}, run
    server.stop()
    server.start()  # a restart after the run ended requests nothing
    time.sleep(1.0)
    assert [r["path"] for r in stand_in.requests] == ["/held/chat/completions"] * 2
    history = server.request("GET", f"/v1/runs/{run['run_id']}/history").json()["data"]
    assert [h["kind"] for h in history].count("completed") == 1, history
