"""Server setups for the fan-out benchmark: SQLite or PostgreSQL, one node or several.

``bench/fanout.py --db postgresql://…`` runs each stub configuration three times, every time
with ``surge start`` (signed traffic, an event key) on a fresh database: SQLite with one node,
PostgreSQL with one node, and PostgreSQL with two nodes sharing one database (the app registers
with the first; its event chunks go to each node in turn). For each it also measures the event
ingest rate: a burst of `INGEST_POSTS` concurrent ``POST /e/`` of `INGEST_CHUNK` events that
trigger nothing, spread over the nodes.

The PostgreSQL URL names the server (and a database to connect to for ``CREATE DATABASE``);
each configuration gets its own ``surge_bench_<random>`` database, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
import psycopg

SIGNING_KEY = "signkey-bench-" + "5e" * 32
EVENT_KEY = "bench"
INGEST_POSTS = 10
INGEST_CHUNK = 5000
PG_TARGET = 1500  # SDK calls/s on one PostgreSQL node with the stub app (issue 4)


def is_postgres(url: str | None) -> bool:
    return bool(url) and str(url).startswith(("postgres://", "postgresql://"))


@dataclass(frozen=True)
class Setup:
    """Where the server keeps its data, how many nodes share it, and which command runs them."""

    backend: str = "sqlite"  # or "postgres"
    nodes: int = 1
    production: bool = False  # `surge start` (signed traffic) rather than `surge dev`
    plain: bool = False  # PostgreSQL statements as text, as through a pooler (no prepared ones)

    @property
    def label(self) -> str:
        name = "sqlite" if self.backend == "sqlite" else "pg"
        nodes = f" x{self.nodes}" if self.nodes > 1 else ""
        plain = " plain" if self.plain else ""
        return f"{name}{nodes}{plain} ({'start' if self.production else 'dev'})"

    @property
    def headers(self) -> dict[str, str]:
        """What the benchmark sends on the server's API (not on /e/)."""
        return {"authorization": f"Bearer {SIGNING_KEY}"} if self.production else {}

    @property
    def event_key(self) -> str:
        return EVENT_KEY

    def app_args(self) -> list[str]:
        if not self.production:
            return []
        return ["--signing-key", SIGNING_KEY, "--event-key", EVENT_KEY]

    def server_cmd(self, surge: str, port: int, db: str, app_url: str | None) -> list[str]:
        """The command line of one node; only the node given `app_url` syncs the app."""
        sync = ["-u", app_url] if app_url else []
        if not self.production:
            cmd = [surge, "dev", "--host", "127.0.0.1", "--port", str(port), "--db", db]
            return [*cmd, "--no-discovery", "--no-poll", *sync]
        cmd = [surge, "start", "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--signing-key", SIGNING_KEY, "--event-key", EVENT_KEY]
        cmd += ["--postgres-uri" if self.backend == "postgres" else "--db", db]
        if self.plain:  # the same URL as the session's: what a pooler's users run
            cmd += ["--postgres-session-uri", db]
        return [*cmd, *sync]


DEV = Setup()
PG_SETUPS = (
    Setup("sqlite", 1, production=True),
    Setup("postgres", 1, production=True),
    Setup("postgres", 2, production=True),
)
PLAIN = Setup("postgres", 1, production=True, plain=True)


SETUP_NAMES = {
    "sqlite": PG_SETUPS[0],
    "pg": PG_SETUPS[1],
    "pg2": PG_SETUPS[2],
    "pg-plain": PLAIN,
}
"""What ``--setup`` may choose from, with a PostgreSQL ``--db``."""


def setups_for(db: str | None, names: list[str] | None = None) -> tuple[Setup, ...]:
    if not is_postgres(db):
        return (DEV,)
    return tuple(SETUP_NAMES[name] for name in names) if names else PG_SETUPS


# --- databases ----------------------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@asynccontextmanager
async def database(
    setup: Setup, db: str | None, sqlite_path: Callable[[], Path]
) -> AsyncIterator[str]:
    """A fresh database for one stack: a new SQLite path, or a new PostgreSQL database."""
    if setup.backend == "sqlite":
        yield str(sqlite_path())
        return
    assert db is not None
    async with postgres_database(db) as url:
        yield url


@asynccontextmanager
async def postgres_database(db: str) -> AsyncIterator[str]:
    """A new PostgreSQL database on the server `db` names, dropped afterwards."""
    name = f"surge_bench_{secrets.token_hex(6)}"
    with psycopg.connect(db, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield _with_database(db, name)
    finally:
        with psycopg.connect(db, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _proc_cpu(pid: int, clk_tck: int) -> float | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / clk_tck


def db_backend_cpu(db: str, clk_tck: int) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving `db` (empty for SQLite)."""
    if not is_postgres(db):
        return {}
    with psycopg.connect(db, autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    cpu = {pid: _proc_cpu(pid, clk_tck) for (pid,) in rows}
    return {pid: seconds for pid, seconds in cpu.items() if seconds is not None}


class WaitSampler:
    """What the backends serving a PostgreSQL `db` are doing, sampled every `interval` s while
    the sampler runs (a thread of its own, its own connection): each sample counts every
    backend of the database but its own as on CPU (active, no wait), waiting on a lock
    (`Lock`: row and advisory locks; `LWLock`: PostgreSQL's internal ones), on I/O (`IO`, WAL
    flushes included), on the node inside a transaction (`ClientRead` while idle in
    transaction: a round trip), or idle between transactions."""

    def __init__(self, db: str, interval: float = 0.02) -> None:
        self._db, self._interval = db, interval
        self.counts: dict[str, int] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> WaitSampler:
        if is_postgres(self._db):
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        sql = (
            "SELECT state, wait_event_type, wait_event FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"
        )
        with psycopg.connect(self._db, autocommit=True, connect_timeout=5) as conn:
            while not self._stop.wait(self._interval):
                for state, kind, event in conn.execute(sql).fetchall():
                    what = _what(state, kind, event)
                    self.counts[what] = self.counts.get(what, 0) + 1
                self.samples += 1

    def shares(self) -> dict[str, float]:
        """Per state, the average number of backends in it (backends per sample)."""
        return {k: v / max(1, self.samples) for k, v in sorted(self.counts.items())}


def _what(state: str | None, kind: str | None, event: str | None) -> str:
    if state == "active":
        return "cpu" if kind is None else f"{kind}:{event}"
    if state == "idle in transaction":
        return "in transaction, waiting on the node"
    return "idle"


def cpu_since(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU the backends used between two `db_backend_cpu` snapshots (new ones from zero)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


# --- the ingest burst ---------------------------------------------------------------------


async def ingest_burst(
    setup: Setup, urls: list[str], server_cpu: Callable[[], float], db: str, clk_tck: int
) -> dict[str, Any]:
    """`INGEST_POSTS` concurrent POSTs of `INGEST_CHUNK` untriggered events, over the nodes."""
    bodies = [
        orjson.dumps(
            [
                {"name": "bench/ingest", "data": {"i": i, "pad": "x" * 32}}
                for i in range(k * INGEST_CHUNK, (k + 1) * INGEST_CHUNK)
            ]
        )
        for k in range(INGEST_POSTS)
    ]
    clients = [httpx.AsyncClient(base_url=url, timeout=300.0) for url in urls]
    try:
        cpu0, db0 = server_cpu(), db_backend_cpu(db, clk_tck)
        t0 = time.perf_counter()

        async def post(k: int) -> int:
            resp = await clients[k % len(clients)].post(f"/e/{setup.event_key}", content=bodies[k])
            resp.raise_for_status()
            return len(resp.json()["ids"])

        accepted = sum(await asyncio.gather(*(post(k) for k in range(INGEST_POSTS))))
        elapsed = time.perf_counter() - t0
        cpu = server_cpu() - cpu0
        db_cpu = cpu_since(db0, db_backend_cpu(db, clk_tck))
    finally:
        for client in clients:
            with suppress(httpx.HTTPError):
                await client.aclose()
    sent = INGEST_POSTS * INGEST_CHUNK
    return {
        "setup": setup.label,
        "events": sent,
        "accepted": accepted,
        "ok": accepted == sent,
        "elapsed_s": elapsed,
        "events_per_s": accepted / elapsed,
        "server_cpu_us_per_event": cpu * 1e6 / max(1, accepted),
        "db_cpu_us_per_event": db_cpu * 1e6 / max(1, accepted),
    }
