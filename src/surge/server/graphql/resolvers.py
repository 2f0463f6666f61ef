"""What each field of `schema.graphql` answers, read through the engine façade.

Objects are dicts keyed by field name (graphql-core's default resolver reads them); a field
that costs a read of its own (a run's `trace`) is a callable, called only when asked for.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from graphql import GraphQLResolveInfo

from surge.core import codec
from surge.core.limits import MAX_PAGE_SIZE
from surge.engine import Engine
from surge.engine.traces import Span, SpanOutput
from surge.storage import EventQuery, RunQuery, RunRecord, RunStatus

Resolver = Callable[..., Awaitable[Any]]


def time(ms: int | None) -> str | None:
    """A `Time`: RFC 3339 in UTC, with milliseconds."""
    if ms is None:
        return None
    stamp = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def engine_of(info: GraphQLResolveInfo) -> Engine:
    """The engine a GraphQL request runs against (`endpoint.run_query` puts it there)."""
    engine: Engine = info.context["engine"]
    return engine


async def run(_: Any, info: GraphQLResolveInfo, runID: str) -> dict[str, Any]:
    engine = engine_of(info)
    record = await engine.get_run(runID)  # NotFound: an error, not null
    return run_object(engine, record)


async def run_trace(_: Any, info: GraphQLResolveInfo, runID: str) -> dict[str, Any]:
    return span_object(await engine_of(info).run_trace(runID))


async def span_output(_: Any, info: GraphQLResolveInfo, outputID: str) -> dict[str, Any]:
    return output_object(await engine_of(info).span_output(outputID))


async def run_trigger(_: Any, info: GraphQLResolveInfo, runID: str) -> dict[str, Any]:
    engine = engine_of(info)
    record = await engine.get_run(runID)
    state = await engine.run_state(runID)
    events = state.events
    first = events[0] if events else {}
    return {
        "eventName": first.get("name") if record.cron is None else None,
        "IDs": list(record.event_ids),
        "payloads": [codec.dumps_str(event) for event in events],
        "timestamp": time(int(first.get("ts") or record.started_at)),
        "isBatch": record.batch_id is not None and len(events) > 1,
        "batchID": record.batch_id,
        "cron": record.cron,
    }


QUERY: dict[str, Resolver] = {
    "run": run,
    "runTrace": run_trace,
    "runTraceSpanOutputByID": span_output,
    "runTrigger": run_trigger,
}
"""The resolvers of the `Query` type's fields."""


def run_object(engine: Engine, record: RunRecord) -> dict[str, Any]:
    async def trace(info: GraphQLResolveInfo, preview: bool | None = None) -> dict[str, Any]:
        return span_object(await engine.run_trace(record.id))

    async def sent_events(info: GraphQLResolveInfo) -> list[dict[str, Any]]:
        from .catalog import event_object  # the catalog renders events (and imports this)

        query = EventQuery(source_run_id=record.id, limit=MAX_PAGE_SIZE)
        return [event_object(event) for event in await engine.list_events(query)]

    async def child_runs(info: GraphQLResolveInfo) -> list[dict[str, Any]]:
        found = await engine.list_runs(RunQuery(parent_run_id=record.id, limit=MAX_PAGE_SIZE))
        return [run_object(engine, run) for run in found]

    async def started_at(info: GraphQLResolveInfo) -> str | None:
        # Queued when it fell due; started when its first call was sent, as in its trace.
        return time(await engine.run_started_at(record.id))

    async def reruns(info: GraphQLResolveInfo) -> list[dict[str, Any]]:
        found = await engine.list_runs(RunQuery(original_run_id=record.id, limit=MAX_PAGE_SIZE))
        return [run_object(engine, run) for run in found]

    output: str | None = None
    if record.status is RunStatus.FAILED:
        output = codec.dumps_str(record.error)
    elif record.status.is_final:
        output = codec.dumps_str(record.output)
    return {
        "id": record.id,
        "functionID": record.function_id,
        "traceID": record.id,
        "queuedAt": time(record.started_at),
        "startedAt": started_at,
        "endedAt": time(record.ended_at),
        "status": RUN_STATUS[record.status],
        "sourceID": record.parent_run_id,
        "triggerIDs": list(record.event_ids),
        "eventName": None,
        "isBatch": record.batch_id is not None,
        "batchCreatedAt": None,
        "cronSchedule": record.cron,
        "output": output,
        "trace": trace,
        "hasAI": False,
        "parentRunID": record.parent_run_id,
        "sentEvents": sent_events,
        "childRuns": child_runs,
        "originalRunID": record.original_run_id,
        "reruns": reruns,
    }


RUN_STATUS = {
    RunStatus.RUNNING: "RUNNING",
    RunStatus.COMPLETED: "COMPLETED",
    RunStatus.FAILED: "FAILED",
    RunStatus.CANCELLED: "CANCELLED",
    RunStatus.SKIPPED: "SKIPPED",
}


def span_object(span: Span) -> dict[str, Any]:
    root = span.parent_span_id is None
    return {
        "functionID": span.function_id,
        "runID": span.run_id,
        "spanID": span.span_id,
        "traceID": span.run_id,
        "name": span.name,
        "status": span.status.value,
        "attempts": span.attempts,
        "duration": span.duration_ms,
        "outputID": span.output_id,
        "queuedAt": time(span.queued_at),
        "startedAt": time(span.started_at),
        "endedAt": time(span.ended_at),
        "childrenSpans": [span_object(child) for child in span.children],
        "stepOp": span.step_op,
        "stepID": span.step_id,
        "stepType": span.step_type,
        "isRoot": root,
        "parentSpanID": span.parent_span_id,
        "isUserland": False,
        "metadata": _metadata_objects(span) if span.metadata else (),
    }


def _metadata_objects(span: Span) -> list[dict[str, Any]]:
    return [
        {
            "scope": entry.scope,
            "kind": entry.kind,
            "values": entry.values,
            "updatedAt": time(entry.updated_at),
        }
        for entry in span.metadata
    ]


def output_object(output: SpanOutput) -> dict[str, Any]:
    if output.error is not None:
        cause = output.error.get("cause")
        error = {**output.error, "cause": None if cause is None else codec.dumps_str(cause)}
        return {"input": None, "data": None, "error": error}
    return {"input": None, "data": codec.dumps_str(output.data), "error": None}
