"""A rolling upgrade: nodes of the previous version and of this one serve one PostgreSQL
database together, while and after this one migrates it.

"The previous version" is the commit before the newest PostgreSQL migration landed, taken
from this repository's history (`git archive`) and run from its source with this checkout's
dependencies. It starts first and migrates a fresh database to its schema; a node of this
version then migrates it on (migrations only add, so the old node goes on working); a fan-out
sent to the old node runs over both; then the old node is stopped, as an upgrade ends, and
this version's node finishes the work. Every item runs exactly once.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import uuid
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from compat_stack import assert_each_item_ran_once

from processes import REPO_ROOT, SurgeServer, free_port

if TYPE_CHECKING:
    from conftest import AppProcess, Launcher

pytestmark = [pytest.mark.compat, pytest.mark.postgres]

SIGNING_KEY = "signkey-test-" + "6d" * 32
MIGRATIONS = "src/surge/storage/sql/postgres/migrations"
FANOUT_ITEMS = 200


def _git(*args: str) -> bytes:
    try:
        return subprocess.run(
            ["git", "-C", str(REPO_ROOT), *args], check=True, capture_output=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.fail(f"this test needs the repository's git history (git {' '.join(args)}): {exc}")


def _previous_version(into: Path) -> tuple[str, int]:
    """The source of the commit before the newest migration landed, under `into`; its
    commit and its newest migration."""
    newest = sorted((REPO_ROOT / MIGRATIONS).glob("*.sql"))[-1]
    added = _git("log", "-1", "--format=%H", "--", str(newest.relative_to(REPO_ROOT)))
    old = _git("rev-parse", f"{added.decode().strip()}^").decode().strip()
    archive = _git("archive", "--format=tar", old, "src/surge")
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    versions = sorted(int(p.name[:4]) for p in (into / MIGRATIONS).glob("*.sql"))
    return old, versions[-1]


class OldSurgeServer(SurgeServer):
    """A `surge start` node run from the previous version's source."""

    def __init__(self, source: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.name = f"old {self.name}"

    def argv(self) -> list[str]:
        run = (
            f"import sys; sys.path.insert(0, {str(self.source)!r});"
            " from surge.cli.main import main; sys.exit(main())"
        )
        return [sys.executable, "-c", run, *super().argv()[1:]]


def _calls_made(server: SurgeServer) -> float:
    """The calls to apps the node has made (`surge_step_calls` in its metrics)."""
    text = server.http.get("/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("surge_step_calls_total{")
    )


def _schema_version(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return int(row[0]) if row else 0


@pytest.mark.timeout(300)
def test_the_previous_version_and_this_one_serve_one_database_through_an_upgrade(
    database_url: str,  # first: the database outlives the servers
    launcher: Launcher,
    surge_server: Callable[..., SurgeServer],
    app_process: Callable[..., AppProcess],
    tmp_path: Path,
) -> None:
    commit, old_schema = _previous_version(tmp_path / "old")
    port = free_port()
    old = OldSurgeServer(
        tmp_path / "old" / "src",
        port=port,
        db_path=tmp_path / "unused.db",
        log_path=launcher.base_dir / f"surge-old-{port}.log",
        sdk_urls=[],
        extra_args=["--db", database_url],
        signing_key=SIGNING_KEY,
    )
    try:
        old.start()
        assert _schema_version(database_url) == old_schema, commit
        new = surge_server(signing_key=SIGNING_KEY, extra_args=["--db", database_url])
        assert _schema_version(database_url) > old_schema  # this version migrated it on
        app = app_process("py", new)
        sync = app.sync()
        assert sync.status_code == 200 and not sync.json().get("error"), sync.text

        (start_id,) = old.send(
            {
                "name": "compat/fanout.start",
                "data": {"count": FANOUT_ITEMS, "tag": uuid.uuid4().hex},
            }
        )
        (orchestrator,) = new.wait_event_runs(start_id, 1, timeout=60)
        assert orchestrator["status"] == "Completed", orchestrator
        event_ids: list[str] = orchestrator["output"]["event_ids"]
        old_calls = _calls_made(old)
        old.stop()  # the upgrade ends: the old node hands its unfinished work back
        worker_runs = new.wait_many_event_runs(event_ids, timeout=180)
    finally:
        old.close()
    assert old_calls > 0 and _calls_made(new) > 0, "both versions called the app"

    ledger: dict[str, dict[str, Any]] = app.counts()["runs"]
    assert_each_item_ran_once(worker_runs, ledger)
    assert "ERROR" not in old.log_tail(), old.log_tail()
