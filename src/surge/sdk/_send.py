"""Sending events to ``POST /e/{key}``: chunking, id seeds, retries (`docs/protocol.md`,
"Events")."""

from __future__ import annotations

import asyncio
import base64
import os
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx

from surge.core.ids import EVENT_ID_SEED_HEADER
from surge.core.limits import MAX_EVENTS_PER_REQUEST
from surge.core.run_errors import EventSendError

from ._event import Event, EventType
from ._serialize import dumps

__all__ = ["MAX_CHUNK_BYTES", "SEND_ATTEMPTS", "Sender", "chunks", "prepare_events"]

MAX_CHUNK_BYTES = 8 * 1024 * 1024
"""Largest request body one send makes; bigger lists are split."""
SEND_ATTEMPTS = 5
_BACKOFF = 0.1

EventLike = Event[Any] | Mapping[str, Any]
Events = EventLike | Sequence[EventLike]


def prepare_events(events: Events, typed: Mapping[str, EventType[Any]]) -> list[dict[str, Any]]:
    """The wire form of one event or a list, validating the data of typed events."""
    items: Sequence[EventLike] = [events] if isinstance(events, Event | Mapping) else events
    now = time.time_ns() // 1_000_000
    wire = []
    for item in items:
        if isinstance(item, Event):
            event = item.to_wire()
        else:
            event = dict(item)
            if not isinstance(event.get("name"), str):
                raise TypeError(f"an event needs a string 'name', got {item!r}")
            event.setdefault("data", {})
            event["data"] = Event(name=event["name"], data=event["data"]).to_wire()["data"]
        if not event.get("ts"):
            event["ts"] = now
        event_type = typed.get(event["name"])
        if event_type is not None:
            event_type.validate(event["data"])
        wire.append(event)
    return wire


def chunks(events: list[dict[str, Any]]) -> Iterator[tuple[bytes, int]]:
    """Encoded request bodies of at most 5,000 events and `MAX_CHUNK_BYTES` each, with counts."""
    batch: list[bytes] = []
    size = 2
    for event in events:
        encoded = dumps(event)
        if batch and (
            len(batch) >= MAX_EVENTS_PER_REQUEST or size + len(encoded) > MAX_CHUNK_BYTES
        ):
            yield b"[" + b",".join(batch) + b"]", len(batch)
            batch, size = [], 2
        batch.append(encoded)
        size += len(encoded) + 1
    if batch:
        yield b"[" + b",".join(batch) + b"]", len(batch)


def _seed() -> str:
    return f"{time.time_ns() // 1_000_000},{base64.b64encode(os.urandom(10)).decode()}"


def _retriable(status: int) -> bool:
    return status >= 500 or status == 429


def _delay(attempt: int) -> float:
    return float(_BACKOFF * 2**attempt * (1 + random.random() * 0.5))


def _ids(response: httpx.Response, count: int) -> list[str]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict) or body.get("error"):
        message = body.get("error") if isinstance(body, dict) else response.text[:300]
        raise EventSendError(
            f"the event API refused the send (HTTP {response.status_code}): {message}",
            status=response.status_code,
        )
    ids = body.get("ids")
    if not isinstance(ids, list) or len(ids) != count:
        raise EventSendError(f"the event API answered without {count} ids: {body!r}")
    return [str(i) for i in ids]


class Sender:
    """Posts events to one URL with given headers, retrying with the same id seed."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url = url
        self.headers = headers

    async def send_async(self, http: httpx.AsyncClient, events: list[dict[str, Any]]) -> list[str]:
        ids: list[str] = []
        for body, count in chunks(events):
            ids.extend(await self._post_async(http, body, count))
        return ids

    def send_sync(self, http: httpx.Client, events: list[dict[str, Any]]) -> list[str]:
        ids: list[str] = []
        for body, count in chunks(events):
            ids.extend(self._post_sync(http, body, count))
        return ids

    async def _post_async(self, http: httpx.AsyncClient, body: bytes, count: int) -> list[str]:
        headers = {**self.headers, EVENT_ID_SEED_HEADER: _seed()}
        for attempt in range(SEND_ATTEMPTS):
            try:
                response = await http.post(self.url, content=body, headers=headers)
            except httpx.TransportError as exc:
                if attempt + 1 == SEND_ATTEMPTS:
                    raise EventSendError(
                        f"could not reach the event API at {self.url}: {exc}"
                    ) from exc
            else:
                if not _retriable(response.status_code) or attempt + 1 == SEND_ATTEMPTS:
                    return _ids(response, count)
            await asyncio.sleep(_delay(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def _post_sync(self, http: httpx.Client, body: bytes, count: int) -> list[str]:
        headers = {**self.headers, EVENT_ID_SEED_HEADER: _seed()}
        for attempt in range(SEND_ATTEMPTS):
            try:
                response = http.post(self.url, content=body, headers=headers)
            except httpx.TransportError as exc:
                if attempt + 1 == SEND_ATTEMPTS:
                    raise EventSendError(
                        f"could not reach the event API at {self.url}: {exc}"
                    ) from exc
            else:
                if not _retriable(response.status_code) or attempt + 1 == SEND_ATTEMPTS:
                    return _ids(response, count)
            time.sleep(_delay(attempt))
        raise AssertionError("unreachable")  # pragma: no cover
