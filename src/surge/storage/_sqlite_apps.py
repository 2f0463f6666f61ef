"""Apps, their functions and their cron items on SQLite."""

from __future__ import annotations

import hashlib
import sqlite3

from ._rows import (
    APP_COLUMNS,
    FUNCTION_COLUMNS,
    app_from_row,
    app_to_row,
    function_from_row,
    function_to_row,
)
from ._sqlite_queue import enqueue
from ._sqlite_writer import Tx
from .records import AppRecord, FunctionRecord, NewWorkItem

_UPSERT_APP = (
    f"INSERT INTO apps ({APP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (id) DO UPDATE SET url = excluded.url, sdk = excluded.sdk,"
    " framework = excluded.framework, checksum = excluded.checksum,"
    " synced_at = excluded.synced_at, config = excluded.config"
)
# A function id names its app, so a row under another app can only be a stale leftover.
_UPSERT_FUNCTION = (
    f"INSERT INTO functions ({FUNCTION_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (id) DO UPDATE SET app_id = excluded.app_id, name = excluded.name,"
    " config = excluded.config, url = excluded.url"
)
# The literal 'cron' and this exact expression let SQLite use the work_items_cron_app index.
_APP_CRON_ITEMS = (
    "SELECT id, unique_key FROM work_items"
    " WHERE kind = 'cron' AND json_extract(payload, '$.app_id') = ?"
)


def sync_app(
    tx: Tx, app: AppRecord, functions: list[FunctionRecord], crons: list[NewWorkItem]
) -> bool:
    """Upsert `app`, replace its functions, reconcile its crons; return whether it changed."""
    conn = tx.conn
    row = conn.execute("SELECT checksum FROM apps WHERE id = ?", (app.id,)).fetchone()
    changed = row is None or row[0] != app.checksum
    # The app at this URL now answers under a new id: the old registration is gone.
    for (old_id,) in conn.execute(
        "SELECT id FROM apps WHERE url = ? AND id <> ?", (app.url, app.id)
    ).fetchall():
        _delete_app(conn, old_id)
    conn.execute(_UPSERT_APP, app_to_row(app))
    conn.execute("DELETE FROM functions WHERE app_id = ?", (app.id,))
    conn.executemany(_UPSERT_FUNCTION, [function_to_row(fn) for fn in functions])
    keep = {item.unique_key for item in crons}
    stale = [
        (item_id,) for item_id, key in conn.execute(_APP_CRON_ITEMS, (app.id,)) if key not in keep
    ]
    conn.executemany("DELETE FROM work_items WHERE id = ?", stale)
    enqueue(tx, crons)
    return changed


def remove_app(conn: sqlite3.Connection, url: str) -> bool:
    """Delete the app at `url` with its functions and cron items."""
    row = conn.execute("SELECT id FROM apps WHERE url = ?", (url,)).fetchone()
    if row is None:
        return False
    _delete_app(conn, row[0])
    return True


def list_apps(conn: sqlite3.Connection) -> list[AppRecord]:
    """Every app, by id."""
    return [
        app_from_row(row) for row in conn.execute(f"SELECT {APP_COLUMNS} FROM apps ORDER BY id")
    ]


def list_functions(conn: sqlite3.Connection) -> list[FunctionRecord]:
    """Every function, by id."""
    sql = f"SELECT {FUNCTION_COLUMNS} FROM functions ORDER BY id"
    return [function_from_row(row) for row in conn.execute(sql)]


def _delete_app(conn: sqlite3.Connection, app_id: str) -> None:
    conn.execute(
        "DELETE FROM work_items WHERE kind = 'cron' AND json_extract(payload, '$.app_id') = ?",
        (app_id,),
    )
    # functions go with it (ON DELETE CASCADE)
    conn.execute("DELETE FROM apps WHERE id = ?", (app_id,))


def fingerprint(conn: sqlite3.Connection) -> str:
    """Changes with every app sync that changed something, and every removal."""
    rows = conn.execute("SELECT id, checksum FROM apps ORDER BY id").fetchall()
    return hashlib.sha1(repr(rows).encode()).hexdigest()
