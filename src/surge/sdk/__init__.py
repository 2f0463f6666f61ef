"""The Surge Python SDK: durable functions served from your app (re-exported by `surge`)."""

from __future__ import annotations

from surge.core.errors import SurgeError
from surge.core.run_errors import (
    EventDataInvalid,
    EventSendError,
    NonRetriableError,
    OutputNotSerializable,
    RetryAfterError,
    StepError,
)

from ._client import Surge
from ._config import Config
from ._context import Context, SyncContext
from ._event import Event, EventType, TriggerCron, TriggerEvent
from ._function import Function
from ._options import (
    Batch,
    Cancel,
    Concurrency,
    Debounce,
    Priority,
    RateLimit,
    Singleton,
    Throttle,
    Timeouts,
)
from ._steps import Step, SyncStep
from .serve.asgi import asgi_app, serve_asgi

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
    "asgi_app",
    "serve_asgi",
]
