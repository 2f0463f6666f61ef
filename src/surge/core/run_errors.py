"""Errors that user code meets inside a function run (the SDK side of `docs/protocol.md`,
"Errors and retries").

Two kinds, kept apart as `surge.core.errors` draws them::

    SurgeError
    ├── RunSignal             control flow: raised by user code to steer retries, not a fault
    │   ├── NonRetriableError     fail the step or function now, without retrying
    │   └── RetryAfterError       retry, but not before the given delay
    ├── StepError             fault: a step failed for good; raised into the handler
    ├── EventSendError        fault: the event API refused or could not take a send
    └── InvalidInput
        ├── OutputNotSerializable a step or function returned something JSON cannot hold
        └── EventDataInvalid      an event's data does not match its typed event model
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from surge.core.errors import InvalidInput, SurgeError

__all__ = [
    "EventDataInvalid",
    "EventSendError",
    "NonRetriableError",
    "OutputNotSerializable",
    "RetryAfterError",
    "RunSignal",
    "StepError",
]


class RunSignal(SurgeError):
    """Base of the control-flow signals user code raises to steer retries."""


class NonRetriableError(RunSignal):
    """Fail now, without retrying: inside a step it fails the step, elsewhere the function."""


class RetryAfterError(RunSignal):
    """Fail this attempt and retry no earlier than `retry_after`.

    Args:
        message: Why the attempt failed.
        delay: Seconds, a `timedelta`, or an aware `datetime` to retry at.
    """

    def __init__(self, message: str, delay: float | timedelta | datetime) -> None:
        super().__init__(message)
        if isinstance(delay, datetime):
            if delay.tzinfo is None:
                raise ValueError("RetryAfterError needs a timezone-aware datetime")
            self.retry_at: datetime | None = delay.astimezone(UTC)
            self.delay = max((self.retry_at - datetime.now(UTC)).total_seconds(), 0.0)
        else:
            self.retry_at = None
            self.delay = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)

    @property
    def header(self) -> str:
        """The ``Retry-After`` header value: whole seconds, or an ISO date when one was given."""
        if self.retry_at is not None:
            return self.retry_at.strftime("%Y-%m-%dT%H:%M:%S.") + (
                f"{self.retry_at.microsecond // 1000:03d}Z"
            )
        return str(max(1, math.ceil(self.delay)))


class StepError(SurgeError):
    """A step failed for good: its retries are used up, or it raised `NonRetriableError`.

    Raised into the handler where the step was awaited, so the function can catch it and
    compensate. Left uncaught, it fails the function without further retries.

    Attributes:
        step_id: The step's id as the user wrote it.
        name: The original error's class name (``"ValueError"``).
        message: The original error's message.
        stack: The original traceback text, when the SDK that ran the step sent one.
    """

    def __init__(
        self, message: str, *, step_id: str = "", name: str = "Error", stack: str = ""
    ) -> None:
        super().__init__(f"step {step_id!r} failed: {name}: {message}" if step_id else message)
        self.step_id = step_id
        self.name = name
        self.message = message
        self.stack = stack

    @classmethod
    def from_wire(cls, step_id: str, error: Any) -> StepError:
        """Build from a memoized ``{"error": {name, message, stack}}`` value."""
        if not isinstance(error, dict):
            return cls(str(error), step_id=step_id)
        return cls(
            str(error.get("message", "")),
            step_id=step_id,
            name=str(error.get("name") or "Error"),
            stack=str(error.get("stack") or ""),
        )


class EventSendError(SurgeError):
    """Sending events failed: the event API refused them or stayed unreachable.

    Attributes:
        status: The HTTP status of the last answer, or ``None`` if none came.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class OutputNotSerializable(InvalidInput):
    """A step or function returned a value that cannot be encoded as JSON."""


class EventDataInvalid(InvalidInput):
    """An event's ``data`` does not validate against the model of its typed event."""
