"""SDK serve URLs: the form we call, and the form that identifies an app."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit

from surge.core.limits import MAX_URL_LENGTH

__all__ = ["app_identity_url", "normalize_url", "url_problem"]

_DROPPED_PARAMS = frozenset({"deployId", "probe"})
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "0.0.0.0"})
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _strip_query(query: str) -> str:
    kept = [
        part
        for part in query.split("&")
        if part and unquote(part.partition("=")[0]) not in _DROPPED_PARAMS
    ]
    return "&".join(kept)


def url_problem(url: str) -> str | None:
    """Why the server could not call `url` (it must be an absolute ``http://`` or
    ``https://`` URL with a host), or `None` if it can."""
    if len(url) > MAX_URL_LENGTH:
        return f"URL is too long: {len(url)} characters (the limit is {MAX_URL_LENGTH})"
    if any(ord(c) < 0x21 or c == "\x7f" for c in url):
        return "URL must not contain spaces or control characters"
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return f"must be an absolute http:// or https:// URL, got {url[:100]!r}"
    try:
        parts.port  # noqa: B018 - it raises on a port that is not a number in range
    except ValueError:
        return f"URL has an invalid port: {url[:100]!r}"
    return None


def normalize_url(url: str) -> str:
    """Drop the ``deployId`` and ``probe`` query parameters, keeping everything else as given.

    The host is left alone: this is the URL the server calls.

    Args:
        url: A serve or step URL, e.g. ``http://127.0.0.1:3000/api/inngest?fnId=f&deployId=x``.

    Returns:
        The URL with other parameters (``fnId``, ``stepId``...) in their original order.
    """
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=_strip_query(parts.query)))


def app_identity_url(url: str) -> str:
    """Normalize a serve URL the way the Go server does, for comparing and keying apps only.

    ``localhost``, ``127.0.0.1`` and ``0.0.0.0`` all become ``localhost``; scheme and host are
    lower-cased; default ports are dropped; ``deployId`` and ``probe`` are removed.
    Never call the result: ``0.0.0.0`` and ``localhost`` may not reach the same socket.

    Args:
        url: A serve URL.

    Returns:
        The identity form of the URL.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if host in _LOCAL_HOSTS:
        host = "localhost"
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{host}:{port}"
    if parts.username is not None:
        auth = parts.username + (f":{parts.password}" if parts.password is not None else "")
        netloc = f"{auth}@{netloc}"
    return urlunsplit((scheme, netloc, parts.path, _strip_query(parts.query), parts.fragment))
