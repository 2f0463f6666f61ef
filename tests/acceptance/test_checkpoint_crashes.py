"""``kill -9`` of the app in the middle of a checkpointed fan-out: every run completes from its
last acknowledged step, and no step whose checkpoint was acknowledged runs again.

A real ``surge dev`` runs a 2,000-run dynamic fan-out of an app that checkpoints: on the
official TypeScript SDK (``tests/compat/ts_app``, its v4 default) and on the Surge SDK
(``tests/compat/surge_app``). Each worker call runs ``fetch-item``, reports it to
``/v1/checkpoint``, and runs ``process-item`` only once the server has acknowledged it (the
TypeScript SDK reports that one too before it answers; the Surge SDK sends it with its answer).
The app is SIGKILLed while the worker runs are in full swing and started again on the same
port; the server retries the calls it lost. The app appends every step execution to a file
(``LEDGER_FILE``) before the step body goes on, so what ran before the kill survives it.
(``test_crash_safety.py`` kills the server instead.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import AppProcess, SurgeServer

pytestmark = pytest.mark.compat

WORK_ITEMS = 2000
QUEUE_WORKERS = 100
STEP_SLEEP_MS = 20
RETURNED = "(returned)"
WORKER_KEYS = ("fetch-item", "process-item", RETURNED)
KILL_AFTER = WORK_ITEMS * len(WORKER_KEYS) * 2 // 3


def ledger(path: Path) -> dict[str, Counter[str]]:
    """``{run_id: Counter(step)}`` of the fan-out worker's executions in the file."""
    runs: dict[str, Counter[str]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            run_id, fn, step = line.split("\t")
            if fn == "fanout-worker":
                runs.setdefault(run_id, Counter())[step] += 1
    return runs


def entries(path: Path) -> int:
    return sum(sum(steps.values()) for steps in ledger(path).values())


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", ["ts", "surge"])
def test_kill_9_of_a_checkpointing_app_resumes_every_run_from_its_last_acknowledged_step(
    surge_server: Callable[..., SurgeServer],
    app_process: Callable[..., AppProcess],
    wait_until: Callable[..., Any],
    tmp_path: Path,
    kind: str,
) -> None:
    # Retries spaced so that a call failing while the app is down is retried after it is back.
    server = surge_server(
        extra_args=["--queue-workers", str(QUEUE_WORKERS), "--retry-interval", "1"]
    )
    journal = tmp_path / "ledger.tsv"
    app = app_process(kind, server, env={"LEDGER_FILE": str(journal)})
    sync = app.sync()
    assert sync.status_code == 200 and not sync.json().get("error"), sync.text

    (start_id,) = server.send(
        {
            "name": "compat/fanout.start",
            "data": {"count": WORK_ITEMS, "step_sleep_ms": STEP_SLEEP_MS},
        }
    )
    (orchestrator,) = server.wait_event_runs(start_id, 1, timeout=120)
    assert orchestrator["status"] == "Completed", orchestrator
    event_ids: list[str] = orchestrator["output"]["event_ids"]

    wait_until(
        lambda: entries(journal) >= KILL_AFTER,
        timeout=120,
        interval=0.05,
        what=f"{KILL_AFTER} worker step executions",
    )
    app.stop(kill=True)
    before = ledger(journal)
    finished_before = sum(1 for steps in before.values() if steps[RETURNED])
    assert finished_before < WORK_ITEMS, "the fan-out finished before the kill: raise WORK_ITEMS"
    app.start()

    worker_runs = server.wait_many_event_runs(event_ids, timeout=240)
    after = ledger(journal)

    # 1. Every item ran to completion, in exactly one run.
    done = set()
    for event_id, runs in worker_runs.items():
        assert len(runs) == 1, f"event {event_id} has {len(runs)} runs: {runs}"
        (run,) = runs
        assert run["status"] == "Completed", run
        done.add(run["output"]["item_id"])
    assert done == {f"item-{i}" for i in range(WORK_ITEMS)}
    assert set(after) == {runs[0]["run_id"] for runs in worker_runs.values()}

    # 2. No acknowledged step ran again. The SDK begins process-item only once fetch-item's
    #    checkpoint is acknowledged, so a run that had begun process-item before the kill never
    #    runs fetch-item again. (The code after a step, up to the return, runs on while its
    #    checkpoint is in flight, so a return before the kill says nothing about process-item.)
    #    A step the kill caught unacknowledged (running, or its checkpoint in flight) may run
    #    once more; nothing runs twice on either side of the kill; and only the calls in
    #    flight at the kill can repeat anything.
    repeats = 0
    for run_id, steps in after.items():
        earlier = before.get(run_id, Counter())
        for key in WORKER_KEYS:
            total, pre = steps[key], earlier[key]
            assert total >= 1, f"run {run_id} completed without executing {key}: {steps}"
            assert pre <= 1 and total - pre <= 1, (
                f"run {run_id}: {key} ran {pre}x before the kill and {total - pre}x after"
            )
            repeats += total - 1
        if earlier["process-item"]:
            assert steps["fetch-item"] == 1, (
                f"run {run_id}: fetch-item ran again after its checkpoint was acknowledged"
                f" (before the kill {dict(earlier)}, in all {dict(steps)})"
            )
    # A call caught in flight repeats at most its one unacknowledged step and the return.
    assert repeats <= 2 * QUEUE_WORKERS, (
        f"{repeats} step executions repeated; at most {QUEUE_WORKERS} calls were in flight"
    )
