"""The Runs pages (``/runs``, ``/runs/{id}``) in Chromium against a real ``surge dev`` and the
official Python SDK's compat app: filtering, a run's steps with their outputs, its trigger
event, the fan-out both ways, rerun and cancel."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from playwright.sync_api import Page, expect

if TYPE_CHECKING:
    from conftest import AppProcess, SurgeServer

FINAL = ("Completed", "Failed", "Cancelled")


def ended(server: SurgeServer, event_id: str, wait_until: Callable[..., Any]) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        runs = server.event_runs(event_id)
        return runs[0] if runs and runs[0]["status"] in FINAL else None

    run: dict[str, Any] = wait_until(check, timeout=60, what="the run to end")
    return run


def test_runs_list_filters_and_a_run_shows_its_steps_event_and_fan_out(
    page: Page,
    surge_server: Callable[..., SurgeServer],
    synced_app: Callable[..., AppProcess],
    wait_until: Callable[..., Any],
) -> None:
    server = surge_server()
    app = synced_app(server, "py")
    (start,) = server.send({"name": "compat/fanout.start", "data": {"count": 2}})
    orchestrator = ended(server, start, wait_until)
    children = wait_until(
        lambda: (
            (
                c := server.request(
                    "GET", "/v1/runs", params={"parent_run_id": orchestrator["run_id"]}
                ).json()["data"]
            )
            and len(c) == 2
            and all(r["status"] in FINAL for r in c)
            and c
        ),
        timeout=60,
        what="both worker runs to end",
    )
    worker = children[0]

    page.goto(server.url)
    expect(page).to_have_url(f"{server.url}/runs")
    rows = page.locator("table.runs tbody tr")
    expect(rows).to_have_count(3)
    page.select_option("#filter-function", f"{app.app_id}-fanout-worker")
    page.click("form.filters button")
    expect(rows).to_have_count(2)
    expect(page).to_have_url(re.compile(r"function=compat-py-fanout-worker"))
    page.check('input[name="status"][value="Failed"]')
    page.click("form.filters button")
    expect(page.locator(".empty")).to_have_text("No run matches.")

    page.goto(f"{server.url}/runs/{worker['run_id']}")
    expect(page.locator("#run-status")).to_have_text("Completed")
    # Its first call was sent once it was queued (ISO times in UTC compare as text).
    first_call = page.locator("#run-first-call time")
    expect(first_call).to_have_count(1)
    queued = page.locator("dl.run-facts time").first.get_attribute("datetime")
    assert queued is not None and queued <= (first_call.get_attribute("datetime") or ""), queued
    steps = page.locator("li.step")
    expect(steps.locator(".name")).to_have_text(["fetch-item", "process-item", "Finalization"])
    fetch = page.locator('li.step[data-step="fetch-item"]')
    fetch.get_by_text("Output").click()
    item_id = worker["output"]["item_id"]
    expect(fetch.locator("pre.output")).to_contain_text(f'"item_id": "{item_id}"')
    expect(page.locator("pre.event")).to_contain_text('"name": "compat/fanout.item"')
    # Up the fan-out to the run that sent the event, and down again.
    expect(page.locator(".tree-parent")).to_contain_text(orchestrator["run_id"])
    page.click("a.parent")
    expect(page).to_have_url(f"{server.url}/runs/{orchestrator['run_id']}")
    expect(page.locator("ul.children li.child")).to_have_count(2)
    expect(page.locator(".tree-event .tree-label")).to_have_text("Sent 2 \u00d7 compat/fanout.item")
    expect(page.locator(".tree-parent")).to_contain_text("an event from outside")
    expect(page.locator("ul.children")).to_contain_text(worker["run_id"])
    expect(page.locator('.child-counts [data-status="Completed"]')).to_have_text("2 Completed")
    page.get_by_role("link", name="all of them").click()
    expect(page.locator("#children-of")).to_contain_text(orchestrator["run_id"])
    expect(page.locator("table.runs tbody tr")).to_have_count(2)


def test_a_run_is_rerun_and_a_sleeping_run_cancelled_from_its_page(
    page: Page,
    surge_server: Callable[..., SurgeServer],
    synced_app: Callable[..., AppProcess],
    wait_until: Callable[..., Any],
) -> None:
    server = surge_server()
    synced_app(server, "py")
    (item,) = server.send({"name": "compat/fanout.item", "data": {"item_id": "e2e"}})
    original = ended(server, item, wait_until)

    page.goto(f"{server.url}/runs/{original['run_id']}")
    page.get_by_role("button", name="Rerun").click()
    expect(page.get_by_role("status")).to_contain_text(f"Rerun of {original['run_id']}")
    expect(page.locator("a.original")).to_have_text(original["run_id"])
    rerun_id = page.url.rsplit("/", 1)[1].split("?")[0]
    wait_until(lambda: server.run(rerun_id)["status"] == "Completed", timeout=60, what="the rerun")
    history = server.request("GET", f"/v1/runs/{rerun_id}/history").json()["data"]
    assert any(h["kind"] == "rerun_of" and h.get("by") == "dashboard" for h in history), history
    page.goto(f"{server.url}/runs/{original['run_id']}")
    expect(page.locator("ul.reruns")).to_contain_text(rerun_id)

    (napping,) = server.send({"name": "compat/cancellable.start", "data": {"group": "e2e"}})
    run = wait_until(lambda: (r := server.event_runs(napping)) and r[0], timeout=30, what="the run")
    wait_until(
        lambda: any(
            h["kind"] == "sleeping"
            for h in server.request("GET", f"/v1/runs/{run['run_id']}/history").json()["data"]
        ),
        timeout=30,
        what="the run to sleep",
    )
    page.goto(f"{server.url}/runs/{run['run_id']}")
    expect(page.locator("#run-status")).to_have_text("Running")
    sleep = page.locator("li.step", has=page.locator('.op[data-op="SLEEP"]'))
    expect(sleep.locator(".op")).to_have_text("sleep")
    expect(sleep.locator(".status")).to_have_text("Waiting")
    expect(sleep.locator(".waits-for")).to_contain_text("until ")  # its wake-up time
    expect(sleep.locator(".waits-for time")).to_have_attribute("datetime", re.compile(r"Z$"))
    # exact: the function's copy button is named "Copy function id compat-py-cancellable"
    page.get_by_role("button", name="Cancel", exact=True).click()
    expect(page.locator("#run-status")).to_have_text("Cancelled")
    expect(page.get_by_role("button", name="Cancel", exact=True)).to_have_count(0)


def rerun_from(page: Page, step_input: str) -> None:
    """On a run's page, rerun from its step process-item, chosen from the step's own link."""
    page.locator('li.step[data-step="process-item"]').get_by_role(
        "link", name="Rerun from here"
    ).click()
    form = page.locator("#rerun-from")
    expect(form.get_by_label("Step")).to_have_value(re.compile(r"^[0-9a-f]{40}$"))
    expect(form.locator("select option:checked")).to_have_text("process-item")
    form.locator("textarea").fill(step_input)
    form.get_by_role("button", name="Rerun from this step").click()


def test_a_run_is_rerun_from_a_step_with_its_input_edited_on_the_typescript_sdk(
    page: Page,
    surge_server: Callable[..., SurgeServer],
    synced_app: Callable[..., AppProcess],
    wait_until: Callable[..., Any],
) -> None:
    server = surge_server()
    ts, py = synced_app(server, "ts"), synced_app(server, "py")
    (item,) = server.send({"name": "compat/fanout.item", "data": {"item_id": "e-1"}})
    runs = wait_until(
        lambda: (
            (r := server.event_runs(item))
            and len(r) == 2
            and all(x["status"] in FINAL for x in r)
            and r
        ),
        timeout=60,
        what="both apps' runs",
    )
    by_app = {run["function_id"].split("-fanout")[0]: run for run in runs}

    page.goto(f"{server.url}/runs/{by_app[ts.app_id]['run_id']}")
    rerun_from(page, '[{"item_id": "edited", "size": 99}]')
    expect(page.get_by_role("status")).to_contain_text("from process-item")
    rerun_id = page.url.rsplit("/", 1)[1].split("?")[0]
    rerun = wait_until(
        lambda: (r := server.run(rerun_id))["status"] in FINAL and r, timeout=60, what="the rerun"
    )
    assert rerun["output"] == {"item_id": "e-1", "result": "processed:edited:99"}, rerun
    page.goto(f"{server.url}/runs/{rerun_id}")
    edited = page.locator('li.step[data-step="process-item"] pre.input')
    expect(edited).to_contain_text('"item_id": "edited"')

    # Inngest's Python SDK would take the edited input for the step's result: refused, why.
    page.goto(f"{server.url}/runs/{by_app[py.app_id]['run_id']}")
    rerun_from(page, "[1]")
    expect(page.get_by_role("alert")).to_contain_text("TypeScript SDK")
    page.goto(f"{server.url}/runs/{by_app[py.app_id]['run_id']}")
    rerun_from(page, "")  # as coded
    expect(page.get_by_role("status")).to_contain_text("from process-item")


def test_the_runs_list_follows_new_and_ended_runs_live(
    page: Page,
    surge_server: Callable[..., SurgeServer],
    synced_app: Callable[..., AppProcess],
    wait_until: Callable[..., Any],
) -> None:
    server = surge_server()
    app = synced_app(server, "py")

    page.goto(f"{server.url}/runs?function={app.app_id}-fanout-worker")
    expect(page.locator("#live")).to_have_text("Live.")
    expect(page.locator("#run-rows .empty")).to_have_text("No run matches.")
    (item,) = server.send({"name": "compat/fanout.item", "data": {"item_id": "live"}})
    run = ended(server, item, wait_until)
    row = page.locator(f'#run-rows tr[data-run="{run["run_id"]}"]')
    expect(row).to_contain_text("Completed")  # no reload: the page followed it
    (other,) = server.send({"name": "compat/user.signup", "data": {"user_id": "u"}})
    ended(server, other, wait_until)
    expect(page.locator("#run-rows tr")).to_have_count(1)  # the filter holds

    # With a run ticked, the list stays as it is and says it changed.
    row.locator('input[name="run"]').check()
    (another,) = server.send({"name": "compat/fanout.item", "data": {"item_id": "live-2"}})
    ended(server, another, wait_until)
    expect(page.locator("#live")).to_contain_text("reload to see them")
    expect(page.locator("#run-rows tr")).to_have_count(1)
