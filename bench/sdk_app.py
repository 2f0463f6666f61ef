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
import logging
from typing import Any

import fastapi
import inngest
import inngest.fast_api
import uvicorn
from app_stats import Stats
from fastapi.responses import ORJSONResponse

SEND_CHUNK = 5000


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
        stats.record("bench-orchestrator", ctx.run_id, ctx.event.id)

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
        stats.record("bench-worker", ctx.run_id, ctx.event.id)

        async def a() -> int:
            return 1

        async def b() -> int:
            return 2

        await ctx.step.run("a", a)
        await ctx.step.run("b", b)
        stats.final(ctx.run_id, ctx.event.id)
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
