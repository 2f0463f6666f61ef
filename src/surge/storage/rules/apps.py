"""Apps, their functions and cron items, suspended functions, and the registry version.

The registry version is one row, bumped in the transaction of every app sync that changes
which functions exist or how they are configured, of every removal, and of every suspension
(a paused function) and resumption. Ingest checks it in
its own transaction (`events.ingest`), so an event is matched against the functions committed
when it is stored, whichever node synced them. Syncs and removals take one advisory lock:
they are rare, and applying them one at a time keeps "changed" true for exactly one of two
identical syncs and spares the URL uniqueness check a race.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..act_records import Cancellation, Suspension
from ..records import AppRecord, FunctionRecord, NewWorkItem, RegistryState
from ..statements import InsertRows, Rule, Serialize, execute, fetch, fetch_one
from ..tables import APPS, FUNCTIONS, SUSPENSIONS, record_from
from . import cancellations
from .queue import enqueue

APPS_LOCK = 1_000_000
"""The advisory lock key of app syncs and removals (apart from the user-id buckets)."""

_UPSERT_APP = (
    f"INSERT INTO apps ({APPS.names()}) VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (id) DO UPDATE SET url = excluded.url, sdk = excluded.sdk,"
    " framework = excluded.framework, checksum = excluded.checksum,"
    " synced_at = excluded.synced_at, config = excluded.config"
)
# A function id names its app, so a row under another app can only be a stale leftover.
_UPSERT_FUNCTION = (
    "ON CONFLICT (id) DO UPDATE SET app_id = excluded.app_id, name = excluded.name,"
    " config = excluded.config, url = excluded.url"
)
# The literal 'cron' and this exact expression let both databases use work_items_cron_app.
_APP_CRONS = "kind = 'cron' AND {payload_app_id} = ?"
_BUMP = "UPDATE registry SET version = version + 1"


def registry_state() -> Rule[RegistryState]:
    """Every app and function, with the registry version.

    The version is read first: a sync committing between the reads makes the state look
    older than it is (the next ingest then finds the version moved and reloads), never newer.
    """
    version, apps, functions, suspended = yield (
        fetch_one("SELECT version FROM registry"),
        fetch(f"SELECT {APPS.names()} FROM apps ORDER BY id"),
        fetch(f"SELECT {FUNCTIONS.names()} FROM functions ORDER BY id"),
        fetch(f"SELECT {SUSPENSIONS.names()} FROM suspensions ORDER BY function_id"),
    )
    return RegistryState(
        version=version[0],
        apps=[record_from(AppRecord, APPS, row) for row in apps],
        functions=[record_from(FunctionRecord, FUNCTIONS, row) for row in functions],
        suspensions=[record_from(Suspension, SUSPENSIONS, row) for row in suspended],
    )


def sync_app(
    app: AppRecord, functions: Sequence[FunctionRecord], crons: Sequence[NewWorkItem]
) -> Rule[bool]:
    """Store `app`, replace its functions, reconcile its cron items; return whether the app
    changed (its checksum differs, or it is new).

    An older app at the same URL is removed. Cron items (each with a `unique_key`) are queued
    unless one with that key exists; this app's cron items not in `crons` are deleted.
    """
    yield Serialize((APPS_LOCK,))
    ids = [fn.id for fn in functions]
    stored, replaced, taken = yield (
        fetch_one("SELECT checksum FROM apps WHERE id = ?", app.id),
        fetch("SELECT id FROM apps WHERE url = ? AND id <> ?", app.url, app.id),
        fetch("SELECT id FROM functions WHERE app_id <> ? AND id {in_texts}", app.id, ids),
    )
    changed = stored is None or stored[0] != app.checksum
    # The app at this URL now answers under a new id: the old registration is gone.
    for (old_id,) in replaced:
        yield from _delete_app(old_id)
    yield execute(_UPSERT_APP, *APPS.row_of(app))
    yield execute("DELETE FROM functions WHERE app_id = ?", app.id)
    yield InsertRows(FUNCTIONS, [FUNCTIONS.row_of(fn) for fn in functions], _UPSERT_FUNCTION)
    keep = [item.unique_key for item in crons if item.unique_key is not None]
    yield execute(
        f"DELETE FROM work_items WHERE {_APP_CRONS}"
        " AND (unique_key IS NULL OR unique_key {not_in_texts})",
        app.id,
        keep,
    )
    yield from enqueue(crons)
    if changed or replaced or taken:
        yield execute(_BUMP)
    return changed


def remove_app(url: str) -> Rule[bool]:
    """Delete the app served at `url`, its functions and its cron items; return whether one
    was there."""
    yield Serialize((APPS_LOCK,))
    row = yield fetch_one("SELECT id FROM apps WHERE url = ?", url)
    if row is None:
        return False
    yield from _delete_app(row[0])
    yield execute(_BUMP)
    return True


def _delete_app(app_id: str) -> Rule[None]:
    yield execute(f"DELETE FROM work_items WHERE {_APP_CRONS}", app_id)
    # Its functions go with it (ON DELETE CASCADE).
    yield execute("DELETE FROM apps WHERE id = ?", app_id)


def suspend(suspension: Suspension, *, cancel: Cancellation | None = None) -> Rule[Suspension]:
    """Suspend (pause) a function, unless it is already; with `cancel`, also start that bulk
    cancellation of its running runs. Return the suspension in force."""
    yield Serialize((APPS_LOCK,))
    row = yield fetch_one(
        f"SELECT {SUSPENSIONS.names()} FROM suspensions WHERE function_id = ?",
        suspension.function_id,
    )
    if row is None:
        yield (InsertRows(SUSPENSIONS, [SUSPENSIONS.row_of(suspension)]), execute(_BUMP))
    if cancel is not None:
        yield from cancellations.create(cancel)
    return suspension if row is None else record_from(Suspension, SUSPENSIONS, row)


def resume(function_id: str) -> Rule[bool]:
    """End a function's suspension; whether it was suspended."""
    yield Serialize((APPS_LOCK,))
    deleted = yield fetch(
        "DELETE FROM suspensions WHERE function_id = ? RETURNING function_id", function_id
    )
    if deleted:
        yield execute(_BUMP)
    return bool(deleted)
