"""Surge: event-driven durable functions for Python.

`import surge` is the SDK. The server lives in `surge.server`, `surge.engine` and
`surge.storage`; none of them is imported from here.

    import surge

    client = surge.Surge(app_id="shop")

    @client.create_function(fn_id="welcome", trigger="app/user.signup")
    async def welcome(ctx: surge.Context) -> str:
        return await ctx.step.run("render", render_email, ctx.event.data["user_id"])
"""

from __future__ import annotations

from surge.sdk import (
    Batch,
    Cancel,
    Concurrency,
    Config,
    Context,
    Debounce,
    Event,
    EventDataInvalid,
    EventSendError,
    EventType,
    Function,
    NonRetriableError,
    OutputNotSerializable,
    Priority,
    RateLimit,
    RetryAfterError,
    Singleton,
    Step,
    StepError,
    Surge,
    SurgeError,
    SyncContext,
    SyncStep,
    Throttle,
    Timeouts,
    TriggerCron,
    TriggerEvent,
    asgi_app,
    serve_asgi,
)
from surge.sdk._version import VERSION as __version__

__all__ = [
    "Batch",
    "Cancel",
    "Concurrency",
    "Config",
    "Context",
    "Debounce",
    "Event",
    "EventDataInvalid",
    "EventSendError",
    "EventType",
    "Function",
    "NonRetriableError",
    "OutputNotSerializable",
    "Priority",
    "RateLimit",
    "RetryAfterError",
    "Singleton",
    "Step",
    "StepError",
    "Surge",
    "SurgeError",
    "SyncContext",
    "SyncStep",
    "Throttle",
    "Timeouts",
    "TriggerCron",
    "TriggerEvent",
    "__version__",
    "asgi_app",
    "serve_asgi",
]
