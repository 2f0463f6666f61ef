"""Domain records that cross the storage boundary.

All timestamps are integer milliseconds since the Unix epoch (UTC). JSON-valued fields hold
already-decoded Python values. Every record is a value: build a new one (`dataclasses.replace`),
never change one. The few built on every app call (`RunRecord`, `Memo`, `RunState`, `WorkItem`,
`HistoryEntry`, `Commit`) are plain slotted dataclasses rather than frozen ones, which cost
twice as much to build.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from surge.core.span_metadata import MetadataUpdate

from .act_records import Cancellation, Replay, ReplayProgress, Suspension
from .flow_records import Gate, GateKind, Gather, GatherKind, Limit, OpenGather, Waiting
from .pause_records import Pause, PauseKind
from .query_records import EventQuery, Page, RunQuery
from .statements import Note

__all__ = [
    "DEDUPE_WINDOW_MS",
    "DISCOVERY",
    "EVENTS_STORED",
    "RUN_ENDED",
    "RUN_SKIPPED",
    "RUN_STARTED",
    "URGENT",
    "AppRecord",
    "Cancellation",
    "Commit",
    "EventQuery",
    "EventRecord",
    "FunctionRecord",
    "Gate",
    "GateKind",
    "Gather",
    "GatherKind",
    "HistoryEntry",
    "IngestEntry",
    "Leased",
    "Limit",
    "Memo",
    "NewRun",
    "NewWorkItem",
    "NextCall",
    "Note",
    "OpenGather",
    "Page",
    "Pause",
    "PauseKind",
    "QueueStats",
    "RegistryState",
    "Replay",
    "ReplayProgress",
    "RunQuery",
    "RunRecord",
    "RunState",
    "RunStatus",
    "RunUpdate",
    "SpanMetadata",
    "Suspension",
    "Then",
    "Waiting",
    "WorkItem",
    "WorkKind",
    "step_key",
]


class RunStatus(enum.Enum):
    """Where a run is in its life. The values are the REST v1 spellings."""

    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    SKIPPED = "Skipped"
    """The event did not start it (`skip_reason`): its function was paused, or a rate limit,
    an idempotency key or a singleton kept it from starting."""

    @property
    def is_final(self) -> bool:
        return self is not RunStatus.RUNNING


class WorkKind(enum.Enum):
    """What a work item asks the engine to do."""

    CALL = "call"
    """Call the app for a run: discovery (`step_id == "step"`) or one targeted step."""
    WAKE = "wake"
    """A sleep or a pause's timeout ended: memoize `payload["outcome"]` (default `null`) for
    `step_id` and drop the pause `payload["pause"]`, if any; then call discovery."""
    CRON = "cron"
    """A cron schedule fell due: start a run of `payload["function_id"]`."""
    FLUSH = "flush"
    """A debounce or an event batch (`payload["key"]`) may be due to close: start its run."""
    CANCEL_RUNS = "cancel_runs"
    """A bulk cancellation's job (`payload["cancellation"]`): cancel its next batch of runs
    after run id `payload["after"]`."""
    REPLAY_RUNS = "replay_runs"
    """A bulk replay's job (`payload["replay"]`): rerun its next batch of runs after run id
    `payload["after"]`."""
    UPKEEP = "upkeep"
    """Periodic upkeep, one node at a time (one item, `UPKEEP_KEY`): retention, and the
    cluster-wide metrics the node that runs it exports."""
    CANCEL = "cancel"
    """Cancel run `payload["run"]` (a singleton's new run replaced it), with
    `payload["detail"]` in its history."""
    TIMEOUT = "timeout"
    """Run `run_id` may have outlived its `timeouts` (`payload["timeout"]`: ``"start"`` or
    ``"finish"``): cancel it if so."""
    MATCH = "match"
    """Events (`payload["events"]`, internal ids) arrived that pauses wait for: resume or
    cancel the runs whose pause they match."""


RUN_STARTED = "run_started"
"""A `Note` that a run was created and not skipped; labels: its function."""
RUN_SKIPPED = "run_skipped"
"""A `Note` that a run was skipped; labels: its function, the skip reason."""
RUN_ENDED = "run_ended"
"""A `Note` that a run ended; labels: its function, its status."""
EVENTS_STORED = "events_stored"
"""A `Note` that events were stored (count: how many); no labels."""

DEDUPE_WINDOW_MS = 24 * 3600 * 1000
"""How long an event's user-given `id` suppresses a second event with the same id."""

URGENT = 1
"""The `priority` of a call that resumes a run when an event it waits for arrives: leased
before the backlog of other due calls, as timers are (`rules/queue.py`)."""

DISCOVERY = "step"
"""The `stepId` that asks an app to run a function from the top."""


def step_key(run_id: str, step_id: str) -> str:
    """The `unique_key` of a run's call or wake-up for `step_id`: one at a time per step."""
    return f"{run_id}:{step_id}"


@dataclass(frozen=True, kw_only=True)
class AppRecord:
    """A synced app: one SDK endpoint serving a set of functions."""

    id: str
    url: str
    sdk: str = ""
    framework: str = ""
    checksum: str = ""
    synced_at: int = 0
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class FunctionRecord:
    """A function as registered by its app. `config` is the registered JSON, normalised."""

    id: str
    """The composite slug `<app id>-<fn id>`, unique across apps."""
    app_id: str
    name: str
    config: dict[str, Any]
    url: str
    """The step runtime URL (normalised, `stepId` and `fnId` query included)."""


@dataclass(frozen=True, kw_only=True)
class EventRecord:
    """A stored event. `payload` is the event exactly as delivered to functions."""

    internal_id: str
    id: str
    name: str
    payload: dict[str, Any]
    ts: int
    received_at: int
    source_run_id: str | None = None


@dataclass(kw_only=True, slots=True)
class RunRecord:
    """A run of a function."""

    id: str
    function_id: str
    status: RunStatus
    event_ids: list[str]
    started_at: int
    ended_at: int | None = None
    output: Any = None
    error: Any = None
    cron: str | None = None
    request_version: int = -1
    force_step_plan: bool = False
    parent_run_id: str | None = None
    """The run whose `step.sendEvent` produced this run's first event, if any."""
    skip_reason: str | None = None
    """Why a `SKIPPED` run did not start: ``"paused"``, ``"rate_limit"``, ``"idempotency"``
    or ``"singleton"``."""
    batch_id: str | None = None
    """The event batch or debounce that started it, if one did."""
    waiting: Waiting | None = None
    """Why it has not begun yet (filled in by `Storage.run_waiting`, not by listings)."""
    lingering: bool = False
    """It has (or had) pauses or timeout checks, which its end drops."""
    original_run_id: str | None = None
    """The run it reruns, if it is a rerun."""
    replay_id: str | None = None
    """The bulk replay that started it, if one did."""
    step_input: dict[str, list[Any]] | None = None
    """A rerun's edited step input: the arguments a step (by hashed id) runs with until it is
    memoized, instead of those in the app's code."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SpanMetadata:
    """Metadata of one kind and scope on a run (`step_id` ``""``) or one of its steps."""

    step_id: str
    scope: str
    kind: str
    values: dict[str, Any]
    updated_at: int


@dataclass(kw_only=True, slots=True)
class Memo:
    """A step's stored outcome: `{"data": x}`, `{"error": e}`, or a raw value."""

    step_id: str
    outcome: Any
    name: str = ""
    op: str = ""
    at: int = 0


@dataclass(kw_only=True, slots=True)
class RunState:
    """Everything the executor needs to call an app for a run."""

    run: RunRecord
    events: list[dict[str, Any]]
    memos: list[Memo]
    """In completion order: the order of `ctx.stack.stack`."""


@dataclass(frozen=True, kw_only=True)
class NewWorkItem:
    """A work item to enqueue."""

    kind: WorkKind
    due_at: int
    run_id: str | None = None
    step_id: str = DISCOVERY
    attempt: int = 0
    priority: int = 0
    payload: dict[str, Any] = field(default_factory=dict)
    unique_key: str | None = None
    """When set, enqueueing is skipped if an item with the same key already exists."""
    flow: str | None = None
    """The run's flow control as stored (`tables.flow_json`): storage copies it onto every
    call of a run, so that leasing reads it without a look-up."""


@dataclass(kw_only=True, slots=True)
class WorkItem:
    """A leased work item. `lease_token` must be presented to complete or release it."""

    id: int
    kind: WorkKind
    due_at: int
    run_id: str | None
    step_id: str
    attempt: int
    priority: int
    payload: dict[str, Any]
    lease_token: str
    unique_key: str | None = None
    flow: str | None = None
    """The run's flow control as stored (copied onto its calls)."""
    limits: tuple[Limit, ...] = ()
    """The concurrency limits of the item's run."""
    slots: tuple[str, ...] = ()
    """The keys of `limits` the item holds a slot of: all of them once it may run."""


@dataclass(frozen=True, kw_only=True, slots=True)
class NextCall:
    """A run's next call, leased to the worker that committed the run's last one, with the
    run's state as that commit left it: the worker goes on with no lease and no read."""

    item: WorkItem
    state: RunState


@dataclass(frozen=True, kw_only=True, slots=True)
class Leased:
    """What one lease took: the items, and the earliest due time left in the queue (leased
    items included, `None` when it is empty)."""

    items: list[WorkItem]
    next_due_at: int | None
    first_due_at: int | None = None
    """The earliest due time of the work leased first (timers, urgent calls), if any."""
    states: dict[str, RunState] = field(default_factory=dict)
    """The state of the run of each call leased due, by run id, read right after the lease."""


@dataclass(frozen=True, kw_only=True)
class NewRun:
    """A run to create, with its first work item created alongside."""

    id: str
    function_id: str
    event_ids: list[str]
    started_at: int
    cron: str | None = None
    concurrency: tuple[Limit, ...] = ()
    """The limits its steps count against, fixed when it starts."""
    gates: tuple[Gate, ...] = ()
    """Idempotency, rate limit and throttle: whether and when it starts."""
    priority_ms: int = 0
    """How far ahead of runs queued at the same time its first call is due (negative: how
    far behind)."""
    gather: Gather | None = None
    """When set, its event waits in a debounce or batch, and no run starts yet."""
    batch_id: str | None = None
    """The batch (or debounce) it was started by."""
    pauses: tuple[Pause, ...] = ()
    """Its ``cancelOn`` pauses, stored if it starts."""
    timeouts: tuple[tuple[str, int], ...] = ()
    """Its ``timeouts``: ``("start" | "finish", when)``, checked then if it starts."""
    invoked_by: str | None = None
    """The correlation id of the `step.invoke` that started it: if it is skipped, its
    ``inngest/function.finished`` still says so, and the invoking step fails."""
    original_run_id: str | None = None
    """The run it reruns, if it is a rerun."""
    replay_id: str | None = None
    """The bulk replay it belongs to, if a replay started it."""
    skip_reason: str | None = None
    """Set when it is skipped whatever its gates say: ``"paused"`` (its function is
    suspended)."""

    @property
    def lock_keys(self) -> tuple[str, ...]:
        """The keys of its limits, gates and gather: starting it serializes on each."""
        keys = (*(lim.key for lim in self.concurrency), *(gate.key for gate in self.gates))
        return keys if self.gather is None else (*keys, self.gather.key)


@dataclass(frozen=True, kw_only=True)
class IngestEntry:
    """One event to store, with the runs it triggers if it is stored for the first time."""

    event: EventRecord
    runs: list[NewRun] = field(default_factory=list)
    dedupe_window_ms: int = DEDUPE_WINDOW_MS
    """An event whose user-given `id` was stored within this window is not stored again."""
    fresh_id: bool = False
    """The internal id was minted for this entry (not derived from a seed), so no stored event
    can have it. With a zero `dedupe_window_ms` such an entry is stored without any look-up,
    which keeps a step's commit at one round trip on PostgreSQL."""


@dataclass(frozen=True, kw_only=True)
class RunUpdate:
    """Changes to a run committed with a step outcome."""

    status: RunStatus | None = None
    ended_at: int | None = None
    output: Any = None
    error: Any = None
    request_version: int | None = None
    force_step_plan: bool | None = None


class Then(enum.Enum):
    """Whether a commit queues a discovery call for its run."""

    NOTHING = "nothing"
    DISCOVER = "discover"
    DISCOVER_IF_IDLE = "discover_if_idle"
    """Only when the run has no other pending work item (parallel fan-in: `docs/protocol.md`,
    "Step planning and parallel steps")."""


@dataclass(kw_only=True, slots=True)
class HistoryEntry:
    """One line of a run's history, shown in the dashboard and the query API."""

    run_id: str
    at: int
    kind: str
    step_id: str | None = None
    attempt: int = 0
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True, slots=True)
class Commit:
    """The outcome of handling one work item, written in one transaction.

    Order inside the transaction: the leased item is deleted (or, with `retry`, moved to its
    new due time and attempt); memos are inserted, each appended to the run's stack; the run
    update is applied; `events` are ingested; `enqueue` items are added; `then` is applied.
    """

    item: WorkItem
    at: int
    """When the outcome was decided: the due time of a discovery call `then` queues."""
    memos: list[Memo] = field(default_factory=list)
    run_update: RunUpdate | None = None
    enqueue: list[NewWorkItem] = field(default_factory=list)
    events: list[IngestEntry] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    then: Then = Then.NOTHING
    retry_at: int | None = None
    """Keep the item, due again at this time, with `attempt + 1`."""
    link_events_to_run: list[str] = field(default_factory=list)
    """Internal ids of events this run sent (`step.sendEvent`): they get `source_run_id`."""
    registry_version: int | None = None
    """The registry version `events` were matched against (see `Storage.ingest`)."""
    pauses: list[Pause] = field(default_factory=list)
    """Pauses the run begins (`step.waitForEvent`, `step.invoke`), stored with it."""
    pauses_done: list[str] = field(default_factory=list)
    """Ids of pauses that ended (timed out): deleted."""
    lingering: bool | None = None
    """Whether the run has pauses or timeout checks its end must drop (`RunRecord.lingering`
    as the engine read it; `None`: drop whatever there is)."""
    lazy_match: bool = False
    """Match `events` against pauses without reading their index first: a match work item is
    queued, and the nodes woken, if a pause waits for any of their names. For the
    ``inngest/function.*`` events of a run no invoke started (one commit round trip less)."""
    lease_next_ms: int | None = None
    """When set, the run's next call — the first call it enqueues due by `at`, else the
    discovery call `then` queues — is queued leased to the committer for this long (or, when
    the run stops, the call its slots go to), and `Storage.commit` returns it: the worker
    goes straight on with it. The engine asks only when no other work waits for a worker
    (`Scheduler.backlogged`)."""
    notes: list[Note] = field(default_factory=list)
    """Facts for the node's metrics, told once the commit is written (`statements.Note`)."""
    metadata: list[tuple[str, MetadataUpdate]] = field(default_factory=list)
    """Span metadata updates the app sent with its steps, each for a step id."""


@dataclass(frozen=True, kw_only=True)
class QueueStats:
    """What the queue holds, cluster-wide (`Storage.stats`)."""

    due: dict[str, int]
    """Work items due and not leased, by kind."""
    backlog: dict[tuple[str, str], tuple[int, int]]
    """By (function, reason: ``concurrency``, ``throttle``, ``batch_or_debounce``): how many
    items wait, and since when the oldest has (milliseconds)."""


@dataclass(frozen=True, kw_only=True)
class RegistryState:
    """Every app and function, and the registry version they make up."""

    version: int
    """Bumped by every app sync that changed something and every app removal."""
    apps: list[AppRecord]
    functions: list[FunctionRecord]
    suspensions: list[Suspension] = field(default_factory=list)
    """The paused functions (a suspension also bumps the version)."""
