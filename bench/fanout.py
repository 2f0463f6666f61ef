"""Fan-out benchmark: one event -> an orchestrator -> N events -> N two-step worker runs.

Everything goes through the real ``surge dev`` server as a subprocess, over loopback HTTP:

    .venv/bin/python bench/fanout.py [--n 1000 10000] [--mode stub sdk surge] [--db PATH]

Modes: ``stub`` (bench/stub_app.py, canned answers: the server is the bottleneck), ``sdk``
(bench/sdk_app.py, the official ``inngest`` 0.5.19 SDK on FastAPI + uvicorn) and ``surge``
(bench/surge_app.py, the Surge SDK's ``surge.asgi_app`` on uvicorn). Each (mode, N) gets a
fresh server, app and database; the idle-latency probe and each SDK app's own ceiling get
their own fresh processes too. See bench/README.md and docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httptools
import httpx
import orjson

BENCH = Path(__file__).resolve().parent
PYTHON = sys.executable
SURGE = str(Path(sys.executable).with_name("surge"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
CONCURRENCY = 100  # the server's default --queue-workers
IDLE_EVENTS = 100
APP_WARMUP = 200  # children fired straight at a fresh app before it is measured
WARMUP_BASE = 10**9  # their child numbers, so their run and event ids never clash
APP_SCRIPTS = {"stub": "stub_app.py", "sdk": "sdk_app.py", "surge": "surge_app.py"}
SDK_MODES = ("sdk", "surge")  # modes whose app's own ceiling is measured
SURGE_TARGET = 800  # child runs/s at N=10,000 through the server (issue 3)
LATENCY_SOURCE = "server event received_at (wall, ms) -> app first call time.time()"
IDLE_SOURCE = "POST /e/ returned (time.time()) -> app first call time.time()"


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
    """A Surge server and one app, wired to each other."""

    mode: str
    workdir: Path
    db: Path
    server_port: int = field(default_factory=free_port)
    app_port: int = field(default_factory=free_port)
    server: Proc | None = None
    app: Proc | None = None

    @property
    def server_url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    @property
    def app_base(self) -> str:
        return f"http://127.0.0.1:{self.app_port}"

    async def start(self, with_server: bool = True) -> None:
        script = BENCH / APP_SCRIPTS[self.mode]
        cmd = [PYTHON, str(script), "--port", str(self.app_port), "--server", self.server_url]
        tag = f"{self.mode}-{self.app_port}"
        self.app = Proc(f"{self.mode} app", cmd, self.workdir / f"app-{tag}.log")
        self.app.start()
        await wait_http(f"{self.app_base}/stats", self.app)
        if not with_server:
            return
        for path in (self.db, Path(f"{self.db}-wal"), Path(f"{self.db}-shm")):
            path.unlink(missing_ok=True)
        cmd = [SURGE, "dev", "--host", "127.0.0.1", "--port", str(self.server_port)]
        cmd += ["--db", str(self.db), "--no-discovery", "--no-poll"]
        cmd += ["-u", f"{self.app_base}/api/inngest"]
        self.server = Proc("surge server", cmd, self.workdir / f"server-{tag}.log")
        self.server.start()
        await wait_http(f"{self.server_url}/health", self.server)
        await self._wait_synced()

    async def _wait_synced(self) -> None:
        assert self.server is not None
        async with httpx.AsyncClient(timeout=5.0) as client:
            for _ in range(200):
                dev = (await client.get(f"{self.server_url}/dev")).json()
                slugs = {f.get("slug") for f in dev.get("functions", [])}
                if {"bench-orchestrator", "bench-worker"} <= slugs:
                    return
                await asyncio.sleep(0.05)
        raise RuntimeError(f"app never synced; server log:\n{self.server.tail()}")

    def stop(self) -> None:
        for proc in (self.server, self.app):
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
        assert stack.server is not None
        if now - last_change > stall_s or not stack.server.alive():
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
    assert stack.server is not None
    print("  server log tail:\n" + stack.server.tail())


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
    server = httpx.AsyncClient(base_url=stack.server_url, timeout=120.0)
    app = httpx.AsyncClient(base_url=stack.app_base, timeout=30.0)
    spy = start_py_spy(spid, profile, stack.workdir) if profile else None
    try:
        # Warm the app up (straight calls, no server) so both modes and the ceiling start warm.
        await hammer(stack.app_port, range(WARMUP_BASE, WARMUP_BASE + APP_WARMUP))
        base = (await app.get("/stats")).json()
        assert stack.app is not None
        cpu0, app_cpu0 = cpu_seconds(spid), cpu_seconds(stack.app.pid)
        t0 = time.time()
        start = [{"name": "bench/start", "data": {"n": n}}]
        (await server.post("/e/bench", content=orjson.dumps(start))).raise_for_status()
        target = base["worker_final"] + n
        finished = await wait_all_final(app, stack, target, stall_s=max(60.0, n / 100))
        await asyncio.sleep(0.3)  # let the server commit the last answers
        cpu = cpu_seconds(spid) - cpu0
        app_cpu = cpu_seconds(stack.app.pid) - app_cpu0
        rss = peak_rss_mb(spid)
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
        if stack.mode in ("stub", "surge"):  # both answer each of a run's 3 calls once
            ok = ok and worker_calls == 3 * n
        if not ok:
            print(
                f"  FAILED: {stack.mode} N={n}: {completed}/{n} worker runs Completed "
                f"(statuses {counts}), app saw {worker_calls} worker calls (expected {3 * n})"
            )
            await report_stuck(server, runs, stack)
        return {
            "mode": stack.mode,
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
            resp = await server.post("/e/bench", content=body)
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
        "samples": len(latencies),
        "p50_ms": pct(latencies, 50),
        "p99_ms": pct(latencies, 99),
        "min_ms": min(latencies, default=float("nan")),
        "send_p50_ms": pct(from_send, 50),
        "send_p99_ms": pct(from_send, 99),
        "post_p50_ms": pct(post_rtt, 50),
        "post_p99_ms": pct(post_rtt, 99),
    }


# --- the SDK app's own ceiling ------------------------------------------------------------


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def worker_bodies(child: int) -> Iterator[bytes]:
    """The three execution requests the server sends for one worker run (PROTOCOL §2.1)."""
    run_id = f"01BENCHCEILING{child:012d}"
    event = {
        "name": "bench/item",
        "data": {"i": child},
        "id": f"01BENCHEVENT{child:014d}",
        "ts": int(time.time() * 1000),
        "user": {},
    }
    memos: dict[str, Any] = {}
    for step, value in (("a", 1), ("b", 2), (None, None)):
        stack = list(memos)
        body = {
            "event": event,
            "events": [event],
            "steps": dict(memos),
            "defers": {},
            "ctx": {
                "run_id": run_id,
                "attempt": 0,
                "max_attempts": 4,
                "disable_immediate_execution": False,
                "use_api": False,
                "stack": {"stack": stack, "current": len(stack)},
                "step_id": "step",
                "env": "dev",
            },
            "version": 2 if memos else -1,
            "use_api": False,
        }
        yield orjson.dumps(body)
        if step is not None:
            memos[sha1(step)] = {"data": value}


class _Response:
    def __init__(self) -> None:
        self.done = False

    def on_message_complete(self) -> None:
        self.done = True


class RawClient:
    """A minimal keep-alive HTTP/1.1 client: one connection, one request at a time."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, target: str, body: bytes, run_id: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = (
            f"POST {target} HTTP/1.1\r\nhost: 127.0.0.1:{self.port}\r\n"
            f"content-type: application/json\r\nx-run-id: {run_id}\r\n"
            f"x-inngest-req-version: 2\r\nx-inngest-step-id: step\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        response = _Response()
        parser = httptools.HttpResponseParser(response)
        while not response.done:
            data = await self.reader.read(65536)
            if not data:
                raise ConnectionError("app closed the connection")
            parser.feed_data(data)
        return int(parser.get_status_code())

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def hammer(port: int, children: range) -> dict[int, int]:
    """The worker's 3 calls for each child, straight at the app, ``CONCURRENCY`` at a time.

    Answers ``{status: count}``; an unexpected status is counted under its negative.
    """
    target = "/api/inngest?fnId=bench-worker&stepId=step"
    todo = iter(children)
    statuses: dict[int, int] = {}
    expected = (206, 206, 200)

    async def lane() -> None:
        client = RawClient(port)
        try:
            for child in todo:
                for k, body in enumerate(worker_bodies(child)):
                    status = await client.post(target, body, f"ceiling-{child}")
                    key = status if status == expected[k] else -status
                    statuses[key] = statuses.get(key, 0) + 1
        finally:
            client.close()

    await asyncio.gather(*(lane() for _ in range(CONCURRENCY)))
    return statuses


async def sdk_ceiling(stack: Stack, n: int) -> dict[str, Any]:
    """Hammer the SDK app alone with the worker's 3 calls for ``n`` children, 100 at a time."""
    await hammer(stack.app_port, range(WARMUP_BASE, WARMUP_BASE + APP_WARMUP))  # untimed
    t0 = time.perf_counter()
    statuses = await hammer(stack.app_port, range(n))
    elapsed = time.perf_counter() - t0
    calls = 3 * n
    bad = sum(v for k, v in statuses.items() if k < 0)
    if bad:
        print(f"  FAILED: ceiling: {bad} unexpected statuses: {statuses}")
    return {
        "n": n,
        "calls": calls,
        "elapsed_s": elapsed,
        "calls_per_s": calls / elapsed,
        "runs_per_s": calls / elapsed / 3,
        "bad": bad,
    }


# --- reporting ----------------------------------------------------------------------------


def fmt(value: float, digits: int = 0) -> str:
    return "n/a" if value != value else f"{value:,.{digits}f}"


Target = tuple[str, bool | None, str]


def throughput_targets(
    fan: dict[tuple[str, int], Any], ceil: dict[tuple[str, int], Any]
) -> list[Target]:
    out: list[Target] = []
    for (mode, n), r in sorted(fan.items()):
        if mode == "sdk" and (mode, n) in ceil:
            ratio = r["runs_per_s"] / ceil[mode, n]["runs_per_s"]
            out.append((f"sdk runs/s >= 85% of ceiling (N={n})", ratio >= 0.85, f"{ratio:.1%}"))
        if mode == "surge" and ("stub", n) in fan:
            # The Surge app's own ceiling is far above the server's, so the server-bound
            # stub is the yardstick of what the SDK costs end to end.
            ratio = r["runs_per_s"] / fan["stub", n]["runs_per_s"]
            out.append((f"surge runs/s >= 85% of stub's (N={n})", ratio >= 0.85, f"{ratio:.1%}"))
        if mode == "surge" and n == 10000:
            ok = r["ok"] and r["runs_per_s"] >= SURGE_TARGET
            out.append(
                (f"surge >= {SURGE_TARGET} child runs/s (N=10000)", ok, fmt(r["runs_per_s"]))
            )
        if mode == "stub":
            out.append(
                (
                    f"stub >= 2,000 SDK calls/s (N={n})",
                    r["calls_per_s"] >= 2000,
                    fmt(r["calls_per_s"]),
                )
            )
            cpu = r["cpu_ms_per_call"]
            out.append((f"server CPU <= 0.3 ms/call (stub, N={n})", cpu <= 0.3, f"{cpu:.3f} ms"))
    return out


def targets(results: dict[str, Any]) -> list[Target]:
    fan = {(r["mode"], r["n"]): r for r in results["fanout"]}
    ceil = {(c.get("mode", "sdk"), c["n"]): c for c in results["ceiling"]}
    out: list[Target] = []

    def add(name: str, ok: bool | None, detail: str) -> None:
        out.append((name, ok, detail))

    for mode in results["modes"]:
        r = fan.get((mode, 10000))
        add(f"N=10,000 completes ({mode})", r["ok"] if r else None, "" if r else "not run")
    out += throughput_targets(fan, ceil)
    for idle in results["idle"]:
        add(f"idle p50 <= 10 ms ({idle['mode']})", idle["p50_ms"] <= 10, f"{idle['p50_ms']:.1f} ms")
    for mode in results["modes"]:
        small, big = fan.get((mode, 1000)), fan.get((mode, 10000))
        if small and big:
            ratio = big["runs_per_s"] / small["runs_per_s"]
            add(f"runs/s N=10k >= 80% of N=1k ({mode})", ratio >= 0.8, f"{ratio:.1%}")
        if big:
            rss = big["peak_rss_mb"]
            add(f"peak RSS <= 300 MB at N=10k ({mode})", rss <= 300, f"{rss:.0f} MB")
    return out


def print_text(results: dict[str, Any]) -> None:
    ceil = {(c.get("mode", "sdk"), c["n"]): c for c in results["ceiling"]}
    print("\n=== fan-out (one event -> orchestrator -> N events -> N two-step runs) ===")
    print(f"latency source: {LATENCY_SOURCE}")
    for r in results["fanout"]:
        line = (
            f"{r['mode']:>5} N={r['n']:>6}: {'ok' if r['ok'] else 'FAILED'}  "
            f"wall {r['wall_s']:.2f}s  child runs/s {fmt(r['runs_per_s'])}  "
            f"SDK calls/s {fmt(r['calls_per_s'])} ({r['calls']} calls)  "
            f"server CPU {r['cpu_ms_per_call']:.3f} ms/call "
            f"(server {r['server_cpu_util']:.0%}, app {r['app_cpu_util']:.0%} of a core)  "
            f"peak RSS {r['peak_rss_mb']:.0f} MB  "
            f"event->first step p50 {fmt(r['lat_p50_ms'])} ms p99 {fmt(r['lat_p99_ms'])} ms"
        )
        c = ceil.get((r["mode"], r["n"]))
        if c is not None:
            line += (
                f"\n     SDK app ceiling (no server): {fmt(c['calls_per_s'])} calls/s = "
                f"{fmt(c['runs_per_s'])} child runs/s; server-driven / ceiling = "
                f"{r['runs_per_s'] / c['runs_per_s']:.1%}"
            )
        print(line)
    print(f"\n=== idle latency ({IDLE_EVENTS} single events, one at a time; {IDLE_SOURCE}) ===")
    for i in results["idle"]:
        print(
            f"{i['mode']:>5}: p50 {i['p50_ms']:.2f} ms  p99 {i['p99_ms']:.2f} ms  "
            f"min {i['min_ms']:.2f} ms  (from POST sent: p50 {i['send_p50_ms']:.2f} ms; "
            f"POST /e/ round trip p50 {i['post_p50_ms']:.2f} p99 {i['post_p99_ms']:.2f} ms)"
        )
    print(f"\nload average before/after: {results['loadavg_before']} / {results['loadavg_after']}")
    if float(results["loadavg_before"][0]) > 0.5:
        print("WARNING: the machine was not idle when the benchmark started: figures are noisy.")
    print("Note: the load generator (this process), the server and the app share the machine's")
    print(f"{os.cpu_count()} cores; the ceiling's load generator competes with the SDK app too.")
    print("\n=== targets ===")
    for name, ok, detail in targets(results):
        mark = "PASS" if ok else ("MISS" if ok is False else "n/a ")
        print(f"  {mark}  {name}  {detail}")


def markdown(results: dict[str, Any]) -> str:
    ceil = {(c.get("mode", "sdk"), c["n"]): c for c in results["ceiling"]}
    lines = [
        "| mode | N | ok | wall s | child runs/s | SDK calls/s | server CPU ms/call "
        "| peak RSS MB | event→first step p50 / p99 ms | SDK ceiling runs/s | vs ceiling |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results["fanout"]:
        c = ceil.get((r["mode"], r["n"]))
        vs = f"{r['runs_per_s'] / c['runs_per_s']:.1%}" if c else "-"
        lines.append(
            f"| {r['mode']} | {r['n']:,} | {'yes' if r['ok'] else '**FAILED**'} "
            f"| {r['wall_s']:.2f} | {fmt(r['runs_per_s'])} | {fmt(r['calls_per_s'])} "
            f"| {r['cpu_ms_per_call']:.3f} | {r['peak_rss_mb']:.0f} "
            f"| {fmt(r['lat_p50_ms'])} / {fmt(r['lat_p99_ms'])} "
            f"| {fmt(c['runs_per_s']) if c else '-'} "
            f"| {vs} |"
        )
    lines += [
        "",
        "| idle latency | POST returned→first call p50 / p99 ms | min ms "
        "| POST sent→first call p50 / p99 ms | POST /e/ round trip p50 / p99 ms |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for i in results["idle"]:
        lines.append(
            f"| {i['mode']} | {i['p50_ms']:.2f} / {i['p99_ms']:.2f} | {i['min_ms']:.2f} "
            f"| {i['send_p50_ms']:.2f} / {i['send_p99_ms']:.2f} "
            f"| {i['post_p50_ms']:.2f} / {i['post_p99_ms']:.2f} |"
        )
    lines += ["", "| target | result | value |", "| --- | --- | --- |"]
    for name, ok, detail in targets(results):
        lines.append(
            f"| {name} | {'PASS' if ok else 'MISS' if ok is False else 'n/a'} | {detail} |"
        )
    return "\n".join(lines)


# --- main ---------------------------------------------------------------------------------


def db_for(base: str | None, workdir: Path, label: str) -> Path:
    if base is None:
        return workdir / f"{label}.db"
    path = Path(base)
    if path.is_dir():
        return path / f"bench-{label}.db"
    return path.with_name(f"{path.stem}-{label}{path.suffix or '.db'}")


async def run_benchmark(
    ns: list[int],
    modes: list[str],
    db: str | None = None,
    profile_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run everything; return the figures (also printed)."""
    results: dict[str, Any] = {"modes": modes, "ns": ns, "fanout": [], "idle": [], "ceiling": []}
    results["loadavg_before"] = Path("/proc/loadavg").read_text().split()[:3]
    with tempfile.TemporaryDirectory(prefix="surge-bench-") as tmp:
        workdir = Path(tmp)
        for mode in modes:
            log(f"[{mode}] idle latency ...")
            stack = Stack(mode, workdir, db_for(db, workdir, f"{mode}-idle"))
            async with running(stack):
                results["idle"].append(await idle_latency(stack))
            for n in ns:
                log(f"[{mode}] fan-out N={n} ...")
                stack = Stack(mode, workdir, db_for(db, workdir, f"{mode}-{n}"))
                profile = profile_dir / f"server-{mode}-{n}.txt" if profile_dir else None
                async with running(stack):
                    results["fanout"].append(await fanout(stack, n, profile))
                if mode in SDK_MODES:
                    log(f"[{mode}] SDK app ceiling, {3 * n} calls ...")
                    stack = Stack(mode, workdir, workdir / "unused.db")
                    async with running(stack, with_server=False):
                        results["ceiling"].append({"mode": mode, **await sdk_ceiling(stack, n)})
    results["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--mode", nargs="+", choices=list(APP_SCRIPTS), default=list(APP_SCRIPTS))
    parser.add_argument(
        "--db", help="database path prefix or directory (default: a temp dir, deleted after)"
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
        results = asyncio.run(run_benchmark(args.n, args.mode, args.db, args.py_spy))
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
