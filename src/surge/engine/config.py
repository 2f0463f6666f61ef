"""The settings of one server node."""

from __future__ import annotations

from dataclasses import dataclass, field

from surge.core.limits import DEFAULT_MAX_EVENT_BYTES
from surge.storage.rules.retention import MIN_RETENTION_MS


@dataclass(frozen=True, kw_only=True)
class EngineConfig:
    """Settings of one server node."""

    server_kind: str = "dev"
    queue_workers: int = 100
    call_timeout: float = 300.0
    lease_timeout: float = 30.0
    """Seconds after which a dead node's work passes to another node (leases are renewed
    while calls run, so calls may take longer than this)."""
    retry_interval: float | None = None
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    sdk_urls: list[str] = field(default_factory=list)
    discovery: bool = True
    poll: bool = True
    poll_interval: float = 5.0
    single_node: bool = True
    signing_key: str | None = None
    """Signs every request to apps (production); `None` in dev mode."""
    signing_key_fallback: str | None = None
    """Also accepted from apps while keys rotate."""
    allow_private_http_steps: bool = False
    """Let HTTP steps (`step.fetch`, `step.ai.infer`) reach loopback, link-local and private
    addresses (for development against local stand-ins)."""
    retention_ms: int | None = None
    """How long ended runs and their events are kept (`None`: for ever; `upkeep.py`); at
    least 24 hours, the dedupe and idempotency window."""
    otlp_endpoint: str | None = None
    """The OTLP/HTTP collector ended runs are exported to as spans (`otlp.py`), if any."""
    dashboard_password_hash: str | None = None
    """The scrypt hash of the password that logs in to the dashboard (`logins.py`); `None`
    in dev mode, where no login is asked, and in production where none was given."""

    def __post_init__(self) -> None:
        if self.retention_ms is not None and self.retention_ms < MIN_RETENTION_MS:
            raise ValueError("the retention must be at least 24 hours (the dedupe window)")

    @property
    def signing_keys(self) -> list[str]:
        return [k for k in (self.signing_key, self.signing_key_fallback) if k]
