"""The HTTP API of a Surge server node."""

from __future__ import annotations

from .app import create_app
from .http import server_config

__all__ = ["create_app", "server_config"]
