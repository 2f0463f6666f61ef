"""Several `surge start` nodes on one PostgreSQL database share the work and survive kill -9.

Three nodes run a dynamic fan-out of two-step runs (the official Python SDK app in production
mode, counting every step execution) while the test kills a node with SIGKILL and restarts it,
three times. Every run must complete, once per item; a node's unfinished calls pass to the
others within the lease timeout.
"""

from __future__ import annotations

import random
import signal
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import AppProcess, SurgeServer

pytestmark = [pytest.mark.compat, pytest.mark.postgres]

SIGNING_KEY = "signkey-test-" + "3c" * 32
WORK_ITEMS = 2000
QUEUE_WORKERS = 100
LEASE_TIMEOUT_S = 3
KILLS = 3
SYNC_ROUNDS = 50


def worker_steps(app: AppProcess) -> dict[str, dict[str, int]]:
    return {
        run_id: dict(run["steps"])
        for run_id, run in app.counts()["runs"].items()
        if run["fn"] == "fanout-worker"
    }


@pytest.mark.timeout(420)
def test_three_nodes_finish_a_fan_out_while_nodes_are_killed_and_restarted(
    database_url: str,
    surge_server: Callable[..., SurgeServer],
    app_process: Callable[..., AppProcess],
    wait_until: Callable[..., Any],
) -> None:
    node_args = [
        "--db", database_url, "--lease-timeout", str(LEASE_TIMEOUT_S),
        "--queue-workers", str(QUEUE_WORKERS),
    ]  # fmt: skip
    nodes = [surge_server(signing_key=SIGNING_KEY, extra_args=node_args) for _ in range(3)]
    entry = nodes[0]  # the app registers and sends events here; it is never killed
    app = app_process("py", entry)
    sync = app.sync()
    assert sync.status_code == 200 and not sync.json().get("error"), sync.text
    # App syncs are seen by every node (they poll the registry's fingerprint).
    for node in nodes:
        wait_until(
            lambda node=node: f"{app.app_id}-fanout-worker" in node.function_slugs(),
            timeout=15,
            what=f"{node.name} to see the synced app",
        )

    (start_id,) = entry.send(
        {
            "name": "compat/fanout.start",
            # Steps long enough that the fan-out (at least 2,000 runs x 2 steps x 1 s / 300
            # calls in flight = 13.3 s) outlasts the kills below (at most 5.4 s of pauses,
            # plus three restarts of about a second each, longer on a loaded machine),
            # however fast the server is.
            "data": {"count": WORK_ITEMS, "tag": uuid.uuid4().hex, "step_sleep_ms": 1000},
        }
    )
    (orchestrator,) = entry.wait_event_runs(start_id, 1, timeout=120)
    assert orchestrator["status"] == "Completed", orchestrator
    item_event_ids: list[str] = orchestrator["output"]["event_ids"]

    chaos = random.Random(7)
    for _ in range(KILLS):
        time.sleep(chaos.uniform(0.3, 1.0))
        victim = chaos.choice(nodes[1:])
        victim.stop(kill=True)
        time.sleep(chaos.uniform(0.2, 0.8))
        victim.start()
    # Each worker run makes three ledger entries (two steps and its return); the kills must
    # have landed while work was still going, or this test proves nothing.
    executed = app.summary()["by_fn"].get("fanout-worker", 0)
    assert executed < WORK_ITEMS * 3, "the fan-out finished before the last kill"

    done = entry.wait_many_event_runs(item_event_ids, timeout=300)

    statuses = [runs[0]["status"] for runs in done.values() if len(runs) == 1]
    assert len(statuses) == WORK_ITEMS, "each item event must start exactly one run"
    assert set(statuses) == {"Completed"}
    steps = worker_steps(app)
    assert len(steps) == WORK_ITEMS
    counts = [(s.get("fetch-item", 0), s.get("process-item", 0)) for s in steps.values()]
    assert all(fetch >= 1 and process >= 1 for fetch, process in counts)
    # A step runs again only if its node died after the app ran it and before its result
    # was committed: at most the calls in flight on a killed node, per kill.
    repeats = sum(fetch - 1 + process - 1 for fetch, process in counts)
    assert repeats <= KILLS * QUEUE_WORKERS, f"{repeats} repeated step executions"


@pytest.mark.timeout(300)
def test_sigterm_hands_unfinished_calls_to_another_node_at_once(
    database_url: str,
    surge_server: Callable[..., SurgeServer],
    app_process: Callable[..., AppProcess],
    wait_until: Callable[..., Any],
) -> None:
    # A lease far longer than the test: the work can only move on if it is handed back.
    node_args = ["--db", database_url, "--lease-timeout", "600"]
    leaving = surge_server(signing_key=SIGNING_KEY, extra_args=node_args)
    app = app_process("py", leaving)
    sync = app.sync()
    assert sync.status_code == 200 and not sync.json().get("error"), sync.text
    (start_id,) = leaving.send(
        {
            "name": "compat/fanout.start",
            # Each worker step takes longer than the node's 10 s shutdown grace period.
            "data": {"count": 3, "tag": uuid.uuid4().hex, "step_sleep_ms": 15_000},
        }
    )
    wait_until(
        lambda: app.summary()["by_fn"].get("fanout-worker", 0) >= 3,
        timeout=60,
        what="the three worker runs to be inside their first step",
    )
    staying = surge_server(signing_key=SIGNING_KEY, extra_args=node_args)
    assert leaving.proc is not None
    leaving.proc.send_signal(signal.SIGTERM)
    # Uvicorn shuts down cleanly, then re-raises the signal it caught.
    assert leaving.proc.wait(timeout=60) in (0, -signal.SIGTERM), leaving.log_tail()

    (orchestrator,) = staying.wait_event_runs(start_id, 1, timeout=60)
    done = staying.wait_many_event_runs(orchestrator["output"]["event_ids"], timeout=120)

    assert {runs[0]["status"] for runs in done.values()} == {"Completed"}
    assert "handed back unfinished work" in leaving.log_tail()


@pytest.mark.timeout(300)
def test_an_event_sent_right_after_a_sync_through_another_node_starts_its_run(
    database_url: str,
    surge_server: Callable[..., SurgeServer],
    app_process: Callable[..., AppProcess],
) -> None:
    """Three nodes; the app syncs through the first; each event goes to another at once.

    Each round removes the app and syncs it again, so every event races a sync that changed
    which functions exist. Its run must be stored with it, whichever node took it.
    """
    nodes = [
        surge_server(signing_key=SIGNING_KEY, extra_args=["--db", database_url]) for _ in range(3)
    ]
    app = app_process("py", nodes[0])
    worker = f"{app.app_id}-fanout-worker"
    for n in range(SYNC_ROUNDS):
        removed = nodes[0].request("DELETE", "/fn/remove", params={"url": app.serve_url})
        assert removed.status_code == (404 if n == 0 else 200), removed.text
        sync = app.sync()
        assert sync.status_code == 200 and not sync.json().get("error"), sync.text
        node = nodes[1 + n % 2]

        (event_id,) = node.send({"name": "compat/fanout.item", "data": {"item_id": f"r{n}"}})

        runs = node.event_runs(event_id)
        assert [run["function_id"] for run in runs] == [worker], f"round {n} on {node.name}"
        # Finished before the next round removes the app it runs on.
        assert node.wait_run(runs[0]["run_id"])["status"] == "Completed"


REPLAYED = 600


@pytest.mark.timeout(300)
def test_a_replay_on_three_nodes_reruns_each_run_once_while_a_node_is_killed(
    database_url: str,
    surge_server: Callable[..., SurgeServer],
    app_process: Callable[..., AppProcess],
    wait_until: Callable[..., Any],
) -> None:
    """Events sent while the worker is paused record skipped runs; after resuming, a bulk
    replay reruns them. Its job moves from node to node (a killed node's lease runs out),
    yet every skipped run is rerun once, and each rerun runs its steps."""
    node_args = ["--db", database_url, "--lease-timeout", str(LEASE_TIMEOUT_S)]
    nodes = [surge_server(signing_key=SIGNING_KEY, extra_args=node_args) for _ in range(3)]
    entry = nodes[0]
    app = app_process("py", entry)
    sync = app.sync()
    assert sync.status_code == 200 and not sync.json().get("error"), sync.text
    worker = f"{app.app_id}-fanout-worker"
    assert entry.request("POST", f"/v1/functions/{worker}/pause").status_code == 200
    items = [
        {"name": "compat/fanout.item", "data": {"item_id": f"p{n}", "step_sleep_ms": 0}}
        for n in range(REPLAYED)
    ]
    event_ids = entry.send(items)
    skipped = entry.wait_many_event_runs(event_ids, timeout=60)
    assert {runs[0]["skip_reason"] for runs in skipped.values()} == {"paused"}
    assert worker_steps(app) == {}
    assert entry.request("POST", f"/v1/functions/{worker}/resume").status_code == 200

    body = {
        "function_id": worker,
        "started_after": "2000-01-01T00:00:00Z",
        "started_before": "2099-01-01T00:00:00Z",
        "statuses": ["Skipped"],
    }
    created = nodes[1].request("POST", "/v1/replays", json=body)
    assert created.status_code == 200, created.text
    replay_id = created.json()["data"]["id"]
    assert created.json()["data"]["total"] == REPLAYED
    time.sleep(0.2)
    nodes[2].stop(kill=True)  # whatever it held, batches or calls, passes to the others
    time.sleep(0.5)
    nodes[2].start()

    def finished() -> dict[str, Any] | None:
        data: dict[str, Any] = entry.request("GET", f"/v1/replays/{replay_id}").json()["data"]
        return data if data["done"] and data["runs"]["running"] == 0 else None

    done = wait_until(finished, timeout=180, what="the replay to finish")
    assert (done["started"], done["runs"]["completed"]) == (REPLAYED, REPLAYED), done
    reruns = entry.wait_many_event_runs(event_ids, timeout=60, per_event=2)
    for event_id, runs in reruns.items():
        by_status = {run["status"]: run for run in runs}
        assert sorted(by_status) == ["Completed", "Skipped"], (event_id, runs)
        rerun = entry.run(by_status["Completed"]["run_id"])
        assert rerun["original_run_id"] == by_status["Skipped"]["run_id"]
    steps = worker_steps(app)
    assert len(steps) == REPLAYED
    assert all(
        s.get("fetch-item", 0) >= 1 and s.get("process-item", 0) >= 1 for s in steps.values()
    )
