"""Starting a server node from parsed command-line options."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from pathlib import Path

from surge.core.clock import SystemClock
from surge.core.durations import parse_duration
from surge.core.errors import InvalidInput, MissingDriver
from surge.core.limits import ABSOLUTE_MAX_EVENT_BYTES
from surge.core.passwords import password_hash
from surge.core.signing import check_key
from surge.dashboard import dashboard_routes
from surge.engine import Engine, EngineConfig
from surge.engine.otlp import trace_endpoint
from surge.server import SurgeServer, create_app, server_config
from surge.storage import is_postgres_url, open_storage
from surge.storage.rules.retention import MIN_RETENTION_MS

from .options import DEV_RETENTION, START_RETENTION

logger = logging.getLogger("surge")
_DATABASE_OPTIONS = frozenset({"db", "postgres_uri", "postgres_session_uri"})
GC_THRESHOLDS = (10_000, 20, 20)
"""When the garbage collector looks at each generation (`tune_gc`); Python's are (700, 10, 10)."""


def serve(args: argparse.Namespace) -> int:
    """Run `surge dev` or `surge start` until interrupted; return the exit status."""
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        config, database = _engine_config(args)
        session_url = getattr(args, "postgres_session_uri", None)
        if session_url and not is_postgres_url(database):
            raise InvalidInput("--postgres-session-uri goes with --postgres-uri")
        storage = open_storage(database, session_url=session_url)
        engine = Engine(storage, config, clock=SystemClock())
    except InvalidInput as exc:
        print(f"surge {args.command}: {exc.message}", file=sys.stderr)
        return 2
    except MissingDriver as exc:
        print(f"surge {args.command}: {exc}", file=sys.stderr)
        return 2
    event_keys = frozenset(getattr(args, "event_key", None) or [])
    # Shown at GET /dev: no keys, and database URLs without their passwords.
    start_opts = {
        key: _redact(value) if key in _DATABASE_OPTIONS and isinstance(value, str) else value
        for key, value in vars(args).items()
        if key not in ("command", "signing_key", "signing_key_fallback", "event_key")
    }
    app = create_app(
        engine,
        event_keys=event_keys,
        start_opts=start_opts,
        pages=dashboard_routes(engine),
        allowed_hosts=getattr(args, "allow_host", None) or (),
    )
    if args.command == "start" and not engine.logins.enabled:
        logger.warning(
            "the dashboard has no password, so no one can log in (API clients can use the"
            " signing key): set SURGE_DASHBOARD_PASSWORD or --dashboard-password-file"
        )
    print(
        f"Surge {args.command} server: http://{args.host}:{args.port}  "
        f"(database {_redact(database)})",
        flush=True,
    )
    loop = "uvloop" if sys.platform != "win32" else "asyncio"
    proxies = getattr(args, "forwarded_allow_ips", None)
    extra = {"forwarded_allow_ips": proxies} if proxies else {}
    server = SurgeServer(server_config(app, host=args.host, port=args.port, loop=loop, **extra))
    tune_gc()
    server.run()
    return 0


def tune_gc() -> None:
    """Make Python's cyclic garbage collector cheap for a server that allocates fast.

    With Python's settings a busy node spent a quarter of its CPU in the collector: the
    youngest generation was collected every 700 new objects, and each collection of the
    oldest walked every object alive, the modules and the app included (`docs/benchmarks.md`,
    "The garbage collector"). So what starting up made is set aside, never to be walked again
    (`gc.freeze`), and the youngest generation is collected every 10,000 new objects, in pauses
    of about 2 ms.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _engine_config(args: argparse.Namespace) -> tuple[EngineConfig, str]:
    if not 0 < args.max_event_size <= ABSOLUTE_MAX_EVENT_BYTES:
        raise InvalidInput(f"--max-event-size must be from 1 to {ABSOLUTE_MAX_EVENT_BYTES} bytes")
    common = {
        "queue_workers": args.queue_workers,
        "call_timeout": args.call_timeout,
        "retry_interval": args.retry_interval,
        "max_event_bytes": args.max_event_size,
        "sdk_urls": list(args.sdk_url or []),
        "poll_interval": args.poll_interval,
        "allow_private_http_steps": args.allow_private_http_steps,
        "retention_ms": _retention_ms(args),
        "otlp_endpoint": args.otlp_endpoint and trace_endpoint(args.otlp_endpoint),
    }
    if args.command == "dev":
        # One process owns the database in dev mode, unless it is shared PostgreSQL.
        shared = is_postgres_url(args.db)
        config = EngineConfig(
            server_kind="dev",
            discovery=not args.no_discovery,
            poll=not args.no_poll,
            single_node=not shared,
            **common,
        )
        return config, args.db
    if not args.signing_key:
        raise InvalidInput("--signing-key (or SURGE_SIGNING_KEY) is required")
    check_key(args.signing_key, option="--signing-key")
    if args.signing_key_fallback:
        check_key(args.signing_key_fallback, option="--signing-key-fallback")
    if bool(args.postgres_uri) == bool(args.db):
        raise InvalidInput("give exactly one of --postgres-uri and --db")
    database = args.postgres_uri or args.db
    config = EngineConfig(
        dashboard_password_hash=_dashboard_password(args),
        server_kind="cloud",
        discovery=False,
        poll=True,
        single_node=not is_postgres_url(database),
        signing_key=args.signing_key,
        signing_key_fallback=args.signing_key_fallback,
        lease_timeout=args.lease_timeout,
        **common,
    )
    return config, database


def _dashboard_password(args: argparse.Namespace) -> str | None:
    """The dashboard password's hash, from SURGE_DASHBOARD_PASSWORD or the file named by
    --dashboard-password-file (not both); `None` if neither is set."""
    from_env = os.environ.get("SURGE_DASHBOARD_PASSWORD")
    path = args.dashboard_password_file
    if from_env and path:
        raise InvalidInput(
            "give the dashboard password in SURGE_DASHBOARD_PASSWORD or a file, not both"
        )
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(
                f"cannot read --dashboard-password-file {path}: {exc.strerror}"
            ) from None
        return password_hash(text, source=f"--dashboard-password-file {path}")
    if from_env:
        return password_hash(from_env, source="SURGE_DASHBOARD_PASSWORD")
    return None


def _retention_ms(args: argparse.Namespace) -> int | None:
    text = args.retention or (DEV_RETENTION if args.command == "dev" else START_RETENTION)
    if text.strip().lower() == "forever":
        return None
    try:
        ms = int(parse_duration(text) * 1000)
    except InvalidInput:
        raise InvalidInput(f"--retention must be a duration such as 30d, got {text!r}") from None
    if ms < MIN_RETENTION_MS:
        raise InvalidInput(f"--retention must be at least 24h (the dedupe window), got {text!r}")
    return ms


def _redact(url: str) -> str:
    """A database URL without its password, for logs."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url
