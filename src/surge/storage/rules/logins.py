"""Dashboard logins: sessions, and the attempts each client address has made lately.

A session row is keyed by the SHA-256 of its token (`engine/logins.py` makes both), so the
database never holds a token a browser could present. Attempts are counted per address in
fixed windows, by one upsert that returns the new count, so nodes counting at once never lose
an attempt.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..statements import Rule, execute, fetch_one

_SESSION = (
    "SELECT csrf_token, password_tag, expires_at FROM dashboard_sessions"
    " WHERE token_hash = ? AND expires_at > ?"
)
_OPEN = (
    "INSERT INTO dashboard_sessions"
    " (token_hash, csrf_token, password_tag, created_at, expires_at) VALUES (?, ?, ?, ?, ?)"
)
_ATTEMPT = (
    "INSERT INTO login_attempts (address, window_start, attempts) VALUES (?, ?, 1)"
    " ON CONFLICT (address) DO UPDATE SET"
    " attempts = CASE WHEN login_attempts.window_start <= ? THEN 1"
    " ELSE login_attempts.attempts + 1 END,"
    " window_start = CASE WHEN login_attempts.window_start <= ? THEN excluded.window_start"
    " ELSE login_attempts.window_start END"
    " RETURNING attempts, window_start"
)


@dataclass(frozen=True, slots=True)
class StoredSession:
    """A live session, as stored."""

    csrf_token: str
    password_tag: str
    expires_at: int


def open_session(
    token_hash: str, *, csrf_token: str, password_tag: str, now: int, expires_at: int
) -> Rule[None]:
    """Store a new session, and delete the sessions that have expired."""
    yield (
        execute("DELETE FROM dashboard_sessions WHERE expires_at <= ?", now),
        execute(_OPEN, token_hash, csrf_token, password_tag, now, expires_at),
    )


def find_session(token_hash: str, *, now: int) -> Rule[StoredSession | None]:
    row = yield fetch_one(_SESSION, token_hash, now)
    return None if row is None else StoredSession(*row)


def close_session(token_hash: str) -> Rule[None]:
    yield execute("DELETE FROM dashboard_sessions WHERE token_hash = ?", token_hash)


def count_attempt(address: str, *, now: int, window_ms: int) -> Rule[tuple[int, int]]:
    """Count an attempt from `address`: the attempts in its current window, this one
    included, and when that window began. A window lasts `window_ms`."""
    stale = now - window_ms
    row = yield fetch_one(_ATTEMPT, address, now, stale, stale)
    attempts, window_start = row
    return int(attempts), int(window_start)


def forget_attempts(address: str, *, now: int, window_ms: int) -> Rule[None]:
    """Clear `address`'s attempts (it logged in), and drop every address's stale window."""
    yield (
        execute("DELETE FROM login_attempts WHERE address = ?", address),
        execute("DELETE FROM login_attempts WHERE window_start <= ?", now - window_ms),
    )
