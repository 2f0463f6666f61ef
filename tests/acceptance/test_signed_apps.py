"""In production mode the official SDKs refuse execution requests Surge did not sign.

The other half of signed traffic: `test_compat.py` shows the SDKs accept what `surge start`
signs; here a request that is unsigned, or signed with another key, is refused by the app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from surge.core.signing import canonical_json, signature

if TYPE_CHECKING:
    from conftest import AppProcess, SurgeServer

pytestmark = pytest.mark.compat

SIGNING_KEY = "signkey-test-" + "5e" * 32
OTHER_KEY = "signkey-test-" + "a7" * 32
REQUEST = {
    "event": {"name": "compat/flaky.start", "data": {}, "ts": 1_700_000_000_000, "user": {}},
    "events": [{"name": "compat/flaky.start", "data": {}, "ts": 1_700_000_000_000, "user": {}}],
    "steps": {},
    "ctx": {
        "run_id": "01J0000000000000000000RUN1",
        "attempt": 0,
        "max_attempts": 1,
        "disable_immediate_execution": True,
        "use_api": False,
        "stack": {"stack": [], "current": 0},
    },
    "version": -1,
    "use_api": False,
}


@pytest.fixture(scope="module", params=["py", "ts"])
def app(
    request: pytest.FixtureRequest,
    surge_server_module: Callable[..., SurgeServer],
    app_process_module: Callable[..., AppProcess],
) -> Iterator[AppProcess]:
    server = surge_server_module(signing_key=SIGNING_KEY)
    yield app_process_module(request.param, server)


def call(app: AppProcess, key: str | None) -> httpx.Response:
    body = canonical_json(REQUEST)
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["X-Inngest-Signature"] = signature(body, key)
    return app.http.post(
        "/api/inngest",
        params={"fnId": f"{app.app_id}-flaky", "stepId": "step"},
        content=body,
        headers=headers,
    )


def test_unsigned_execution_request_is_refused(app: AppProcess) -> None:
    assert call(app, None).status_code == 401


def test_request_signed_with_another_key_is_refused(app: AppProcess) -> None:
    assert call(app, OTHER_KEY).status_code == 401


def test_request_signed_with_the_signing_key_is_executed(app: AppProcess) -> None:
    resp = call(app, SIGNING_KEY)
    assert resp.status_code == 206, resp.text
    assert resp.json()[0]["op"] == "StepPlanned"
