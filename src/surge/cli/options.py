"""A command-line option of the `surge` command, with its `SURGE_*` environment fallback."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Any

__all__ = ["Option"]


@dataclass(frozen=True)
class Option:
    """A command-line option with its `SURGE_*` environment fallback."""

    flags: tuple[str, ...]
    env: str
    help: str
    default: Any = None
    type: Any = str
    switch: bool = False
    repeat: bool = False

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        raw = os.environ.get(self.env)
        help_text = f"{self.help} [env {self.env}]"
        if self.switch:
            enabled = raw is not None and raw.lower() not in ("", "0", "false", "no")
            parser.add_argument(*self.flags, action="store_true", default=enabled, help=help_text)
        elif self.repeat:
            default = [u for u in (raw or "").split(",") if u]
            parser.add_argument(
                *self.flags, action="append", default=None, help=help_text + " (repeatable)"
            )
            parser.set_defaults(**{self.dest: default})
        else:
            value = self.type(raw) if raw is not None else self.default
            shown = f" (default {self.default})" if self.default is not None else ""
            parser.add_argument(*self.flags, type=self.type, default=value, help=help_text + shown)

    @property
    def dest(self) -> str:
        return self.flags[-1].lstrip("-").replace("-", "_")


DEV_RETENTION = "forever"
"""The default retention of `surge dev`: keep everything."""
START_RETENTION = "30d"
"""The default retention of `surge start` (`docs/decisions.md`, "Retention")."""
