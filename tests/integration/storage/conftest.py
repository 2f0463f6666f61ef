"""Fixtures of the storage contract suite: every test runs against every backend.

A backend joins the suite by adding its name to `BACKENDS` and a branch to `_database`.

PostgreSQL tests each get a database of their own, created from the server named by
``SURGE_TEST_POSTGRES_URI`` (default: the local server's ``postgres`` database) and dropped
afterwards. An unreachable server fails those tests rather than skipping them: CI starts one.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from storage_kit import Kit, OpenStore, now

from surge.storage import Storage, open_storage

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

POSTGRES_URI = os.environ.get(
    "SURGE_TEST_POSTGRES_URI", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def database_url(server_url: str, name: str) -> str:
    """`server_url` pointing at database `name` instead."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
def new_postgres_database() -> Iterator[Callable[[], str]]:
    """Creates empty PostgreSQL databases (returning their URLs); drops them after the test."""
    names: list[str] = []

    def create() -> str:
        name = f"surge_test_{secrets.token_hex(6)}"
        with psycopg.connect(POSTGRES_URI, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        names.append(name)
        return database_url(POSTGRES_URI, name)

    yield create
    if names:
        with psycopg.connect(POSTGRES_URI, autocommit=True, connect_timeout=5) as admin:
            for name in names:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def postgres_url(new_postgres_database: Callable[[], str]) -> str:
    """The URL of a new, empty PostgreSQL database, dropped after the test."""
    return new_postgres_database()


def _database(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return str(tmp_path / "data" / "surge.db")
    if backend == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        return url
    raise AssertionError(f"unknown backend {backend}")


@pytest.fixture(params=BACKENDS)
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[OpenStore]:
    """Opens a new storage on the same database each time it is called; closes them all."""
    opened: list[Storage] = []
    database = _database(request, request.param, tmp_path)

    async def open_one() -> Storage:
        storage = open_storage(database)
        await storage.open(now=now())
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
