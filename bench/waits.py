"""Timers and waits: how late sleeps resume, and what pending waits cost ingest and memory.

    .venv/bin/python bench/waits.py [--case lateness burst ingest memory] [--markdown]

Everything goes through a real ``surge dev`` (fresh SQLite file) and the stub app
(``bench/stub_app.py``: ``bench-sleeper`` sleeps until a time, ``bench-waiter`` waits for
``bench/go.<g>`` with ``event.data.k == async.data.k``), over loopback HTTP.

* ``lateness``: 1,000 sleepers due at a steady 50 per second for 20 s (all asleep before the
  first is due), while a fan-out of 50,000 worker runs keeps the server busy throughout.
  Lateness is from a sleeper's due time to the app receiving its resumed call (figure: p99 at
  most 50 ms).
* ``burst``: 10,000 sleepers due within the same second. All must resume within
  10,000 / (the server's calls per second, measured in the same sitting by an unlimited
  fan-out) + 1 s of the last due time, in due order (reported: how many came back more than
  100 ms out of order).
* ``ingest``: the rate ``POST /e`` accepts 20,000 events named ``bench/go.<0..999>`` (500 per
  request; they start no run; 5 rounds), on a server with 100,000 runs waiting for those
  names (none matching) against one whose 100,000 runs sleep instead (as large a database, no
  pending waits): the first at least 80 % of the second (the median of the rounds' ratios).
  Also on an empty database, for reference; and how long after the last event one event that
  matches a wait resumes its waiter.
* ``memory``: the server's peak RSS with 100,000 runs asleep (figure: at most 300 MB).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from fanout import Stack, cpu_seconds, pct, peak_rss_mb, running, stop_all, wait_all_final

CHUNK = 5000
NAMES = 1000
ROUNDS = 5
"""How many times the ingest case sends its events to each server (the median counts)."""


def iso(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def sleeper(due_ms: float) -> dict[str, Any]:
    return {"name": "bench/sleep", "data": {"until": iso(due_ms), "due": int(due_ms)}}


async def send(server: httpx.AsyncClient, events: list[dict[str, Any]], chunk: int = CHUNK) -> None:
    for start in range(0, len(events), chunk):
        resp = await server.post("/e/bench", content=orjson.dumps(events[start : start + chunk]))
        resp.raise_for_status()


async def wait_stat(app: httpx.AsyncClient, key: str, target: int, timeout: float) -> int:
    """Poll the app's ``/stats`` until ``key`` reaches ``target``; the last value seen."""
    deadline = time.monotonic() + timeout
    value = 0
    while time.monotonic() < deadline:
        value = (await app.get("/stats")).json()[key]
        if value >= target:
            break
        await asyncio.sleep(0.2)
    return int(value)


async def lateness_case(workdir: Path, rate: int, seconds: int, fanout_n: int) -> dict[str, Any]:
    stack = Stack(mode="stub", workdir=workdir, db=str(workdir / "lateness.db"))
    async with running(stack):
        server = httpx.AsyncClient(base_url=stack.server_url, timeout=120.0)
        app = httpx.AsyncClient(base_url=stack.app_base, timeout=30.0)
        # The sleepers go to sleep first, due one every 1/rate s from 8 s on; then the
        # fan-out starts, and keeps the server busy while they fall due.
        first_due = time.time() * 1000 + 8000
        n = rate * seconds
        await send(server, [sleeper(first_due + i * 1000 / rate) for i in range(n)])
        parked = await wait_stat(app, "parked", n, timeout=60)
        start = orjson.dumps([{"name": "bench/start", "data": {"n": fanout_n}}])
        (await server.post("/e/bench", content=start)).raise_for_status()
        woke = await wait_stat(app, "woke", n, timeout=120)
        busy = (await app.get("/stats")).json()["worker_final"] < fanout_n
        stats = (await app.get("/stats", params={"full": 1})).json()
        late = [came - due for due, came in stats["woke_due"]]
        await wait_all_final(app, stack, fanout_n, stall_s=60.0)
        await server.aclose()
        await app.aclose()
    return {
        "case": "lateness",
        "ok": woke == n and parked == n,
        "sleepers": n,
        "asleep_before_first_due": parked == n and time.time() * 1000 > first_due,
        "fan_out_still_running_at_last_due": busy,
        "lateness_p50_ms": round(pct(late, 50), 1),
        "lateness_p99_ms": round(pct(late, 99), 1),
        "lateness_max_ms": round(max(late, default=float("nan")), 1),
    }


async def calls_per_second(workdir: Path, n: int) -> float:
    stack = Stack(mode="stub", workdir=workdir, db=str(workdir / "calls.db"))
    async with running(stack):
        server = httpx.AsyncClient(base_url=stack.server_url, timeout=120.0)
        app = httpx.AsyncClient(base_url=stack.app_base, timeout=30.0)
        t0 = time.monotonic()
        start = orjson.dumps([{"name": "bench/start", "data": {"n": n}}])
        (await server.post("/e/bench", content=start)).raise_for_status()
        await wait_all_final(app, stack, n, stall_s=60.0)
        wall = time.monotonic() - t0
        calls = (await app.get("/stats")).json()["calls"]
        await server.aclose()
        await app.aclose()
    return float(calls / wall)


async def burst_case(workdir: Path, n: int) -> dict[str, Any]:
    rate = await calls_per_second(workdir, 10_000)
    stack = Stack(mode="stub", workdir=workdir, db=str(workdir / "burst.db"))
    async with running(stack):
        server = httpx.AsyncClient(base_url=stack.server_url, timeout=120.0)
        app = httpx.AsyncClient(base_url=stack.app_base, timeout=30.0)
        due0 = time.time() * 1000 + 30_000
        await send(server, [sleeper(due0 + i * 1000 / n) for i in range(n)])
        parked = await wait_stat(app, "parked", n, timeout=60)
        prepared_s = due0 / 1000 - time.time()
        woke = await wait_stat(app, "woke", n, timeout=120 + n / rate)
        stats = (await app.get("/stats", params={"full": 1})).json()
        await server.aclose()
        await app.aclose()
    woke_due = stats["woke_due"]
    last_due = due0 + 1000
    done_after = max((came for _, came in woke_due), default=float("nan")) - last_due
    # Out of order: came back more than 100 ms after a sleeper due later than it.
    latest_due_seen, out_of_order = 0.0, 0
    for due, _came in sorted(woke_due, key=lambda pair: pair[1]):
        if latest_due_seen - due > 100:
            out_of_order += 1
        latest_due_seen = max(latest_due_seen, due)
    target = n / rate * 1000 + 1000
    return {
        "case": "burst",
        "ok": woke == n and parked == n,
        "sleepers": n,
        "asleep_with_s_to_spare": round(prepared_s, 1),
        "server_calls_per_s": round(rate),
        "all_resumed_ms_after_last_due": round(done_after),
        "target_ms": round(target),
        "met": done_after <= target,
        "more_than_100ms_out_of_order": out_of_order,
    }


async def ingest_rate(server: httpx.AsyncClient, events: list[dict[str, Any]]) -> float:
    t0 = time.monotonic()
    await send(server, events, chunk=500)
    return len(events) / (time.monotonic() - t0)


async def ingest_case(workdir: Path, waiters: int, events_n: int) -> dict[str, Any]:
    """The ingest rate of events of the waited names with `waiters` runs waiting, against a
    server whose database is as large but whose runs sleep instead (no pending waits); and
    on an empty database, for reference."""
    noise = [
        {"name": f"bench/go.{i % NAMES}", "data": {"k": f"nobody-{i}"}} for i in range(events_n)
    ]
    figures: dict[str, Any] = {}
    for label, parked_kind in (("empty", None), ("sleeping", "sleep"), ("waiting", "wait")):
        stack = Stack(mode="stub", workdir=workdir, db=str(workdir / f"ingest-{label}.db"))
        async with running(stack):
            assert stack.server is not None
            server = httpx.AsyncClient(base_url=stack.server_url, timeout=120.0)
            app = httpx.AsyncClient(base_url=stack.app_base, timeout=30.0)
            if parked_kind == "sleep":
                far = time.time() * 1000 + 3600_000
                await send(server, [sleeper(far) for _ in range(waiters)])
            elif parked_kind == "wait":
                await send(
                    server,
                    [
                        {"name": "bench/wait", "data": {"g": i % NAMES, "k": f"w-{i}"}}
                        for i in range(waiters)
                    ],
                )
            if parked_kind is not None:
                figures[f"{label}_runs"] = await wait_stat(app, "parked", waiters, timeout=600)
                await asyncio.sleep(2.0)  # the last commits
            cpu0 = cpu_seconds(stack.server.pid)
            # A round lasts about a second: the median of several, for a noisy machine.
            rates = [await ingest_rate(server, noise) for _ in range(ROUNDS)]
            figures[f"events_per_s_{label}"] = round(statistics.median(rates))
            figures[f"rounds_{label}"] = [round(rate) for rate in rates]
            if parked_kind == "wait":
                sent_at = time.monotonic()
                await send(server, [{"name": "bench/go.0", "data": {"k": "w-0"}}])
                figures["matched"] = await wait_stat(app, "resumed", 1, timeout=300) >= 1
                figures["matching_wait_resumed_s_after_last_event"] = round(
                    time.monotonic() - sent_at, 2
                )
            cpu = cpu_seconds(stack.server.pid) - cpu0
            per_event = cpu * 1000 / (events_n * ROUNDS)
            figures[f"server_cpu_ms_per_event_{label}"] = round(per_event, 4)
            figures[f"peak_rss_mb_{label}"] = round(peak_rss_mb(stack.server.pid), 1)
            await server.aclose()
            await app.aclose()
    # Round by round: every server's database grows alike as its rounds go on.
    ratios = [
        waiting / sleeping
        for waiting, sleeping in zip(
            figures["rounds_waiting"], figures["rounds_sleeping"], strict=True
        )
    ]
    ratio = statistics.median(ratios)
    ok = figures.get("matched") and figures["waiting_runs"] == waiters
    return {
        "case": "ingest",
        "ok": bool(ok),
        "events": events_n,
        **figures,
        "ratio": round(ratio, 3),
    }


async def memory_case(workdir: Path, n: int) -> dict[str, Any]:
    stack = Stack(mode="stub", workdir=workdir, db=str(workdir / "memory.db"))
    async with running(stack):
        assert stack.server is not None
        server = httpx.AsyncClient(base_url=stack.server_url, timeout=120.0)
        app = httpx.AsyncClient(base_url=stack.app_base, timeout=30.0)
        due = time.time() * 1000 + 3600_000
        await send(server, [sleeper(due) for _ in range(n)])
        parked = await wait_stat(app, "parked", n, timeout=600)
        await asyncio.sleep(2.0)
        rss = peak_rss_mb(stack.server.pid)
        await server.aclose()
        await app.aclose()
    return {
        "case": "memory",
        "ok": parked == n,
        "sleeping_runs": parked,
        "peak_rss_mb": round(rss, 1),
    }


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="surge-waits-") as tmp:
        workdir = Path(tmp)
        for case in args.case:
            print(f"{case} ...", flush=True)
            if case == "lateness":
                result = await lateness_case(workdir, rate=50, seconds=20, fanout_n=50_000)
            elif case == "burst":
                result = await burst_case(workdir, n=10_000)
            elif case == "ingest":
                result = await ingest_case(workdir, waiters=args.waiters, events_n=20_000)
            else:
                result = await memory_case(workdir, n=args.sleepers)
            print(f"  {result}", flush=True)
            results.append(result)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--case",
        nargs="+",
        choices=["lateness", "burst", "ingest", "memory"],
        default=["lateness", "burst", "ingest", "memory"],
    )
    parser.add_argument("--waiters", type=int, default=100_000)
    parser.add_argument("--sleepers", type=int, default=100_000)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    try:
        results = asyncio.run(run(args))
    finally:
        stop_all()
    if args.markdown:
        print("\n| case | figures |\n| --- | --- |")
        for result in results:
            figures = ", ".join(f"{k} {v}" for k, v in result.items() if k not in ("case", "ok"))
            print(f"| {result['case']} | {figures} |")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
