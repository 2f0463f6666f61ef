"""Surge: event-driven durable functions for Python.

`import surge` is the SDK. The server lives in `surge.server`, `surge.engine` and
`surge.storage`; none of them is imported from here.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
