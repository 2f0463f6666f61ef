"""The SQLite backend: the embedded default, one node (or a few sharing one disk)."""

from __future__ import annotations

from .connector import SQLiteConnector

__all__ = ["SQLiteConnector"]
