"""Apps, their functions and their cron items on PostgreSQL.

App syncs and removals take one transaction-level advisory lock: they are rare, and applying
them one at a time across nodes keeps "changed" true for exactly one of two identical syncs and
spares the URL uniqueness check a race.
"""

from __future__ import annotations

import hashlib

from ._pg_pool import PgTx
from ._pg_rows import columns, insert_items
from ._rows import (
    APP_COLUMNS,
    FUNCTION_COLUMNS,
    app_from_row,
    app_to_row,
    function_from_row,
    function_to_row,
)
from .records import AppRecord, FunctionRecord, NewWorkItem

_APPS_LOCK = "SELECT pg_advisory_xact_lock(%s, %s)"
_APPS_LOCK_KEY = (0x5375, 1_000_000)  # outside the ingest buckets' range

_UPSERT_APP = (
    f"INSERT INTO apps ({APP_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (id) DO UPDATE SET url = excluded.url, sdk = excluded.sdk,"
    " framework = excluded.framework, checksum = excluded.checksum,"
    " synced_at = excluded.synced_at, config = excluded.config"
)
_INSERT_FUNCTIONS = (
    f"INSERT INTO functions ({FUNCTION_COLUMNS})"
    " SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[])"
    " ON CONFLICT (id) DO UPDATE SET app_id = excluded.app_id, name = excluded.name,"
    " config = excluded.config, url = excluded.url"
)
# This exact expression and the literal 'cron' let PostgreSQL use work_items_cron_app.
_APP_CRON = "kind = 'cron' AND (payload::jsonb) ->> 'app_id' = %s"


async def sync_app(
    tx: PgTx, app: AppRecord, functions: list[FunctionRecord], crons: list[NewWorkItem]
) -> bool:
    """Upsert `app`, replace its functions, reconcile its crons; return whether it changed."""
    conn = tx.conn
    await conn.execute(_APPS_LOCK, _APPS_LOCK_KEY)
    checksum = await conn.execute("SELECT checksum FROM apps WHERE id = %s", (app.id,))
    replaced = await conn.execute(
        "SELECT id FROM apps WHERE url = %s AND id <> %s", (app.url, app.id)
    )
    row = await checksum.fetchone()
    changed = row is None or row[0] != app.checksum
    # The app at this URL now answers under a new id: the old registration is gone.
    for (old_id,) in await replaced.fetchall():
        await _delete_app(tx, str(old_id))
    await conn.execute(_UPSERT_APP, app_to_row(app))
    await conn.execute("DELETE FROM functions WHERE app_id = %s", (app.id,))
    if functions:
        rows = [function_to_row(fn) for fn in functions]
        await conn.execute(_INSERT_FUNCTIONS, columns(rows, 5))
    keep = [item.unique_key for item in crons if item.unique_key is not None]
    await conn.execute(
        f"DELETE FROM work_items WHERE {_APP_CRON}"
        " AND (unique_key IS NULL OR unique_key <> ALL(%s::text[]))",
        (app.id, keep),
    )
    await insert_items(tx, crons)
    return changed


async def remove_app(tx: PgTx, url: str) -> bool:
    """Delete the app at `url` with its functions and cron items."""
    await tx.conn.execute(_APPS_LOCK, _APPS_LOCK_KEY)
    row = await (await tx.conn.execute("SELECT id FROM apps WHERE url = %s", (url,))).fetchone()
    if row is None:
        return False
    await _delete_app(tx, str(row[0]))
    return True


async def list_apps(tx: PgTx) -> list[AppRecord]:
    """Every app, by id."""
    cursor = await tx.conn.execute(f"SELECT {APP_COLUMNS} FROM apps ORDER BY id")
    return [app_from_row(row) for row in await cursor.fetchall()]


async def list_functions(tx: PgTx) -> list[FunctionRecord]:
    """Every function, by id."""
    cursor = await tx.conn.execute(f"SELECT {FUNCTION_COLUMNS} FROM functions ORDER BY id")
    return [function_from_row(row) for row in await cursor.fetchall()]


async def _delete_app(tx: PgTx, app_id: str) -> None:
    await tx.conn.execute(f"DELETE FROM work_items WHERE {_APP_CRON}", (app_id,))
    # functions go with it (ON DELETE CASCADE)
    await tx.conn.execute("DELETE FROM apps WHERE id = %s", (app_id,))


async def fingerprint(tx: PgTx) -> str:
    """Changes with every app sync that changed something, and every removal."""
    cursor = await tx.conn.execute("SELECT id, checksum FROM apps ORDER BY id")
    rows = [tuple(row) for row in await cursor.fetchall()]
    return hashlib.sha1(repr(rows).encode()).hexdigest()
