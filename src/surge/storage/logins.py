"""The storage's dashboard logins (`rules/logins.py`): `Storage.logins`."""

from __future__ import annotations

from .connector import Connector
from .rules import logins
from .rules.logins import StoredSession

__all__ = ["LoginStore", "StoredSession"]


class LoginStore:
    """Dashboard sessions and login attempts, shared by every node on the database."""

    def __init__(self, db: Connector) -> None:
        self._db = db

    async def open_session(
        self, token_hash: str, *, csrf_token: str, password_tag: str, now: int, expires_at: int
    ) -> None:
        await self._db.run(
            lambda: logins.open_session(
                token_hash,
                csrf_token=csrf_token,
                password_tag=password_tag,
                now=now,
                expires_at=expires_at,
            )
        )

    async def find_session(self, token_hash: str, *, now: int) -> StoredSession | None:
        """The session stored under `token_hash`, unless it has expired."""
        return await self._db.run(
            lambda: logins.find_session(token_hash, now=now), transaction=False
        )

    async def close_session(self, token_hash: str) -> None:
        await self._db.run(lambda: logins.close_session(token_hash))

    async def count_attempt(self, address: str, *, now: int, window_ms: int) -> tuple[int, int]:
        """Count a login attempt from `address`: (attempts in its window, window start)."""
        return await self._db.run(
            lambda: logins.count_attempt(address, now=now, window_ms=window_ms)
        )

    async def forget_attempts(self, address: str, *, now: int, window_ms: int) -> None:
        await self._db.run(lambda: logins.forget_attempts(address, now=now, window_ms=window_ms))
