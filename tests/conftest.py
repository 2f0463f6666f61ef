"""Shared fixtures: a real ``surge dev`` subprocess and the official-SDK compatibility apps.

The acceptance layer drives Surge the way a user does: the ``surge`` CLI runs as a separate
process on a temporary SQLite file, an app written with an official Inngest SDK runs as another
process, and the test talks to both over HTTP on loopback.

* ``surge_server(...)`` starts a server and returns a :class:`SurgeServer` (``.url``, ``.port``,
  ``.db_path``, ``.stop(kill=...)``, ``.start()`` to restart on the same port and database).
* ``app_process("py" | "ts", server)`` starts ``tests/compat/py_app`` or ``tests/compat/ts_app``
  pointed at ``server`` and returns an :class:`AppProcess` (``.serve_url``, ``.sync()``,
  ``.counts()``).

Both are factories; ``surge_server_module`` / ``app_process_module`` are the same at module
scope, for suites that share one server. Every process started is killed at teardown.
``wait_until(check, timeout=..., what=...)`` polls with a deadline. The classes live in
``processes.py``; test modules import them from there, or from here for type annotations
only (under ``TYPE_CHECKING``): pytest may replace the ``conftest`` module in ``sys.modules``
with another directory's conftest.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from processes import (  # noqa: F401  (re-exported for the test modules' type annotations)
    POSTGRES_URI,
    REPO_ROOT,
    AppProcess,
    Launcher,
    SurgeServer,
    free_port,
    poll_until,
)
from stand_in import StandIn, stand_in  # noqa: F401  (a fixture for every test module)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """On failure, attach the output of every server and app the test used to the report."""
    report = yield
    if report.failed:
        funcargs = getattr(item, "funcargs", {})
        for name in ("launcher", "module_launcher"):
            launcher = funcargs.get(name)
            if isinstance(launcher, Launcher):
                report.sections.append((f"surge processes ({name})", launcher.dump_logs()))
    return report


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    launcher = Launcher(tmp_path)
    try:
        yield launcher
    finally:
        launcher.close()


@pytest.fixture(scope="module")
def module_launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    launcher = Launcher(tmp_path_factory.mktemp("surge"))
    try:
        yield launcher
    finally:
        launcher.close()


@pytest.fixture
def wait_until() -> Callable[..., Any]:
    """:func:`poll_until`, for test modules (they should not import conftest)."""
    return poll_until


@pytest.fixture
def surge_server(launcher: Launcher) -> Callable[..., SurgeServer]:
    """Factory: ``surge_server(sdk_urls=[...], extra_args=[...], port=None)``."""
    return launcher.server


@pytest.fixture
def app_process(launcher: Launcher) -> Callable[..., AppProcess]:
    """Factory: ``app_process("py" | "ts", server)``."""
    return launcher.app


@pytest.fixture(scope="module")
def surge_server_module(module_launcher: Launcher) -> Callable[..., SurgeServer]:
    return module_launcher.server


@pytest.fixture(scope="module")
def app_process_module(module_launcher: Launcher) -> Callable[..., AppProcess]:
    return module_launcher.app


@contextlib.contextmanager
def _new_postgres_database() -> Iterator[str]:
    """A new database on `POSTGRES_URI`'s server; dropped (its connections cut) on exit."""
    name = f"surge_accept_{secrets.token_hex(6)}"
    with psycopg.connect(POSTGRES_URI, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield urlunsplit(urlsplit(POSTGRES_URI)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(POSTGRES_URI, autocommit=True, connect_timeout=10) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def database_url() -> Iterator[str]:
    """A new PostgreSQL database for the test's servers, dropped afterwards (ask for it
    before the server fixtures, so the database outlives the servers)."""
    with _new_postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def module_database_url() -> Iterator[str]:
    """`database_url`, shared by a test module."""
    with _new_postgres_database() as url:
        yield url
