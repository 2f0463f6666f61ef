"""Client configuration from arguments and the environment (`docs/protocol.md`, "Signing and keys").

Every setting is read, in order, from the constructor argument, a ``SURGE_*`` variable, then
the ``INNGEST_*`` variable the official SDKs read, so an app can switch without renaming.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from surge.core.errors import InvalidInput

__all__ = ["DEFAULT_ORIGIN", "DEV_EVENT_KEY", "Config", "Mode", "resolve_config"]

Mode = Literal["dev", "production"]
DEFAULT_ORIGIN = "http://127.0.0.1:8288"
DEV_EVENT_KEY = "NO_EVENT_KEY_SET"
_FALSY = frozenset({"", "0", "false", "no", "off"})


@dataclass(frozen=True, kw_only=True, slots=True)
class Config:
    """Where the server is and how to authenticate with it.

    Attributes:
        mode: ``"dev"`` (no signatures) or ``"production"`` (signed requests required).
        api_origin: The server's API origin (``/fn/register``, ``/v0/runs/...``).
        event_origin: The event API origin (``/e/{key}``).
        event_key: Key for sending events; a placeholder in dev mode.
        signing_key: Key that signs server requests (required in production).
        signing_key_fallback: A second accepted key, for rotation.
        env: Environment or branch name sent as ``X-Inngest-Env``.
        serve_origin: Public origin of this app, when the request's own is wrong (proxies).
        serve_path: Public path of the serve endpoint, likewise.
    """

    mode: Mode
    api_origin: str
    event_origin: str
    event_key: str
    signing_key: str | None = None
    signing_key_fallback: str | None = None
    env: str | None = None
    serve_origin: str | None = None
    serve_path: str | None = None

    @property
    def is_dev(self) -> bool:
        return self.mode == "dev"

    @property
    def server_kind(self) -> str:
        """The ``X-Inngest-Server-Kind`` value of this mode: ``dev`` or ``cloud``."""
        return "dev" if self.mode == "dev" else "cloud"

    def signing_keys(self) -> list[str]:
        return [key for key in (self.signing_key, self.signing_key_fallback) if key]

    def require_signing_key(self) -> None:
        """Raise `InvalidInput` if production mode has no signing key."""
        if self.mode == "production" and not self.signing_key:
            raise InvalidInput(
                "production mode needs a signing key: pass signing_key= or set "
                "SURGE_SIGNING_KEY (or INNGEST_SIGNING_KEY); for local development pass "
                "mode='dev' or set SURGE_DEV=1",
                field="signing_key",
            )


def _env(environ: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        for prefix in ("SURGE_", "INNGEST_"):
            value = environ.get(prefix + name)
            if value:
                return value
    return None


def _mode_from_env(environ: Mapping[str, str]) -> tuple[Mode, str | None]:
    raw = _env(environ, "DEV")
    if raw is None or raw.strip().lower() in _FALSY:
        return "production", None
    value = raw.strip()
    if value.startswith(("http://", "https://")):
        return "dev", value
    return "dev", None


def resolve_config(
    *,
    mode: Mode | None = None,
    api_origin: str | None = None,
    event_api_origin: str | None = None,
    event_key: str | None = None,
    signing_key: str | None = None,
    signing_key_fallback: str | None = None,
    env: str | None = None,
    serve_origin: str | None = None,
    serve_path: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Combine arguments and environment into a `Config` (arguments win)."""
    environ = os.environ if environ is None else environ
    env_mode, dev_url = _mode_from_env(environ)
    if mode is not None and mode not in ("dev", "production"):
        raise InvalidInput(f"mode must be 'dev' or 'production', got {mode!r}", field="mode")
    resolved_mode: Mode = mode or env_mode
    base = _env(environ, "BASE_URL") or dev_url or DEFAULT_ORIGIN
    api = api_origin or _env(environ, "API_BASE_URL") or base
    events = event_api_origin or _env(environ, "EVENT_API_BASE_URL") or base
    key = event_key or _env(environ, "EVENT_KEY")
    if key is None:
        key = DEV_EVENT_KEY if resolved_mode == "dev" else ""
    return Config(
        mode=resolved_mode,
        api_origin=api.rstrip("/"),
        event_origin=events.rstrip("/"),
        event_key=key,
        signing_key=signing_key or _env(environ, "SIGNING_KEY"),
        signing_key_fallback=signing_key_fallback or _env(environ, "SIGNING_KEY_FALLBACK"),
        env=env or _env(environ, "ENV"),
        serve_origin=serve_origin or _env(environ, "SERVE_ORIGIN"),
        serve_path=serve_path or _env(environ, "SERVE_PATH"),
    )
