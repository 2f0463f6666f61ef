"""Every limit on what clients send, stated once; `docs/limits.md` lists them for users.

The limits exist so that whatever the server accepts it can also store, on SQLite and on
PostgreSQL alike, and serve back on every read path. The checks that apply them are here too,
so each limit has one home and one wording.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ABSOLUTE_MAX_EVENT_BYTES",
    "BATCH_TIMEOUT_MS",
    "BODY_IDLE_TIMEOUT_S",
    "DEBOUNCE_PERIOD_MS",
    "DEFAULT_MAX_EVENT_BYTES",
    "EXPRESSION_TIMEOUT_S",
    "HEAD_TIMEOUT_S",
    "KEEP_ALIVE_TIMEOUT_S",
    "MAX_BATCH_SIZE",
    "MAX_COMPREHENSIONS",
    "MAX_DURATION_MS",
    "MAX_EVENTS_PER_REQUEST",
    "MAX_EVENT_REQUEST_BYTES",
    "MAX_EXPRESSION_LENGTH",
    "MAX_HEAD_BYTES",
    "MAX_ID_LENGTH",
    "MAX_INT",
    "MAX_NAME_LENGTH",
    "MAX_NESTING",
    "MAX_PAGE_SIZE",
    "MAX_REQUEST_BYTES",
    "MAX_URL_LENGTH",
    "MIN_INT",
    "RATE_LIMIT_PERIOD_MS",
    "THROTTLE_PERIOD_MS",
    "text_problem",
    "too_deep",
]

MAX_EVENTS_PER_REQUEST = 5000
DEFAULT_MAX_EVENT_BYTES = 512 * 1024
"""The largest encoded event `surge dev` and `surge start` accept (``--max-event-size``)."""
ABSOLUTE_MAX_EVENT_BYTES = 3 * 1024 * 1024
"""The most ``--max-event-size`` may be set to."""
MAX_EVENT_REQUEST_BYTES = 64 * 1024 * 1024
"""The largest body of ``POST /e/{key}``."""
MAX_REQUEST_BYTES = 16 * 1024 * 1024
"""The largest body of any other request (an app's registration, for one)."""

MAX_NESTING = 100
"""How deeply arrays and objects may nest in an event, counting the event object as 1.

JSON decoders accept 1,024 levels and the encoder Surge stores with fewer than 255; the
server wraps stored values a few levels deeper when it serves them back (an event in a
listing, in an app call's ``events``), so the limit keeps well clear of either bound."""

MAX_NAME_LENGTH = 255
"""Characters in an event name, an event's ``v``, an app id or a function id."""
MAX_ID_LENGTH = 255
"""Characters in an event's ``id`` (its idempotency key)."""
MAX_URL_LENGTH = 2048
"""Characters in an app's or a step's URL."""

MAX_PAGE_SIZE = 1000
"""The most records one page of a REST listing returns (its ``limit``)."""

HEAD_TIMEOUT_S = 10.0
"""Seconds a client has to send a request's head (request line and headers), counted from
its first byte or from the connection opening."""
BODY_IDLE_TIMEOUT_S = 30.0
"""Seconds a request's body may stall before the connection is closed."""
KEEP_ALIVE_TIMEOUT_S = 5.0
"""Seconds an idle kept-alive connection stays open between requests."""
MAX_HEAD_BYTES = 64 * 1024
"""The largest request head (request line and headers); a larger one is answered 431."""

MAX_EXPRESSION_LENGTH = 4096
"""Characters in a CEL expression (a trigger's, an option's key or condition)."""
MAX_COMPREHENSIONS = 8
"""Comprehension macros (``all``, ``exists``, ``exists_one``, ``map``, ``filter``) in one
expression; none may sit inside another's body, whose cost would grow with the square of an
event's lists."""

EXPRESSION_TIMEOUT_S = 1.0
"""The longest a trigger condition may take on one event; past it, it does not hold."""

MAX_DURATION_MS = 366 * 24 * 3600 * 1000
"""The longest duration an option may name (a year)."""

# The ranges Inngest documents for flow-control options; a function outside them fails to
# sync with a 400 naming the function, the option and the range.
SECOND_MS, DAY_MS = 1000, 24 * 3600 * 1000
THROTTLE_PERIOD_MS = (SECOND_MS, 7 * DAY_MS)
RATE_LIMIT_PERIOD_MS = (SECOND_MS, DAY_MS)
DEBOUNCE_PERIOD_MS = (SECOND_MS, 7 * DAY_MS)
"""Both the debounce ``period`` and its ``timeout``."""
BATCH_TIMEOUT_MS = (SECOND_MS, 60 * SECOND_MS)
MAX_BATCH_SIZE = 100

MIN_INT = -(2**63)
MAX_INT = 2**63 - 1
"""Integers in options are stored as 64-bit signed integers."""


def too_deep(value: Any, limit: int = MAX_NESTING) -> bool:
    """Whether arrays and objects nest more than `limit` levels deep in `value` (itself one
    level when it is an array or an object)."""
    if type(value) is not dict and type(value) is not list:
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if type(node) is dict else node
        if depth > limit:
            return True
        for child in children:
            if type(child) is dict or type(child) is list:
                stack.append((child, depth + 1))
    return False


def text_problem(value: str, *, what: str, max_length: int) -> str | None:
    """Why `value` cannot be stored as an identifier (too long, or holding a NUL character,
    which PostgreSQL cannot keep in text), or `None` if it can."""
    if len(value) > max_length:
        return f"{what} is too long: {len(value)} characters (the limit is {max_length})"
    if "\x00" in value:
        return f"{what} must not contain a NUL character"
    return None


HTTP_STEP_TIMEOUT_S = 120.0
"""How long the server waits for the response of an HTTP step (`step.fetch`, `step.ai.infer`)."""
MAX_HTTP_STEP_RESPONSE_BYTES = 4 * 1024 * 1024
"""The largest response an HTTP step may get (it is memoized, and sent back to the app)."""

MAX_GRAPHQL_REQUEST_BYTES = 64 * 1024
"""The largest GraphQL request (`POST /v0/gql`: its query and variables)."""
MAX_GRAPHQL_DEPTH = 16
"""The deepest selection a GraphQL query may make, fragments followed (a trace's spans nest:
five levels of ``childrenSpans`` under ``run { trace }`` is 8)."""
MAX_GRAPHQL_ALIASES = 30
"""The most aliased fields one GraphQL query may ask for: each is another resolve."""
