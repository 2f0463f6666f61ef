"""The registry of apps and functions: app sync (`docs/protocol.md`, "Sync") and trigger lookup.

The registry keeps an immutable `Snapshot` of every function, indexed by trigger, with the
registry version it was read at. Whatever writes events matched against a snapshot passes
that version to storage, which refuses it (`RegistryChanged`) once another sync has committed;
`Registry.current` then reloads and matches again. So an event starts every function synced
before it was accepted, on whichever node either arrived.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from surge.core import codec
from surge.core.errors import InvalidInput, RegistryChanged, StorageUnavailable
from surge.core.functions import AppSync, CronTrigger, FunctionConfig, parse_register
from surge.storage import (
    AppRecord,
    FunctionRecord,
    NewWorkItem,
    RegistryState,
    Storage,
    Suspension,
    WorkKind,
)

from .cron import jittered, next_fire
from .expressions import check_expression
from .options import not_enforced
from .triggers import TriggerIndex

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_RELOADS = 20
"""How many times one write is matched again before giving up on a registry that keeps moving."""


@dataclass(frozen=True, kw_only=True)
class SyncResult:
    """The outcome of one `POST /fn/register`."""

    app_id: str
    modified: bool


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    """Every registered function at one registry version."""

    version: int = -1
    functions: dict[str, FunctionConfig] = field(default_factory=dict)
    index: TriggerIndex = field(default_factory=lambda: TriggerIndex([]))
    state: RegistryState = field(
        default_factory=lambda: RegistryState(version=-1, apps=[], functions=[])
    )
    """The stored apps and functions this snapshot was built from."""
    suspended: dict[str, Suspension] = field(default_factory=dict)
    """The paused functions, by id: events record a skipped run for them, cron skips them."""


class Registry:
    """Every registered function, indexed for matching events; kept in step with storage."""

    def __init__(self, storage: Storage, *, server_kind: str = "dev") -> None:
        self._storage = storage
        self._server_kind = server_kind
        self.snapshot = Snapshot()

    def function(self, function_id: str) -> FunctionConfig | None:
        """The function with this slug, if an app registers it."""
        return self.snapshot.functions.get(function_id)

    async def load(self) -> Snapshot:
        """Rebuild the snapshot from storage (at start, after a sync, when found stale).

        When two apps have registered the same function id, storage holds the one that
        synced last; only that app's config is used for it.
        """
        state = await self._storage.registry_state()
        if state.version == self.snapshot.version:
            return self.snapshot
        owners = {record.id: record.app_id for record in state.functions}
        configs: dict[str, FunctionConfig] = {}
        for app in state.apps:
            for function in stored_sync(app).functions:
                if owners.get(function.id) == app.id:
                    configs[function.id] = function
        self.snapshot = Snapshot(
            version=state.version,
            functions=configs,
            index=TriggerIndex(list(configs.values())),
            state=state,
            suspended={s.function_id: s for s in state.suspensions},
        )
        return self.snapshot

    async def current(self, write: Callable[[Snapshot], Awaitable[T]]) -> T:
        """Run `write` with the current snapshot; when storage finds the registry moved on
        (`RegistryChanged`), reload and run it again with the new one."""
        for _ in range(MAX_RELOADS):
            try:
                return await write(self.snapshot)
            except RegistryChanged:
                await self.load()
        raise StorageUnavailable("apps kept being synced while events were being matched")

    async def register(self, body: bytes, headers: Mapping[str, str], *, now: int) -> SyncResult:
        """Handle `POST /fn/register`: validate, store, re-index."""
        expected = headers.get("x-inngest-expected-server-kind")
        if expected and expected != self._server_kind:
            raise InvalidInput(
                f"the app expects a {expected!r} server; this is a {self._server_kind!r} server",
                field="X-Inngest-Expected-Server-Kind",
            )
        sync = parse_register(body, check_expression=check_expression)
        app = AppRecord(
            id=sync.app_id,
            url=sync.url,
            sdk=sync.sdk,
            framework=sync.framework,
            checksum=sync.checksum,
            synced_at=now,
            config=sync.raw,
        )
        functions = [
            FunctionRecord(id=f.id, app_id=sync.app_id, name=f.name, config=f.raw, url=f.url)
            for f in sync.functions
        ]
        crons = [
            _cron_item(sync.app_id, function, trigger, now)
            for function in sync.functions
            for trigger in function.triggers
            if isinstance(trigger, CronTrigger)
        ]
        modified = await self._storage.sync_app(app, functions, crons)
        await self.load()
        logger.log(
            logging.INFO if modified else logging.DEBUG,
            "app synced",
            extra={"app_id": sync.app_id, "functions": len(functions), "modified": modified},
        )
        for function in sync.functions:
            ignored = not_enforced(function.raw)
            if ignored:
                logger.warning(
                    "function %s uses options this server does not enforce yet: %s",
                    function.id,
                    ", ".join(ignored),
                    extra={"function_id": function.id, "not_enforced": ignored},
                )
        return SyncResult(app_id=sync.app_id, modified=modified)

    async def remove(self, url: str) -> bool:
        """Handle `DELETE /fn/remove`: forget the app served at `url`."""
        removed = await self._storage.remove_app(url)
        await self.load()
        return removed


def stored_sync(app: AppRecord) -> AppSync:
    """Re-read a stored app's registration (it was valid when stored)."""
    return parse_register(codec.dumps(app.config))


def cron_key(function_id: str, cron: str) -> str:
    return f"cron:{function_id}:{cron}"


def _cron_item(
    app_id: str, function: FunctionConfig, trigger: CronTrigger, now: int
) -> NewWorkItem:
    fire_at = next_fire(trigger, now)
    return NewWorkItem(
        kind=WorkKind.CRON,
        due_at=jittered(trigger, fire_at),
        payload={
            "app_id": app_id,
            "function_id": function.id,
            "cron": trigger.cron,
            "fire_at": fire_at,
        },
        unique_key=cron_key(function.id, trigger.cron),
    )
