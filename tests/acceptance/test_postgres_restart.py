"""PostgreSQL itself restarts in the middle of a fan-out: nothing is lost, the server carries on.

This restarts the machine's PostgreSQL cluster (`pg_ctlcluster ... restart`), as an operator or
a failover would; the storage layer retries transient errors, the LISTEN connection
reconnects, and calls whose results could not be committed run again once their leases lapse.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

if TYPE_CHECKING:
    from conftest import AppProcess, SurgeServer

pytestmark = [pytest.mark.compat, pytest.mark.postgres]

POSTGRES_URI = "postgresql://postgres@127.0.0.1:5432/postgres"
SIGNING_KEY = "signkey-test-" + "7d" * 32
WORK_ITEMS = 1000
QUEUE_WORKERS = 100


def restart_postgres() -> None:
    """Restart the local PostgreSQL cluster and wait until it accepts connections again."""
    ctl = shutil.which("pg_ctlcluster")
    if ctl is None:
        pytest.fail("pg_ctlcluster is not installed: this test restarts the local PostgreSQL")
    version = sorted(Path("/etc/postgresql").iterdir())[0].name
    subprocess.run(
        [ctl, "--skip-systemctl-redirect", version, "main", "restart", "-m", "fast"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(POSTGRES_URI, connect_timeout=2):
                return
        except psycopg.OperationalError:
            assert time.monotonic() < deadline, "PostgreSQL did not come back within 30 s"
            time.sleep(0.2)


@pytest.mark.timeout(420)
def test_fan_out_survives_a_postgres_restart(
    database_url: str,
    surge_server: Callable[..., SurgeServer],
    app_process: Callable[..., AppProcess],
) -> None:
    node = surge_server(
        signing_key=SIGNING_KEY,
        extra_args=["--db", database_url, "--lease-timeout", "3"],
    )
    app = app_process("py", node)
    sync = app.sync()
    assert sync.status_code == 200 and not sync.json().get("error"), sync.text

    (start_id,) = node.send(
        {
            "name": "compat/fanout.start",
            "data": {"count": WORK_ITEMS, "tag": uuid.uuid4().hex, "step_sleep_ms": 500},
        }
    )
    (orchestrator,) = node.wait_event_runs(start_id, 1, timeout=120)
    assert orchestrator["status"] == "Completed", orchestrator
    item_event_ids: list[str] = orchestrator["output"]["event_ids"]

    time.sleep(0.5)
    restart_postgres()
    executed = app.summary()["by_fn"].get("fanout-worker", 0)
    assert executed < WORK_ITEMS * 3, "the fan-out finished before the restart"

    done = node.wait_many_event_runs(item_event_ids, timeout=300)

    assert all(len(runs) == 1 for runs in done.values()), "one run per item event"
    assert {runs[0]["status"] for runs in done.values()} == {"Completed"}
    counts: dict[str, Any] = app.counts()["runs"]
    workers = [run["steps"] for run in counts.values() if run["fn"] == "fanout-worker"]
    assert len(workers) == WORK_ITEMS
    assert all(s["fetch-item"] >= 1 and s["process-item"] >= 1 for s in workers)
    # A step runs again only when its result could not be committed while the database was
    # down: at most the calls in flight then, as no new call is leased during the outage.
    repeats = sum(s["fetch-item"] - 1 + s["process-item"] - 1 for s in workers)
    assert repeats <= 2 * QUEUE_WORKERS, f"{repeats} repeated step executions"
    assert node.running, "the server must carry on, not exit"
