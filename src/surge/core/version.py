"""The version of Surge: the server, the SDK and the wheel share it."""

from __future__ import annotations

VERSION = "0.1.0"
