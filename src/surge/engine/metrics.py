"""The node's Prometheus metrics, served at ``GET /metrics`` (`docs/architecture.md`).

Counters count what this node did: the runs its operations started, skipped and ended
(told by storage once each operation committed: `storage.Note`), the events it stored, its
calls to apps and how long they took. Gauges that describe the whole cluster (the queue's
due work, each function's flow-control backlog) are exported by one node only: the one that
last ran the upkeep (`upkeep.py`), or the only node. Labels name functions, statuses, skip
reasons and work kinds, never a concurrency key or an event id: their number stays small.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from surge.storage import EVENTS_STORED, RUN_ENDED, RUN_SKIPPED, RUN_STARTED, Note, QueueStats

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The text exposition format every Prometheus version reads (the names here need none of
the newer format's escaping)."""

CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
"""App call durations, in seconds: from a few milliseconds to the default call timeout."""


class Metrics:
    """One node's metrics, in their own registry (several nodes may share a process)."""

    def __init__(self, *, leases: Callable[[], int]) -> None:
        registry = self.registry = CollectorRegistry()
        self.events_received = Counter(
            "surge_events_received", "Events accepted by the event API (POST /e/{key}).",
            registry=registry,
        )  # fmt: skip
        self.events_stored = Counter(
            "surge_events_stored", "Events stored: sent to the API or emitted by runs.",
            registry=registry,
        )  # fmt: skip
        self.runs_started = Counter(
            "surge_runs_started", "Runs created and not skipped, by function.", ["function"],
            registry=registry,
        )  # fmt: skip
        self.runs_skipped = Counter(
            "surge_runs_skipped", "Runs skipped, by function and reason.", ["function", "reason"],
            registry=registry,
        )  # fmt: skip
        self.runs_ended = Counter(
            "surge_runs_ended", "Runs ended, by function and status.", ["function", "status"],
            registry=registry,
        )  # fmt: skip
        self.step_calls = Counter(
            "surge_step_calls",
            "Calls to apps (each runs a step or ends a run), by function and result: ok, error"
            " (the app answered an error status), unreachable, timeout.",
            ["function", "result"],
            registry=registry,
        )
        self.step_seconds = Histogram(
            "surge_step_call_duration_seconds", "How long calls to apps took, by function.",
            ["function"], buckets=CALL_BUCKETS, registry=registry,
        )  # fmt: skip
        leased = Gauge(
            "surge_leases_active", "Work items this node holds leased.", registry=registry
        )
        leased.set_function(lambda: float(leases()))
        self.queue_due = Gauge(
            "surge_queue_due", "Cluster-wide: work items due and not leased, by kind.", ["kind"],
            registry=registry,
        )  # fmt: skip
        self.backlog = Gauge(
            "surge_flow_backlog",
            "Cluster-wide: items held back by flow control, by function and reason"
            " (concurrency, throttle, batch_or_debounce).",
            ["function", "reason"],
            registry=registry,
        )
        self.backlog_age = Gauge(
            "surge_flow_backlog_oldest_seconds",
            "Cluster-wide: how long the oldest item held back has waited.",
            ["function", "reason"],
            registry=registry,
        )

    def noted(self, notes: Sequence[Note]) -> None:
        """Count what a committed operation did."""
        for note in notes:
            if note.what == RUN_STARTED:
                self.runs_started.labels(*note.labels).inc(note.count)
            elif note.what == RUN_SKIPPED:
                self.runs_skipped.labels(*note.labels).inc(note.count)
            elif note.what == RUN_ENDED:
                self.runs_ended.labels(*note.labels).inc(note.count)
            elif note.what == EVENTS_STORED:
                self.events_stored.inc(note.count)

    def called(self, function_id: str, result: str, seconds: float) -> None:
        """Count a call to an app for `function_id` and how long it took."""
        self.step_calls.labels(function_id, result).inc()
        self.step_seconds.labels(function_id).observe(seconds)

    def render(self, stats: QueueStats | None, *, now: int) -> bytes:
        """The exposition text; with the cluster-wide gauges when `stats` is given (this
        node exports them), else without."""
        for gauge in (self.queue_due, self.backlog, self.backlog_age):
            gauge.clear()
        if stats is not None:
            for kind, count in stats.due.items():
                self.queue_due.labels(kind).set(count)
            for (function_id, reason), (count, oldest) in stats.backlog.items():
                self.backlog.labels(function_id, reason).set(count)
                self.backlog_age.labels(function_id, reason).set(max(0, now - oldest) / 1000)
        return generate_latest(self.registry)
