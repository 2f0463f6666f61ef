"""``surge start`` through PgBouncer in transaction mode, the pooler most PostgreSQL
deployments put in front of the database.

A transaction-mode pooler hands each transaction whichever server connection is free, so
nothing may outlive a transaction on it: no prepared statement, no ``LISTEN``, no session
lock. With ``--postgres-session-uri`` (a direct connection, for ``LISTEN`` and the
migrations), Surge sends its pooled work as plain statements. PgBouncer here gets fewer server
connections than Surge opens, so consecutive transactions of one Surge connection do land on
different server connections; a fan-out through it runs every item exactly once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import psycopg
import pytest
from compat_stack import assert_each_item_ran_once

from processes import free_port

if TYPE_CHECKING:
    from conftest import AppProcess, SurgeServer

pytestmark = [pytest.mark.compat, pytest.mark.postgres]

PGBOUNCER = "/usr/sbin/pgbouncer"
SIGNING_KEY = "signkey-test-" + "4b" * 32
FANOUT_ITEMS = 200
SERVER_CONNECTIONS = 3
"""PgBouncer's server connections for the database: fewer than Surge's pool opens."""


@pytest.fixture
def pgbouncer(database_url: str) -> Iterator[str]:
    """A PgBouncer in transaction mode in front of `database_url`; its URL."""
    if shutil.which(PGBOUNCER) is None:
        pytest.fail(f"no PgBouncer at {PGBOUNCER}: install Debian's pgbouncer (.ci/run does)")
    target = urlsplit(database_url)
    name, user = target.path.lstrip("/"), target.username or "postgres"
    port = free_port()
    # Not under pytest's tmp_path: its parents are the root user's alone.
    home = Path(tempfile.mkdtemp(prefix="surge-pgbouncer-"))
    (home / "users.txt").write_text(f'"{user}" ""\n')
    (home / "pgbouncer.ini").write_text(
        f"[databases]\n{name} = host={target.hostname} port={target.port or 5432}"
        f" dbname={name}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {home / 'users.txt'}\nadmin_users = {user}\n"
        f"pool_mode = transaction\ndefault_pool_size = {SERVER_CONNECTIONS}\n"
        "max_client_conn = 100\nignore_startup_parameters = extra_float_digits\n"
        f"logfile = {home / 'pgbouncer.log'}\n"
    )
    (home / "pgbouncer.log").touch()
    command = [PGBOUNCER, str(home / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        for path in (home, *home.iterdir()):
            path.chmod(0o777)
        command = ["runuser", "-u", "postgres", "--", *command]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"postgresql://{user}@127.0.0.1:{port}/{name}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with psycopg.connect(url, connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                break
            except psycopg.OperationalError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (home / "pgbouncer.log").read_text()
                    pytest.fail(f"PgBouncer did not start:\n{log}")
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(home, ignore_errors=True)


def _transactions_through(bouncer_url: str) -> int:
    """How many transactions PgBouncer has passed to the database so far (`SHOW STATS`)."""
    admin = urlsplit(bouncer_url)._replace(path="/pgbouncer").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        cursor = conn.execute("SHOW STATS")
        columns = [c.name for c in cursor.description or ()]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    name = urlsplit(bouncer_url).path.lstrip("/")
    return sum(int(row["total_xact_count"]) for row in rows if row["database"] == name)


@pytest.mark.timeout(300)
def test_a_fan_out_through_pgbouncer_in_transaction_mode_runs_every_item_once(
    database_url: str,  # first: the database outlives the server
    pgbouncer: str,
    surge_server: Callable[..., SurgeServer],
    app_process: Callable[..., AppProcess],
) -> None:
    # With a password (trust auth ignores it), to see that GET /dev does not show it.
    direct = database_url.replace("postgresql://postgres@", "postgresql://postgres:s3cret@")
    assert direct != database_url
    server = surge_server(
        signing_key=SIGNING_KEY,
        extra_args=["--db", pgbouncer, "--postgres-session-uri", direct],
    )
    app = app_process("py", server)
    sync = app.sync()
    assert sync.status_code == 200 and not sync.json().get("error"), sync.text
    before = _transactions_through(pgbouncer)

    (start_id,) = server.send(
        {"name": "compat/fanout.start", "data": {"count": FANOUT_ITEMS, "tag": uuid.uuid4().hex}}
    )
    (orchestrator,) = server.wait_event_runs(start_id, 1, timeout=60)
    assert orchestrator["status"] == "Completed", orchestrator
    event_ids: list[str] = orchestrator["output"]["event_ids"]
    worker_runs = server.wait_many_event_runs(event_ids, timeout=180)

    ledger: dict[str, dict[str, Any]] = app.counts()["runs"]
    assert_each_item_ran_once(worker_runs, ledger)
    # The work went through PgBouncer (each worker run is several transactions), and the
    # runs are in the database behind it.
    assert _transactions_through(pgbouncer) - before > 2 * FANOUT_ITEMS
    with psycopg.connect(database_url) as check:
        (stored_runs,) = check.execute("SELECT count(*) FROM runs").fetchone() or (0,)
    assert stored_runs == FANOUT_ITEMS + 1
    # GET /dev shows the options without the database password.
    shown = server.http.get("/dev")
    assert "s3cret" not in shown.text
    assert shown.json()["startOpts"]["postgres_session_uri"] == direct.replace("s3cret", "***")
