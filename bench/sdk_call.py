"""SDK call cost: Surge's Python SDK against the official ``inngest`` 0.5.19, same requests.

Both SDKs serve the same two-step function from an ASGI app, called in process (no sockets,
no server): the three calls of one run (run step 1; replay it and run step 2; replay both
and return). Reported: calls/s and CPU µs per call, for Surge as a bare ASGI app and mounted
in FastAPI (the official SDK only serves from a framework; FastAPI here). Then a 200-step
function's replay cost with k memoized steps, which should grow linearly in k.

    .venv/bin/python bench/sdk_call.py [--seconds 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

os.environ.pop("INNGEST_DEV", None)
logging.disable(logging.WARNING)

import fastapi  # noqa: E402
import inngest  # noqa: E402
import inngest.fast_api  # noqa: E402

import surge  # noqa: E402
from surge.core.ids import hash_step_id  # noqa: E402

ASGI = Callable[..., Awaitable[None]]
PATH = "/api/inngest"


def _body(steps: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {
            "event": {
                "name": "bench/item",
                "data": {"item_id": "item-1"},
                "id": "e1",
                "ts": 1700000000000,
                "user": {},
            },
            "events": [
                {
                    "name": "bench/item",
                    "data": {"item_id": "item-1"},
                    "id": "e1",
                    "ts": 1700000000000,
                    "user": {},
                }
            ],
            "steps": steps,
            "ctx": {
                "run_id": "01HZZZZZZZZZZZZZZZZZZZZZZZ",
                "attempt": 0,
                "max_attempts": 5,
                "disable_immediate_execution": False,
                "use_api": False,
                "stack": {"stack": list(steps), "current": len(steps)},
            },
            "version": 2,
            "use_api": False,
        }
    )


def two_step_requests() -> list[bytes]:
    fetch, process = hash_step_id("fetch-item"), hash_step_id("process-item")
    item = {"item_id": "item-1", "size": 6}
    return [
        _body({}),
        _body({fetch: {"data": item}}),
        _body({fetch: {"data": item}, process: {"data": "processed:item-1:6"}}),
    ]


# -- the same function in both SDKs ----------------------------------------------------------


def surge_functions(client: surge.Surge) -> list[surge.Function[Any]]:
    @client.create_function(fn_id="worker", trigger="bench/item")
    async def worker(ctx: surge.Context) -> dict[str, Any]:
        item_id = str(ctx.event.data.get("item_id"))

        async def fetch() -> dict[str, Any]:
            return {"item_id": item_id, "size": len(item_id)}

        async def process(item: dict[str, Any]) -> str:
            return f"processed:{item['item_id']}:{item['size']}"

        item = await ctx.step.run("fetch-item", fetch)
        return {"item_id": item_id, "result": await ctx.step.run("process-item", process, item)}

    @client.create_function(fn_id="long", trigger="bench/long")
    async def long(ctx: surge.Context) -> int:
        total = 0
        for i in range(200):
            total += await ctx.step.run("s", _value, i)
        return total

    return [worker, long]


async def _value(i: int) -> int:
    return i


def official_app() -> fastapi.FastAPI:
    client = inngest.Inngest(app_id="bench", is_production=False)

    @client.create_function(fn_id="worker", trigger=inngest.TriggerEvent(event="bench/item"))
    async def worker(ctx: inngest.Context) -> dict[str, Any]:
        item_id = str(ctx.event.data.get("item_id"))

        async def fetch() -> dict[str, Any]:
            return {"item_id": item_id, "size": len(item_id)}

        async def process(item: dict[str, Any]) -> str:
            return f"processed:{item['item_id']}:{item['size']}"

        item = await ctx.step.run("fetch-item", fetch)
        return {"item_id": item_id, "result": await ctx.step.run("process-item", process, item)}

    app = fastapi.FastAPI()
    inngest.fast_api.serve(app, client, [worker])
    return app


# -- driving an ASGI app in process ------------------------------------------------------------


async def call(app: ASGI, fn_id: str, body: bytes) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "root_path": "",
        "query_string": f"fnId=bench-{fn_id}&stepId=step".encode(),
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def measure(app: ASGI, bodies: list[bytes], seconds: float) -> dict[str, float]:
    expected = [206, 206, 200]
    for body, want in zip(bodies, expected, strict=True):  # warm up, and check the answers
        status, answer = await call(app, "worker", body)
        assert status == want, (status, answer[:300])
    calls = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    while time.perf_counter() - wall0 < seconds:
        for body in bodies:
            await call(app, "worker", body)
        calls += len(bodies)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"calls_per_s": calls / wall, "cpu_us_per_call": cpu / calls * 1e6}


async def replay_cost(app: ASGI, seconds: float) -> list[tuple[int, float]]:
    rows = []
    for k in (0, 50, 100, 150, 199):
        steps = {hash_step_id("s", i): {"data": i} for i in range(k)}
        body = _body(steps)
        status, _ = await call(app, "long", body)
        assert status == 206
        n = 0
        start = time.process_time()
        while time.process_time() - start < seconds / 5:
            await call(app, "long", body)
            n += 1
        rows.append((k, (time.process_time() - start) / n * 1e6))
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    client = surge.Surge(app_id="bench", mode="dev")
    functions = surge_functions(client)
    bare = surge.asgi_app(client, functions)
    mounted = fastapi.FastAPI()
    surge.serve_asgi(mounted, client, functions)
    bodies = two_step_requests()

    results = {
        "official inngest 0.5.19 (FastAPI)": await measure(official_app(), bodies, args.seconds),
        "surge (FastAPI route)": await measure(mounted, bodies, args.seconds),
        "surge (bare ASGI)": await measure(bare, bodies, args.seconds),
    }
    base = results["official inngest 0.5.19 (FastAPI)"]["calls_per_s"]
    print(f"{'SDK':<36} {'calls/s':>10} {'CPU µs/call':>12} {'vs official':>12}")
    for name, row in results.items():
        print(
            f"{name:<36} {row['calls_per_s']:>10.0f} {row['cpu_us_per_call']:>12.1f} "
            f"{row['calls_per_s'] / base:>11.1f}x"
        )

    rows = await replay_cost(bare, args.seconds)
    print("\n200-step function, one call with k memoized steps (surge, bare ASGI):")
    print(f"{'k':>5} {'CPU µs/call':>12} {'µs per memo':>12}")
    for k, us in rows:
        per = (us - rows[0][1]) / k if k else 0.0
        print(f"{k:>5} {us:>12.1f} {per:>12.2f}")
    if args.json:
        with open(args.json, "wb") as out:
            out.write(orjson.dumps({"two_step": results, "replay": rows}))


if __name__ == "__main__":
    asyncio.run(main())
