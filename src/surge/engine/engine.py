"""The engine: wires storage, registry, ingest, scheduler and executor together."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from surge.core.events import DEFAULT_MAX_EVENT_BYTES
from surge.core.functions import CronTrigger
from surge.storage import Commit, NewWorkItem, RunRecord, Storage, WorkItem, WorkKind

from .app_client import AppClient
from .apps import AppPinger
from .cron import next_fire, timer_event
from .executor import Executor, now_ms
from .finish import finish_run
from .ingest import Ingestor
from .registry import Registry
from .retries import RetryPolicy
from .scheduler import Scheduler

logger = logging.getLogger(__name__)

APP_WATCH_INTERVAL_S = 1.0
"""How often a node of a cluster checks whether another node synced an app."""


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

    @property
    def signing_keys(self) -> list[str]:
        return [k for k in (self.signing_key, self.signing_key_fallback) if k]


class Engine:
    """One server node's engine. `start()` it inside a running event loop."""

    def __init__(self, storage: Storage, config: EngineConfig) -> None:
        self._watch: asyncio.Task[None] | None = None
        self.storage = storage
        self.config = config
        self.registry = Registry(storage, server_kind=config.server_kind)
        self.ingestor = Ingestor(storage, self.registry, max_event_bytes=config.max_event_bytes)
        self.client = AppClient(timeout=config.call_timeout)
        self.executor = Executor(
            storage=storage,
            registry=self.registry,
            client=self.client,
            policy=RetryPolicy(interval=config.retry_interval),
            entry_for=self.ingestor.entry_for,
            signing_key=config.signing_key,
        )
        self.scheduler = Scheduler(
            storage,
            self.handle,
            workers=config.queue_workers,
            lease_ms=int(config.lease_timeout * 1000),
        )
        self.pinger = AppPinger(
            self.client,
            self.registry,
            server_kind=config.server_kind,
            urls=config.sdk_urls,
            discovery=config.discovery,
            poll=config.poll,
            interval=config.poll_interval,
            signing_key=config.signing_key,
        )

    async def start(self) -> None:
        await self.storage.open()
        await self.storage.recover(single_node=self.config.single_node)
        # Read before loading: a sync that lands in between changes it, so it is not missed.
        seen = None if self.config.single_node else await self.storage.apps_fingerprint()
        await self.registry.load()
        self.scheduler.start()
        self.pinger.start()
        if seen is not None:
            self._watch = asyncio.create_task(self._watch_apps(seen), name="surge-app-watch")

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
        await self.pinger.stop()
        await self.scheduler.stop()
        await self.client.close()
        await self.storage.close()

    async def _watch_apps(self, seen: str) -> None:
        """Reload the registry when another node syncs or removes an app (after `seen`)."""
        while True:
            await asyncio.sleep(APP_WATCH_INTERVAL_S)
            try:
                current = await self.storage.apps_fingerprint()
                if current != seen:
                    await self.registry.load()
                    seen = current
            except Exception:
                logger.exception("could not check for app syncs on other nodes")

    async def handle(self, item: WorkItem) -> None:
        """Run one leased work item."""
        if item.kind is WorkKind.CALL:
            await self.executor.call(item)
        elif item.kind is WorkKind.WAKE:
            await self.executor.wake(item)
        elif item.kind is WorkKind.CRON:
            await self._fire_cron(item)

    async def cancel(self, run_id: str) -> RunRecord:
        """Cancel a run: no further step starts; `inngest/function.cancelled` is emitted."""
        before = await self.storage.get_run(run_id)
        run = await self.storage.cancel_run(run_id, at=now_ms())
        if not before.status.is_final and run.status.is_final:
            state = await self.storage.load_run_state(run_id)
            _, events = finish_run(
                state, status=run.status, now=now_ms(), entry_for=self.ingestor.entry_for
            )
            await self.storage.ingest(events)
        return run

    async def _fire_cron(self, item: WorkItem) -> None:
        """Start a run for a cron tick, and schedule the next tick, in one commit.

        A tick that fell due while the server was down fires once when it is back; the
        next tick is counted from now, so missed ticks are not replayed one by one.
        """
        payload = item.payload
        function = self.registry.function(str(payload.get("function_id")))
        trigger = _cron_trigger(function.triggers if function else (), str(payload.get("cron")))
        if function is None or trigger is None:
            await self.executor.commit(Commit(item=item))
            return
        fire_at = int(payload["fire_at"])
        now = now_ms()
        event = timer_event(trigger, fire_at)
        entry = self.ingestor.entry_for(event, now=now, start=function.id, cron=trigger.cron)
        following = next_fire(trigger, max(now, fire_at))
        next_item = NewWorkItem(
            kind=WorkKind.CRON,
            due_at=following,
            payload={**payload, "fire_at": following},
            unique_key=item.unique_key,
        )
        await self.executor.commit(Commit(item=item, events=[entry], enqueue=[next_item]))


def _cron_trigger(triggers: object, cron: str) -> CronTrigger | None:
    for trigger in triggers if isinstance(triggers, tuple) else ():
        if isinstance(trigger, CronTrigger) and trigger.cron == cron:
            return trigger
    return None
