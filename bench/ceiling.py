"""The SDK app's own ceiling, for the fan-out benchmark (``bench/fanout.py``).

The worker's three execution requests are fired straight at the app, without a server, over
`CONCURRENCY` keep-alive connections of a minimal raw HTTP/1.1 client; the same requests also
warm an app up before a fan-out.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterator
from typing import Any

import httptools
import orjson

CONCURRENCY = 100  # the server's default --queue-workers
APP_WARMUP = 200  # children fired straight at a fresh app before it is measured
WARMUP_BASE = 10**9  # their child numbers, so their run and event ids never clash


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


async def sdk_ceiling(port: int, n: int) -> dict[str, Any]:
    """Hammer the SDK app alone with the worker's 3 calls for ``n`` children, 100 at a time."""
    await hammer(port, range(WARMUP_BASE, WARMUP_BASE + APP_WARMUP))  # untimed
    t0 = time.perf_counter()
    statuses = await hammer(port, range(n))
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
