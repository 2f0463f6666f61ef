"""The SDK's version and how it names itself on the wire."""

from __future__ import annotations

VERSION = "0.1.0"
SDK_HEADER = f"surge-py:v{VERSION}"
"""``X-Inngest-Sdk`` and ``User-Agent`` value."""
SDK_NAME = f"py:v{VERSION}"
"""The register body's ``sdk`` field."""
REQ_VERSION = "2"
