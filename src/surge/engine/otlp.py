"""OpenTelemetry export (``--otlp-endpoint``): a span per run and one per step, over OTLP/HTTP.

A run is exported once it has ended, by the node whose operation ended it (told by storage
after commit: a `storage.Note` of `RUN_ENDED`), so each run is exported once however many
nodes share the database. Its spans are built from what is stored, as `traces.build_trace`
builds them for the API, on a background task: the hot path only hands over a run id, and
when the exporter falls behind by `MAX_PENDING` runs, it drops runs (and says so in the log)
rather than hold work back.

Ids are derived from run ids, so any node, at any time, gives a run the same ids:

* a run's span id is a hash of its id, a step's span id a hash of its run and step;
* a run started by an event that another run sent (`RunRecord.parent_run_id`) is a child of
  that run's span, in its trace: the trace id is a hash of the id of the run at the top of
  the fan-out, so a whole dynamic or chained fan-out is one trace.

Needs the ``otel`` extra (``pip install 'surge[otel]'``): the OpenTelemetry SDK and its
OTLP/HTTP exporter, which also reads the standard ``OTEL_EXPORTER_OTLP_HEADERS`` and
``OTEL_RESOURCE_ATTRIBUTES`` variables.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from surge.core.errors import InvalidInput, NotFound
from surge.engine.traces import Span, SpanStatus, build_trace
from surge.storage import RUN_ENDED, Note, RunRecord, RunStatus, Storage

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = ["TraceExporter", "span_id_of", "trace_endpoint"]

logger = logging.getLogger(__name__)

MAX_PENDING = 10_000
"""Ended runs waiting to be exported, at most; more are dropped (with a warning)."""
BATCH = 256
"""Runs exported in one request, at most."""
FLUSH_S = 1.0
"""How long an ended run waits for others to share its request."""
EXPORT_TIMEOUT_S = 5.0
"""How long one export (with the exporter's own retries) may take."""
MAX_DEPTH = 64
"""How many parents are followed up a fan-out to find its top."""
_ROOTS_CACHED = 10_000


def trace_endpoint(url: str) -> str:
    """The traces URL of an OTLP/HTTP collector given by its base URL (``/v1/traces`` is
    added, as for ``OTEL_EXPORTER_OTLP_ENDPOINT``) or by its traces URL.

    Raises:
        InvalidInput: It is not an http(s) URL.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput(f"--otlp-endpoint must be an http(s) URL, got {url!r}")
    if parts.path.rstrip("/").endswith("/v1/traces"):
        return url
    return url.rstrip("/") + "/v1/traces"


def span_id_of(*parts: str) -> int:
    """A span id (64 bits, never 0) derived from `parts`."""
    return _hash(8, parts)


def _trace_id_of(root_run_id: str) -> int:
    return _hash(16, ("trace", root_run_id))


def _hash(size: int, parts: Sequence[str]) -> int:
    digest = hashlib.blake2b("\x00".join(parts).encode(), digest_size=size).digest()
    return int.from_bytes(digest, "big") or 1


class TraceExporter:
    """Exports the runs this node ends to an OTLP/HTTP collector."""

    def __init__(self, storage: Storage, endpoint: str, *, version: str) -> None:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
        except ImportError:
            raise InvalidInput(
                "--otlp-endpoint needs the OpenTelemetry packages: pip install 'surge[otel]'"
            ) from None
        self._storage = storage
        self._exporter: SpanExporter = OTLPSpanExporter(
            endpoint=trace_endpoint(endpoint), timeout=EXPORT_TIMEOUT_S
        )
        self._resource = Resource.create({"service.name": "surge", "service.version": version})
        self._pending: asyncio.Queue[str] = asyncio.Queue(MAX_PENDING)
        self._roots: OrderedDict[str, str] = OrderedDict()
        self._dropped = 0
        self._task: asyncio.Task[None] | None = None

    def noted(self, notes: Sequence[Note]) -> None:
        """Take the runs a committed operation ended (a storage note listener)."""
        for note in notes:
            if note.what != RUN_ENDED or note.subject is None:
                continue
            try:
                self._pending.put_nowait(note.subject)
            except asyncio.QueueFull:
                self._dropped += 1

    def start(self) -> None:
        self._task = asyncio.create_task(self._export_forever(), name="surge-otlp")

    async def stop(self) -> None:
        """Export what is pending (the collector has a few seconds), then stop."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        while not self._pending.empty():
            await self._export(self._take(BATCH))
        await asyncio.to_thread(self._exporter.shutdown)

    async def _export_forever(self) -> None:
        while True:
            first = await self._pending.get()
            await asyncio.sleep(FLUSH_S)
            try:
                await self._export([first, *self._take(BATCH - 1)])
            except Exception:  # the next batch may fare better: keep exporting
                logger.exception("OTLP export failed")

    def _take(self, most: int) -> list[str]:
        taken: list[str] = []
        while len(taken) < most and not self._pending.empty():
            taken.append(self._pending.get_nowait())
        return taken

    async def _export(self, run_ids: list[str]) -> None:
        if self._dropped:
            logger.warning(
                "OTLP export fell behind: %d ended runs were not exported", self._dropped
            )
            self._dropped = 0
        spans: list[ReadableSpan] = []
        for run_id in run_ids:
            try:
                spans += await self._run_spans(run_id)
            except NotFound:
                continue  # deleted since (retention)
            except Exception:
                logger.exception("could not build the spans of run %s", run_id)
        if spans:
            from opentelemetry.sdk.trace.export import SpanExportResult

            result = await asyncio.to_thread(self._exporter.export, spans)
            if result is not SpanExportResult.SUCCESS:
                logger.warning("the OTLP collector did not take %d spans", len(spans))

    async def _run_spans(self, run_id: str) -> list[ReadableSpan]:
        state = await self._storage.load_run_state(run_id)
        trace = build_trace(state, await self._storage.run_history(run_id))
        run = state.run
        trace_id = _trace_id_of(await self._root_of(run))
        parent = span_id_of(run.parent_run_id) if run.parent_run_id else None
        spans = [self._span(trace, trace_id, span_id_of(run.id), parent, _run_attributes(run))]
        for step in trace.children:
            if step.step_id is None:
                continue  # the finalization: the run's own span says how it ended
            step_span_id = span_id_of(run.id, step.step_id)
            spans.append(
                self._span(step, trace_id, step_span_id, span_id_of(run.id), _step_attributes(step))
            )
        return spans

    async def _root_of(self, run: RunRecord) -> str:
        """The id of the run at the top of `run`'s fan-out (`run`'s own if it has no parent)."""
        chain: list[str] = []
        current: RunRecord | None = run
        root = run.id
        while current is not None and len(chain) < MAX_DEPTH:
            cached = self._roots.get(current.id)
            if cached is not None:
                root = cached
                break
            chain.append(current.id)
            root = current.id
            parent_id = current.parent_run_id
            try:
                current = await self._storage.get_run(parent_id) if parent_id else None
            except NotFound:
                current = None  # deleted (retention): its child heads what is left
        for run_id in chain:
            self._roots[run_id] = root
            self._roots.move_to_end(run_id)
        while len(self._roots) > _ROOTS_CACHED:
            self._roots.popitem(last=False)
        return root

    def _span(
        self,
        span: Span,
        trace_id: int,
        span_id: int,
        parent_id: int | None,
        attributes: dict[str, Any],
    ) -> ReadableSpan:
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.trace import SpanContext, SpanKind, TraceFlags
        from opentelemetry.trace.status import Status, StatusCode

        flags = TraceFlags(TraceFlags.SAMPLED)
        context = SpanContext(trace_id, span_id, is_remote=False, trace_flags=flags)
        parent = None
        if parent_id is not None:
            parent = SpanContext(trace_id, parent_id, is_remote=False, trace_flags=flags)
        start = span.started_at if span.started_at is not None else span.queued_at
        end = span.ended_at if span.ended_at is not None else start
        if span.status is SpanStatus.FAILED:
            status = Status(StatusCode.ERROR)
        elif span.status is SpanStatus.COMPLETED:
            status = Status(StatusCode.OK)
        else:
            status = Status(StatusCode.UNSET)
        return ReadableSpan(
            name=span.name,
            context=context,
            parent=parent,
            resource=self._resource,
            attributes=attributes,
            kind=SpanKind.INTERNAL,
            status=status,
            start_time=start * 1_000_000,
            end_time=max(end, start) * 1_000_000,
        )


def _run_attributes(run: RunRecord) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "surge.run.id": run.id,
        "surge.function.id": run.function_id,
        "surge.run.status": run.status.value,
        "surge.run.queued_at_ms": run.started_at,
        "surge.event.ids": list(run.event_ids),
    }
    optional = {
        "surge.run.parent_id": run.parent_run_id,
        "surge.run.original_id": run.original_run_id,
        "surge.replay.id": run.replay_id,
        "surge.cron": run.cron,
        "surge.batch.id": run.batch_id,
    }
    attributes.update({key: value for key, value in optional.items() if value})
    if run.status is RunStatus.FAILED:
        error = run.error if isinstance(run.error, dict) else {"message": str(run.error)}
        attributes["error.type"] = str(error.get("name") or "Error")
        attributes["surge.error.message"] = str(error.get("message") or "")
    return attributes


def _step_attributes(step: Span) -> dict[str, Any]:
    return {
        "surge.run.id": step.run_id,
        "surge.step.id": step.step_id or "",
        "surge.step.op": step.step_op or "RUN",
        "surge.step.status": step.status.value,
        "surge.step.attempts": step.attempts,
        "surge.step.queued_at_ms": step.queued_at,
    }
