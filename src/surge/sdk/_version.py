"""The SDK's version and how it names itself on the wire."""

from __future__ import annotations

from surge.core.version import VERSION as VERSION

SDK_HEADER = f"surge-py:v{VERSION}"
"""``X-Inngest-Sdk`` and ``User-Agent`` value."""
SDK_NAME = f"surge-py:v{VERSION}"
"""The register body's ``sdk`` field (the `language:version` form; Inngest's own is ``py:v…``)."""
REQ_VERSION = "2"
