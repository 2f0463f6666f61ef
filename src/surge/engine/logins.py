"""Logins to the dashboard of `surge start`: one password, sessions every node honours.

The password is held only as its scrypt hash (`core/passwords.py`). Logging in opens a
session: a random token for the browser's cookie, stored by its SHA-256 with the CSRF token
every form of the session must carry and a tag of the password hash, so that starting the
nodes with a new password ends every session opened with the old one. A session lasts
`SESSION_MS` from login; logging out deletes it.

Attempts are counted per client address in the database (`rules/logins.py`), so the limit
holds across nodes: after `ATTEMPTS_PER_WINDOW` in `WINDOW_MS` an address is refused, without
its password being checked, until the window ends. A successful login clears its count.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from surge.core.clock import Clock
from surge.core.passwords import verify_password
from surge.storage.logins import LoginStore

__all__ = [
    "ATTEMPTS_PER_WINDOW",
    "SESSION_COOKIE",
    "SESSION_MS",
    "WINDOW_MS",
    "LoginSession",
    "Logins",
    "TooManyAttempts",
]

SESSION_COOKIE = "surge_session"
"""The cookie that carries a session's token (HTTP-only, same-site)."""
SESSION_MS = 7 * 24 * 3600 * 1000
"""How long a session lasts from login."""
ATTEMPTS_PER_WINDOW = 10
"""Login attempts an address may make in one `WINDOW_MS`."""
WINDOW_MS = 15 * 60 * 1000


@dataclass(frozen=True, slots=True)
class LoginSession:
    """A signed-in browser's session."""

    token: str
    """What the browser's cookie holds (the database holds only its hash)."""
    csrf_token: str
    """What every action of this session must carry."""
    expires_at: int

    def carries(self, csrf_token: str | None) -> bool:
        """Whether `csrf_token` is this session's."""
        return csrf_token is not None and hmac.compare_digest(csrf_token, self.csrf_token)


class TooManyAttempts(Exception):
    """An address has made too many login attempts; it may try again after `retry_after_s`."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many login attempts; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class Logins:
    """The dashboard's password and sessions. Without a password (`enabled` false) no one
    can log in: `surge start` then serves the dashboard only to signing-key bearers."""

    def __init__(self, store: LoginStore, clock: Clock, *, password_hash: str | None) -> None:
        self._store = store
        self._clock = clock
        self._password_hash = password_hash
        self._tag = _digest(password_hash or "")[:16]

    @property
    def enabled(self) -> bool:
        return self._password_hash is not None

    async def log_in(self, password: str, *, address: str) -> LoginSession | None:
        """Open a session if `password` is right (`None` if it is wrong).

        Raises:
            TooManyAttempts: `address` has made `ATTEMPTS_PER_WINDOW` attempts in this window.
        """
        if self._password_hash is None:
            return None
        now = self._clock.now()
        attempts, began = await self._store.count_attempt(address, now=now, window_ms=WINDOW_MS)
        if attempts > ATTEMPTS_PER_WINDOW:
            raise TooManyAttempts(max(1, -(-(began + WINDOW_MS - now) // 1000)))
        if not await asyncio.to_thread(verify_password, password, self._password_hash):
            return None
        await self._store.forget_attempts(address, now=now, window_ms=WINDOW_MS)
        session = LoginSession(
            token=secrets.token_urlsafe(32),
            csrf_token=secrets.token_urlsafe(32),
            expires_at=now + SESSION_MS,
        )
        await self._store.open_session(
            _digest(session.token),
            csrf_token=session.csrf_token,
            password_tag=self._tag,
            now=now,
            expires_at=session.expires_at,
        )
        return session

    async def session(self, token: str) -> LoginSession | None:
        """The live session whose cookie holds `token`, if any."""
        if self._password_hash is None or not token:
            return None
        stored = await self._store.find_session(_digest(token), now=self._clock.now())
        if stored is None or not hmac.compare_digest(stored.password_tag, self._tag):
            return None
        return LoginSession(token=token, csrf_token=stored.csrf_token, expires_at=stored.expires_at)

    async def log_out(self, session: LoginSession) -> None:
        await self._store.close_session(_digest(session.token))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
