"""The engine: ingest, matching, the queue and scheduler, the executor that calls apps."""

from __future__ import annotations

from .config import EngineConfig
from .engine import Engine

__all__ = ["Engine", "EngineConfig"]
