"""Errors raised by Surge.

Every error Surge raises derives from `SurgeError`::

    SurgeError
    ├── InvalidInput          bad input from a caller; names the field and the limit
    │   ├── InvalidFunction   a function config in an app sync that cannot be used
    │   └── OptionProblem     one flow-control option of a function config is unusable
    ├── NotFound              an event, run, app or function that does not exist
    ├── Unauthorized          a missing or wrong key or signature
    ├── AppUnreachable        an app did not answer a call (`surge.core.http_client`)
    │   └── AppTimeout        ... within the call timeout
    ├── RegistryChanged       apps were synced since the caller matched events to triggers
    └── StorageError          the database failed
        ├── StorageUnavailable    transient: retried at the storage boundary
        ├── MissingDriver         the database's driver is not installed
        ├── StaleLease            a work item's lease passed to another worker
        ├── RunEndedMeanwhile     the run ended while the call being committed was in flight
        └── StaleDispatch         a checkpoint from a call that no longer holds its work item

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


class OptionProblem(InvalidInput):
    """One option of a function config is unusable; `field` is its path inside the function.

    `surge.core.functions` re-raises it as an `InvalidFunction` naming the function.
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}", field=field)
        self.problem = problem


class NotFound(SurgeError):
    """The requested event, run, app or function does not exist."""


class Conflict(SurgeError):
    """The request cannot be carried out in the current state (a paused function cannot be
    rerun or replayed); the message says what to do first."""


class Unauthorized(SurgeError):
    """A key or signature is missing or wrong."""


class AppUnreachable(SurgeError):
    """An app could not be reached or did not answer; the message says how."""


class AppTimeout(AppUnreachable):
    """An app did not answer within the call timeout."""


class RegistryChanged(SurgeError):
    """Apps were synced or removed since the caller matched its events against triggers.

    Raised by storage, changing nothing, when an operation carries a registry version older
    than the stored one; the engine reloads its registry, matches again and retries, so an
    event always starts every function synced before it was accepted.
    """

    def __init__(self) -> None:
        super().__init__("apps were synced since these events were matched to functions")


class StorageError(SurgeError):
    """The database failed."""


class StorageUnavailable(StorageError):
    """A transient database failure (connection lost, busy, serialization conflict)."""


class MissingDriver(StorageError):
    """The database named by a URL needs a driver that is not installed; the message says
    which extra to install."""


class StaleLease(StorageError):
    """The work item's lease expired and another worker may now hold it."""


class RunEndedMeanwhile(StorageError):
    """The run ended (was cancelled) while the call being committed was in flight."""


class StaleDispatch(StorageError):
    """A checkpoint came from a call that no longer holds its work item (its lease passed on,
    or the item was finished), or for a run that has ended: nothing of it was written."""
