"""A Surge-SDK app for bench/latency.py: ``ten-steps``, ten trivial sequential ``step.run``s
on ``bench/ten.steps``, served by uvicorn; ``CHECKPOINTING=false`` turns checkpointing off.

Usage: ``python bench/latency_surge_app.py PORT SERVER_URL``
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

import uvicorn

import surge

STEPS = 10


def build(server: str) -> Any:
    client = surge.Surge(
        app_id="latency-surge",
        mode="dev",
        api_origin=server,
        event_api_origin=server,
        logger=logging.getLogger("bench-latency-app"),
        checkpointing=os.environ.get("CHECKPOINTING") != "false",
    )

    @client.create_function(fn_id="ten-steps", trigger="bench/ten.steps", retries=0)
    async def ten_steps(ctx: surge.Context) -> int:
        total = 0
        for n in range(STEPS):

            async def step(n: int = n) -> int:
                return n

            total += await ctx.step.run(f"step-{n}", step)
        return total

    return surge.asgi_app(client, [ten_steps])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("server")
    args = parser.parse_args()
    uvicorn.run(
        build(args.server.rstrip("/")), host="127.0.0.1", port=args.port, log_level="warning"
    )


if __name__ == "__main__":
    main()
