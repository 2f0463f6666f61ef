"""Opcodes: what an SDK reports in a 206 response (`docs/protocol.md`, "Opcodes")."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from .errors import InvalidInput


class Opcode(enum.Enum):
    """The opcodes an SDK may send. Matched case-insensitively, as the Go server does."""

    NONE = "None"
    STEP = "Step"
    STEP_RUN = "StepRun"
    STEP_ERROR = "StepError"
    STEP_FAILED = "StepFailed"
    STEP_PLANNED = "StepPlanned"
    SLEEP = "Sleep"
    WAIT_FOR_EVENT = "WaitForEvent"
    INVOKE_FUNCTION = "InvokeFunction"
    AI_GATEWAY = "AIGateway"
    GATEWAY = "Gateway"
    WAIT_FOR_SIGNAL = "WaitForSignal"
    RUN_COMPLETE = "RunComplete"
    SYNC_RUN_COMPLETE = "SyncRunComplete"
    DISCOVERY_REQUEST = "DiscoveryRequest"
    DEFER_ADD = "DeferAdd"
    DEFER_ABORT = "DeferAbort"


_BY_LOWER = {op.value.lower(): op for op in Opcode}


@dataclass(frozen=True, kw_only=True, slots=True)
class Op:
    """One opcode from a 206 body. Unknown fields are dropped."""

    op: Opcode
    id: str
    name: str = ""
    display_name: str = ""
    opts: dict[str, Any] | None = None
    data: Any = None
    error: Any = None
    metadata: Any = None
    """Span metadata updates for its step, as sent (`span_metadata.parse_updates`)."""
    timing: Any = None
    """When the step ran, as the TypeScript SDK reports it: ``{"a": start, "b": duration}``
    in nanoseconds (`duration_ms`)."""

    @property
    def duration_ms(self) -> int | None:
        """How long the step ran by the app's clock, if its `timing` says."""
        timing = self.timing
        span = timing.get("b") if isinstance(timing, dict) else None
        if isinstance(span, int | float) and not isinstance(span, bool) and span >= 0:
            return int(span // 1_000_000)
        return None

    @property
    def parallel_mode(self) -> str | None:
        mode = (self.opts or {}).get("parallelMode")
        return mode if isinstance(mode, str) else None


def parse_ops(value: Any) -> list[Op]:
    """Read a decoded 206 body: an array of opcodes, or (0.x SDKs) one bare opcode."""
    items = [value] if isinstance(value, dict) else value
    if not isinstance(items, list):
        raise InvalidInput(f"expected an array of opcodes, got {type(value).__name__}")
    return [_parse_op(item, index) for index, item in enumerate(items)]


def _parse_op(item: Any, index: int) -> Op:
    if not isinstance(item, dict):
        raise InvalidInput(f"opcode [{index}] is {type(item).__name__}, not an object")
    raw_op = item.get("op")
    op = _BY_LOWER.get(raw_op.lower()) if isinstance(raw_op, str) else None
    if op is None:
        raise InvalidInput(f"opcode [{index}] has unknown op {raw_op!r}")
    step_id = item.get("id")
    if not isinstance(step_id, str) or not step_id:
        raise InvalidInput(f"opcode [{index}] ({op.value}) has no string id")
    opts = item.get("opts")
    return Op(
        op=op,
        id=step_id,
        name=_text(item.get("name")),
        display_name=_text(item.get("displayName")),
        opts=opts if isinstance(opts, dict) else None,
        data=item.get("data"),
        error=item.get("error"),
        metadata=item.get("metadata"),
        timing=item.get("timing"),
    )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
