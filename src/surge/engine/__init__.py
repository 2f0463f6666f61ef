"""The engine: ingest, matching, the queue and scheduler, the executor that calls apps."""

from __future__ import annotations

from .engine import Engine, EngineConfig

__all__ = ["Engine", "EngineConfig"]
