"""The dashboard's pages, in process through the ASGI app: what they answer to unknown ids and
bad input (a browser test cannot reach most of these)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from surge.dashboard import dashboard_routes
from surge.engine import Engine, EngineConfig
from surge.server import create_app
from surge.storage import open_storage

UNKNOWN_RUN = "01HZZZZZZZZZZZZZZZZZZZZZZZ"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    engine = Engine(
        open_storage(str(tmp_path / "surge.db")), EngineConfig(discovery=False, poll=False)
    )
    app = create_app(engine, pages=dashboard_routes(engine))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://surge.localhost") as c:
            yield c


@pytest.mark.parametrize(
    ("method", "path", "status", "says"),
    [
        ("GET", f"/runs/{UNKNOWN_RUN}", 404, f"no run {UNKNOWN_RUN!r}"),
        ("POST", f"/runs/{UNKNOWN_RUN}/rerun", 404, "no run"),
        ("POST", f"/runs/{UNKNOWN_RUN}/cancel", 404, "no run"),
        ("GET", "/runs?from=yesterday", 400, "is not a time such as"),
        ("GET", "/runs/live?until=soon", 400, "is not a time such as"),
        ("GET", "/runs/bulk?act=replay", 400, "Choose one function first"),
        ("GET", "/runs/bulk?act=explode&function=a-b", 400, "No such act"),
        ("GET", "/runs/bulk?act=replay&function=a-b&time=ended", 400, "by when they started"),
        ("POST", "/runs/bulk?act=replay&function=a-b&if=true", 400, "without a search"),
        ("GET", "/runs?time=queued", 400, "time must be one of started, ended"),
        ("GET", "/runs?if=event.data.x", 400, "Choose an app or a function"),
        ("GET", "/runs?function=a-b&if=event.data.x%20%3D%3D", 400, "Syntax error"),
        ("GET", "/runs/live?function=a-b&if=true", 400, "not followed live"),
        ("GET", "/events/nope", 404, "no event"),
        ("GET", "/replays/nope", 404, "nope"),
        ("POST", "/events/nope/resend", 404, "no event"),
        ("GET", "/functions/nope", 404, "no function 'nope'"),
        ("POST", "/functions/nope/pause", 404, "no function"),
        ("POST", "/apps/nope/resync", 404, "There is no app"),
    ],
)
async def test_unknown_ids_and_bad_filters_get_a_page_that_says_so(
    client: httpx.AsyncClient, method: str, path: str, status: int, says: str
) -> None:
    resp = await client.request(method, path)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("text/html")
    assert says in resp.text.replace("&#39;", "'")


async def test_forms_refuse_what_they_cannot_take_and_store_nothing(
    client: httpx.AsyncClient,
) -> None:
    form = {"content-type": "application/x-www-form-urlencoded"}
    big = "body=" + "x" * 20_000
    resp = await client.post("/events/send", content=big, headers=form)
    assert resp.status_code == 400 and "larger than 16 KiB" in resp.text
    resp = await client.post("/events/send", content="body=%7Bnope", headers=form)
    assert resp.status_code == 400 and "malformed JSON" in resp.text
    resp = await client.post("/runs/selected", content="act=cancel", headers=form)
    assert resp.status_code == 400 and "Tick the runs" in resp.text
    resp = await client.post("/apps", content="url=", headers=form)
    assert resp.status_code == 400 and "Give the URL the app serves" in resp.text
    assert (await client.get("/v1/events")).json()["data"] == []
    # Only back to the list after acting on ticked runs, whatever the form says.
    resp = await client.post(
        "/runs/selected",
        content=f"act=cancel&run={UNKNOWN_RUN}&back=https://elsewhere.example/",
        headers=form,
    )
    assert resp.status_code == 303 and resp.headers["location"].startswith("/runs?")


@pytest.mark.parametrize(
    "path", ["/events/send", f"/runs/{UNKNOWN_RUN}/cancel", "/functions/a-b/pause", "/apps"]
)
async def test_an_act_sent_from_another_site_is_refused(
    client: httpx.AsyncClient, path: str
) -> None:
    """A page on another site cannot drive a dev server through the user's browser."""
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "origin": "https://evil.example",
    }
    body = 'body={"name": "x/y"}'
    resp = await client.post(path, content=body, headers=headers)
    assert resp.status_code == 403 and "https://evil.example may not act here" in resp.text
    assert (await client.get("/v1/events")).json()["data"] == []
    same = await client.post(
        "/events/send", content=body, headers={**headers, "origin": "http://surge.localhost"}
    )
    assert same.status_code == 303  # the dashboard's own pages


async def test_events_are_found_by_id_and_received_time(client: httpx.AsyncClient) -> None:
    sent = await client.post("/e/key", json={"name": "shop/order", "data": {"n": 1}})
    [event_id] = sent.json()["ids"]

    found = await client.get("/events", params={"id": f" {event_id} "})
    assert found.status_code == 303 and found.headers["location"] == f"/events/{event_id}"
    unknown = await client.get("/events", params={"id": "nope/../x"})
    assert unknown.headers["location"] == "/events/nope%2F..%2Fx"

    def rows(page: httpx.Response) -> int:
        assert page.status_code == 200, page.text
        return page.text.count("<tr data-event=")

    assert rows(await client.get("/events")) == 1
    assert rows(await client.get("/events", params={"from": "2000-01-01T00:00"})) == 1
    assert rows(await client.get("/events", params={"until": "2000-01-01T00:00"})) == 0
    assert rows(await client.get("/events", params={"from": "2999-01-01T00:00"})) == 0
    bad = await client.get("/events", params={"from": "yesterday"})
    assert bad.status_code == 400 and "is not a time such as" in bad.text
