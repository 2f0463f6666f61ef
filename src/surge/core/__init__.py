"""Wire models, errors, identifiers and other types shared by the SDK and the server."""

from __future__ import annotations
