"""Span metadata: key-value facts an SDK attaches to a run or to one of its steps.

The TypeScript SDK sends them on a step's opcode (``"metadata": [update, ...]``: AI usage,
experiments, warnings) and through ``POST /v1/runs/{id}/metadata`` (``inngest.metadata``,
``score``); the trace API shows them on the run's span and its steps' (``metadata { scope kind
values updatedAt }``). An update names a `kind` (``userland.*`` freely; ``inngest.*`` only
from an allowlist, so nothing can pose as the server's own), and how its `values` combine with
those already stored under its scope and kind (`combine`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import codec
from .errors import InvalidInput

__all__ = [
    "MAX_KIND_LENGTH",
    "MAX_UPDATE_BYTES",
    "OPS",
    "SCOPES",
    "MetadataUpdate",
    "combine",
    "parse_updates",
]

MAX_KIND_LENGTH = 128
MAX_UPDATE_BYTES = 64 * 1024
"""The largest update's values, as JSON (Inngest's limit for a metadata span)."""
OPS = ("merge", "set", "delete", "add")
"""How an update's values combine with those stored: replace key by key, replace all, delete
these keys, or add these numbers."""
SCOPES = ("run", "step", "step_attempt", "extended_trace")
_INNGEST_KINDS = frozenset(
    {
        "inngest.ai",
        "inngest.http",
        "inngest.http.timing",
        "inngest.response_headers",
        "inngest.warnings",
        "inngest.experiment",
        "inngest.score",
    }
)


@dataclass(frozen=True, kw_only=True, slots=True)
class MetadataUpdate:
    """One update: `values` combined by `op` into the metadata of `kind` in `scope`."""

    kind: str
    scope: str
    op: str
    values: dict[str, Any]


def parse_updates(value: Any, *, scope: str | None = None) -> list[MetadataUpdate]:
    """Read a list of updates (``{"kind", "op", "values", "scope"?}``); `scope` overrides what
    each one says (the API's target decides it).

    Raises:
        InvalidInput: It is not such a list, naming the update and field at fault.
    """
    if not isinstance(value, list):
        raise InvalidInput(f"metadata must be a list of updates, got {type(value).__name__}")
    return [_parse_update(item, index, scope) for index, item in enumerate(value)]


def _parse_update(item: Any, index: int, scope: str | None) -> MetadataUpdate:
    where = f"metadata[{index}]"
    if not isinstance(item, dict):
        raise InvalidInput(f"{where} must be an object, got {type(item).__name__}")
    kind, op, values = item.get("kind"), item.get("op", "merge"), item.get("values")
    if not isinstance(kind, str) or not kind or len(kind) > MAX_KIND_LENGTH:
        raise InvalidInput(f"{where}.kind must be a string of 1 to {MAX_KIND_LENGTH} characters")
    if kind.startswith("inngest.") and kind not in _INNGEST_KINDS:
        raise InvalidInput(f"{where}.kind {kind!r} is reserved: use a userland.* kind")
    if op not in OPS:
        raise InvalidInput(f"{where}.op must be one of {', '.join(OPS)}, got {op!r}")
    if not isinstance(values, dict):
        raise InvalidInput(f"{where}.values must be an object")
    if len(codec.dumps(values)) > MAX_UPDATE_BYTES:
        raise InvalidInput(f"{where}.values is larger than {MAX_UPDATE_BYTES // 1024} KiB")
    given = scope or item.get("scope", "step")
    if given not in SCOPES:
        raise InvalidInput(f"{where}.scope must be one of {', '.join(SCOPES)}, got {given!r}")
    return MetadataUpdate(kind=kind, scope=given, op=op, values=values)


def combine(stored: Mapping[str, Any], update: MetadataUpdate) -> dict[str, Any]:
    """The values of `update`'s kind once it is applied to `stored`."""
    if update.op == "set":
        return dict(update.values)
    combined = dict(stored)
    if update.op == "delete":
        for key in update.values:
            combined.pop(key, None)
    elif update.op == "add":
        for key, value in update.values.items():
            old = combined.get(key)
            if _is_number(old) and _is_number(value):
                combined[key] = old + value
            elif not _is_number(old):
                combined[key] = value  # nothing to add to: the value starts the sum
    else:
        combined.update(update.values)
    return combined


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
