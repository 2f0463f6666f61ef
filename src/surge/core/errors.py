"""Errors raised by Surge.

Every error Surge raises derives from `SurgeError`::

    SurgeError
    ├── InvalidInput          bad input from a caller; names the field and the limit
    │   └── InvalidFunction   a function config in an app sync that cannot be used
    ├── NotFound              an event, run, app or function that does not exist
    ├── Unauthorized          a missing or wrong key or signature
    └── StorageError          the database failed
        ├── StorageUnavailable    transient: retried at the storage boundary
        └── StaleLease            a work item's lease passed to another worker

Errors user code meets inside a function run live in `surge.core.run_errors`: the
control-flow signals (`RunSignal`: `NonRetriableError`, `RetryAfterError`), which are not
faults, apart from the faults `StepError`, `EventSendError`, `OutputNotSerializable` and
`EventDataInvalid`.
"""

from __future__ import annotations


class SurgeError(Exception):
    """Base class of every error Surge raises."""


class InvalidInput(SurgeError):
    """The caller sent something Surge cannot accept.

    Attributes:
        field: Dotted path of the offending field (``"events[3].name"``), or ``""``.
        status: The HTTP status the server answers with.
    """

    def __init__(self, message: str, *, field: str = "", status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.status = status

    @property
    def message(self) -> str:
        return str(self.args[0])


class InvalidFunction(InvalidInput):
    """A function in an app sync has an unusable configuration."""

    def __init__(self, function_id: str, field: str, problem: str) -> None:
        super().__init__(f"function {function_id!r}: {field}: {problem}", field=field)
        self.function_id = function_id


class NotFound(SurgeError):
    """The requested event, run, app or function does not exist."""


class Unauthorized(SurgeError):
    """A key or signature is missing or wrong."""


class StorageError(SurgeError):
    """The database failed."""


class StorageUnavailable(StorageError):
    """A transient database failure (connection lost, busy, serialization conflict)."""


class StaleLease(StorageError):
    """The work item's lease expired and another worker may now hold it."""
