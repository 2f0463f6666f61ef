"""Fan-out benchmark: one event -> an orchestrator -> N events -> N two-step worker runs.

Everything goes through the real ``surge dev`` server as a subprocess, over loopback HTTP:

    .venv/bin/python bench/fanout.py [--n 1000 10000] [--mode stub sdk surge] [--db PATH]

With ``--db postgresql://…`` (stub mode) each N runs on ``surge start`` three times: SQLite,
one PostgreSQL node, and two PostgreSQL nodes on one database, each followed by an ingest burst
(``bench/cluster.py``).

Modes: ``stub`` (bench/stub_app.py, canned answers: the server is the bottleneck), ``ts``
(bench/ts_app.mjs, the official TypeScript SDK 4.x on node; surge dev only), ``sdk``
(bench/sdk_app.py, the official ``inngest`` 0.5.19 SDK on FastAPI + uvicorn) and ``surge``
(bench/surge_app.py, the Surge SDK's ``surge.asgi_app`` on uvicorn). Each (mode, N) gets a
fresh server, app and database; the idle-latency probe and each SDK app's own ceiling get
their own fresh processes too. See bench/README.md and docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from ceiling import APP_WARMUP, WARMUP_BASE, hammer, sdk_ceiling
from cluster import (
    DEV,
    SETUP_NAMES,
    Setup,
    WaitSampler,
    cpu_since,
    database,
    db_backend_cpu,
    ingest_burst,
    is_postgres,
    setups_for,
)
from report import IDLE_EVENTS, markdown, print_text

BENCH = Path(__file__).resolve().parent
PYTHON = sys.executable
SURGE = str(Path(sys.executable).with_name("surge"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
APP_SCRIPTS = {
    "stub": "stub_app.py",
    "sdk": "sdk_app.py",
    "surge": "surge_app.py",
    "ts": "ts_app.mjs",
}
SDK_MODES = ("sdk", "surge")  # modes whose app's own ceiling is measured


def checkpointing() -> bool:
    """Whether the SDK apps checkpoint: yes, unless ``CHECKPOINTING=false`` is in the
    environment they inherit (bench/surge_app.py and bench/ts_app.mjs read it)."""
    return os.environ.get("CHECKPOINTING") != "false"


# --- processes ----------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    name: str
    cmd: list[str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        LIVE.append(self)

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        with suppress(ValueError):
            LIVE.remove(self)

    def tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


LIVE: list[Proc] = []


def stop_all() -> None:
    for proc in list(LIVE):
        proc.stop()


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def wait_http(url: str, proc: Proc, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
            with suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{proc.name} not ready at {url} after {timeout}s:\n{proc.tail()}")


@dataclass
class Stack:
    """Surge server node(s) and one app, wired to each other."""

    mode: str
    workdir: Path
    db: str  # a SQLite path or a PostgreSQL URL
    setup: Setup = DEV
    server_ports: list[int] = field(default_factory=list)
    app_port: int = field(default_factory=free_port)
    servers: list[Proc] = field(default_factory=list)
    app: Proc | None = None
    app_args: list[str] = field(default_factory=list)
    """More arguments for the app (`bench/flow.py`: the worker's steps and limit)."""

    def __post_init__(self) -> None:
        if not self.server_ports:
            self.server_ports = [free_port() for _ in range(self.setup.nodes)]

    @property
    def server_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.server_ports]

    @property
    def server_url(self) -> str:
        return self.server_urls[0]

    @property
    def server(self) -> Proc | None:
        """The node the app syncs with (the only one, mostly)."""
        return self.servers[0] if self.servers else None

    @property
    def app_base(self) -> str:
        return f"http://127.0.0.1:{self.app_port}"

    def server_cpu(self) -> float:
        return sum(cpu_seconds(proc.pid) for proc in self.servers)

    def servers_alive(self) -> bool:
        return all(proc.alive() for proc in self.servers)

    async def start(self, with_server: bool = True) -> None:
        script = BENCH / APP_SCRIPTS[self.mode]
        runtime = (shutil.which("node") or "node") if script.suffix == ".mjs" else PYTHON
        cmd = [runtime, str(script), "--port", str(self.app_port)]
        for url in self.server_urls:
            cmd += ["--server", url]
        cmd += self.setup.app_args() + self.app_args
        tag = f"{self.mode}-{self.app_port}"
        self.app = Proc(f"{self.mode} app", cmd, self.workdir / f"app-{tag}.log")
        self.app.start()
        await wait_http(f"{self.app_base}/stats", self.app)
        if not with_server:
            return
        if self.setup.backend == "sqlite":
            for path in (self.db, f"{self.db}-wal", f"{self.db}-shm"):
                Path(path).unlink(missing_ok=True)
        for k, port in enumerate(self.server_ports):
            app_url = f"{self.app_base}/api/inngest" if k == 0 else None
            cmd = self.setup.server_cmd(SURGE, port, self.db, app_url)
            proc = Proc(f"surge node {k}", cmd, self.workdir / f"server-{tag}-{k}.log")
            self.servers.append(proc)
            proc.start()
        for url, proc in zip(self.server_urls, self.servers, strict=True):
            await wait_http(f"{url}/health", proc)
        for url, proc in zip(self.server_urls, self.servers, strict=True):
            await self._wait_synced(url, proc)

    async def _wait_synced(self, url: str, proc: Proc) -> None:
        async with httpx.AsyncClient(timeout=5.0, headers=self.setup.headers) as client:
            for _ in range(400):
                dev = (await client.get(f"{url}/dev")).json()
                slugs = {f.get("slug") for f in dev.get("functions", [])}
                if {"bench-orchestrator", "bench-worker"} <= slugs:
                    return
                await asyncio.sleep(0.05)
        raise RuntimeError(f"app never synced; {proc.name} log:\n{proc.tail()}")

    def tails(self) -> str:
        return "\n".join(f"{proc.name} log tail:\n{proc.tail()}" for proc in self.servers)

    def stop(self) -> None:
        for proc in (*self.servers, self.app):
            if proc is not None:
                proc.stop()


@asynccontextmanager
async def running(stack: Stack, with_server: bool = True) -> AsyncIterator[Stack]:
    try:
        await stack.start(with_server)
        yield stack
    finally:
        stack.stop()


# --- measurements -------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def parse_iso(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def paginate(
    client: httpx.AsyncClient, url: str, key: str, **query: str
) -> list[dict[str, Any]]:
    """Every row of a newest-first v1 list, following ``cursor`` to older rows."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {**query, "limit": "1000", **({"cursor": cursor} if cursor else {})}
        page = (await client.get(url, params=params)).json()["data"]
        rows.extend(page)
        if len(page) < 1000:
            return rows
        cursor = page[-1][key]


async def wait_all_final(app: httpx.AsyncClient, stack: Stack, n: int, stall_s: float) -> bool:
    """Long-poll the app until it answered the final call of ``n`` worker runs."""
    last_calls, last_change, last_print = -1, time.monotonic(), time.monotonic()
    while True:
        got = (await app.get("/wait", params={"final": n, "timeout": 2})).json()
        if got["result"] is not None:
            return True
        now = time.monotonic()
        if got["calls"] != last_calls:
            last_calls, last_change = got["calls"], now
        if now - last_print >= 10:
            print(f"    ... {got['worker_final']}/{n} worker runs done, {got['calls']} calls")
            last_print = now
        if now - last_change > stall_s or not stack.servers_alive():
            return False


async def verify_runs(
    client: httpx.AsyncClient, n: int, settle_s: float = 30.0
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """All worker runs from the REST API; waits up to ``settle_s`` for them to complete."""
    deadline = time.monotonic() + settle_s
    while True:
        runs = await paginate(client, "/v1/runs", "run_id", function_id="bench-worker")
        counts: dict[str, int] = {}
        for run in runs:
            counts[run["status"]] = counts.get(run["status"], 0) + 1
        if counts.get("Completed", 0) >= n and len(runs) == n:
            return runs, counts
        if time.monotonic() > deadline:
            return runs, counts
        await asyncio.sleep(0.5)


async def report_stuck(client: httpx.AsyncClient, runs: list[dict[str, Any]], stack: Stack) -> None:
    stuck = [r for r in runs if r["status"] != "Completed"]
    print(f"  {len(stuck)} worker runs not Completed; first ones:")
    for run in stuck[:5]:
        print(f"    {run['run_id']} {run['status']} error={run.get('error')}")
    if stuck:
        history = (await client.get(f"/v1/runs/{stuck[0]['run_id']}/history")).json()
        print(f"  history of {stuck[0]['run_id']}: {orjson.dumps(history['data'])[:1500]!r}")
    print(stack.tails())


def event_latencies(events: list[dict[str, Any]], first_call: dict[str, list[Any]]) -> list[float]:
    received: dict[str, float] = {}
    for event in events:
        at = parse_iso(event.get("received_at"))
        if at is not None:
            received[event["internal_id"]] = at
            received[event["id"]] = at
    out = []
    for first_wall, event_id in first_call.values():
        if event_id in received:
            out.append((first_wall - received[event_id]) * 1000)
    return out


async def fanout(stack: Stack, n: int, profile: Path | None) -> dict[str, Any]:
    """One fan-out of ``n`` children through the running ``stack``; the figures as a dict."""
    assert stack.server is not None
    spid = stack.server.pid
    server = httpx.AsyncClient(
        base_url=stack.server_url, timeout=120.0, headers=stack.setup.headers
    )
    app = httpx.AsyncClient(base_url=stack.app_base, timeout=30.0)
    spy = start_py_spy(spid, profile, stack.workdir) if profile else None
    try:
        # Warm the app up (straight calls, no server) so both modes and the ceiling start warm.
        await hammer(stack.app_port, range(WARMUP_BASE, WARMUP_BASE + APP_WARMUP))
        base = (await app.get("/stats")).json()
        assert stack.app is not None
        cpu0, app_cpu0 = stack.server_cpu(), cpu_seconds(stack.app.pid)
        db0 = db_backend_cpu(stack.db, CLK_TCK)
        t0 = time.time()
        start = [{"name": "bench/start", "data": {"n": n}}]
        event_path = f"/e/{stack.setup.event_key}"
        with WaitSampler(stack.db) as waits:
            (await server.post(event_path, content=orjson.dumps(start))).raise_for_status()
            target = base["worker_final"] + n
            finished = await wait_all_final(app, stack, target, stall_s=max(60.0, n / 100))
        await asyncio.sleep(0.3)  # let the server commit the last answers
        cpu = stack.server_cpu() - cpu0
        app_cpu = cpu_seconds(stack.app.pid) - app_cpu0
        db_cpu = cpu_since(db0, db_backend_cpu(stack.db, CLK_TCK))
        rss = max(peak_rss_mb(proc.pid) for proc in stack.servers)
        if spy is not None:
            stop_py_spy(spy)
        stats = (await app.get("/stats", params={"full": 1})).json()
        runs, counts = await verify_runs(server, n, settle_s=30.0 if finished else 5.0)
        ended = [t for t in (parse_iso(r.get("ended_at")) for r in runs) if t is not None]
        wall = (max(ended) if ended else time.time()) - t0
        events = await paginate(server, "/v1/events", "internal_id", name="bench/item")
        latencies = event_latencies(events, stats["first_call"])
        calls = stats["calls"] - base["calls"]
        worker_calls = stats["calls_by_fn"].get("bench-worker", 0) - base["calls_by_fn"].get(
            "bench-worker", 0
        )
        completed = counts.get("Completed", 0)
        ok = completed == n and len(runs) == n
        # Without checkpointing each of a run's 3 calls is answered once; a checkpointing
        # Surge app runs both steps in the first (`checkpointing()`).
        expected = n if stack.mode == "surge" and checkpointing() else 3 * n
        if stack.mode in ("stub", "surge"):
            ok = ok and worker_calls == expected
        if not ok:
            print(
                f"  FAILED: {stack.mode} N={n}: {completed}/{n} worker runs Completed "
                f"(statuses {counts}), app saw {worker_calls} worker calls (expected {expected})"
            )
            await report_stuck(server, runs, stack)
        return {
            "mode": stack.mode,
            "checkpointing": checkpointing() if stack.mode in ("surge", "ts") else None,
            "setup": stack.setup.label,
            "nodes": stack.setup.nodes,
            "n": n,
            "ok": ok,
            "completed": completed,
            "statuses": counts,
            "wall_s": wall,
            "runs_per_s": n / wall,
            "calls": calls,
            "worker_calls": worker_calls,
            "calls_per_s": calls / wall,
            "server_cpu_s": cpu,
            "cpu_ms_per_call": cpu * 1000 / max(1, calls),
            "server_cpu_util": cpu / wall,
            "app_cpu_util": app_cpu / wall,
            "db_cpu_ms_per_call": db_cpu * 1000 / max(1, calls),
            "db_cpu_util": db_cpu / wall,
            "db_waits": waits.shares(),
            "peak_rss_mb": rss,
            "lat_p50_ms": pct(latencies, 50),
            "lat_p99_ms": pct(latencies, 99),
            "lat_samples": len(latencies),
        }
    finally:
        if spy is not None and spy.popen is not None and spy.popen.poll() is None:
            stop_py_spy(spy)
        await server.aclose()
        await app.aclose()


def start_py_spy(pid: int, out: Path, workdir: Path) -> Proc | None:
    exe = Path(sys.executable).with_name("py-spy")
    if not exe.exists():
        print("  (py-spy not installed: .venv/bin/pip install py-spy)")
        return None
    cmd = [str(exe), "record", "--pid", str(pid), "--rate", "200", "--nonblocking"]
    cmd += ["--format", "raw", "--output", str(out)]
    proc = Proc("py-spy", cmd, workdir / "py-spy.log")
    proc.start()
    time.sleep(0.5)
    return proc


def stop_py_spy(proc: Proc) -> None:
    if proc.popen is not None and proc.popen.poll() is None:
        proc.popen.send_signal(signal.SIGINT)
        with suppress(subprocess.TimeoutExpired):
            proc.popen.wait(30)
    proc.stop()


async def idle_latency(stack: Stack) -> dict[str, Any]:
    """Single events one at a time on an idle server: POST returned -> first call at the app."""
    server = httpx.AsyncClient(base_url=stack.server_url, timeout=30.0)
    app = httpx.AsyncClient(base_url=stack.app_base, timeout=30.0)
    latencies, from_send, post_rtt = [], [], []
    try:
        for i in range(IDLE_EVENTS):
            body = orjson.dumps([{"name": "bench/item", "data": {"i": i}}])
            sent = time.time()
            resp = await server.post(f"/e/{stack.setup.event_key}", content=body)
            returned = time.time()
            event_id = resp.json()["ids"][0]
            got = (await app.get("/wait", params={"event_id": event_id, "timeout": 10})).json()
            if got["result"] is None:
                print(f"  FAILED: idle event {i} ({event_id}) never finished at the app")
                continue
            first = got["result"][0]
            latencies.append((first - returned) * 1000)
            from_send.append((first - sent) * 1000)
            post_rtt.append((returned - sent) * 1000)
            await asyncio.sleep(0.02)  # let the server commit the run's end: truly idle
    finally:
        await server.aclose()
        await app.aclose()
    return {
        "mode": stack.mode,
        "setup": stack.setup.label,
        "samples": len(latencies),
        "p50_ms": pct(latencies, 50),
        "p99_ms": pct(latencies, 99),
        "min_ms": min(latencies, default=float("nan")),
        "send_p50_ms": pct(from_send, 50),
        "send_p99_ms": pct(from_send, 99),
        "post_p50_ms": pct(post_rtt, 50),
        "post_p99_ms": pct(post_rtt, 99),
    }


# --- main ---------------------------------------------------------------------------------


def db_for(base: str | None, workdir: Path, label: str) -> Path:
    if base is None or is_postgres(base):
        return workdir / f"{label}.db"
    path = Path(base)
    if path.is_dir():
        return path / f"bench-{label}.db"
    return path.with_name(f"{path.stem}-{label}{path.suffix or '.db'}")


async def run_setup(
    results: dict[str, Any],
    mode: str,
    setup: Setup,
    args: tuple[list[int], str | None, Path | None, Path],
    log: Callable[[str], None],
) -> None:
    """Idle latency, then a fan-out (and, in stub mode, an ingest burst) per N, on `setup`."""
    ns, db, profile_dir, workdir = args
    tag = f"{mode}-{setup.backend}{setup.nodes}"
    log(f"[{mode}, {setup.label}] idle latency ...")
    async with database(setup, db, lambda: db_for(db, workdir, f"{tag}-idle")) as url:
        stack = Stack(mode, workdir, url, setup)
        async with running(stack):
            results["idle"].append(await idle_latency(stack))
    for n in ns:
        log(f"[{mode}, {setup.label}] fan-out N={n} ...")
        profile = profile_dir / f"server-{tag}-{n}.txt" if profile_dir else None
        async with database(setup, db, lambda n=n: db_for(db, workdir, f"{tag}-{n}")) as url:
            stack = Stack(mode, workdir, url, setup)
            async with running(stack):
                results["fanout"].append(
                    {"backend": setup.backend, **await fanout(stack, n, profile)}
                )
                if mode == "stub":
                    log(f"[{mode}, {setup.label}] ingest burst ...")
                    burst = await ingest_burst(
                        setup, stack.server_urls, stack.server_cpu, url, CLK_TCK
                    )
                    results["ingest"].append({"mode": mode, "n": n, **burst})


async def run_benchmark(
    ns: list[int],
    modes: list[str],
    db: str | None = None,
    profile_dir: Path | None = None,
    log: Callable[[str], None] = print,
    setups: list[str] | None = None,
    ceiling: bool = True,
) -> dict[str, Any]:
    """Run everything (with `ceiling`, each SDK app's own ceiling too); return the figures."""
    results: dict[str, Any] = {
        "modes": modes,
        "ns": ns,
        "fanout": [],
        "idle": [],
        "ceiling": [],
        "ingest": [],
    }
    results["loadavg_before"] = Path("/proc/loadavg").read_text().split()[:3]
    with tempfile.TemporaryDirectory(prefix="surge-bench-") as tmp:
        workdir = Path(tmp)
        for mode in modes:
            for setup in setups_for(db, setups):
                await run_setup(results, mode, setup, (ns, db, profile_dir, workdir), log)
            if mode not in SDK_MODES or not ceiling:
                continue
            for n in ns:
                log(f"[{mode}] SDK app ceiling, {3 * n} calls ...")
                stack = Stack(mode, workdir, str(workdir / "unused.db"))
                async with running(stack, with_server=False):
                    results["ceiling"].append(
                        {"mode": mode, **await sdk_ceiling(stack.app_port, n)}
                    )
    results["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--mode", nargs="+", choices=list(APP_SCRIPTS), default=list(APP_SCRIPTS))
    parser.add_argument(
        "--db",
        help="SQLite path prefix or directory (default: a temp dir, deleted after); or a "
        "postgresql:// URL: stub mode on SQLite, one and two PostgreSQL nodes (surge start)",
    )
    parser.add_argument(
        "--setup",
        nargs="+",
        choices=list(SETUP_NAMES),
        help="with a PostgreSQL --db: only these setups (default: all three)",
    )
    parser.add_argument("--markdown", action="store_true", help="also print a markdown table")
    parser.add_argument("--json", type=Path, help="write the figures to this JSON file")
    parser.add_argument(
        "--report", type=Path, metavar="JSON", help="only re-print the figures saved by --json"
    )
    parser.add_argument(
        "--py-spy", type=Path, metavar="DIR", help="py-spy record the server into DIR"
    )
    args = parser.parse_args()
    if is_postgres(args.db) and set(args.mode) != {"stub"}:
        parser.error("with a PostgreSQL --db, only --mode stub runs (the app needs the keys)")
    if args.py_spy:
        args.py_spy.mkdir(parents=True, exist_ok=True)

    if args.report:
        results = orjson.loads(args.report.read_bytes())
        print_text(results)
        print("\n" + markdown(results))
        return 0

    def on_term(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        results = asyncio.run(
            run_benchmark(args.n, args.mode, args.db, args.py_spy, setups=args.setup)
        )
    except KeyboardInterrupt:
        print("interrupted")
        return 130
    finally:
        stop_all()
    print_text(results)
    if args.markdown:
        print("\n" + markdown(results))
    if args.json:
        args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    failed = any(not r["ok"] for r in results["fanout"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
