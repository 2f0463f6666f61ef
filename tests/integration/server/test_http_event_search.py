"""Searching events with a CEL expression (``GET /v1/events?if=...``): only with a name and a
time range, under a scan budget, paged by the cursor of the last event read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from surge.engine import search

if TYPE_CHECKING:
    from conftest import Harness

PAST = "2000-01-01T00:00:00Z"


async def find(server: Harness, expression: str, **params: Any) -> dict[str, Any]:
    params = {"name": "s/order", "received_after": PAST, "if": expression, **params}
    resp = await server.client.get("/v1/events", params=params)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def test_a_search_pages_the_matching_events_newest_first(any_db: Harness) -> None:
    await any_db.send([{"name": "s/order", "data": {"amount": n}} for n in range(30)])
    await any_db.send({"name": "s/other", "data": {"amount": 99}})

    # Events sent in one request share their arrival time: their order among themselves is
    # their ids', not the request's, so the pages are compared as sets.
    first = await find(any_db, "event.data.amount >= 25", limit=3)
    assert len(first["data"]) == 3
    assert first["metadata"]["cursor"] == first["data"][-1]["internal_id"]
    cursor = first["metadata"]["cursor"]
    rest = await find(any_db, "event.data.amount >= 25", limit=3, cursor=cursor)
    assert len(rest["data"]) == 2
    assert {e["data"]["amount"] for e in first["data"] + rest["data"]} == {25, 26, 27, 28, 29}
    assert rest["metadata"]["cursor"] is None  # the range is done
    assert first["metadata"]["scanned"] + rest["metadata"]["scanned"] == 30


async def test_a_search_stops_at_its_scan_budget_and_goes_on_from_its_cursor(
    server: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "SCAN_BUDGET", 10)
    await server.send([{"name": "s/order", "data": {"amount": n}} for n in range(25)])

    pages = []
    cursor = None
    while True:
        params = {"cursor": cursor} if cursor else {}
        page = await find(server, "event.data.amount == 0", **params)
        pages.append((len(page["data"]), page["metadata"]["scanned"]))
        cursor = page["metadata"]["cursor"]
        if cursor is None:
            break
    # Three searches read 10, 10 and the last 5 events; only the last found the match.
    assert pages == [(0, 10), (0, 10), (1, 5)]


async def test_a_search_without_an_indexed_filter_or_with_bad_cel_is_refused(
    server: Harness,
) -> None:
    for params, field in [
        ({"received_after": PAST, "if": "true"}, "name"),
        ({"name": "s/order", "if": "true"}, "received_after"),
        ({"name": "s/order", "received_after": PAST, "if": "event.data.("}, "if"),
    ]:
        resp = await server.client.get("/v1/events", params=params)
        assert resp.status_code == 400 and resp.json()["field"] == field, resp.text
