"""Who may call what.

`surge start` (signing keys configured):

* the API (``/v0/``, ``/v1/``, ``/fn/``, ``/dev``, ``/metrics``) needs the signing key as
  ``Authorization: Bearer``;
* the dashboard's pages need a login session (the ``surge_session`` cookie, `engine/logins.py`)
  or the signing key; without either a page read is sent to ``/login``;
* ``/v0/gql`` takes either; with a session it must also carry the session's CSRF token in
  ``X-CSRF-Token``, so that no other site's page can post to it with the user's cookie;
* events (``/e/{key}``, which checks its own keys), ``/health``, ``/login`` and the pages'
  static files are open.

`surge dev` asks no one to log in but is open only to the user's own browser and programs:
a request naming a host other than an IP address, ``localhost`` or one allowed by
``--allow-host`` is refused (a DNS-rebinding page names its own domain), and so is any act
(not a read) a browser sends from another site's page (its ``Origin`` is not this server).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from urllib.parse import quote, urlsplit

from starlette.requests import cookie_parser
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from surge.core.signing import bearer_matches
from surge.engine.logins import SESSION_COOKIE, Logins, LoginSession

from .responses import error_response

__all__ = ["CSRF_HEADER", "Access", "host_is_local"]

CSRF_HEADER = "x-csrf-token"
_API_PREFIXES = ("/v0/", "/v1/", "/fn/")
_API_PATHS = frozenset({"/dev", "/metrics"})
_GRAPHQL = "/v0/gql"
_OPEN_PREFIXES = ("/e/", "/health", "/static/", "/login")
_READS = frozenset({"GET", "HEAD", "OPTIONS"})
_HOSTS_REMEMBERED = 64


class Access:
    """Refuses the requests `auth`'s rules do not let through; puts a signed-in viewer's
    session at ``request.state.session`` (`LoginSession`) for the pages.

    Args:
        keys: The signing keys (production); none in dev mode.
        logins: The dashboard's logins (production).
        allowed_hosts: In dev mode, host names allowed besides IP addresses and localhost.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        keys: list[str],
        logins: Logins,
        allowed_hosts: Collection[str] = (),
    ) -> None:
        self._app = app
        self._keys = keys
        self._logins = logins
        self._allowed_hosts = frozenset(host.lower() for host in allowed_hosts)
        self._local_hosts: set[str] = set()
        """``Host`` values found local already (checked once, not on every request)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        refusal = self._dev_refusal(scope, headers) if not self._keys else None
        if refusal is None and self._keys:
            refusal = await self._production_refusal(scope, headers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self._app(scope, receive, send)

    def _dev_refusal(self, scope: Scope, headers: dict[bytes, bytes]) -> Response | None:
        host = headers.get(b"host", b"").decode("latin-1")
        if host and host not in self._local_hosts:
            if not host_is_local(host, self._allowed_hosts):
                name = urlsplit(f"//{host}").hostname or host
                return error_response(
                    f"this dev server does not answer to the host {name!r}; start it with"
                    f" --allow-host {name} (or SURGE_ALLOW_HOST) if you reach it by that name",
                    403,
                )
            if len(self._local_hosts) < _HOSTS_REMEMBERED:  # the few names a machine uses
                self._local_hosts.add(host)
        origin = headers.get(b"origin")
        path: str = scope["path"]
        if origin is None or scope["method"] in _READS or path.startswith("/e/"):
            return None
        origin_host = urlsplit(origin.decode("latin-1")).netloc
        if origin_host != host:
            return error_response(
                f"a request from {origin.decode('latin-1')} may not act here: only this"
                " server's own pages may",
                403,
            )
        return None

    async def _production_refusal(
        self, scope: Scope, headers: dict[bytes, bytes]
    ) -> Response | None:
        path: str = scope["path"]
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        if bearer_matches(authorization, self._keys):
            return None
        api = path.startswith(_API_PREFIXES) or path in _API_PATHS
        if path.startswith(_OPEN_PREFIXES):
            if path.startswith("/login"):  # the one open page that reads the session
                await self._attach_session(scope, headers)
            return None
        if api and path != _GRAPHQL:
            reason = "missing" if not authorization else "not valid for this server"
            return error_response(f"Authorization bearer signing key is {reason}", 401)
        session = await self._attach_session(scope, headers)
        if path == _GRAPHQL:
            if session is None:
                return error_response(
                    "GraphQL needs a dashboard login session or the signing key as an"
                    " Authorization bearer",
                    401,
                )
            if not session.carries(headers.get(CSRF_HEADER.encode(), b"").decode("latin-1")):
                return error_response(f"the {CSRF_HEADER} header is missing or wrong", 403)
            return None
        if session is not None:
            return None
        if scope["method"] in _READS:
            target = path + (
                f"?{scope['query_string'].decode('latin-1')}" if scope["query_string"] else ""
            )
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        return error_response("log in to the dashboard first", 401)

    async def _attach_session(
        self, scope: Scope, headers: dict[bytes, bytes]
    ) -> LoginSession | None:
        token = _cookie(headers, SESSION_COOKIE)
        session = await self._logins.session(token) if token else None
        scope.setdefault("state", {})["session"] = session
        return session


def host_is_local(host: str, allowed: Collection[str] = ()) -> bool:
    """Whether a ``Host`` header names an IP address, localhost (or a ``.localhost`` name) or
    one of the `allowed` names: the hosts a DNS-rebinding page cannot pose as."""
    name = (urlsplit(f"//{host}").hostname or "").lower().rstrip(".")
    if name in ("localhost", *allowed) or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _cookie(headers: dict[bytes, bytes], name: str) -> str:
    raw = headers.get(b"cookie")
    return cookie_parser(raw.decode("latin-1")).get(name, "") if raw else ""
