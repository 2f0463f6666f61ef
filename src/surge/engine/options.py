"""Which function options the server enforces, and the report of those it does not yet.

Apps on the official SDKs send every option their users set, and must keep syncing, so an
option Surge does not enforce yet is accepted, but never silently: each sync that uses one
logs a warning naming the function and the option, and `GET /dev` lists them per function
(``notEnforced``). Enforced today: ``concurrency`` (step limits, keys, scopes), ``throttle``,
``rateLimit``, ``idempotency``, ``priority``, ``debounce``, ``batchEvents``, ``cancel``
(``cancelOn``), ``singleton``, ``timeouts``, ``retries``,
triggers and their conditions, cron schedules and their jitter; but ``cancel`` and ``timeouts``
not for the runs of a function with ``debounce`` or ``batchEvents`` (reported as, e.g.,
``cancel (with debounce)``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["NOT_ENFORCED", "not_enforced"]

NOT_ENFORCED: tuple[str, ...] = ()
"""Options accepted at sync that the server does not act on yet."""


def not_enforced(config: dict[str, Any]) -> list[str]:
    """The options of a function's `config` (as synced) that the server does not enforce."""
    names = [name for name in NOT_ENFORCED if config.get(name) not in (None, [], {}, "")]
    concurrency = config.get("concurrency")
    if isinstance(concurrency, dict) and "limit" not in concurrency and concurrency.get("fn"):
        names.append("concurrency.fn")  # limits on whole runs, not steps
    # A debounce's or a batch's run starts when it closes, without these.
    gathered = next((name for name in ("debounce", "batchEvents") if config.get(name)), None)
    if gathered is not None:
        names += [f"{name} (with {gathered})" for name in _NOT_FOR_GATHERED if config.get(name)]
    return names


_NOT_FOR_GATHERED = ("cancel", "timeouts")
