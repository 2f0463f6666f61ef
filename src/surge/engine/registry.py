"""The registry of apps and functions: app sync (PROTOCOL §1) and trigger lookup."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from surge.core.errors import InvalidInput
from surge.core.functions import AppSync, CronTrigger, FunctionConfig, parse_register
from surge.storage import AppRecord, FunctionRecord, NewWorkItem, Storage, WorkKind

from .cron import next_fire
from .expressions import compile_expression
from .triggers import TriggerIndex

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class SyncResult:
    """The outcome of one `POST /fn/register`."""

    app_id: str
    modified: bool


class Registry:
    """Every registered function, indexed for matching events; kept in step with storage."""

    def __init__(self, storage: Storage, *, server_kind: str = "dev") -> None:
        self._storage = storage
        self._server_kind = server_kind
        self._functions: dict[str, FunctionConfig] = {}
        self._index = TriggerIndex([])

    @property
    def index(self) -> TriggerIndex:
        return self._index

    def function(self, function_id: str) -> FunctionConfig | None:
        """The function with this slug, if an app registers it."""
        return self._functions.get(function_id)

    def functions(self) -> list[FunctionConfig]:
        return list(self._functions.values())

    async def load(self) -> None:
        """Rebuild the in-memory index from storage (at start, and after every sync).

        When two apps have registered the same function id, storage holds the one that
        synced last; only that app's config is used for it.
        """
        owners = {record.id: record.app_id for record in await self._storage.list_functions()}
        configs: dict[str, FunctionConfig] = {}
        for app in await self._storage.list_apps():
            for function in parse_register_config(app).functions:
                if owners.get(function.id) == app.id:
                    configs[function.id] = function
        self._functions = configs
        self._index = TriggerIndex(list(configs.values()))

    async def register(self, body: bytes, headers: Mapping[str, str], *, now: int) -> SyncResult:
        """Handle `POST /fn/register`: validate, store, re-index."""
        expected = headers.get("x-inngest-expected-server-kind")
        if expected and expected != self._server_kind:
            raise InvalidInput(
                f"the app expects a {expected!r} server; this is a {self._server_kind!r} server",
                field="X-Inngest-Expected-Server-Kind",
            )
        sync = parse_register(body, check_expression=compile_expression)
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
        return SyncResult(app_id=sync.app_id, modified=modified)

    async def remove(self, url: str) -> bool:
        """Handle `DELETE /fn/remove`: forget the app served at `url`."""
        removed = await self._storage.remove_app(url)
        await self.load()
        return removed


def parse_register_config(app: AppRecord) -> AppSync:
    """Re-read a stored app's registration (it was valid when stored)."""
    from surge.core import codec

    return parse_register(codec.dumps(app.config))


def cron_key(function_id: str, cron: str) -> str:
    return f"cron:{function_id}:{cron}"


def _cron_item(
    app_id: str, function: FunctionConfig, trigger: CronTrigger, now: int
) -> NewWorkItem:
    fire_at = next_fire(trigger, now)
    return NewWorkItem(
        kind=WorkKind.CRON,
        due_at=fire_at,
        payload={
            "app_id": app_id,
            "function_id": function.id,
            "cron": trigger.cron,
            "fire_at": fire_at,
        },
        unique_key=cron_key(function.id, trigger.cron),
    )
