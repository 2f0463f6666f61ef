"""The HTTP API of a Surge server node."""

from __future__ import annotations

from .app import create_app
from .http import SurgeServer, server_config

__all__ = ["SurgeServer", "create_app", "server_config"]
