"""The fan-out benchmark's app on the official Inngest Python SDK (PyPI ``inngest==0.5.19``).

FastAPI + uvicorn, one worker process, async handlers, trivial step bodies:

* ``bench-orchestrator`` on ``bench/start``: step ``load`` returns ``event.data.n``; step
  ``send`` sends that many ``bench/item`` events with ``client.send`` in chunks of 5,000 (one
  POST /e/ may carry at most 5,000) and returns the ids.
* ``bench-worker`` on ``bench/item``: steps ``a`` and ``b``, then returns ``{"ok": true}``.

Side endpoints for the driver, the same as ``bench/stub_app.py``: ``GET /stats[?full=1]``,
``GET /wait?final=K`` and ``GET /wait?event_id=X``.

Usage: ``python bench/sdk_app.py --port P --server http://127.0.0.1:S``
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from typing import Any

import fastapi
import inngest
import inngest.fast_api
import uvicorn
from fastapi.responses import ORJSONResponse

SEND_CHUNK = 5000


class Stats:
    def __init__(self) -> None:
        self.calls = 0
        self.calls_by_fn: dict[str, int] = {}
        self.worker_final = 0
        self.first_call: dict[str, tuple[float, str | None]] = {}
        self.final_by_event: dict[str, tuple[float, float]] = {}
        self.waiters: list[tuple[Any, asyncio.Future[Any]]] = []

    def record(self, fn: str, ctx: inngest.Context) -> None:
        self.calls += 1
        self.calls_by_fn[fn] = self.calls_by_fn.get(fn, 0) + 1
        if ctx.run_id not in self.first_call:
            self.first_call[ctx.run_id] = (time.time(), ctx.event.id or None)

    def final(self, ctx: inngest.Context) -> None:
        self.worker_final += 1
        if ctx.event.id:
            self.final_by_event[ctx.event.id] = (self.first_call[ctx.run_id][0], time.time())
        still = []
        for check, fut in self.waiters:
            if not fut.done():
                result = check()
                if result is None:
                    still.append((check, fut))
                else:
                    fut.set_result(result)
        self.waiters = still

    async def wait(self, final: int | None, event_id: str | None, timeout: float) -> Any:
        def check() -> Any:
            if event_id is not None:
                return self.final_by_event.get(event_id)
            return self.worker_final if self.worker_final >= (final or 0) else None

        result = check()
        if result is not None:
            return result
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiters.append((check, fut))
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            return None

    def snapshot(self, full: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "calls": self.calls,
            "calls_by_fn": self.calls_by_fn,
            "worker_final": self.worker_final,
            "runs": len(self.first_call),
        }
        if full:
            out["first_call"] = self.first_call
        return out


def build(server: str) -> fastapi.FastAPI:
    stats = Stats()
    client = inngest.Inngest(
        app_id="bench",
        is_production=False,
        api_base_url=server,
        event_api_base_url=server,
        logger=logging.getLogger("bench-sdk-app"),
    )

    @client.create_function(
        fn_id="orchestrator", trigger=inngest.TriggerEvent(event="bench/start"), retries=3
    )
    async def orchestrator(ctx: inngest.Context) -> dict[str, Any]:
        stats.record("bench-orchestrator", ctx)

        async def load() -> int:
            return int(ctx.event.data.get("n", 0))  # type: ignore[arg-type]

        n = await ctx.step.run("load", load)

        async def send() -> list[str]:
            ids: list[str] = []
            for start in range(0, n, SEND_CHUNK):
                events = [
                    inngest.Event(name="bench/item", data={"i": i})
                    for i in range(start, min(n, start + SEND_CHUNK))
                ]
                ids.extend(await client.send(events))
            return ids

        ids = await ctx.step.run("send", send)
        return {"sent": len(ids)}

    @client.create_function(
        fn_id="worker", trigger=inngest.TriggerEvent(event="bench/item"), retries=3
    )
    async def worker(ctx: inngest.Context) -> dict[str, Any]:
        stats.record("bench-worker", ctx)

        async def a() -> int:
            return 1

        async def b() -> int:
            return 2

        await ctx.step.run("a", a)
        await ctx.step.run("b", b)
        stats.final(ctx)
        return {"ok": True}

    app = fastapi.FastAPI()
    inngest.fast_api.serve(app, client, [orchestrator, worker])

    @app.get("/stats")
    async def get_stats(full: int = 0) -> ORJSONResponse:
        return ORJSONResponse(stats.snapshot(bool(full)))

    @app.get("/wait")
    async def wait(
        final: int | None = None, event_id: str | None = None, timeout: float = 10.0
    ) -> ORJSONResponse:
        result = await stats.wait(final, event_id, timeout)
        return ORJSONResponse({"result": result, **stats.snapshot(False)})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server", required=True, help="Surge base URL")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"sdk app listening on http://127.0.0.1:{args.port}/api/inngest", flush=True)
    uvicorn.run(
        build(args.server.rstrip("/")),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        workers=1,
        access_log=False,
        log_level="warning",
        backlog=1024,
    )


if __name__ == "__main__":
    main()
