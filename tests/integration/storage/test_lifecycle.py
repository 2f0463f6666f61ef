"""Opening, closing and reopening a storage."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from storage_kit import Kit, OpenStore, now

from surge.core.errors import StorageError
from surge.storage import Memo, Storage, open_storage


async def test_open_creates_the_missing_directory(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "surge.db"
    storage = open_storage(str(path))

    await storage.open(now=now())
    await storage.close()

    assert path.is_file()


async def test_data_survives_close_and_reopen(open_store: OpenStore) -> None:
    first = await open_store()
    kit = Kit(first)
    run_id = await kit.start_run()
    item = await kit.lease_one(run_id)
    await kit.finish(item, "a")
    app = kit.app()
    await first.sync_app(app, [kit.function(app, "f")], [])
    await first.close()

    second = await open_store()

    state = await second.load_run_state(run_id)
    assert state.memos == [Memo(step_id="a", outcome={"data": "a"})]
    assert (await second.registry_state()).apps == [app]


async def test_close_finishes_queued_writes(open_store: OpenStore) -> None:
    first = await open_store()
    kit = Kit(first)
    entries = [kit.entry() for _ in range(50)]
    tasks = [asyncio.create_task(first.ingest([e])) for e in entries]
    await asyncio.sleep(0)  # let every task submit its write

    await first.close()

    assert [await t for t in tasks] == [[e.event.internal_id] for e in entries]
    second = await open_store()
    assert len(await second.list_events()) == 50


async def test_calls_after_close_raise_storage_error(store: Storage) -> None:
    await store.close()

    with pytest.raises(StorageError):
        await store.registry_state()


async def test_two_opens_share_one_database(open_store: OpenStore) -> None:
    first, second = await open_store(), await open_store()
    run_id = await Kit(first).start_run()

    assert (await second.get_run(run_id)).id == run_id
