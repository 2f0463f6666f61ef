"""Waiting steps and the run lifecycle with apps on the official SDKs: ``step.waitForEvent``,
``step.invoke``, ``cancelOn`` and ``DELETE /v1/runs/{id}``, through the real server.

The apps' functions are in ``tests/compat/py_app/lifecycle.py`` and
``tests/compat/ts_app/lifecycle.mjs``; each step body marks its group, so what ran (and
what did not, after a cancellation) is read from the app, not from the server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from compat_stack import Stack, start_stack, tag

if TYPE_CHECKING:
    from conftest import AppProcess, StandIn, SurgeServer

pytestmark = pytest.mark.compat

DEADLINE = 60.0


@pytest.fixture(scope="module", params=["py-dev", "ts-dev", "ts-dev-nocheckpoint", "ts-start"])
def stack(
    request: pytest.FixtureRequest,
    surge_server_module: Callable[..., SurgeServer],
    app_process_module: Callable[..., AppProcess],
) -> Stack:
    # HTTP steps reach the tests' stand-in endpoint on loopback.
    extra = ["--allow-private-http-steps"]
    return start_stack(request.param, surge_server_module, app_process_module, extra_args=extra)


def started_run(stack: Stack, event_id: str, wait_until: Callable[..., Any]) -> dict[str, Any]:
    """The one run `event_id` started, once it exists."""
    runs: list[dict[str, Any]] = wait_until(
        lambda: stack.server.event_runs(event_id) or None,
        timeout=DEADLINE,
        what=f"a run of event {event_id}",
    )
    return runs[0]


def wait_for_mark(stack: Stack, group: str, name: str, wait_until: Callable[..., Any]) -> None:
    wait_until(
        lambda: name in stack.marks(group),
        timeout=DEADLINE,
        what=f"step mark {name!r} of {group}",
        detail=lambda: f"marks: {stack.marks(group)}",
    )


def test_wait_for_event_resumes_with_the_event_that_matches(
    stack: Stack, wait_until: Callable[..., Any]
) -> None:
    group, request_id = tag(), tag()
    (event_id,) = stack.server.send(
        {
            "name": "compat/approval.requested",
            "data": {"group": group, "request_id": request_id, "timeout_ms": 60_000},
        }
    )
    wait_for_mark(stack, group, "requested", wait_until)
    time.sleep(0.3)  # the wait is stored once the app reports it

    stack.server.send(
        [
            {"name": "compat/approval.decided", "data": {"request_id": tag(), "decision": "no"}},
            {
                "name": "compat/approval.decided",
                "data": {"request_id": request_id, "decision": "yes"},
            },
        ]
    )

    (run,) = stack.server.wait_event_runs(event_id, 1, timeout=DEADLINE)
    assert (run["status"], run["output"]) == ("Completed", {"decision": "yes"}), run


def test_wait_for_event_times_out_with_none_and_ignores_earlier_events(stack: Stack) -> None:
    group, request_id = tag(), tag()
    decided = {"name": "compat/approval.decided", "data": {"request_id": request_id}}
    stack.server.send(decided)  # before the wait began: it must not count

    (event_id,) = stack.server.send(
        {
            "name": "compat/approval.requested",
            "data": {"group": group, "request_id": request_id, "timeout_ms": 2000},
        }
    )

    (run,) = stack.server.wait_event_runs(event_id, 1, timeout=DEADLINE)
    assert (run["status"], run["output"]) == ("Completed", {"decision": None}), str(run)
    assert stack.marks(group) == ["requested"]


def test_invoke_returns_the_child_s_result_and_links_both_runs(stack: Stack) -> None:
    (event_id,) = stack.server.send({"name": "compat/invoker.start", "data": {"x": 21}})

    (run,) = stack.server.wait_event_runs(event_id, 1, timeout=DEADLINE)

    assert run["status"] == "Completed", run
    assert run["output"] == {"result": {"doubled": 42, "event": "inngest/function.invoked"}}, run
    resp = stack.server.request("GET", "/v1/runs", params={"parent_run_id": run["run_id"]})
    (child,) = resp.json()["data"]
    assert child["function_id"] == f"{stack.app_id}-child"
    assert child["parent_run_id"] == run["run_id"]
    assert child["status"] == "Completed"


def test_invoke_raises_the_child_s_error(stack: Stack) -> None:
    (event_id,) = stack.server.send(
        {"name": "compat/invoker.start", "data": {"x": 7, "fail": True}}
    )

    (run,) = stack.server.wait_event_runs(event_id, 1, timeout=DEADLINE)

    assert run["status"] == "Completed", run
    assert "child refused 7" in run["output"]["error"], run


def test_invoke_times_out_with_the_sdks_error(stack: Stack) -> None:
    (event_id,) = stack.server.send(
        {"name": "compat/invoker.start", "data": {"x": 1, "sleep_ms": 20_000, "timeout_ms": 1000}}
    )

    (run,) = stack.server.wait_event_runs(event_id, 1, timeout=DEADLINE)

    assert run["status"] == "Completed", run
    message = run["output"]["error"]
    assert "Timed out waiting for invoked function to complete" in message, run


def test_invoking_an_unknown_function_fails_the_step_naming_it(stack: Stack) -> None:
    (event_id,) = stack.server.send(
        {"name": "compat/invoker.start", "data": {"x": 1, "target": "missing"}}
    )

    (run,) = stack.server.wait_event_runs(event_id, 1, timeout=DEADLINE)

    assert run["status"] == "Completed", run
    assert "no-such-function" in run["output"]["error"], run


def test_cancel_on_cancels_the_matching_run_only(
    stack: Stack, wait_until: Callable[..., Any]
) -> None:
    group, other = tag(), tag()
    ids = stack.server.send(
        [
            {"name": "compat/cancellable.start", "data": {"group": group}},
            {"name": "compat/cancellable.start", "data": {"group": other}},
        ]
    )
    wait_for_mark(stack, group, "first", wait_until)
    wait_for_mark(stack, other, "first", wait_until)

    stack.server.send({"name": "compat/cancellable.stop", "data": {"group": group}})

    (run,) = stack.server.wait_event_runs(ids[0], 1, timeout=DEADLINE)
    assert run["status"] == "Cancelled", run
    assert stack.server.event_runs(ids[1])[0]["status"] == "Running"
    assert stack.marks(group) == ["first"]
    stack.server.request("DELETE", f"/v1/runs/{stack.server.event_runs(ids[1])[0]['run_id']}")


def test_a_run_cancelled_mid_step_keeps_that_step_s_result_and_runs_nothing_after(
    stack: Stack, wait_until: Callable[..., Any]
) -> None:
    group = tag()
    (event_id,) = stack.server.send(
        {"name": "compat/slow.start", "data": {"group": group, "step_s": 1.5}}
    )
    wait_for_mark(stack, group, "slow-began", wait_until)
    run_id = started_run(stack, event_id, wait_until)["run_id"]

    resp = stack.server.request("DELETE", f"/v1/runs/{run_id}")

    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["status"] == "Cancelled"
    wait_for_mark(stack, group, "slow-ended", wait_until)
    time.sleep(1.0)  # time for a step after it to run, were it (wrongly) called
    assert stack.marks(group) == ["slow-began", "slow-ended"]
    assert stack.server.run(run_id)["status"] == "Cancelled"

    def slow_step_kept() -> bool:
        history = stack.server.request("GET", f"/v1/runs/{run_id}/history").json()["data"]
        return any(entry["kind"] == "step_completed" for entry in history)

    wait_until(slow_step_kept, timeout=DEADLINE, what="the slow step's result in the history")


def test_a_singleton_in_skip_mode_skips_new_runs_while_one_runs(
    stack: Stack, wait_until: Callable[..., Any]
) -> None:
    group = tag()
    (first,) = stack.server.send({"name": "compat/single.skip", "data": {"group": group, "n": 1}})
    wait_for_mark(stack, group, "first-1", wait_until)
    other = tag()  # another key runs alongside

    ids = stack.server.send(
        [
            {"name": "compat/single.skip", "data": {"group": group, "n": 2}},
            {"name": "compat/single.skip", "data": {"group": other, "n": 3}},
        ]
    )

    (skipped,) = stack.server.wait_event_runs(ids[0], 1, timeout=DEADLINE)
    assert (skipped["status"], skipped["skip_reason"]) == ("Skipped", "singleton"), skipped
    wait_for_mark(stack, other, "first-3", wait_until)
    for event_id in (first, ids[1]):
        run_id = started_run(stack, event_id, wait_until)["run_id"]
        assert stack.server.run(run_id)["status"] == "Running"
        stack.server.request("DELETE", f"/v1/runs/{run_id}")
    assert stack.marks(group) == ["first-1"]


def test_a_singleton_in_cancel_mode_replaces_the_running_run(
    stack: Stack, wait_until: Callable[..., Any]
) -> None:
    group = tag()
    (first,) = stack.server.send({"name": "compat/single.cancel", "data": {"group": group, "n": 1}})
    wait_for_mark(stack, group, "first-1", wait_until)

    (second,) = stack.server.send(
        {"name": "compat/single.cancel", "data": {"group": group, "n": 2}}
    )

    (replaced,) = stack.server.wait_event_runs(first, 1, timeout=DEADLINE)
    assert replaced["status"] == "Cancelled", replaced
    wait_for_mark(stack, group, "first-2", wait_until)
    run_id = started_run(stack, second, wait_until)["run_id"]
    assert stack.server.run(run_id)["status"] == "Running"
    stack.server.request("DELETE", f"/v1/runs/{run_id}")
    assert stack.marks(group) == ["first-1", "first-2"]


def test_a_run_past_its_finish_timeout_is_cancelled_saying_why(
    stack: Stack, wait_until: Callable[..., Any]
) -> None:
    group = tag()
    (event_id,) = stack.server.send({"name": "compat/finish.timeout", "data": {"group": group}})

    (run,) = stack.server.wait_event_runs(event_id, 1, timeout=DEADLINE)

    assert run["status"] == "Cancelled", run
    assert run["error"]["name"] == "FunctionTimeout", run
    assert "timeouts.finish" in run["error"]["message"], run
    assert stack.marks(group) == ["first-only"]


def test_a_run_queued_past_its_start_timeout_is_cancelled_before_it_begins(
    stack: Stack, wait_until: Callable[..., Any]
) -> None:
    group = tag()
    ids = stack.server.send(
        [
            {"name": "compat/start.timeout", "data": {"group": group, "n": n, "hold_s": 2.5}}
            for n in (1, 2)
        ]
    )

    runs = [stack.server.wait_event_runs(i, 1, timeout=DEADLINE)[0] for i in ids]

    assert [r["status"] for r in runs] == ["Completed", "Cancelled"], runs
    assert "timeouts.start" in runs[1]["error"]["message"], runs[1]
    assert stack.marks(group) == ["hold-1"]


def test_ai_infer_is_requested_by_the_server_once_with_the_key(
    stack: Stack, stand_in: StandIn
) -> None:
    (event_id,) = stack.server.send({"name": "compat/infer", "data": {"base_url": stand_in.url}})

    (run,) = stack.server.wait_event_runs(event_id, 1, timeout=DEADLINE)

    assert run["status"] == "Completed", run
    assert run["output"] == {"choices": [{"message": {"content": "hello"}}]}, run
    [request] = stand_in.requests
    assert request["path"] == "/chat/completions"
    assert request["headers"]["authorization"] == "Bearer sk-test"
    history = stack.server.request("GET", f"/v1/runs/{run['run_id']}/history").text
    assert "sk-test" not in history


def test_step_fetch_is_made_by_the_server(
    surge_server: Callable[..., SurgeServer],
    app_process: Callable[..., AppProcess],
    stand_in: StandIn,
) -> None:
    """`step.fetch` is a TypeScript SDK tool: one TypeScript app, on its own server."""
    server = surge_server(extra_args=["--allow-private-http-steps"])
    app = app_process("ts", server)
    assert app.sync().status_code == 200

    (event_id,) = server.send({"name": "compat/fetch", "data": {"url": f"{stand_in.url}/text"}})

    (run,) = server.wait_event_runs(event_id, 1, timeout=DEADLINE)
    assert (run["status"], run["output"]) == ("Completed", {"status": 200, "text": "plain words"})
    [request] = stand_in.requests
    assert (request["method"], request["body"]) == ("POST", b"ping")


@pytest.mark.parametrize(("caller", "callee"), [("py", "ts"), ("ts", "py")])
def test_invoke_reaches_a_function_of_another_app(
    surge_server: Callable[..., SurgeServer],
    app_process: Callable[..., AppProcess],
    caller: str,
    callee: str,
) -> None:
    server = surge_server()
    apps = {kind: app_process(kind, server) for kind in (caller, callee)}
    for app in apps.values():
        assert app.sync().status_code == 200
    data = {"x": 4, "target": "other-app", "app": apps[callee].app_id}

    (event_id,) = server.send({"name": "compat/invoker.start", "data": data})

    runs = server.wait_event_runs(event_id, 2, timeout=DEADLINE)  # both apps' invokers
    mine = next(r for r in runs if r["function_id"] == f"{apps[caller].app_id}-invoker")
    assert mine["output"] == {"result": {"doubled": 8, "event": "inngest/function.invoked"}}, mine
    child = server.request("GET", "/v1/runs", params={"parent_run_id": mine["run_id"]}).json()
    assert [c["function_id"] for c in child["data"]] == [f"{apps[callee].app_id}-child"]


@pytest.mark.parametrize("kind", ["py", "ts"])
def test_graphql_creates_an_app_from_its_url_and_deletes_it(
    surge_server: Callable[..., SurgeServer],
    app_process: Callable[..., AppProcess],
    kind: str,
) -> None:
    """The dashboard's "sync new app" and "delete app", on a server of their own."""
    server = surge_server()
    app = app_process(kind, server)

    def gql(query: str, **variables: Any) -> dict[str, Any]:
        resp = server.request("POST", "/v0/gql", json={"query": query, "variables": variables})
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body

    created = gql(
        "mutation($url: String!) { createApp(input: {url: $url}) { id url functionCount } }",
        url=app.serve_url,
    )
    made = created["data"]["createApp"]
    assert made["id"] == app.app_id and made["functionCount"] > 0, created
    assert [a["id"] for a in gql("{ apps { id } }")["data"]["apps"]] == [app.app_id]
    update = (
        "mutation($id: String!, $url: String!) { updateApp(input: {id: $id, url: $url}) { id } }"
    )
    resynced = gql(update, id=app.app_id, url=app.serve_url)
    assert resynced["data"] == {"updateApp": {"id": app.app_id}}, resynced
    unknown = gql(update, id="nope", url=app.serve_url)
    assert "no app 'nope'" in unknown["errors"][0]["message"], unknown

    deleted = gql("mutation($id: String!) { deleteApp(id: $id) }", id=app.app_id)
    assert deleted["data"] == {"deleteApp": app.app_id}
    assert gql("{ apps { id } functions { slug } }")["data"] == {"apps": [], "functions": []}
    again = gql("mutation($id: String!) { deleteApp(id: $id) }", id=app.app_id)
    assert again["data"] is None and app.app_id in again["errors"][0]["message"]

    unreachable = gql(
        'mutation { createApp(input: {url: "http://127.0.0.1:9/api/inngest"}) { id } }'
    )
    assert "did not sync" in unreachable["errors"][0]["message"]

    # As the TypeScript SDK's harness cleans up: by the app's name.
    gql("mutation($url: String!) { createApp(input: {url: $url}) { id } }", url=app.serve_url)
    by_name = "mutation($name: String!) { deleteAppByName(name: $name) }"
    assert gql(by_name, name=app.app_id)["data"] == {"deleteAppByName": True}
    assert gql(by_name, name=app.app_id)["data"] == {"deleteAppByName": False}
    assert gql("{ apps { id } }")["data"]["apps"] == []
