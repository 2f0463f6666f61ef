"""A registered function: its handler, triggers and options, and its register config (§1.3)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from surge.core.errors import InvalidInput
from surge.core.events import FUNCTION_FAILED

from ._event import EventType, TriggerCron, TriggerEvent
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
from ._serialize import decoder_for, return_type

__all__ = ["Function", "FunctionOptions", "Trigger", "TriggerLike", "normalize_triggers"]

T = TypeVar("T")

Trigger = TriggerEvent | TriggerCron
TriggerLike = Trigger | EventType[Any] | str
"""A trigger: `TriggerEvent`, `TriggerCron`, a typed `EventType`, or an event name."""


def normalize_triggers(
    trigger: TriggerLike | Sequence[TriggerLike] | None,
) -> tuple[list[Trigger], dict[str, EventType[Any]]]:
    """The triggers as `TriggerEvent`/`TriggerCron`, and the typed events among them."""
    if trigger is None:
        return [], {}
    items = (
        [trigger] if isinstance(trigger, TriggerEvent | TriggerCron | EventType | str) else trigger
    )
    triggers: list[Trigger] = []
    typed: dict[str, EventType[Any]] = {}
    for item in items:
        if isinstance(item, str):
            triggers.append(TriggerEvent(event=item))
        elif isinstance(item, EventType):
            triggers.append(item.trigger())
            typed[item.name] = item
        elif isinstance(item, TriggerEvent | TriggerCron):
            triggers.append(item)
        else:
            raise InvalidInput(f"not a trigger: {item!r}", field="trigger")
    return triggers, typed


class FunctionOptions:
    """The flow-control options of a function, turned into register-config keys."""

    __slots__ = ("wire",)

    def __init__(
        self,
        *,
        concurrency: int | Concurrency | Sequence[Concurrency] | None = None,
        throttle: Throttle | None = None,
        rate_limit: RateLimit | None = None,
        debounce: Debounce | None = None,
        batch_events: Batch | None = None,
        priority: Priority | str | None = None,
        idempotency: str | None = None,
        cancel: Cancel | Sequence[Cancel] | None = None,
        timeouts: Timeouts | None = None,
        singleton: Singleton | None = None,
    ) -> None:
        wire: dict[str, Any] = {}
        if concurrency is not None:
            wire["concurrency"] = _concurrency(concurrency)
        if throttle is not None:
            wire["throttle"] = throttle.to_wire()
        if rate_limit is not None:
            wire["rateLimit"] = rate_limit.to_wire()
        if debounce is not None:
            wire["debounce"] = debounce.to_wire()
        if batch_events is not None:
            wire["batchEvents"] = batch_events.to_wire()
        if priority is not None:
            wire["priority"] = (
                {"run": priority} if isinstance(priority, str) else priority.to_wire()
            )
        if idempotency is not None:
            wire["idempotency"] = idempotency
        if cancel is not None:
            items = [cancel] if isinstance(cancel, Cancel) else list(cancel)
            wire["cancel"] = [item.to_wire() for item in items]
        if timeouts is not None:
            wire["timeouts"] = timeouts.to_wire()
        if singleton is not None:
            wire["singleton"] = singleton.to_wire()
        self.wire = wire


def _concurrency(value: int | Concurrency | Sequence[Concurrency]) -> list[dict[str, Any]]:
    if isinstance(value, bool):
        raise InvalidInput("concurrency must be an int or Concurrency", field="concurrency")
    if isinstance(value, int):
        return [{"limit": value}]
    if isinstance(value, Concurrency):
        return [value.to_wire()]
    return [item.to_wire() for item in value]


class Function(Generic[T]):
    """A durable function, made by `Surge.create_function`; serve it with an adapter.

    The decorated handler stays callable: ``fn(ctx)`` calls it directly, e.g. in tests.

    Attributes:
        app_id: The id of the app that owns it.
        fn_id: Its id within the app.
        slug: ``"<app_id>-<fn_id>"``, its id on the server.
        name: Display name.
        handler: The decorated callable.
        is_async: Whether the handler is ``async def``.
        on_failure: The ``-failure`` function made from ``on_failure``, if any.
        checkpointing: Whether a call runs consecutive steps, reporting each as it
            finishes (`surge.sdk._checkpoint`).
    """

    def __init__(
        self,
        *,
        app_id: str,
        fn_id: str,
        name: str | None,
        handler: Callable[[Any], Any],
        triggers: list[Trigger],
        typed: dict[str, EventType[Any]],
        options: FunctionOptions,
        retries: int | None,
        on_failure: Function[Any] | None = None,
        checkpointing: bool = True,
    ) -> None:
        if not fn_id:
            raise InvalidInput("fn_id must not be empty", field="fn_id")
        if retries is not None and not 0 <= retries <= 20:
            raise InvalidInput(f"retries must be 0..20, got {retries}", field="retries")
        self.app_id = app_id
        self.fn_id = fn_id
        self.slug = f"{app_id}-{fn_id}"
        self.name = name or fn_id
        self.handler = handler
        self.is_async = inspect.iscoroutinefunction(handler)
        self.triggers = triggers
        self.typed = typed
        self.options = options
        self.retries = retries
        self.on_failure = on_failure
        self.checkpointing = checkpointing
        self._decode_output = decoder_for(return_type(handler))
        self.__doc__ = handler.__doc__
        self.__name__ = getattr(handler, "__name__", fn_id)

    def __repr__(self) -> str:
        return f"<surge.Function {self.slug!r}>"

    def __call__(self, ctx: Any) -> Any:
        """Call the handler directly with a context (as a plain function; no durability)."""
        return self.handler(ctx)

    @property
    def max_attempts(self) -> int:
        return (4 if self.retries is None else self.retries) + 1

    def decode_output(self, value: Any) -> T:
        """A result of this function (from JSON) as the handler's declared return type."""
        decode = self._decode_output
        result: T = value if decode is None else decode(value)
        return result

    def all_functions(self) -> list[Function[Any]]:
        """This function and its failure handler."""
        return [self] if self.on_failure is None else [self, self.on_failure]

    def config(self, serve_url: str) -> dict[str, Any]:
        """This function's entry in the ``functions`` list of ``POST /fn/register``."""
        separator = "&" if "?" in serve_url else "?"
        url = f"{serve_url}{separator}fnId={quote(self.slug, safe='')}&stepId=step"
        step: dict[str, Any] = {
            "id": "step",
            "name": "step",
            "runtime": {"type": "http", "url": url},
        }
        if self.retries is not None:
            step["retries"] = {"attempts": self.retries}
        return {
            "id": self.slug,
            "name": self.name,
            "triggers": [trigger.to_wire() for trigger in self.triggers],
            "steps": {"step": step},
            **self.options.wire,
        }


def failure_function(
    parent_app_id: str, parent_fn_id: str, parent_name: str, handler: Callable[[Any], Any]
) -> Function[Any]:
    """The extra function that runs `handler` when the parent fails for good (§1.3)."""
    slug = f"{parent_app_id}-{parent_fn_id}"
    trigger = TriggerEvent(event=FUNCTION_FAILED, expression=f"event.data.function_id == '{slug}'")
    return Function(
        app_id=parent_app_id,
        fn_id=f"{parent_fn_id}-failure",
        name=f"{parent_name} (failure)",
        handler=handler,
        triggers=[trigger],
        typed={},
        options=FunctionOptions(),
        retries=0,
    )
