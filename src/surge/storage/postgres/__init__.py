"""The PostgreSQL backend: any number of server nodes sharing one database.

Importing it needs psycopg (the ``postgres`` extra: ``pip install 'surge[postgres]'``).
"""

from __future__ import annotations

from .connector import PostgresConnector

__all__ = ["PostgresConnector"]
