"""``surge dev --db postgresql://…`` runs a dynamic fan-out on PostgreSQL.

The real CLI picks the PostgreSQL backend from the URL scheme of ``--db``; the official-Python-
SDK app (``tests/compat/py_app``) fans 300 events out to worker runs of two steps each and
counts every step execution, so "ran exactly once" is what user code saw.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

if TYPE_CHECKING:
    from conftest import AppProcess, SurgeServer

pytestmark = [pytest.mark.compat, pytest.mark.postgres]

FANOUT_ITEMS = 300


@pytest.mark.timeout(300)
def test_dynamic_fan_out_on_postgres_runs_every_item_once(
    database_url: str,  # first: the database outlives the server
    surge_server: Callable[..., SurgeServer],
    app_process: Callable[..., AppProcess],
) -> None:
    # A later --db wins over the SQLite file the launcher names.
    server = surge_server(extra_args=["--db", database_url])
    app = app_process("py", server)
    sync = app.sync()
    assert sync.status_code == 200 and not sync.json().get("error"), sync.text

    (start_id,) = server.send(
        {"name": "compat/fanout.start", "data": {"count": FANOUT_ITEMS, "tag": uuid.uuid4().hex}}
    )
    (orchestrator,) = server.wait_event_runs(start_id, 1, timeout=60)
    assert orchestrator["status"] == "Completed", orchestrator
    event_ids: list[str] = orchestrator["output"]["event_ids"]
    assert len(set(event_ids)) == FANOUT_ITEMS

    worker_runs = server.wait_many_event_runs(event_ids, timeout=180)

    ledger: dict[str, dict[str, Any]] = app.counts()["runs"]
    assert ledger[orchestrator["run_id"]]["steps"] == {"load-ids": 1}
    items_done = set()
    for event_id, runs in worker_runs.items():
        assert len(runs) == 1, f"event {event_id} started {len(runs)} runs: {runs}"
        (run,) = runs
        assert run["status"] == "Completed", run
        items_done.add(run["output"]["item_id"])
        steps = ledger[run["run_id"]]["steps"]
        assert (steps["fetch-item"], steps["process-item"]) == (1, 1), (run, steps)
    assert items_done == {f"item-{i}" for i in range(FANOUT_ITEMS)}
    # The data is in PostgreSQL, not in the SQLite file the launcher would have used.
    assert not server.db_path.exists()
    with psycopg.connect(database_url) as check:
        (stored_runs,) = check.execute("SELECT count(*) FROM runs").fetchone() or (0,)
    assert stored_runs == FANOUT_ITEMS + 1
