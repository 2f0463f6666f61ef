"""The engine of one server node, and the one façade the outside world talks to.

`Engine` wires storage, registry, scheduler, executor and app pinger together, and offers the
commands and queries the HTTP API (and later the GraphQL API and the dashboard) need. Nothing
outside `engine/` reaches its parts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from surge.core import events as wire_events
from surge.core.clock import Clock, SystemClock
from surge.core.errors import InvalidInput, NotFound
from surge.core.http_client import AppClient
from surge.core.ids import new_ulid
from surge.core.span_metadata import parse_updates
from surge.core.version import VERSION
from surge.storage import (
    AppRecord,
    Cancellation,
    FunctionRecord,
    RunRecord,
    Storage,
    Suspension,
    WorkItem,
)

from .apps import AppPinger, AppStatus, with_scheme
from .bodies import BodyDecoder
from .changes import RunChanges
from .checkpoints import Checkpoints
from .conditions import Conditions
from .config import EngineConfig
from .executor import Executor
from .expressions import check_expression
from .ingest import entry_for
from .logins import Logins
from .metrics import Metrics
from .options import not_enforced
from .otlp import TraceExporter
from .reads import Reads
from .registry import Registry, Snapshot, SyncResult
from .replays import Replays
from .reruns import Reruns
from .scheduler import Scheduler
from .suspensions import Suspensions
from .throughput import Throughput
from .traces import step_target
from .upkeep import upkeep_item

logger = logging.getLogger(__name__)

REGISTRY_WATCH_INTERVAL_S = 1.0
"""How often a node of a cluster looks for app syncs made through another node (a node also
reloads whenever storage finds its registry stale, before matching any event)."""


@dataclass(frozen=True, kw_only=True)
class NodeStatus:
    """What a node knows of its apps: the stored apps and functions, and its app pings."""

    apps: list[AppRecord]
    functions: list[FunctionRecord]
    pings: list[AppStatus]
    not_enforced: dict[str, list[str]]
    """For each function using any, the options it sets that this server does not enforce."""
    suspended: dict[str, Suspension]
    """The paused functions, by id."""


class Engine(Reads):
    """One server node. `start()` it inside a running event loop.

    Args:
        storage: The node's storage, not yet open.
        config: The node's settings.
        clock: The one clock the node reads (the wall clock unless a test drives time).
    """

    def __init__(self, storage: Storage, config: EngineConfig, *, clock: Clock | None = None):
        self.config = config
        self.version = VERSION
        self._clock = clock or SystemClock()
        self._storage = storage
        self._registry = Registry(storage, server_kind=config.server_kind)
        self._client = AppClient(timeout=config.call_timeout)
        self._conditions = Conditions()
        self._bodies = BodyDecoder()
        self.metrics = Metrics(leases=lambda: self._scheduler.in_flight)
        storage.add_note_listener(self.metrics.noted)
        self.logins = Logins(
            storage.logins, self._clock, password_hash=config.dashboard_password_hash
        )
        self.throughput = Throughput(storage.stats, self._clock)
        self.checkpoints = Checkpoints(storage, self._clock)
        self._changes = RunChanges()
        storage.add_note_listener(self._changes.noted)
        storage.add_wake_listener(self._changes.woken)
        self._otlp: TraceExporter | None = None
        if config.otlp_endpoint:
            self._otlp = TraceExporter(storage, config.otlp_endpoint, version=VERSION)
            storage.add_note_listener(self._otlp.noted)
        self._executor = Executor(
            storage,
            self._registry,
            self._client,
            self._clock,
            config,
            self._conditions,
            self.metrics,
        )
        self._scheduler = Scheduler(
            storage,
            self._executor.handle,
            clock=self._clock,
            workers=config.queue_workers,
            lease_ms=int(config.lease_timeout * 1000),
        )
        self._executor.backlogged = lambda: self._scheduler.backlogged
        self._pinger = AppPinger(self._client, self._registry, self._clock, config)
        self._suspensions = Suspensions(storage, self._registry, self._clock)
        self._reruns = Reruns(storage, self._registry, self._clock)
        self._watch: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open storage, recover its work, load the registry and start working."""
        await self._storage.open(now=self._clock.now())
        await self._storage.recover(single_node=self.config.single_node, now=self._clock.now())
        await self._registry.load()
        await self._storage.enqueue([upkeep_item(self._clock.now())])
        self._scheduler.start()
        self._pinger.start()
        if self._otlp is not None:
            self._otlp.start()
        if not self.config.single_node:
            self._watch = asyncio.create_task(self._watch_registry(), name="surge-registry")

    async def stop(self) -> None:
        """Stop working: in-flight calls finish or are handed back; storage is closed."""
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
        await self._pinger.stop()
        await self._scheduler.stop()
        if self._otlp is not None:
            await self._otlp.stop()
        await self._client.close()
        await self._executor.close()
        await self._conditions.close()
        await self._bodies.close()
        await self._storage.close()

    async def _watch_registry(self) -> None:
        """Reload the registry when another node syncs or removes an app."""
        while True:
            await self._clock.sleep(REGISTRY_WATCH_INTERVAL_S)
            try:
                await self._registry.load()
            except Exception:
                logger.exception("could not check for app syncs on other nodes")

    async def metrics_text(self) -> bytes:
        """The node's metrics in the Prometheus exposition format; the cluster-wide gauges
        only from the node that exports them (`metrics.py`)."""
        now = self._clock.now()
        exports = self.config.single_node or self._executor.upkeep.exports_cluster_metrics()
        stats = await self._storage.stats.queue_stats(now=now) if exports else None
        return self.metrics.render(stats, now=now)

    async def runs_changed(self, timeout: float) -> bool:
        """Wait until runs start, skip or end, on this node or another (True), or `timeout`
        seconds pass (False: look again, in case a wake-up was lost)."""
        return await self._changes.wait(timeout)

    @property
    def replays(self) -> Replays:
        """Bulk replays: create (or preview), read, list."""
        return self._executor.replays

    # -- commands ----------------------------------------------------------------------------

    async def send_events(self, body: bytes, *, seed: str | None = None) -> list[str]:
        """Accept a `POST /e/{key}` body: store its events and the runs they start.

        Returns the events' ids. Raises `InvalidInput`, storing nothing, when any event is
        invalid. Every function synced (on any node) before the events are stored is matched.
        """
        now = self._clock.now()
        events = await self._bodies.events(
            body, seed=seed, now=now, max_event_bytes=self.config.max_event_bytes
        )

        async def store(snapshot: Snapshot) -> list[str]:
            matches = await self._conditions.match(snapshot.index, [e for _, e in events])
            entries = [
                entry_for(
                    snapshot,
                    event,
                    now=now,
                    internal_id=internal_id,
                    fresh=not seed,
                    dedupe=True,
                    matched=matched,
                )
                for (internal_id, event), matched in zip(events, matches, strict=True)
            ]
            return await self._storage.ingest(entries, registry_version=snapshot.version)

        ids = await self._registry.current(store)
        self.metrics.events_received.inc(len(ids))
        return ids

    async def sync_app(self, body: bytes, headers: Mapping[str, str]) -> SyncResult:
        """Accept a `POST /fn/register` body: store the app and its functions."""
        return await self._registry.register(body, headers, now=self._clock.now())

    async def remove_app(self, url: str) -> bool:
        """Forget the app served at `url`; return whether there was one."""
        return await self._registry.remove(url)

    async def add_app(self, url: str) -> AppRecord:
        """Ask the SDK at `url` to sync (the `PUT` a `-u` URL gets), and keep pinging it as
        the node's config says; return the app it synced.

        Raises:
            InvalidInput: The app could not be reached or did not sync; the error says why.
        """
        asked_at = self._clock.now()
        status = await self._pinger.ping(with_scheme(url))
        if status.error:
            self._pinger.statuses.pop(status.url, None)  # not retried: the caller heard why
            raise InvalidInput(f"the app at {url} did not sync: {status.error}", field="url")
        apps = (await self._storage.registry_state()).apps
        synced = [app for app in apps if app.synced_at >= asked_at] or apps
        return max(synced, key=lambda app: (app.url == status.url, app.synced_at))

    async def delete_app(self, app_id: str) -> bool:
        """Forget the app with id `app_id` and its functions, and stop pinging its URL;
        return whether there was one."""
        apps = (await self._storage.registry_state()).apps
        app = next((app for app in apps if app.id == app_id), None)
        if app is None:
            return False
        # Not pinged back into existence (this node's pings; another node's `-u` URLs stay).
        self._pinger.statuses.pop(app.url, None)
        return await self._registry.remove(app.url)

    async def handle(self, item: WorkItem) -> None:
        """Run one leased work item, as the scheduler does with each item it leases."""
        await self._executor.handle(item)

    async def cancel_run(self, run_id: str) -> RunRecord:
        """Cancel a run: no further step starts, and `inngest/function.cancelled` is emitted,
        all in one commit; a step in flight finishes, and its result is kept. A run that
        already ended is returned as it is.

        Raises:
            NotFound: There is no such run.
        """
        return await self._executor.lifecycle.cancel(run_id, detail={"by": "api"})

    async def invoke_function(
        self, slug: str, *, data: dict[str, Any], user: dict[str, Any] | None = None
    ) -> str:
        """Start a run of the function `slug` with an ``inngest/function.invoked`` event
        carrying `data` (a dashboard's or an operator's invoke: nothing waits for it);
        return the event's id.

        Raises:
            NotFound: No app registers that function.
        """
        now = self._clock.now()
        event_id = new_ulid(now)
        payload = {**data, "_inngest": {"fn_id": slug, "name": wire_events.FUNCTION_INVOKED}}
        event = wire_events.internal_event(
            wire_events.FUNCTION_INVOKED, payload, id=event_id, ts=now
        )
        event["user"] = dict(user or {})

        async def store(snapshot: Snapshot) -> list[str]:
            if slug not in snapshot.functions:
                raise NotFound(f"no function {slug!r} is registered")
            entry = entry_for(
                snapshot, event, now=now, internal_id=event_id, fresh=True, start=slug
            )
            return await self._storage.ingest([entry], registry_version=snapshot.version)

        [stored] = await self._registry.current(store)
        return stored

    async def rerun(
        self,
        run_id: str,
        *,
        by: str = "api",
        from_step: str | None = None,
        step_input: list[Any] | None = None,
    ) -> str:
        """Start the run's function again as a new run linked to it, from the start or from a
        step (its input edited): `reruns.Reruns.start`."""
        return await self._reruns.start(run_id, by=by, from_step=from_step, step_input=step_input)

    async def suspend_function(
        self, function_id: str, *, by: str = "api", cancel_running: bool = False
    ) -> Suspension:
        """Pause a function (its slug): `suspensions.Suspensions.suspend`."""
        return await self._suspensions.suspend(function_id, by=by, cancel_running=cancel_running)

    async def resume_function(self, function_id: str) -> bool:
        """Resume a paused function (its slug): `suspensions.Suspensions.resume`."""
        return await self._suspensions.resume(function_id)

    async def create_cancellation(
        self,
        *,
        app_id: str,
        function_id: str,
        started_after: int,
        started_before: int,
        expression: str | None,
        by: str | None = None,
    ) -> Cancellation:
        """Start a bulk cancellation of the running runs of one function (its slug, or its id
        in `app_id`) started in [`started_after`, `started_before`) whose trigger matches
        `expression`; a job works through them in the background. `by` says who asked
        (``None``: the cancellations API).

        Raises:
            InvalidInput: No such function, a bad expression, or an empty time range.
        """
        slugs = {f.id: f for f in (await self._storage.registry_state()).functions}
        slug = function_id if function_id in slugs else f"{app_id}-{function_id}"
        if slug not in slugs or slugs[slug].app_id != app_id:
            raise InvalidInput(
                f"app {app_id!r} has no function {function_id!r}", field="function_id"
            )
        if started_after >= started_before:
            raise InvalidInput("started_after must be before started_before", field="started_after")
        if expression is not None:
            try:
                check_expression(expression)
            except InvalidInput as exc:
                raise InvalidInput(str(exc), field="if") from None
        now = self._clock.now()
        cancellation = Cancellation(
            id=new_ulid(now),
            app_id=app_id,
            function_id=slug,
            started_after=started_after,
            started_before=started_before,
            expression=expression or None,
            created_at=now,
            requested_by=by,
        )
        await self._storage.create_cancellation(cancellation)
        return cancellation

    async def list_cancellations(
        self, *, limit: int, before: str | None = None
    ) -> list[Cancellation]:
        """The `limit` newest bulk cancellations (after the page ending with id `before`),
        newest first, with how many runs each has cancelled."""
        return await self._storage.list_cancellations(limit=limit, before=before)

    async def delete_cancellation(self, cancellation_id: str) -> None:
        """Stop and forget a bulk cancellation (the runs it cancelled stay cancelled).

        Raises:
            NotFound: There is no such cancellation.
        """
        if not await self._storage.delete_cancellation(cancellation_id):
            raise NotFound(f"no cancellation {cancellation_id!r}")

    async def update_metadata(self, run_id: str, step_id: str | None, updates: Any) -> int:
        """Apply span metadata `updates` (as sent: `span_metadata.parse_updates`) to the run,
        or with `step_id` (hashed, or as the user wrote it) to that step; return how many.

        Raises:
            NotFound: There is no such run.
            InvalidInput: The updates are malformed.
        """
        state = await self._storage.load_run_state(run_id)
        target = step_target(state, step_id) if step_id is not None else ""
        parsed = parse_updates(updates, scope="step" if target else "run")
        targeted = [(target, update) for update in parsed]
        await self._storage.update_metadata(run_id, targeted, at=self._clock.now())
        return len(parsed)

    # -- queries (those of runs, events and traces: `reads.py`) -------------------------

    async def status(self) -> NodeStatus:
        """The stored apps and functions, and how the last ping of each app URL went."""
        state = await self._storage.registry_state()
        pings = list(self._pinger.statuses.values())
        ignored = {f.id: not_enforced(f.config) for f in state.functions}
        return NodeStatus(
            apps=state.apps,
            functions=state.functions,
            pings=pings,
            not_enforced={slug: names for slug, names in ignored.items() if names},
            suspended={s.function_id: s for s in state.suspensions},
        )
