"""The fan-out of the compatibility apps on the Surge SDK, for the crash tests.

The same ``fanout-orchestrator`` and ``fanout-worker`` as ``tests/compat/py_app`` and
``tests/compat/ts_app``, written with ``import surge`` (which checkpoints: the worker's two steps
run in its first call, the first reported to ``/v1/checkpoint`` before the second begins).
Every step body records its execution in a ledger keyed by run id (``GET /counts``), and, with
``LEDGER_FILE`` set, appends it to that file before going on, so that what ran survives a kill
of this process. The SDK finds the server through ``INNGEST_DEV`` / ``INNGEST_BASE_URL``.

Usage: ``python app.py PORT``; serves ``/api/inngest``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from typing import Any

import orjson
import uvicorn

import surge

APP_ID = "compat-surge"
SEND_CHUNK = 5000
RETURNED = "(returned)"
LEDGER_FILE = os.environ.get("LEDGER_FILE")

_lock = threading.Lock()
_runs: dict[str, dict[str, Any]] = {}


def counted(run_id: str, fn: str, step: str) -> None:
    with _lock:
        if LEDGER_FILE:
            with open(LEDGER_FILE, "a") as journal:
                journal.write(f"{run_id}\t{fn}\t{step}\n")
        steps = _runs.setdefault(run_id, {"fn": fn, "steps": {}})["steps"]
        steps[step] = steps.get(step, 0) + 1


client = surge.Surge(app_id=APP_ID)


async def pause(event: surge.Event) -> None:
    ms = float(event.data.get("step_sleep_ms") or 0)
    if ms > 0:
        await asyncio.sleep(ms / 1000)


@client.create_function(fn_id="fanout-orchestrator", trigger="compat/fanout.start")
async def fanout_orchestrator(ctx: surge.Context) -> dict[str, Any]:
    count = int(ctx.event.data.get("count") or 0)

    def load_ids() -> list[str]:
        counted(ctx.run_id, "fanout-orchestrator", "load-ids")
        return [f"item-{i}" for i in range(count)]

    ids = await ctx.step.run("load-ids", load_ids)
    passthrough = {k: ctx.event.data[k] for k in ("tag", "step_sleep_ms") if k in ctx.event.data}
    event_ids: list[str] = []
    for chunk, start in enumerate(range(0, len(ids), SEND_CHUNK)):
        events = [
            surge.Event(name="compat/fanout.item", data={**passthrough, "item_id": item_id})
            for item_id in ids[start : start + SEND_CHUNK]
        ]
        event_ids += await ctx.step.send_event(f"send-items-{chunk}", events)
    return {"count": len(ids), "event_ids": event_ids}


@client.create_function(fn_id="fanout-worker", trigger="compat/fanout.item")
async def fanout_worker(ctx: surge.Context) -> dict[str, Any]:
    item_id = str(ctx.event.data["item_id"])

    async def fetch_item() -> dict[str, Any]:
        counted(ctx.run_id, "fanout-worker", "fetch-item")
        await pause(ctx.event)
        return {"item_id": item_id, "size": len(item_id)}

    async def process_item(item: dict[str, Any]) -> str:
        counted(ctx.run_id, "fanout-worker", "process-item")
        await pause(ctx.event)
        return f"processed:{item['item_id']}:{item['size']}"

    item = await ctx.step.run("fetch-item", fetch_item)
    result = await ctx.step.run("process-item", process_item, item)
    counted(ctx.run_id, "fanout-worker", RETURNED)
    return {"item_id": item_id, "result": result}


def counts(summary: bool) -> dict[str, Any]:
    with _lock:
        runs = {k: {"fn": v["fn"], "steps": dict(v["steps"])} for k, v in _runs.items()}
    by_fn: dict[str, int] = {}
    for run in runs.values():
        by_fn[run["fn"]] = by_fn.get(run["fn"], 0) + sum(run["steps"].values())
    total = sum(by_fn.values())
    if summary:
        return {"total_executions": total, "by_fn": by_fn}
    return {"runs": runs, "failures": [], "total_executions": total}


endpoint = surge.asgi_app(client, [fanout_orchestrator, fanout_worker])


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """``GET /counts[?summary=1]``; every other path is the Surge endpoint."""
    if scope["type"] != "http" or scope["path"] != "/counts":
        await endpoint(scope, receive, send)
        return
    body = orjson.dumps(counts(b"summary" in scope.get("query_string", b"")))
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ["PORT"])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
