"""Volume benchmark: GraphQL reads on a database of 1,000,000 stored runs.

    .venv/bin/python bench/volume.py [--runs 1000000] [--backends sqlite pg] [--keep DIR]

Each backend gets a fresh database (SQLite: `surge dev`'s file; PostgreSQL: a new
``surge_volume`` database), filled in two phases, then measured:

1. Seed, through the real server (`surge dev` / `surge start`, a subprocess on loopback): an
   app served by this script syncs 20 functions and ``volume-steps``, which really runs its
   1,000 ``step.run`` steps; one run of ``volume-fn-00`` ends each way (Completed, Failed,
   Cancelled, Skipped by its idempotency key, Running asleep for 60 days).
2. Bulk, the server stopped: every row those five runs own is cloned with the driver
   (``executemany`` / ``COPY``) for ``--runs`` runs over the 20 functions and 30 days, with
   ULIDs minted at each clone's times: the rows are the server's own, whatever the schema.
3. Measure: the server started again; ``--requests`` sequential requests of each query after
   a warm-up, over loopback HTTP, with p50/p95/p99 as a markdown table.

The generation runs at ``nice`` 10; the measured server at normal priority, with
``SURGE_RETENTION=forever`` (`surge start` would delete runs older than 30 days meanwhile).
``--keep DIR`` keeps both databases; ``--reuse DIR`` measures them again without generating
(before and after a change). See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx
import orjson
import psycopg
from cluster import DEV, Setup
from fanout import SURGE, Proc, free_port, pct, stop_all, wait_http
from stub_app import BASE_HEADERS, HttpProtocol, sha1, step_run

from surge.core.ids import new_ulid

APP_ID = "volume"
FUNCTIONS = 20
STEPS_FN = f"{APP_ID}-steps"
STEPS_EVENT = "volume/steps"
PG_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DATABASE = "surge_volume"
DAY_MS = 86_400_000
CHUNK = 20_000
"""Runs generated (and committed) at a time."""
STATUS_MIX = dict(completed=0.82, failed=0.07, skipped=0.05, cancelled=0.03, running=0.03)
FN_WEIGHTS = [1 / (k + 1) ** 0.8 for k in range(FUNCTIONS)]
TABLES = ("events", "runs", "run_events", "history", "memos", "work_items", "pauses")
"""What a run owns, in insert order; `history` and `work_items` ids are the database's."""
GQL = "/v0/gql"


def fn_slug(k: int) -> str:
    return f"{APP_ID}-fn-{k:02d}"


def fn_event(k: int) -> str:
    return f"volume/evt-{k:02d}"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the app --------------------------------------------------------------------------------

REASONS = {200: b"OK", 206: b"Partial Content", 404: b"Not Found", 500: b"Server Error"}


def answer(status: int, payload: Any, *, no_retry: bool = False) -> bytes:
    body = orjson.dumps(payload)
    extra = b"x-inngest-no-retry: true\r\n" if no_retry else b""
    head = b"HTTP/1.1 %d %s\r\n" % (status, REASONS[status]) + BASE_HEADERS + extra
    return head + b"content-length: %d\r\n\r\n" % len(body) + body


class VolumeApp:
    """The functions, answering by the number of memos and ``event.data.outcome``.

    ``volume-fn-NN``: StepRun ``load``; then ``fail`` answers a non-retriable 500, ``sleep``
    sleeps 60 days, else StepRun ``save`` and 200. ``volume-steps``: StepRun ``step-<k>``
    until `steps` are memoized, then 200.
    """

    def __init__(self, port: int, steps: int, headers: dict[str, str]) -> None:
        self.url = f"http://127.0.0.1:{port}/api/inngest"
        self.port = port
        self.steps = steps
        self.headers = {"content-type": "application/json", "x-inngest-sdk": "stub:v0", **headers}
        self.server = ""
        self.client = httpx.AsyncClient(timeout=60.0)

    async def handle(self, method: bytes, target: bytes, body: bytes) -> bytes:
        parts = urlsplit(target.decode())
        if parts.path != "/api/inngest":
            return answer(404, {"error": "not found"})
        if method == b"PUT":
            return await self.register()
        if method == b"POST":
            return self.execute(parse_qs(parts.query).get("fnId", [""])[0], orjson.loads(body))
        return answer(200, {"function_count": FUNCTIONS + 1, "mode": "dev"})

    def function(self, slug: str, event: str, **options: Any) -> dict[str, Any]:
        url = f"{self.url}?fnId={slug}&stepId=step"
        step = {"id": "step", "name": "step", "runtime": {"type": "http", "url": url}}
        return {
            "id": slug,
            "name": slug.removeprefix(f"{APP_ID}-"),
            "triggers": [{"event": event}],
            "steps": {"step": {**step, "retries": {"attempts": 3}}},
            **options,
        }

    async def register(self) -> bytes:
        functions = [
            self.function(fn_slug(k), fn_event(k), idempotency="event.data.order")
            for k in range(FUNCTIONS)
        ]
        payload = {
            "appname": APP_ID,
            "deploy_type": "ping",
            "url": self.url,
            "sdk": "stub:v0",
            "v": "0.1",
            "framework": "stub",
            "functions": [*functions, self.function(STEPS_FN, STEPS_EVENT)],
        }
        resp = await self.client.post(
            f"{self.server}/fn/register",
            content=orjson.dumps(payload),
            headers=self.headers,
        )
        return answer(200, resp.json())

    def execute(self, fn: str, req: dict[str, Any]) -> bytes:
        done = len(req.get("steps") or {})
        data = (req.get("event") or {}).get("data") or {}
        if fn == STEPS_FN:
            if done < self.steps:
                return answer(206, step_run(f"step-{done}", {"k": done, "ok": True}))
            return answer(200, {"steps": done})
        outcome = data.get("outcome")
        if done == 0:
            return answer(206, step_run("load", {"order": data.get("order"), "amount": 4200}))
        if outcome == "fail":
            error = {"name": "Error", "message": "card declined", "stack": "Error: card declined"}
            return answer(500, error, no_retry=True)
        if outcome == "sleep" and done == 1:
            op = {"op": "Sleep", "id": sha1("settle"), "name": "settle"}
            return answer(206, [{**op, "displayName": "settle", "opts": {"duration": "60d"}}])
        if done == 1:
            return answer(206, step_run("save", {"saved": True}))
        return answer(200, {"ok": True, "order": data.get("order")})


# --- databases ------------------------------------------------------------------------------


class SqliteDb:
    """The driver connection templates are read, and clones written, through (so is PgDb)."""

    def __init__(self, path: str) -> None:
        self.path = path
        # The bulk writes from a thread of its own (`bulk`).
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA busy_timeout = 10000")
        self.backend_pid: int | None = None

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, params).fetchall()

    def insert(self, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        if not self.conn.in_transaction:
            self.conn.execute("PRAGMA synchronous = OFF")  # this connection only
            self.conn.execute("PRAGMA cache_size = -524288")
            self.conn.execute("BEGIN")
        marks = ", ".join("?" * len(columns))
        self.conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def commit(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("COMMIT")

    def finish(self) -> None:
        """After the bulk, what a database in service would have had done to it."""
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def size(self) -> int:
        return sum(os.path.getsize(p) for p in (self.path, f"{self.path}-wal") if os.path.exists(p))


class PgDb:
    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.backend_pid: int | None = self.conn.info.backend_pid

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql.replace("?", "%s"), params).fetchall()  # type: ignore[arg-type]

    def insert(self, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        if self.conn.autocommit:
            self.conn.autocommit = False  # one transaction a chunk, as on SQLite
        copy_sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with self.conn.cursor() as cur, cur.copy(copy_sql) as copy:  # type: ignore[arg-type]
            for row in rows:
                copy.write_row(row)

    def commit(self) -> None:
        self.conn.commit()
        self.conn.autocommit = True

    def finish(self) -> None:
        self.conn.execute("VACUUM ANALYZE")  # as autovacuum would, soon after such a load

    def size(self) -> int:
        return int(self.conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])


Db = SqliteDb | PgDb


def drop_pg(server: str, *, then_create: bool = False) -> None:
    """Drop `PG_DATABASE` on `server` (and create it afresh)."""
    with psycopg.connect(server, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        if then_create:
            admin.execute(f"CREATE DATABASE {PG_DATABASE}")


# --- templates: the rows of one real run, as format strings ---------------------------------

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ULID = re.compile(r"(?<![0-9A-Za-z])[0-7][0-9A-HJKMNP-TV-Z]{25}(?![0-9A-Za-z])")
_MILLIS = re.compile(r"(?<![\w.])\d{13}(?![\w.])")
CONST, TEXT, TIME = 0, 1, 2


def _slot(key: str) -> str:
    return "{" + key + "}"  # a replacement field


def ulid_ms(ulid: str) -> int:
    value = 0
    for char in ulid[:10]:
        value = value * 32 + _CROCKFORD.index(char)
    return value


@dataclass
class Template:
    """One run's rows; each cell a constant, a format string or a time (`clone` fills them)."""

    status: str
    t0: int
    """The run's `started_at`: offsets are from it."""
    window: tuple[int, int]
    """Integers and ULID times in it are times of the seed, shifted in each clone."""
    literals: dict[str, str]
    """Text replaced by a per-clone value: the function's slug, event name, order."""
    times: dict[int, str] = field(default_factory=dict)
    ulids: dict[str, str] = field(default_factory=dict)
    rows: list[tuple[str, tuple[tuple[int, Any], ...]]] = field(default_factory=list)

    def _time(self, ms: int) -> str:
        return self.times.setdefault(ms, f"t{len(self.times)}")

    def _text(self, text: str) -> tuple[int, Any]:
        escaped = text.replace("{", "{{").replace("}", "}}")

        def ulid(m: re.Match[str]) -> str:
            lo, hi = self.window
            if not lo <= ulid_ms(m.group()) <= hi:
                return m.group()
            return _slot(self.ulids.setdefault(m.group(), f"u{len(self.ulids)}"))

        def millis(m: re.Match[str]) -> str:
            lo, hi = self.window
            ms = int(m.group())
            return _slot(self._time(ms)) if lo <= ms <= hi else m.group()

        out = _MILLIS.sub(millis, _ULID.sub(ulid, escaped))
        for literal, key in self.literals.items():
            out = out.replace(literal, _slot(key))
        return (CONST, text) if out == escaped else (TEXT, out)

    def add(self, table: str, row: tuple[Any, ...]) -> None:
        cells: list[tuple[int, Any]] = []
        lo, hi = self.window
        for value in row:
            if isinstance(value, str):
                cells.append(self._text(value))
            elif type(value) is int and lo <= value <= hi:
                cells.append((TIME, self._time(value)))
            else:
                cells.append((CONST, value))
        self.rows.append((table, tuple(cells)))

    def clone(
        self, start: int, scale: float, values: dict[str, str]
    ) -> Iterator[tuple[str, tuple[Any, ...]]]:
        """The rows of a run started at `start`, its durations times `scale`."""
        ctx: dict[str, Any] = dict(values)
        t0 = self.t0
        for ms, key in self.times.items():
            ctx[key] = start + int((ms - t0) * scale)
        for ulid, key in self.ulids.items():
            ctx[key] = new_ulid(start + int((ulid_ms(ulid) - t0) * scale))
        for table, cells in self.rows:
            yield (
                table,
                tuple(
                    v if k == CONST else (v.format_map(ctx) if k == TEXT else ctx[v])
                    for k, v in cells
                ),
            )


_OWNED = {
    "runs": "SELECT {cols} FROM runs WHERE id = ?",
    "run_events": "SELECT {cols} FROM run_events WHERE run_id = ?",
    "history": "SELECT {cols} FROM history WHERE run_id = ? ORDER BY id",
    "memos": "SELECT {cols} FROM memos WHERE run_id = ? ORDER BY seq",
    "work_items": "SELECT {cols} FROM work_items WHERE run_id = ? ORDER BY id",
    "pauses": "SELECT {cols} FROM pauses WHERE run_id = ?",
}
_TRIGGERS = "SELECT {cols} FROM events WHERE internal_id IN (SELECT event_id FROM run_events"
_TRIGGERS += " WHERE run_id = ?) ORDER BY internal_id"
_ANNOUNCED = "SELECT {cols} FROM events WHERE name LIKE ? AND payload LIKE ?"
_ANNOUNCED += " ORDER BY internal_id"


def table_columns(db: Db) -> dict[str, list[str]]:
    """Each owned table's columns, as the migrated schema has them (ids left to the db)."""
    out = {}
    for table in TABLES:
        names = [d[0] for d in db.conn.execute(f"SELECT * FROM {table} LIMIT 0").description]
        out[table] = [c for c in names if not (c == "id" and table in ("history", "work_items"))]
    return out


def capture(
    db: Db, columns: dict[str, list[str]], status: str, run_id: str, window: tuple[int, int]
) -> Template:
    def cols(table: str) -> str:
        return ", ".join(columns[table])

    started = db.rows("SELECT started_at FROM runs WHERE id = ?", run_id)[0][0]
    literals = {fn_slug(0): "f", fn_event(0): "n", f"ord-{status}": "o"}
    if status == "skipped":
        literals = {**literals, "ord-completed": "o"}
    template = Template(status, started, window, literals)
    for row in db.rows(_TRIGGERS.format(cols=cols("events")), run_id):
        template.add("events", row)
    for table in TABLES[1:]:
        for row in db.rows(_OWNED[table].format(cols=cols(table)), run_id):
            template.add(table, row)
    announced = _ANNOUNCED.format(cols=cols("events"))
    for row in db.rows(announced, "inngest/function.%", f"%{run_id}%"):
        template.add("events", row)
    return template


# --- phase 1: the seed, through the real server ---------------------------------------------


@dataclass
class Backend:
    name: str  # sqlite, pg
    setup: Setup
    url: str
    """The SQLite path or the PostgreSQL URL."""

    def open(self) -> Db:
        return SqliteDb(self.url) if self.name == "sqlite" else PgDb(self.url)


async def gql(client: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    resp = await client.post(GQL, content=orjson.dumps({"query": query, "variables": variables}))
    resp.raise_for_status()
    body = orjson.loads(resp.content)
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    return dict(body["data"])


_RUNS_OF_EVENT = "query($id: ID!) { event(query: {eventId: $id}) { functionRuns { id status } } }"


async def send(client: httpx.AsyncClient, setup: Setup, name: str, data: dict[str, Any]) -> str:
    body = orjson.dumps([{"name": name, "data": data}])
    resp = await client.post(f"/e/{setup.event_key}", content=body)
    resp.raise_for_status()
    return str(resp.json()["ids"][0])


async def run_of(
    client: httpx.AsyncClient, event_id: str, statuses: set[str], proc: Proc, timeout: float
) -> str:
    """The id of the run `event_id` started, once its status is one of `statuses`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"the server exited:\n{proc.tail()}")
        found = (await gql(client, _RUNS_OF_EVENT, id=event_id))["event"]["functionRuns"]
        if found and found[0]["status"] in statuses:
            return str(found[0]["id"])
        await asyncio.sleep(0.1)
    raise RuntimeError(f"event {event_id}: no run {statuses} after {timeout}s:\n{proc.tail()}")


async def until(what: str, done: Callable[[], Awaitable[bool]], proc: Proc) -> None:
    for _ in range(400):
        if await done():
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{what} never happened:\n{proc.tail()}")


def server_proc(
    backend: Backend, workdir: Path, tag: str, port: int, app_url: str | None, nice: int
) -> Proc:
    cmd = backend.setup.server_cmd(SURGE, port, backend.url, app_url)
    if nice:
        cmd = ["nice", "-n", str(nice), *cmd]
    return Proc(f"surge {tag}", cmd, workdir / f"server-{backend.name}-{tag}.log")


_CANCEL = "mutation($id: ULID!) { cancelRun(runID: $id) { id } }"


async def ending_each_way(
    client: httpx.AsyncClient, setup: Setup, db: Db, proc: Proc
) -> dict[str, str]:
    """One run of ``volume-fn-00`` per status, by status; the Skipped one repeats the order
    of the Completed one (the function's idempotency key)."""
    runs: dict[str, str] = {}
    sent: dict[str, str] = {}
    for status, outcome, final in (
        ("completed", "complete", "COMPLETED"),
        ("failed", "fail", "FAILED"),
        ("cancelled", "sleep", "RUNNING"),
        ("running", "sleep", "RUNNING"),
        ("skipped", "complete", "SKIPPED"),
    ):
        order = "ord-completed" if status == "skipped" else f"ord-{status}"
        sent[status] = await send(client, setup, fn_event(0), {"order": order, "outcome": outcome})
        runs[status] = await run_of(client, sent[status], {final}, proc, 60)
    for status in ("cancelled", "running"):

        async def asleep(run_id: str = runs[status]) -> bool:
            sql = "SELECT 1 FROM work_items WHERE run_id = ? AND kind = 'wake'"
            return bool(db.rows(sql, run_id))

        await until(f"{status} run asleep", asleep, proc)
    await gql(client, _CANCEL, id=runs["cancelled"])
    await run_of(client, sent["cancelled"], {"CANCELLED"}, proc, 10)
    await asyncio.sleep(0.5)  # nothing is left to commit, but be sure
    return runs


async def seed(
    backend: Backend, app: VolumeApp, db: Db, workdir: Path, nice: int
) -> tuple[dict[str, Template], dict[str, list[str]]]:
    """Sync the app, run the 1,000-step function and one run ending each way; their rows."""
    port = free_port()
    app.server = f"http://127.0.0.1:{port}"
    proc = server_proc(backend, workdir, "seed", port, app.url, nice)
    lo = int(time.time() * 1000) - 60_000
    proc.start()
    headers = backend.setup.headers
    try:
        await wait_http(f"{app.server}/health", proc)
        async with httpx.AsyncClient(base_url=app.server, headers=headers, timeout=60) as client:

            async def synced() -> bool:
                functions = (await gql(client, "{ functions { slug } }"))["functions"]
                return {STEPS_FN, fn_slug(FUNCTIONS - 1)} <= {f["slug"] for f in functions}

            await until("the app's sync", synced, proc)
            setup = backend.setup
            t = time.perf_counter()
            steps_event = await send(client, setup, STEPS_EVENT, {})
            steps_run = await run_of(client, steps_event, {"COMPLETED"}, proc, 900)
            log(f"  {app.steps}-step run {steps_run}: {time.perf_counter() - t:.1f}s")
            runs = await ending_each_way(client, setup, db, proc)
    finally:
        proc.stop()
    window = (lo, int(time.time() * 1000) + 60_000)
    columns = table_columns(db)
    templates = {s: capture(db, columns, s, run_id, window) for s, run_id in runs.items()}
    for status, template in templates.items():
        tables = sorted({table for table, _ in template.rows})
        log(f"  template {status}: {len(template.rows)} rows ({', '.join(tables)})")
    return templates, columns


# --- phase 2: the bulk ------------------------------------------------------------------------


def bulk(
    db: Db, templates: dict[str, Template], columns: dict[str, list[str]], args: argparse.Namespace
) -> tuple[dict[str, int], float, float]:
    """Clone the templates into `db` for ``args.runs`` runs started over ``args.days`` until
    an hour ago, `CHUNK` runs a transaction, then `finish`; the rows written by table, and
    the seconds each part took. Runs in a thread of its own, that (and a PostgreSQL backend,
    when allowed) at ``args.nice``."""
    if args.nice:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), args.nice)  # this thread
        if db.backend_pid is not None:
            with suppress(PermissionError):
                os.setpriority(os.PRIO_PROCESS, db.backend_pid, args.nice)
    rng, n, end = random.Random(args.seed), args.runs, int(time.time() * 1000) - 3_600_000
    starts = sorted(rng.randrange(end - args.days * DAY_MS, end) for _ in range(n))
    fns = rng.choices(range(FUNCTIONS), weights=FN_WEIGHTS, k=n)
    kinds = rng.choices(list(STATUS_MIX), weights=list(STATUS_MIX.values()), k=n)
    counts = dict.fromkeys(TABLES, 0)
    t0 = time.perf_counter()
    for begin in range(0, n, CHUNK):
        batch: dict[str, list[tuple[Any, ...]]] = {table: [] for table in TABLES}
        for i in range(begin, min(n, begin + CHUNK)):
            values = {"f": fn_slug(fns[i]), "n": fn_event(fns[i]), "o": f"ord-{i:07d}"}
            scale = 10 ** rng.uniform(0, 2)  # durations 1-100 times the seed's
            for table, row in templates[kinds[i]].clone(starts[i], scale, values):
                batch[table].append(row)
        for table in (table for table in TABLES if batch[table]):
            db.insert(table, columns[table], batch[table])
            counts[table] += len(batch[table])
        db.commit()
        if (done := min(n, begin + CHUNK)) % 100_000 == 0 or done == n:
            log(f"  {done:,} runs ({done / (time.perf_counter() - t0):,.0f} runs/s)")
    bulk_s = time.perf_counter() - t0
    db.finish()
    return counts, bulk_s, time.perf_counter() - t0 - bulk_s


# --- phase 3: the measurements ----------------------------------------------------------------

Q_RUNS = """query Runs($first: Int!, $after: String, $filter: RunsFilterV2!) {
  runs(first: $first, after: $after, filter: $filter,
       orderBy: [{field: QUEUED_AT, direction: DESC}]) {
    edges { cursor node { id functionID status queuedAt startedAt endedAt triggerIDs } }
    pageInfo { hasNextPage endCursor }
  }
}"""
# The count is its own query (as Inngest's CountRuns): capped at 10,000, a scan.
Q_COUNT = """query Count($filter: RunsFilterV2!) {
  runs(first: 1, filter: $filter, orderBy: [{field: QUEUED_AT, direction: DESC}]) {
    edges { cursor }
    totalCount
  }
}"""
Q_EVENTS = "{ events(query: {}) { id name createdAt totalRuns } }"
Q_EVENTS_BY_NAME = """query Events($filter: EventsFilter!) {
  eventsV2(first: 50, filter: $filter) {
    edges { cursor node { id name receivedAt raw } }
    pageInfo { hasNextPage endCursor }
  }
}"""
Q_TRACE = """query Trace($runID: String!) {
  runTrace(runID: $runID) { ...span childrenSpans { ...span } }
}
fragment span on RunTraceSpan {
  spanID name status attempts duration outputID queuedAt startedAt endedAt
  stepOp stepID stepType isRoot parentSpanID
}"""


@dataclass
class Query:
    name: str
    request: Callable[[], Awaitable[httpx.Response]]
    path: tuple[str, ...]
    """Where the answer lists what it found: `want` of them, or the benchmark stops."""
    want: int


async def queries(
    client: httpx.AsyncClient, args: argparse.Namespace, from_ms: int, steps_run: str
) -> list[Query]:
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(from_ms / 1000))
    flt = {"from": since, "functionIDs": [args.function], "status": [args.status]}

    def post(query: str, **variables: Any) -> Callable[[], Awaitable[httpx.Response]]:
        body = orjson.dumps({"query": query, "variables": variables})
        return lambda: client.post(GQL, content=body)

    first = await post(Q_RUNS, first=50, after=None, filter=flt)()
    runs_1 = orjson.loads(first.content)["data"]["runs"]
    cursor = runs_1["pageInfo"]["endCursor"]
    counted = await post(Q_COUNT, filter=flt)()
    total = orjson.loads(counted.content)["data"]["runs"]["totalCount"]
    event = args.function.replace(f"{APP_ID}-fn-", "volume/evt-")
    by_name_filter = {"from": since, "eventNames": [event], "includeInternalEvents": False}
    page_1, page_2 = (post(Q_RUNS, first=50, after=at, filter=flt) for at in (None, cursor))

    def by_name() -> Awaitable[httpx.Response]:
        return client.get("/v1/events", params={"name": event, "limit": "50"})

    runs, edges = f"{args.function} {args.status}", ("data", "runs", "edges")
    trace, spans = post(Q_TRACE, runID=steps_run), ("data", "runTrace", "childrenSpans")
    return [
        Query(f"(a) runs: {runs}, first 50", page_1, edges, min(50, total)),
        Query("(b) runs: the next page (after)", page_2, edges, min(50, max(0, total - 50))),
        Query("(b') runs: their count (capped)", post(Q_COUNT, filter=flt), edges, 1),
        Query(
            f"(c) eventsV2: name {event}, first 50",
            post(Q_EVENTS_BY_NAME, filter=by_name_filter),
            ("data", "eventsV2", "edges"),
            50,
        ),
        Query(f"(c') REST /v1/events?name={event}", by_name, ("data",), 50),
        Query("(e) events: latest 50, totalRuns", post(Q_EVENTS), ("data", "events"), 50),
        # The run's spans, and its finalization's.
        Query(f"(d) runTrace: {args.steps:,} steps", trace, spans, args.steps + 1),
    ]


def checked(query: Query, resp: httpx.Response) -> str:
    """What the answer holds, in words; raises unless it is what `query` wants."""
    resp.raise_for_status()
    body = found = orjson.loads(resp.content)
    for key in query.path:
        found = found.get(key) or {} if isinstance(found, dict) else {}
    if body.get("errors") or len(found) != query.want:
        raise RuntimeError(f"{query.name}: not {query.want} items: {resp.text[:500]}")
    if query.path[1:2] == ("runs",) and "totalCount" in body["data"]["runs"]:
        return f"totalCount {body['data']['runs']['totalCount']:,}"
    return f"{len(found):,} items"


async def measure(
    backend: Backend, workdir: Path, args: argparse.Namespace, from_ms: int, steps_run: str
) -> list[dict[str, Any]]:
    port = free_port()
    proc = server_proc(backend, workdir, "measure", port, None, 0)
    proc.start()
    base = f"http://127.0.0.1:{port}"
    results = []
    try:
        await wait_http(f"{base}/health", proc, timeout=120)
        async with httpx.AsyncClient(
            base_url=base, headers=backend.setup.headers, timeout=300
        ) as client:
            for query in await queries(client, args, from_ms, steps_run):
                seen = checked(query, await query.request())
                for _ in range(args.warmup):
                    await query.request()
                took = []
                for _ in range(args.requests):
                    t = time.perf_counter()
                    resp = await query.request()
                    took.append((time.perf_counter() - t) * 1000)
                checked(query, resp)
                row: dict[str, Any] = {"backend": backend.name, "query": query.name, "answer": seen}
                row |= {f"p{q}": pct(took, q) for q in (50, 95, 99)}
                row["kb"] = len(resp.content) / 1024
                log(f"  {query.name}: p50 {row['p50']:.1f} ms, p95 {row['p95']:.1f} ms ({seen})")
                results.append(row)
    finally:
        proc.stop()
    return results


# --- one backend, and the report ---------------------------------------------------------------


def backend_for(name: str, workdir: Path, pg_server: str, *, fresh: bool) -> Backend:
    """The backend `name`, on a fresh database unless it is reused."""
    if name == "sqlite":
        path = str(workdir / "dev.db")
        for p in (path, f"{path}-wal", f"{path}-shm") if fresh else ():
            Path(p).unlink(missing_ok=True)
        return Backend("sqlite", DEV, path)
    if fresh:
        drop_pg(pg_server, then_create=True)
    url = urlunsplit(urlsplit(pg_server)._replace(path=f"/{PG_DATABASE}"))
    return Backend("pg", Setup("postgres", 1, production=True), url)


async def generate(backend: Backend, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Seed and bulk; the figures of both."""
    log(f"[{backend.name}] seed through the server ...")
    app = VolumeApp(free_port(), args.steps, backend.setup.headers)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: HttpProtocol(app), "127.0.0.1", app.port)
    db = backend.open()
    try:
        t = time.perf_counter()
        templates, columns = await seed(backend, app, db, workdir, args.nice)
        seed_s = time.perf_counter() - t
        log(f"[{backend.name}] bulk: {args.runs:,} runs ...")
        counts, bulk_s, finish_s = await asyncio.to_thread(bulk, db, templates, columns, args)
    finally:
        db.conn.close()
        server.close()
        await app.client.aclose()
    rows = sum(counts.values())
    log(f"[{backend.name}] {rows:,} rows in {bulk_s:.0f}s (+{finish_s:.0f}s)")
    return {"seed_s": seed_s, "bulk_s": bulk_s, "finish_s": finish_s, "rows": counts}


async def run_backend(name: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    backend = backend_for(name, workdir, args.pg, fresh=not args.reuse)
    figures: dict[str, Any] = {"backend": name}
    try:
        if not args.reuse:
            figures.update(await generate(backend, workdir, args))
        db = backend.open()
        figures["size"] = db.size()
        steps_run = db.rows("SELECT MAX(id) FROM runs WHERE function_id = ?", STEPS_FN)[0][0]
        oldest = ulid_ms(db.rows("SELECT MIN(id) FROM runs")[0][0])
        db.conn.close()
        log(f"[{name}] {figures['size'] / 2**20:,.0f} MiB; measuring ...")
        figures["queries"] = await measure(backend, workdir, args, oldest - DAY_MS, steps_run)
    finally:
        if name == "pg" and not (args.keep or args.reuse):
            drop_pg(args.pg)
    return figures


def report(all_figures: list[dict[str, Any]], args: argparse.Namespace) -> str:
    made = "" if args.reuse else f"{args.runs:,} runs over {args.days} days; "
    lines = [
        f"{made}{args.requests} sequential requests per query after {args.warmup} warm-up.",
        "",
        "| backend | query | p50 ms | p95 ms | p99 ms | answer | KiB |",
        "|---|---|---:|---:|---:|---|---:|",
    ]
    for q in (q for figures in all_figures for q in figures["queries"]):
        lines.append(
            f"| {q['backend']} | {q['query']} | {q['p50']:.1f} | {q['p95']:.1f} |"
            f" {q['p99']:.1f} | {q['answer']} | {q['kb']:.0f} |"
        )
    lines += [
        "",
        "| backend | seed s | bulk insert s | checkpoint / VACUUM ANALYZE s | size | rows |",
    ]
    lines.append("|---|---:|---:|---:|---:|---|")
    for f in all_figures:
        rows = ", ".join(f"{t} {c:,}" for t, c in f.get("rows", {}).items() if c) or "(reused)"
        times = "|".join(
            f" {f[k]:.0f} " if k in f else " - " for k in ("seed_s", "bulk_s", "finish_s")
        )
        lines.append(f"| {f['backend']} |{times}| {f['size'] / 2**20:,.0f} MiB | {rows} |")
    return "\n".join(lines)


async def main_async(args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    return [await run_backend(name, workdir, args) for name in args.backends]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000, help="bulk runs (default 1,000,000)")
    parser.add_argument("--backends", nargs="+", choices=["sqlite", "pg"], default=["sqlite", "pg"])
    parser.add_argument("--pg", default=PG_SERVER, help=f"PostgreSQL server URL ({PG_SERVER})")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--steps", type=int, default=1000, help="steps of the long run")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per query")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests per query first")
    parser.add_argument("--function", default=fn_slug(0), help="runs filter (the busiest)")
    parser.add_argument("--status", default="FAILED", help="runs filter: a FunctionRunStatus")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--nice", type=int, default=10, help="niceness of the generation")
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help=f"keep the SQLite file in DIR and the {PG_DATABASE} database (default: removed)",
    )
    parser.add_argument(
        "--reuse",
        type=Path,
        metavar="DIR",
        help="only measure the databases a --keep DIR run left (before/after a change)",
    )
    args = parser.parse_args()
    # `surge start` deletes ended runs after 30 days by default: not during the measurement.
    os.environ.setdefault("SURGE_RETENTION", "forever")

    def on_term(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    workdir = args.reuse or args.keep or Path(tempfile.mkdtemp(prefix="surge-volume-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        all_figures = asyncio.run(main_async(args, workdir))
    except KeyboardInterrupt:
        print("interrupted")
        return 130
    finally:
        stop_all()
        if not (args.keep or args.reuse):
            shutil.rmtree(workdir, ignore_errors=True)
    print("\n" + report(all_figures, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
