"""The `surge` command: `surge dev` runs a local server on SQLite, `surge start` a production
node; `pause`, `resume`, `rerun`, `cancel` and `replay` operate a running server
(`client_commands.py`)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import surge

from . import client_commands
from .options import DEV_RETENTION, START_RETENTION, Option

logger = logging.getLogger("surge")


COMMON_OPTIONS = (
    Option(("-p", "--port"), "SURGE_PORT", "port to listen on", 8288, int),
    Option(("-u", "--sdk-url"), "SURGE_SDK_URL", "app serve URL to sync", repeat=True),
    Option(("--poll-interval",), "SURGE_POLL_INTERVAL", "seconds between app pings", 5.0, float),
    Option(
        ("--retry-interval",),
        "SURGE_RETRY_INTERVAL",
        "fixed seconds between retries, instead of exponential backoff",
        None,
        float,
    ),
    Option(("--queue-workers",), "SURGE_QUEUE_WORKERS", "concurrent calls to apps", 100, int),
    Option(("--call-timeout",), "SURGE_CALL_TIMEOUT", "seconds an app call may take", 300.0, float),
    Option(
        ("--max-event-size",),
        "SURGE_MAX_EVENT_SIZE",
        "largest accepted event in bytes (at most 3 MiB)",
        512 * 1024,
        int,
    ),
    Option(("--log-level",), "SURGE_LOG_LEVEL", "log level", "info"),
    Option(
        ("--retention",),
        "SURGE_RETENTION",
        "delete ended runs and their events after this long, e.g. 30d (at least 24h), or"
        f" 'forever' (default: {DEV_RETENTION} for dev, {START_RETENTION} for start)",
    ),
    Option(
        ("--otlp-endpoint",),
        "SURGE_OTLP_ENDPOINT",
        "export a span per run and per step to this OTLP/HTTP collector, e.g."
        " http://127.0.0.1:4318 (needs: pip install 'surge[otel]')",
    ),
    Option(
        ("--allow-private-http-steps",),
        "SURGE_ALLOW_PRIVATE_HTTP_STEPS",
        "let step.fetch and step.ai.infer reach loopback and private addresses",
        switch=True,
    ),
)

DEV_OPTIONS = (
    Option(("--host",), "SURGE_HOST", "interface to listen on", "127.0.0.1"),
    Option(
        ("--no-discovery",), "SURGE_NO_DISCOVERY", "do not scan local ports for apps", switch=True
    ),
    Option(("--no-poll",), "SURGE_NO_POLL", "only re-ping apps whose sync failed", switch=True),
    Option(
        ("--allow-host",),
        "SURGE_ALLOW_HOST",
        "a host name requests may name besides IP addresses and localhost (the dev server"
        " refuses others, against DNS rebinding), e.g. host.docker.internal",
        repeat=True,
    ),
    Option(
        ("--db",),
        "SURGE_DB",
        "SQLite file, or a postgresql:// URL (PostgreSQL needs: pip install 'surge[postgres]')",
        ".surge/dev.db",
    ),
)

START_OPTIONS = (
    Option(("--host",), "SURGE_HOST", "interface to listen on", "0.0.0.0"),
    Option(
        ("--postgres-uri",),
        "SURGE_POSTGRES_URI",
        "PostgreSQL database URL (needs: pip install 'surge[postgres]')",
    ),
    Option(
        ("--postgres-session-uri",),
        "SURGE_POSTGRES_SESSION_URI",
        "a direct URL of the same database, when --postgres-uri goes through a pooler in"
        " transaction mode (PgBouncer): LISTEN and migrations use it, and no statement is"
        " prepared through the pooler",
    ),
    Option(
        ("--db",),
        "SURGE_DB",
        "SQLite file, for a single node without PostgreSQL (built in)",
    ),
    Option(("--signing-key",), "SURGE_SIGNING_KEY", "hex signing key shared with apps"),
    Option(
        ("--signing-key-fallback",),
        "SURGE_SIGNING_KEY_FALLBACK",
        "previous signing key, still accepted while keys rotate",
    ),
    Option(("--event-key",), "SURGE_EVENT_KEY", "key accepted by POST /e/{key}", repeat=True),
    Option(
        ("--dashboard-password-file",),
        "SURGE_DASHBOARD_PASSWORD_FILE",
        "file holding the dashboard's login password, plain or from `surge hash-password`"
        " (or put it in SURGE_DASHBOARD_PASSWORD; never on the command line)",
    ),
    Option(
        ("--forwarded-allow-ips",),
        "SURGE_FORWARDED_ALLOW_IPS",
        "proxies (comma-separated IPs, or *) whose X-Forwarded-For/-Proto are trusted: the"
        " client's address for the login limit, https for Secure cookies",
        "127.0.0.1",
    ),
    Option(
        ("--lease-timeout",),
        "SURGE_LEASE_TIMEOUT",
        "seconds before a dead node's work passes to another node",
        30.0,
        float,
    ),
)


SERVER_PACKAGES = frozenset(
    {"starlette", "uvicorn", "httptools", "uvloop", "croniter", "cel", "jinja2"}
)
"""Top-level modules of the `server` extra: missing ones get an install hint."""


BACKENDS_HELP = """databases:
  SQLite      built in: --db path/to/file.db
  PostgreSQL  --postgres-uri / --db postgresql://...; needs the postgres extra:
              pip install 'surge[postgres]'"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="surge", description="Event-driven durable functions.")
    parser.add_argument("--version", action="version", version=f"surge {surge.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    dev = commands.add_parser(
        "dev",
        help="run a local server: SQLite, no keys, app discovery",
        description="Run a local Surge server: zero setup, data in .surge/dev.db.",
    )
    start = commands.add_parser(
        "start",
        help="run a production server node",
        description="Run a production Surge node: signed traffic, event keys, PostgreSQL "
        "(several nodes may share one database).",
    )
    for option in (*COMMON_OPTIONS, *DEV_OPTIONS):
        option.add_to(dev)
    for option in (*COMMON_OPTIONS, *START_OPTIONS):
        option.add_to(start)
    client_commands.add_commands(commands)
    commands.add_parser(
        "hash-password",
        help="hash a dashboard password for SURGE_DASHBOARD_PASSWORD or its file",
        description="Read a password (prompted twice, or one line from standard input) and"
        " print its scrypt hash, which `surge start` takes in place of the password.",
    )
    parser.epilog = start.epilog = dev.epilog = BACKENDS_HELP
    parser.formatter_class = start.formatter_class = dev.formatter_class = (
        argparse.RawDescriptionHelpFormatter
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "hash-password":
        return _hash_password()
    if args.command not in ("dev", "start"):
        return client_commands.run(args)
    try:
        from .serve import serve
    except ModuleNotFoundError as exc:
        if exc.name not in SERVER_PACKAGES:
            raise
        print(f"surge: the server needs packages that are not installed ({exc.name}):")
        print("    pip install 'surge[server]'")
        return 1
    return serve(args)


def _hash_password() -> int:
    from surge.core.passwords import MIN_PASSWORD_LENGTH, hash_password

    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("surge hash-password: the passwords differ", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < MIN_PASSWORD_LENGTH:
        print(
            f"surge hash-password: use at least {MIN_PASSWORD_LENGTH} characters", file=sys.stderr
        )
        return 2
    print(hash_password(password))
    return 0


if __name__ == "__main__":
    sys.exit(main())
