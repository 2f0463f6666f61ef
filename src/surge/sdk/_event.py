"""Events, triggers and typed events."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, cast

from typing_extensions import TypeVar

from surge.core.run_errors import EventDataInvalid

from ._serialize import decoder_for, jsonable

__all__ = ["Event", "EventType", "TriggerCron", "TriggerEvent", "event_from_wire"]

D = TypeVar("D", default=dict[str, Any])


def _empty() -> Any:
    return {}


@dataclass(frozen=True, kw_only=True, slots=True)
class Event(Generic[D]):
    """An event: sent with `Surge.send` or `step.send_event`, received as ``ctx.event``.

    Attributes:
        name: The event name, e.g. ``"app/user.signup"``.
        data: The payload: a dict, or the model of a typed event.
        id: Optional idempotency id; the server assigns one when empty.
        ts: Epoch milliseconds; the send time when 0.
        user: Optional user attributes.
        v: Optional version string.
    """

    name: str
    data: D = field(default_factory=_empty)
    id: str = ""
    ts: int = 0
    user: dict[str, Any] = field(default_factory=dict)
    v: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """The event as the event API takes it."""
        wire: dict[str, Any] = {
            "name": self.name,
            "data": jsonable(self.data),
            "ts": self.ts or time.time_ns() // 1_000_000,
        }
        if self.id:
            wire["id"] = self.id
        if self.user:
            wire["user"] = self.user
        if self.v is not None:
            wire["v"] = self.v
        return wire


def event_from_wire(raw: Any, data: Any = None) -> Event[Any]:
    """An `Event` from the JSON an execution request carries (``data`` replaces its data)."""
    if not isinstance(raw, dict):
        return Event(name="", data={})
    return Event(
        name=str(raw.get("name") or ""),
        data=(raw.get("data") or {}) if data is None else data,
        id=str(raw.get("id") or ""),
        ts=int(raw.get("ts") or 0),
        user=raw.get("user") or {},
        v=raw.get("v"),
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class TriggerEvent:
    """Run on every event named `event` (``"prefix/*"`` for a whole namespace).

    Attributes:
        event: The event name or wildcard.
        expression: Optional CEL condition over ``event``, e.g. ``"event.data.plan == 'pro'"``.
    """

    event: str
    expression: str | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"event": self.event}
        if self.expression:
            wire["expression"] = self.expression
        return wire


@dataclass(frozen=True, kw_only=True, slots=True)
class TriggerCron:
    """Run on a schedule: a 5-field cron string, optionally prefixed ``TZ=Area/City``.

    Attributes:
        cron: The schedule, e.g. ``"0 9 * * MON"``.
        jitter: Optional random delay, e.g. ``"30s"``.
    """

    cron: str
    jitter: str | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"cron": self.cron}
        if self.jitter:
            wire["jitter"] = self.jitter
        return wire


class EventType(Generic[D]):
    """A named event whose ``data`` has a model (pydantic model, dataclass or TypedDict).

    ``data`` is validated when such an event is built for sending, and when a function
    triggered by it receives it. Use it as a trigger, to build events, and to type
    ``ctx.event.data``::

        Signup = surge.EventType("app/user.signup", SignupData)
        client.send_sync(Signup(SignupData(user_id="u1")))

        @client.create_function(fn_id="welcome", trigger=Signup)
        async def welcome(ctx: surge.Context[SignupData]) -> None: ...
    """

    __slots__ = ("_decode", "model", "name")

    def __init__(self, name: str, model: type[D]) -> None:
        self.name = name
        self.model = model
        self._decode = decoder_for(model)

    def __repr__(self) -> str:
        return f"EventType({self.name!r}, {getattr(self.model, '__name__', self.model)!r})"

    def __call__(
        self,
        data: D | Mapping[str, Any],
        *,
        id: str = "",
        ts: int = 0,
        user: dict[str, Any] | None = None,
        v: str | None = None,
    ) -> Event[D]:
        """Build an event of this type; `data` may be the model or a mapping to validate."""
        return Event(name=self.name, data=self.validate(data), id=id, ts=ts, user=user or {}, v=v)

    def validate(self, data: Any) -> D:
        """`data` as the model; raises `EventDataInvalid` naming the event when it does not fit."""
        if self._decode is None:
            return cast(D, data)
        if isinstance(self.model, type) and isinstance(data, self.model):
            return data
        try:
            return cast(D, self._decode(jsonable(data)))
        except (ValueError, TypeError) as exc:
            raise EventDataInvalid(
                f"data of event {self.name!r} does not match {self.model!r}: {exc}",
                field="data",
            ) from None

    def trigger(self, expression: str | None = None) -> TriggerEvent:
        """A trigger on this event, with an optional CEL condition."""
        return TriggerEvent(event=self.name, expression=expression)
