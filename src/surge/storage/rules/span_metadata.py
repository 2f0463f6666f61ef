"""Span metadata rules: updates combined into the stored values of their run, step, scope and
kind (`core.span_metadata.combine`), under the run's row lock."""

from __future__ import annotations

from collections.abc import Sequence

from surge.core import codec
from surge.core.errors import NotFound
from surge.core.span_metadata import MetadataUpdate, combine

from ..records import SpanMetadata
from ..statements import LockRows, Rule, execute, fetch, fetch_one

_SELECT = (
    "SELECT step_id, scope, kind, metadata_values, updated_at FROM span_metadata WHERE run_id = ?"
)
_UPSERT = (
    "INSERT INTO span_metadata (run_id, step_id, scope, kind, metadata_values, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, step_id, scope, kind) DO UPDATE SET"
    " metadata_values = excluded.metadata_values, updated_at = excluded.updated_at"
)


def span_metadata(run_id: str) -> Rule[list[SpanMetadata]]:
    """The run's metadata: its own (`step_id` ``""``) and its steps'."""
    rows = yield fetch(_SELECT + " ORDER BY step_id, scope, kind", run_id)
    return [
        SpanMetadata(
            step_id=step, scope=scope, kind=kind, values=codec.loads(values), updated_at=at
        )
        for step, scope, kind, values, at in rows
    ]


def update_metadata(
    run_id: str, updates: Sequence[tuple[str, MetadataUpdate]], *, at: int, lock: bool = True
) -> Rule[None]:
    """Apply `updates` (each for a step id, ``""`` for the run) to the run's metadata, in
    order. With `lock`, lock the run's row first (`NotFound` if there is no run); without,
    the caller holds it."""
    if lock:
        yield LockRows("runs", "id", (run_id,))
        if (yield fetch_one("SELECT 1 FROM runs WHERE id = ?", run_id)) is None:
            raise NotFound(f"no run {run_id!r}")
    stored = {
        (step, scope, kind): codec.loads(values)
        for step, scope, kind, values, _ in (yield fetch(_SELECT, run_id))
    }
    changed: dict[tuple[str, str, str], dict[str, object]] = {}
    for step_id, update in updates:
        key = (step_id, update.scope, update.kind)
        changed[key] = stored[key] = combine(stored.get(key, {}), update)
    yield tuple(
        execute(_UPSERT, run_id, step, scope, kind, codec.dumps_str(values), at)
        for (step, scope, kind), values in changed.items()
    )
