"""Logging in to the dashboard of `surge start`, in process through the ASGI app on real
SQLite and PostgreSQL: sessions every node honours, CSRF tokens on every act, the login limit
shared by the nodes; and what `surge dev` refuses instead (other hosts, other sites' acts)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from surge.core.passwords import hash_password
from surge.dashboard import dashboard_routes
from surge.engine import Engine, EngineConfig
from surge.engine.logins import ATTEMPTS_PER_WINDOW
from surge.server import create_app
from surge.storage import open_storage

KEY = "signkey-prod-" + "ab" * 32
PASSWORD = "a long enough password"
HASH = hash_password(PASSWORD, log2_n=10)  # cheap for tests; production uses 2^15


@contextlib.asynccontextmanager
async def node(
    database: str,
    *,
    password_hash: str | None = HASH,
    base_url: str = "http://127.0.0.1:8288",
    dev: bool = False,
    allowed_hosts: tuple[str, ...] = (),
) -> AsyncIterator[httpx.AsyncClient]:
    """A server node on `database` (``surge start`` unless `dev`), reached in process."""
    production = {
        "server_kind": "cloud",
        "signing_key": KEY,
        "dashboard_password_hash": password_hash,
        "single_node": not database.startswith("postgresql"),
    }
    config = EngineConfig(discovery=False, poll=False, **({} if dev else production))
    engine = Engine(open_storage(database), config)
    app = create_app(engine, pages=dashboard_routes(engine), allowed_hosts=allowed_hosts)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


async def log_in(client: httpx.AsyncClient, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/login", data={"password": password, "next": "/events"})


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert match, "the signed-in page carries no CSRF token"
    return match.group(1)


async def test_without_a_session_pages_send_to_login_and_acts_are_refused(tmp_path: Path) -> None:
    async with node(str(tmp_path / "s.db")) as client:
        page = await client.get("/runs?status=Failed")
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=%2Fruns%3Fstatus%3DFailed"
        act = await client.post("/events/send", data={"body": '{"name": "a/b"}'})
        assert act.status_code == 401 and "log in" in act.json()["error"]
        gql = await client.post("/v0/gql", json={"query": "{ apps { id } }"})
        assert gql.status_code == 401 and "login session or the signing key" in gql.text
        api = await client.get("/v1/runs")
        assert api.status_code == 401 and "signing key" in api.json()["error"]
        login = await client.get("/login?next=/runs")
        assert login.status_code == 200 and 'type="password"' in login.text
        events = await client.get("/v1/events", headers={"Authorization": f"Bearer {KEY}"})
        assert events.json()["data"] == []  # the refused send stored nothing


async def test_a_login_opens_a_session_in_an_http_only_same_site_cookie(tmp_path: Path) -> None:
    async with node(str(tmp_path / "s.db")) as client:
        wrong = await log_in(client, "not the password")
        assert wrong.status_code == 401 and "That password is not right." in wrong.text
        assert "set-cookie" not in wrong.headers

        right = await log_in(client)
        assert right.status_code == 303 and right.headers["location"] == "/events"
        cookie = right.headers["set-cookie"]
        assert cookie.startswith("surge_session=")
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # served over plain HTTP
        page = await client.get("/runs")
        assert page.status_code == 200 and "Log out" in page.text
        assert f'name="csrf" value="{csrf_of(page)}"' in page.text
        again = await client.get("/login?next=/apps")  # signed in already: sent on
        assert again.status_code == 303 and again.headers["location"] == "/apps"
        offsite = await client.post(
            "/login", data={"password": PASSWORD, "next": "//evil.example/x"}
        )
        assert offsite.headers["location"] == "/runs"  # never to another site


async def test_over_https_the_cookie_is_secure(tmp_path: Path) -> None:
    async with node(str(tmp_path / "s.db"), base_url="https://surge.example.com") as client:
        right = await log_in(client)
        assert "Secure" in right.headers["set-cookie"]


async def test_every_act_needs_the_sessions_csrf_token(tmp_path: Path) -> None:
    async with node(str(tmp_path / "s.db")) as client:
        await log_in(client)
        token = csrf_of(await client.get("/events/send"))
        event = '{"name": "shop/order.placed", "data": {"n": 1}}'

        for refused in ({"body": event}, {"body": event, "csrf": "forged"}):
            resp = await client.post("/events/send", data=refused)
            assert resp.status_code == 403 and "did not come from this dashboard" in resp.text
        gql = "{ events(query: {}) { edges { node { name } } } }"
        no_header = await client.post("/v0/gql", json={"query": gql})
        assert no_header.status_code == 403 and "x-csrf-token" in no_header.text
        listed = await client.get("/v1/events", headers={"Authorization": f"Bearer {KEY}"})
        assert listed.json()["data"] == []  # nothing refused was stored

        sent = await client.post("/events/send", data={"body": event, "csrf": token})
        assert sent.status_code == 303, sent.text
        by_header = await client.post(
            "/v0/gql", json={"query": gql}, headers={"X-CSRF-Token": token}
        )
        assert by_header.status_code == 200, by_header.text
        listed = await client.get("/v1/events", headers={"Authorization": f"Bearer {KEY}"})
        assert [e["name"] for e in listed.json()["data"]] == ["shop/order.placed"]


async def test_without_a_password_no_one_can_log_in_and_the_page_says_how(
    tmp_path: Path,
) -> None:
    async with node(str(tmp_path / "s.db"), password_hash=None) as client:
        page = await client.get("/login")
        assert "SURGE_DASHBOARD_PASSWORD" in page.text and 'type="password"' not in page.text
        assert (await log_in(client)).status_code == 401
        key = await client.get("/runs", headers={"Authorization": f"Bearer {KEY}"})
        assert key.status_code == 200  # API clients still read pages with the signing key


async def test_a_new_password_ends_the_sessions_of_the_old(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    async with node(db) as client:
        await log_in(client)
        cookie = client.cookies["surge_session"]
    async with node(db, password_hash=hash_password("another long password", log2_n=10)) as c:
        c.cookies["surge_session"] = cookie
        assert (await c.get("/runs")).status_code == 303


@pytest.mark.postgres
async def test_sessions_and_logouts_hold_on_every_node(database_url: str) -> None:
    async with node(database_url) as first, node(database_url) as second:
        await log_in(first)
        second.cookies["surge_session"] = first.cookies["surge_session"]
        page = await second.get("/runs")
        assert page.status_code == 200, "a session opened on one node is honoured by another"

        logout = await second.post("/logout", data={"csrf": csrf_of(page)})
        assert logout.status_code == 303 and logout.headers["location"] == "/login"
        assert (await first.get("/runs")).status_code == 303, "logged out on every node"


@pytest.mark.postgres
async def test_login_attempts_are_limited_across_nodes(database_url: str) -> None:
    async with node(database_url) as first, node(database_url) as second:
        for attempt in range(ATTEMPTS_PER_WINDOW):
            client = first if attempt % 2 else second
            assert (await log_in(client, "guess")).status_code == 401
        refused = await log_in(first)  # the right password, but too many tries
        assert refused.status_code == 429 and "Too many attempts" in refused.text
        assert 0 < int(refused.headers["retry-after"]) <= 15 * 60
        assert "set-cookie" not in refused.headers
        assert (await log_in(second)).status_code == 429


async def test_dev_refuses_hosts_a_rebinding_page_would_name(tmp_path: Path) -> None:
    db = str(tmp_path / "d.db")
    async with node(db, dev=True, base_url="http://rebind.example:8288") as client:
        resp = await client.get("/v1/runs")
        assert resp.status_code == 403
        assert "--allow-host rebind.example" in resp.json()["error"]
    for base in ("http://localhost:8288", "http://[::1]:8288", "http://10.0.0.5:8288"):
        async with node(db, dev=True, base_url=base) as client:
            assert (await client.get("/v1/runs")).status_code == 200, base
    allowed = ("host.docker.internal",)
    async with node(
        db, dev=True, base_url="http://host.docker.internal:8288", allowed_hosts=allowed
    ) as client:
        assert (await client.get("/v1/runs")).status_code == 200


async def test_dev_refuses_acts_from_other_sites_but_takes_their_events(tmp_path: Path) -> None:
    async with node(str(tmp_path / "d.db"), dev=True) as client:
        other = {"origin": "https://evil.example"}
        run = "01HZZZZZZZZZZZZZZZZZZZZZZZ"
        resp = await client.delete(f"/v1/runs/{run}", headers=other)
        assert resp.status_code == 403 and "https://evil.example may not act here" in resp.text
        gql = await client.post("/v0/gql", json={"query": "{ apps { id } }"}, headers=other)
        assert gql.status_code == 403
        own = {"origin": "http://127.0.0.1:8288"}
        assert (
            await client.post("/v0/gql", json={"query": "{ apps { id } }"}, headers=own)
        ).status_code == 200
        # A front end may send events to the dev server, as Inngest's allows.
        sent = await client.post("/e/key", json={"name": "ui/clicked"}, headers=other)
        assert sent.status_code == 200
