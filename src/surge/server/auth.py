"""Who may call what: signing-key bearer auth on the API, event keys on `/e/{key}`."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from surge.core.signing import bearer_matches

from .responses import error_response

OPEN_PREFIXES = ("/e/", "/health")
"""Paths that need no signing key: events carry their own key; health checks are public."""


class SigningKeyAuth:
    """Refuses (401) API calls whose `Authorization: Bearer` is not the signing key.

    SDKs send the key hashed (Python), hashed with its prefix (TypeScript) or plain; each is
    accepted for the key and its fallback. With no keys configured (dev mode) every call
    passes, including the `Bearer undefined` the TypeScript SDK sends in dev mode.
    """

    def __init__(self, app: ASGIApp, *, keys: list[str]) -> None:
        self._app = app
        self._keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._keys or scope["path"].startswith(OPEN_PREFIXES):
            await self._app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        if bearer_matches(authorization, self._keys):
            await self._app(scope, receive, send)
            return
        reason = "missing" if not authorization else "not valid for this server"
        response = error_response(f"Authorization bearer signing key is {reason}", 401)
        await response(scope, receive, send)
