"""Fixtures of the storage contract suite: every test runs against every backend.

A backend joins the suite by adding its name to `BACKENDS` and a branch to `_make_storage`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from storage_kit import Kit, OpenStore

from surge.storage import Storage
from surge.storage.sqlite import SQLiteStorage

BACKENDS = ["sqlite"]


def _make_storage(backend: str, tmp_path: Path) -> Storage:
    if backend == "sqlite":
        return SQLiteStorage(str(tmp_path / "data" / "surge.db"))
    raise AssertionError(f"unknown backend {backend}")


@pytest.fixture(params=BACKENDS)
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[OpenStore]:
    """Opens a new storage on the same database each time it is called; closes them all."""
    opened: list[Storage] = []

    async def open_one() -> Storage:
        storage = _make_storage(request.param, tmp_path)
        await storage.open()
        opened.append(storage)
        return storage

    yield open_one
    for storage in opened:
        await storage.close()


@pytest.fixture
async def store(open_store: OpenStore) -> Storage:
    """An opened storage on an empty database."""
    return await open_store()


@pytest.fixture
def kit(store: Storage) -> Kit:
    """Record builders and drivers bound to `store`."""
    return Kit(store)
