"""Flow-control benchmark: concurrency limits under the seeds' fan-out, and fairness of keys.

    .venv/bin/python bench/flow.py [--n 10000 50000] [--case limit fairness scale] [--markdown]

Everything goes through a real ``surge dev`` (fresh SQLite file) and the stub app
(``bench/stub_app.py``), over loopback HTTP.

* ``limit``: the seeds' own case. One event starts the orchestrator, which sends N events; the
  worker (two steps of ``--step-ms`` 100 ms each) has ``concurrency`` 50. The app counts the
  steps running at once: the peak must not exceed 50, and with 50 slots of 2 x 100 ms the
  ideal is 250 runs/s (the figure: at least 90 % of it at N = 10,000). Also: every run
  completed once (3 calls each), the server's peak RSS (at most 300 MB at N = 50,000).
* ``scale``: server CPU per scheduled run (a keyed limit of 1, instant steps) with 100 runs
  queued over 100 keys, and with 100,000 queued over 1,000 keys, measured while 3,000
  (``--scale-measured``) complete once the queue is in (the 100-run queue refilled by 100 as
  it drains, its ingest counted): within 2x of each other.
* ``fairness``: the worker has a keyed limit of 1 (``event.data.k``). 10,000 events of one
  key are sent, then 999 events of 999 other keys. The small keys' runs must start while the
  big key is still draining: p99 from an event's arrival to its run's first call at most 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from fanout import (
    Stack,
    event_latencies,
    paginate,
    parse_iso,
    pct,
    peak_rss_mb,
    running,
    stop_all,
    verify_runs,
    wait_all_final,
)

LIMIT = 50
STEP_MS = 100
BIG_KEY_RUNS = 10_000
SMALL_KEYS = 999
CHUNK = 5000


async def limit_case(workdir: Path, n: int, step_ms: float, limit: int) -> dict[str, Any]:
    args = ["--step-ms", str(step_ms), "--worker-concurrency", str(limit)]
    stack = Stack(mode="stub", workdir=workdir, db=str(workdir / f"flow-{n}.db"), app_args=args)
    async with running(stack):
        assert stack.server is not None and stack.app is not None
        server = httpx.AsyncClient(base_url=stack.server_url, timeout=120.0)
        app = httpx.AsyncClient(base_url=stack.app_base, timeout=30.0)
        cpu0 = stack.server_cpu()
        t0 = time.time()
        start = orjson.dumps([{"name": "bench/start", "data": {"n": n}}])
        (await server.post("/e/bench", content=start)).raise_for_status()
        finished = await wait_all_final(app, stack, n, stall_s=120.0)
        await asyncio.sleep(0.3)
        cpu = stack.server_cpu() - cpu0
        rss = peak_rss_mb(stack.server.pid)
        stats = (await app.get("/stats")).json()
        runs, counts = await verify_runs(server, n, settle_s=30.0 if finished else 5.0)
        ended = [r["ended_at"] for r in runs if r.get("ended_at")]
        wall = _seconds(max(ended)) - t0 if ended else time.time() - t0
        worker_calls = stats["calls_by_fn"].get("bench-worker", 0)
        await server.aclose()
        await app.aclose()
    ideal = (limit or n) / (2 * step_ms / 1000)
    return {
        "case": "limit",
        "n": n,
        "ok": counts.get("Completed", 0) == n and len(runs) == n and worker_calls == 3 * n,
        "statuses": counts,
        "worker_calls": worker_calls,
        "peak_in_flight": stats["peak_in_flight"],
        "step_gap_ms": stats["gap_ms"],
        "wall_s": round(wall, 1),
        "runs_per_s": round(n / wall, 1),
        "ideal_runs_per_s": ideal,
        "of_ideal": round(n / wall / ideal, 3),
        "server_cpu_s": round(cpu, 1),
        "peak_rss_mb": round(rss, 1),
    }


async def fairness_case(workdir: Path, step_ms: float) -> dict[str, Any]:
    args = ["--step-ms", str(step_ms), "--worker-concurrency", "1", "--worker-key", "event.data.k"]
    stack = Stack(mode="stub", workdir=workdir, db=str(workdir / "fair.db"), app_args=args)
    async with running(stack):
        server = httpx.AsyncClient(base_url=stack.server_url, timeout=120.0)
        app = httpx.AsyncClient(base_url=stack.app_base, timeout=30.0)
        big = [{"name": "bench/item", "data": {"k": "big", "i": i}} for i in range(BIG_KEY_RUNS)]
        for start in range(0, len(big), CHUNK):
            body = orjson.dumps(big[start : start + CHUNK])
            (await server.post("/e/bench", content=body)).raise_for_status()
        small = [{"name": "bench/item", "data": {"k": f"k{i}"}} for i in range(SMALL_KEYS)]
        resp = await server.post("/e/bench", content=orjson.dumps(small))
        resp.raise_for_status()
        small_ids = set(resp.json()["ids"])
        done = await wait_all_final(app, stack, SMALL_KEYS + 1, stall_s=60.0)
        # Wait until every small key's run has started (its first call seen by the app).
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            stats = (await app.get("/stats", params={"full": 1})).json()
            started = {e for _, e in stats["first_call"].values()} & small_ids
            if len(started) == SMALL_KEYS:
                break
            await asyncio.sleep(0.2)
        big_done_then = stats["worker_final"]
        events = await paginate(server, "/v1/events", "internal_id", name="bench/item")
        small_events = [e for e in events if e["internal_id"] in small_ids]
        firsts = {run: v for run, v in stats["first_call"].items() if v[1] in small_ids}
        latencies = event_latencies(small_events, firsts)
        await server.aclose()
        await app.aclose()
    return {
        "case": "fairness",
        "ok": done and len(latencies) == SMALL_KEYS,
        "small_keys_started": len(latencies),
        "runs_done_when_last_small_started": big_done_then,
        "big_key_still_draining": big_done_then < BIG_KEY_RUNS,
        "small_start_p50_ms": round(pct(latencies, 50), 1),
        "small_start_p99_ms": round(pct(latencies, 99), 1),
        "small_start_max_ms": round(max(latencies, default=float("nan")), 1),
    }


async def scale_case(workdir: Path, queued: int, keys: int, measured: int) -> dict[str, Any]:
    """Server CPU per scheduled run while `measured` runs complete, with `queued` runs spread
    over `keys` keys (a keyed limit of 1) waiting in the queue."""
    args = ["--worker-concurrency", "1", "--worker-key", "event.data.k"]
    db = str(workdir / f"scale-{queued}.db")
    stack = Stack(mode="stub", workdir=workdir, db=db, app_args=args)
    async with running(stack):
        server = httpx.AsyncClient(base_url=stack.server_url, timeout=300.0)
        app = httpx.AsyncClient(base_url=stack.app_base, timeout=30.0)
        events = [{"name": "bench/item", "data": {"k": f"k{i % keys}"}} for i in range(queued)]
        for start in range(0, queued, CHUNK):
            body = orjson.dumps(events[start : start + CHUNK])
            (await server.post("/e/bench", content=body)).raise_for_status()
        base = (await app.get("/stats")).json()["worker_final"]
        cpu0, t0 = stack.server_cpu(), time.monotonic()
        done = await wait_all_final(app, stack, min(base + measured, queued), stall_s=60.0)
        finished = queued
        while done and finished < base + measured:
            # A queue smaller than the runs timed is refilled as it drains, so that it holds
            # about `queued` runs throughout (each refill's ingest counts in the CPU).
            batch = min(queued, base + measured - finished)
            body = orjson.dumps(events[:batch])
            (await server.post("/e/bench", content=body)).raise_for_status()
            finished += batch
            done = await wait_all_final(app, stack, finished, stall_s=60.0)
        cpu, wall = stack.server_cpu() - cpu0, time.monotonic() - t0
        await server.aclose()
        await app.aclose()
    return {
        "case": "scale",
        "queued": queued,
        "keys": keys,
        "ok": done,
        "measured_runs": measured,
        "cpu_ms_per_run": round(cpu * 1000 / measured, 3),
        "runs_per_s": round(measured / wall, 1),
    }


def _seconds(iso: str) -> float:
    value = parse_iso(iso)
    assert value is not None
    return value


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    workdir = Path(tempfile.mkdtemp(prefix="surge-flow-"))
    results = []
    try:
        if "limit" in args.case:
            for n in args.n:
                print(f"limit: N={n} ...", flush=True)
                results.append(await limit_case(workdir, n, args.step_ms, args.limit))
                print(f"  {results[-1]}", flush=True)
        if "scale" in args.case:
            for queued, keys in ((100, 100), (100_000, 1000)):
                print(f"scale: {queued} queued over {keys} keys ...", flush=True)
                results.append(await scale_case(workdir, queued, keys, args.scale_measured))
                print(f"  {results[-1]}", flush=True)
        if "fairness" in args.case:
            print("fairness ...", flush=True)
            results.append(await fairness_case(workdir, args.fair_step_ms))
            print(f"  {results[-1]}", flush=True)
    finally:
        stop_all()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument(
        "--case", nargs="+", choices=["limit", "fairness", "scale"], default=["limit", "fairness"]
    )
    parser.add_argument("--step-ms", type=float, default=STEP_MS)
    parser.add_argument("--limit", type=int, default=LIMIT, help="the worker's limit (0: none)")
    parser.add_argument("--fair-step-ms", type=float, default=10.0)
    parser.add_argument("--scale-measured", type=int, default=3000, help="runs timed (scale)")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    if args.markdown:
        for result in results:
            print()
            print("| " + " | ".join(result) + " |")
            print("|" + " --- |" * len(result))
            print("| " + " | ".join(str(v) for v in result.values()) + " |")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
