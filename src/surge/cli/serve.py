"""Starting a server node from parsed command-line options."""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn

from surge.core.events import ABSOLUTE_MAX_EVENT_BYTES
from surge.engine import Engine, EngineConfig
from surge.server import create_app
from surge.storage import open_storage


def serve_dev(args: argparse.Namespace) -> int:
    """Run `surge dev` until interrupted."""
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # One line per app call would drown everything else.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if not 0 < args.max_event_size <= ABSOLUTE_MAX_EVENT_BYTES:
        print(f"surge: --max-event-size must be from 1 to {ABSOLUTE_MAX_EVENT_BYTES} bytes")
        return 2
    config = EngineConfig(
        server_kind="dev",
        queue_workers=args.queue_workers,
        call_timeout=args.call_timeout,
        retry_interval=args.retry_interval,
        max_event_bytes=args.max_event_size,
        sdk_urls=list(args.sdk_url or []),
        discovery=not args.no_discovery,
        poll=not args.no_poll,
        poll_interval=args.poll_interval,
    )
    engine = Engine(open_storage(args.db), config)
    start_opts = {key: value for key, value in vars(args).items() if key != "command"}
    app = create_app(engine, start_opts=start_opts)
    print(f"Surge dev server: http://{args.host}:{args.port}  (database {args.db})", flush=True)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            loop="uvloop" if sys.platform != "win32" else "asyncio",
            http="httptools",
            lifespan="on",
            log_level="warning",
            access_log=False,
        )
    )
    server.run()
    return 0
