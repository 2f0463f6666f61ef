"""Durable state: one `Storage` interface, a backend per database.

`open_storage(url)` picks the backend by URL scheme and imports its driver lazily.
"""

from __future__ import annotations

from .base import Storage
from .records import (
    AppRecord,
    Commit,
    EventRecord,
    FunctionRecord,
    HistoryEntry,
    IngestEntry,
    Memo,
    NewRun,
    NewWorkItem,
    RunRecord,
    RunState,
    RunStatus,
    RunUpdate,
    Then,
    WorkItem,
    WorkKind,
)

__all__ = [
    "AppRecord",
    "Commit",
    "EventRecord",
    "FunctionRecord",
    "HistoryEntry",
    "IngestEntry",
    "Memo",
    "NewRun",
    "NewWorkItem",
    "RunRecord",
    "RunState",
    "RunStatus",
    "RunUpdate",
    "Storage",
    "Then",
    "WorkItem",
    "WorkKind",
    "open_storage",
]


def open_storage(url: str) -> Storage:
    """Create (not yet open) the backend for `url`.

    `sqlite:///abs/path.db`, `sqlite://rel/path.db` or a bare path selects SQLite; `postgres://` and
    `postgresql://` select PostgreSQL.
    """
    if url.startswith(("postgres://", "postgresql://")):
        from .postgres import PostgresStorage

        return PostgresStorage(url)
    from .sqlite import SQLiteStorage

    return SQLiteStorage(url.removeprefix("sqlite://"))
