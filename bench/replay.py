"""Bulk replay: is a replay of N runs as fast as N new runs?

    .venv/bin/python bench/replay.py [--n 10000] [--db postgresql://...] [--markdown]

One real ``surge dev`` (a fresh SQLite file, or a fresh PostgreSQL database with ``--db``)
and the stub app (``bench/stub_app.py``: ``bench-worker`` makes three calls per run), over
loopback HTTP. Three phases on the same server, each timed until the app answered the final
call of all its runs:

1. ``new``: N ``bench/item`` events start N worker runs.
2. ``replay``: the worker is paused, N more events record N skipped runs, the worker is
   resumed, and ``POST /v1/replays`` (statuses ``Skipped``) reruns them. Timed from the
   replay's creation; ``GET /v1/replays/{id}`` must then say ``total = started = N`` and
   ``completed = N``.
3. ``new again``: N more events, as in 1 (the database now holds 3 N runs, as in 2).

The figure (issue 11): the replay at the rate the server runs new work, i.e. its runs per
second at least those of the slower of the two ``new`` phases, within noise.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from cluster import DEV, SETUP_NAMES, Setup, database
from fanout import Stack, running, stop_all

CHUNK = 5000
WORKER = "bench-worker"


def iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


EVENT_PATH = "/e/bench"


async def send_items(server: httpx.AsyncClient, n: int, tag: str) -> None:
    events = [{"name": "bench/item", "data": {"i": i, "tag": tag}} for i in range(n)]
    for start in range(0, n, CHUNK):
        chunk = orjson.dumps(events[start : start + CHUNK])
        resp = await server.post(EVENT_PATH, content=chunk)
        resp.raise_for_status()


async def wait_final(app: httpx.AsyncClient, target: int, timeout: float) -> float:
    """Long-poll the app until `target` worker runs got their final call; when (monotonic)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = (await app.get("/wait", params={"final": target, "timeout": 2})).json()
        if got["result"] is not None:
            return time.monotonic()
    raise RuntimeError(f"timed out waiting for {target} worker runs to end")


async def wait_skipped(server: httpx.AsyncClient, n: int, timeout: float) -> None:
    """Until `n` worker runs are recorded skipped (counted through GraphQL)."""
    query = """query($f: [String!], $from: Time!) {
      runs(filter: {from: $from, functionIDs: $f, status: [SKIPPED]},
      orderBy: [{field: QUEUED_AT, direction: DESC}], first: 1) { totalCount } }"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = {"query": query, "variables": {"f": [WORKER], "from": iso(time.time() - 3600)}}
        got = (await server.post("/v0/gql", json=body)).json()
        if "data" not in got:
            raise RuntimeError(f"GraphQL answered {got}")
        if got["data"]["runs"]["totalCount"] >= n:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the {n} paused events did not all record a skipped run")


async def new_phase(server: httpx.AsyncClient, app: httpx.AsyncClient, n: int, done: int) -> float:
    began = time.monotonic()
    await send_items(server, n, tag=f"new-{done}")
    ended = await wait_final(app, done + n, timeout=600)
    return n / (ended - began)


async def replay_phase(
    server: httpx.AsyncClient, app: httpx.AsyncClient, n: int, done: int
) -> tuple[float, dict[str, Any]]:
    since = time.time() - 1
    (await server.post(f"/v1/functions/{WORKER}/pause")).raise_for_status()
    await send_items(server, n, tag="paused")
    await wait_skipped(server, n, timeout=300)
    (await server.post(f"/v1/functions/{WORKER}/resume")).raise_for_status()
    body = {
        "function_id": WORKER,
        "started_after": iso(since),
        "started_before": iso(time.time() + 1),
        "statuses": ["Skipped"],
    }
    began = time.monotonic()
    resp = await server.post("/v1/replays", json=body)
    resp.raise_for_status()
    replay_id = resp.json()["data"]["id"]
    all_started = asyncio.create_task(_all_started(server, replay_id, n, began))
    ended = await wait_final(app, done + n, timeout=600)
    rate = n / (ended - began)
    started_s = await all_started
    for _ in range(100):
        replay = (await server.get(f"/v1/replays/{replay_id}")).json()["data"]
        if replay["done"] and replay["runs"]["completed"] == n:
            break
        await asyncio.sleep(0.1)
    replay["all_started_s"] = started_s
    replay["all_ended_s"] = ended - began
    return rate, replay


async def _all_started(server: httpx.AsyncClient, replay_id: str, n: int, began: float) -> float:
    """Seconds from the replay's creation until its job had started all `n` reruns."""
    while True:
        replay = (await server.get(f"/v1/replays/{replay_id}")).json()["data"]
        if replay["started"] >= n:
            return time.monotonic() - began
        await asyncio.sleep(0.25)


async def run(n: int, db: str | None, workdir: Path) -> dict[str, Any]:
    global EVENT_PATH
    setup: Setup = SETUP_NAMES["pg"] if db else DEV
    EVENT_PATH = f"/e/{setup.event_key}"
    async with database(setup, db, lambda: workdir / "replay.db") as url:
        stack = Stack(mode="stub", workdir=workdir, db=url, setup=setup)
        async with running(stack):
            server = httpx.AsyncClient(
                base_url=stack.server_url, timeout=120.0, headers=setup.headers
            )
            app = httpx.AsyncClient(base_url=stack.app_base, timeout=30.0)
            first = await new_phase(server, app, n, done=0)
            replayed, replay = await replay_phase(server, app, n, done=n)
            again = await new_phase(server, app, n, done=2 * n)
            await server.aclose()
            await app.aclose()
    return {"new": first, "replay": replayed, "new_again": again, "replay_record": replay}


def report(result: dict[str, Any], n: int, backend: str, markdown: bool) -> None:
    slower = min(result["new"], result["new_again"])
    ratio = result["replay"] / slower
    record = result["replay_record"]
    checked = (record["total"], record["started"], record["runs"]["completed"]) == (n, n, n)
    if markdown:
        print("| backend | new runs/s | replayed runs/s | new again runs/s | replay / slower new |")
        print("| --- | ---: | ---: | ---: | ---: |")
        print(
            f"| {backend} | {result['new']:,.0f} | {result['replay']:,.0f} |"
            f" {result['new_again']:,.0f} | {ratio:.1%} |"
        )
    else:
        print(f"{backend}: N = {n:,}")
        print(f"  new work:        {result['new']:,.0f} runs/s")
        print(f"  bulk replay:     {result['replay']:,.0f} runs/s")
        print(f"  new work again:  {result['new_again']:,.0f} runs/s")
        print(f"  replay / slower new: {ratio:.1%}")
    print(f"the replay's job started all {n:,} reruns {record['all_started_s']:.1f} s after"
          f" it was created; they had all ended after {record['all_ended_s']:.1f} s")  # fmt: skip
    print(f"replay record: total {record['total']}, started {record['started']},"
          f" {record['runs']} ({'as expected' if checked else 'NOT as expected'})")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--db", help="a PostgreSQL URL (a fresh database is made on it)")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="surge-replay-") as tmp:
        try:
            result = asyncio.run(run(args.n, args.db, Path(tmp)))
        finally:
            stop_all()
    report(result, args.n, "postgres" if args.db else "sqlite", args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
