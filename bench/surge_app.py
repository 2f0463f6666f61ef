"""The fan-out benchmark's app on the Surge SDK: the same functions as ``bench/sdk_app.py``.

``surge.asgi_app`` served by uvicorn (one worker process, uvloop + httptools), async
handlers, trivial step bodies:

* ``bench-orchestrator`` on ``bench/start``: step ``load`` returns ``event.data.n``; then
  ``step.send_event("send", [...])`` sends that many ``bench/item`` events (the SDK splits
  the list so no ``POST /e/`` exceeds the server's limits) and the run returns their count.
* ``bench-worker`` on ``bench/item``: steps ``a`` and ``b``, then returns ``{"ok": true}``.

``CHECKPOINTING=false`` in the environment turns checkpointing off.

Side endpoints for the driver, the same as ``bench/stub_app.py``: ``GET /stats[?full=1]``,
``GET /wait?final=K`` and ``GET /wait?event_id=X``; every other path is the Surge endpoint.

Usage: ``python bench/surge_app.py --port P --server http://127.0.0.1:S``
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any
from urllib.parse import parse_qsl

import orjson
import uvicorn
from app_stats import Stats

import surge


def build(server: str) -> Any:
    stats = Stats()
    client = surge.Surge(
        app_id="bench",
        mode="dev",
        api_origin=server,
        event_api_origin=server,
        logger=logging.getLogger("bench-surge-app"),
        checkpointing=os.environ.get("CHECKPOINTING") != "false",
    )

    @client.create_function(fn_id="orchestrator", trigger="bench/start", retries=3)
    async def orchestrator(ctx: surge.Context) -> dict[str, int]:
        stats.record("bench-orchestrator", ctx.run_id, ctx.event.id)

        async def load() -> int:
            return int(ctx.event.data.get("n", 0))

        n = await ctx.step.run("load", load)
        ids = await ctx.step.send_event(
            "send", [surge.Event(name="bench/item", data={"i": i}) for i in range(n)]
        )
        return {"sent": len(ids)}

    async def one() -> int:
        return 1

    async def two() -> int:
        return 2

    @client.create_function(fn_id="worker", trigger="bench/item", retries=3)
    async def worker(ctx: surge.Context) -> dict[str, bool]:
        stats.record("bench-worker", ctx.run_id, ctx.event.id)
        await ctx.step.run("a", one)
        await ctx.step.run("b", two)
        stats.final(ctx.run_id, ctx.event.id)
        return {"ok": True}

    endpoint = surge.asgi_app(client, [orchestrator, worker])

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path not in ("/stats", "/wait"):
            await endpoint(scope, receive, send)
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode()))
        if path == "/stats":
            result: Any = stats.snapshot(bool(int(query.get("full", "0"))))
        else:
            final = int(query["final"]) if "final" in query else None
            got = await stats.wait(final, query.get("event_id"), float(query.get("timeout", 10)))
            result = {"result": got, **stats.snapshot(False)}
        body = orjson.dumps(result)
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server", required=True, help="Surge base URL")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"surge app listening on http://127.0.0.1:{args.port}/api/inngest", flush=True)
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
        lifespan="on",
    )


if __name__ == "__main__":
    main()
