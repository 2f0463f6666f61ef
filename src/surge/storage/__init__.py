"""Durable state: one `Storage` of domain operations over a connector per database.

`open_storage(url)` picks the connector by URL scheme and imports its driver lazily. The
rules behind each operation are written once (`rules/`), in the SQL both databases share
(`statements`); `sqlite/` and `postgres/` only connect, migrate and run them.
"""

from __future__ import annotations

from surge.core.errors import MissingDriver

from . import records
from .records import *  # noqa: F403  (the records are the storage's vocabulary)
from .store import Storage as Storage

__all__ = sorted([*records.__all__, "Storage", "is_postgres_url", "open_storage"])

POSTGRES_EXTRA = "pip install 'surge[postgres]'"
"""How to install what the PostgreSQL backend needs; SQLite needs nothing beyond Python."""


def is_postgres_url(url: str) -> bool:
    """Whether `url` names a PostgreSQL database (``postgres://`` or ``postgresql://``)."""
    return url.startswith(("postgres://", "postgresql://"))


def open_storage(url: str, *, session_url: str | None = None) -> Storage:
    """Create (not yet open) the storage for `url`.

    `sqlite:///abs/path.db`, `sqlite://rel/path.db` or a bare path selects SQLite; `postgres://`
    and `postgresql://` select PostgreSQL, where `session_url` is a direct connection for what
    needs a session when `url` goes through a transaction-mode pooler (`PostgresConnector`).

    Raises:
        MissingDriver: The URL names PostgreSQL and psycopg is not installed.
    """
    if is_postgres_url(url):
        try:
            from .postgres import PostgresConnector
        except ImportError as exc:  # psycopg missing, or installed without its libpq wrapper
            if "psycopg" not in f"{exc.name} {exc}" and "pq wrapper" not in str(exc):
                raise
            raise MissingDriver(
                f"PostgreSQL needs the psycopg driver ({exc}): {POSTGRES_EXTRA}"
            ) from None
        return Storage(PostgresConnector(url, session_conninfo=session_url))
    from .sqlite import SQLiteConnector

    return Storage(SQLiteConnector(url.removeprefix("sqlite://")))
