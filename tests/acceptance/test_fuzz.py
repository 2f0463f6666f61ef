"""Every endpoint of the HTTP API under a schema-driven fuzzer, on real servers.

Schemathesis reads the server's own OpenAPI document (`server/openapi.py`, which
`tests/integration/server/test_openapi.py` keeps equal to the routes), so an endpoint joins
this test by being served. For each operation it sends valid and invalid requests (bodies,
path and query parameters, headers) to `surge dev` on SQLite and to `surge start` on
PostgreSQL, and checks after each one: no 5xx, an answer within the timeout, the server still
healthy, and, when the request was refused (4xx), nothing stored or changed. The budget of
examples is fixed and the generation deterministic, so a run in CI is repeatable.

A schema-driven fuzzer rarely reaches deep inside a request, so a second test aims at the
deepest one: every flow-control and lifecycle option of a function at `POST /fn/register`,
each given any JSON, and shapes close to valid ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surge.server.openapi import openapi_document

if TYPE_CHECKING:
    from conftest import SurgeServer

EXAMPLES_PER_OPERATION = 15
TIMEOUT_S = 15.0
SIGNING_KEY = "signkey-test-" + "5f" * 32

SCHEMA = schemathesis.openapi.from_dict(openapi_document())
SCHEMA.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
    max_examples=EXAMPLES_PER_OPERATION,
    deterministic=True,
    allow_x00=True,
    database="none",
)


@dataclass
class Target:
    """A server under test, and how to ask it what it holds."""

    server: SurgeServer
    headers: dict[str, str]

    def state(self) -> tuple[Any, ...]:
        """Everything a request could have changed: events, runs, apps and functions. Events
        are listed newest first and none is ever changed, so the newest hundred show any
        event a request stored (the whole list, payloads and all, made this test slow)."""
        client = self.server.http
        events = client.get("/v1/events", params={"limit": 100}).json()["data"]
        runs = client.get("/v1/runs", params={"limit": 1000}).json()["data"]
        dev = client.get("/dev").json()
        return (
            [e["internal_id"] for e in events],
            [(r["run_id"], r["status"]) for r in runs],
            sorted((f["id"], str(f)) for f in dev["functions"]),
            sorted(h["url"] for h in dev["handlers"]),
        )


@pytest.fixture(
    scope="module",
    params=["dev-sqlite", pytest.param("start-postgres", marks=pytest.mark.postgres)],
)
def target(
    request: pytest.FixtureRequest, surge_server_module: Callable[..., SurgeServer]
) -> Iterator[Target]:
    if request.param == "dev-sqlite":
        yield Target(server=surge_server_module(), headers={})
        return
    url = request.getfixturevalue("module_database_url")
    server = surge_server_module(signing_key=SIGNING_KEY, extra_args=["--db", url])
    yield Target(server=server, headers={"Authorization": f"Bearer {SIGNING_KEY}"})
    server.close()


@SCHEMA.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_breaks_the_server_or_half_writes(case: Any, target: Target) -> None:
    if "key" in (case.path_parameters or {}):
        # The event key is checked by other tests; here the events should reach ingest.
        case.path_parameters["key"] = target.server.event_key
    before = target.state()

    try:
        response = case.call(base_url=target.server.url, headers=target.headers, timeout=TIMEOUT_S)
    except Exception as exc:
        pytest.fail(f"{case.method} {case.formatted_path}: {exc!r}\n{case.as_curl_command()}")

    what = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:400]}"
    assert response.status_code < 500, f"{what}\n{case.as_curl_command()}"
    assert target.server.http.get("/health", timeout=TIMEOUT_S).status_code == 200, what
    if 400 <= response.status_code < 500:
        assert target.state() == before, f"a refused request changed something: {what}"
        content_type = (response.headers.get("content-type") or [""])[0]
        if content_type.startswith("application/json"):
            body = response.json()
            assert body["status"] == response.status_code and body["error"], what


# -- function options at /fn/register ---------------------------------------------------------

OPTION_FIELDS = {
    "concurrency": ("limit", "key", "scope"),
    "throttle": ("limit", "period", "burst", "key"),
    "rateLimit": ("limit", "period", "key"),
    "debounce": ("period", "key", "timeout"),
    "batchEvents": ("maxSize", "timeout", "key", "if"),
    "singleton": ("mode", "key"),
    "cancel": ("event", "if", "timeout"),
    "timeouts": ("start", "finish"),
    "priority": ("run",),
    "idempotency": (),
    "retries": (),
}
"""Each option a function may carry, with the fields its object form has."""

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**65), max_value=2**65)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["", "1s", "-1s", "0s", "10m", "9999999999999999999999h", "fn", "env"])
    | st.sampled_from(["account", "cancel", "skip", "event.data.id", "event.data.x ==", "\x00"])
    | st.text(max_size=20)
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def _option(draw: st.DrawFn, name: str) -> Any:
    fields = OPTION_FIELDS[name]
    if not fields or draw(st.booleans()):
        return draw(_JSON)
    shaped = draw(st.fixed_dictionaries({}, optional={f: _JSON for f in fields}))
    return [shaped, draw(_JSON)] if name == "concurrency" and draw(st.booleans()) else shaped


@st.composite
def _function_options(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(sorted(OPTION_FIELDS)), min_size=1, max_size=3))
    return {name: draw(_option(name)) for name in names}


@given(options=_function_options())
@settings(
    max_examples=EXAMPLES_PER_OPERATION * 4,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_function_option_breaks_registration(options: dict[str, Any], target: Target) -> None:
    url = f"{target.server.url}/fuzz-app/api/inngest"
    function = {
        "id": "fuzz-fn",
        "name": "fuzz",
        "triggers": [{"event": "fuzz/evt"}],
        "steps": {"step": {"id": "step", "name": "step", "runtime": {"type": "http", "url": url}}},
        **options,
    }
    body = {"appName": "fuzz-app", "url": url, "sdk": "py:v0.5.19", "functions": [function]}
    before = target.state()

    response = target.server.http.post(
        "/fn/register", json=body, headers=target.headers, timeout=TIMEOUT_S
    )

    what = f"options {options!r} -> {response.status_code}: {response.text[:400]}"
    assert response.status_code in (200, 400), what
    assert target.server.http.get("/health", timeout=TIMEOUT_S).status_code == 200, what
    if response.status_code == 400:
        assert target.state() == before, f"a refused sync changed something: {what}"
        assert "fuzz-fn" in response.json()["error"], what
    else:
        synced = [
            f for f in target.server.http.get("/dev").json()["functions"] if "fuzz-fn" in f["id"]
        ]
        assert len(synced) == 1, what
