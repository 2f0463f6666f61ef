"""Times on the pages: a ``<time>`` element that reads in UTC as sent, which `dashboard.js`
rewrites into the viewer's time zone (its ``datetime`` stays the UTC instant)."""

from __future__ import annotations

import datetime

from markupsafe import Markup, escape

from .rendering import when

__all__ = ["moment"]


def moment(ms: int | None) -> Markup:
    """An epoch-milliseconds time as ``<time datetime="...Z">... UTC</time>`` (empty for
    none, so that ``moment(t) or "never"`` reads)."""
    if not ms:
        return Markup()
    instant = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    iso = instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return Markup(f'<time datetime="{escape(iso)}">{escape(when(ms))}</time>')
