"""Every seed example of ``docs/sdk.md`` runs on a real ``surge dev``, as the docs show it.

The examples live in ``examples/docs/`` and the docs quote them whole (checked below, so the
two never drift). Each is imported fresh with ``SURGE_DEV`` pointing at its own server, as a
user would run it, and served from a uvicorn thread. The stand-in services it calls
(``examples/docs/stand_ins.py``) count every call, so "each step ran exactly once" is
checked against the work the user's code did.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

import surge

if TYPE_CHECKING:
    from conftest import SurgeServer

    from .conftest import Make, Stack

REPO_ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = REPO_ROOT / "examples" / "docs"
DOCS = REPO_ROOT / "docs" / "sdk.md"
FINAL = frozenset({"Completed", "Failed", "Cancelled", "Skipped"})
QUOTE = re.compile(r"<!-- example: (?P<path>\S+) -->\n```python\n(?P<code>.*?)```", re.S)


@dataclass
class Example:
    module: ModuleType
    calls: Counter[tuple[str, str]]
    stand_ins: ModuleType
    stack: Stack
    imported: dict[str, ModuleType]  # the example modules it imported, by name

    @property
    def server(self) -> SurgeServer:
        return self.stack.server

    def finished(self, event_id: str, count: int) -> dict[str, dict[str, Any]]:
        """The ``count`` finished runs of `event_id`, by function slug."""
        runs = self.stack.runs_of(event_id, count)
        assert len(runs) == count, runs
        return {run["function_id"]: run for run in runs}

    def finished_some(self, event_id: str, count: int, exclude: str) -> dict[str, dict[str, Any]]:
        """The ``count`` runs of `event_id` other than function `exclude`'s, once finished."""

        def done() -> dict[str, dict[str, Any]] | None:
            runs = [r for r in self.server.event_runs(event_id) if r["function_id"] != exclude]
            if len(runs) >= count and all(r["status"] in FINAL for r in runs):
                return {run["function_id"]: run for run in runs}
            return None

        deadline = time.monotonic() + 60
        while (found := done()) is None:
            if time.monotonic() > deadline:
                pytest.fail(f"runs of {event_id}: {self.server.event_runs(event_id)}")
            time.sleep(0.1)
        return found

    def children(self, parent: dict[str, Any], count: int) -> list[dict[str, Any]]:
        """The ``count`` runs started by events that run `parent` sent, once finished."""
        query = {"parent_run_id": parent["run_id"], "limit": 1000}
        children = self.server.request("GET", "/v1/runs", params=query).json()["data"]
        assert len(children) == count, children
        return [self.server.wait_run(child["run_id"]) for child in children]


def _import_example(name: str, server: SurgeServer) -> dict[str, ModuleType]:
    """Import ``examples/docs/<name>.py`` afresh, configured for `server` by the environment."""
    for loaded in [m for m, mod in sys.modules.items() if _is_example(mod)]:
        del sys.modules[loaded]
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(EXAMPLES))
        for key in [k for k in os.environ if k.startswith(("SURGE_", "INNGEST_"))]:
            patch.delenv(key)
        patch.setenv("SURGE_DEV", server.url)
        importlib.import_module(name)
    return {m: mod for m, mod in sys.modules.items() if _is_example(mod)}


def _is_example(module: ModuleType | None) -> bool:
    path = getattr(module, "__file__", None)
    return path is not None and Path(path).parent == EXAMPLES


@pytest.fixture(scope="module")
def example(app_stack: Callable[[Make], Stack]) -> Iterator[Callable[[str], Example]]:
    loaded: dict[str, Example] = {}

    def load(name: str) -> Example:
        if name not in loaded:
            imported: dict[str, ModuleType] = {}

            def make(server: SurgeServer) -> tuple[surge.Surge, Any]:
                imported.update(_import_example(name, server))
                return imported[name].client, imported[name].app

            stack = app_stack(make)
            stand_ins = imported["stand_ins"]
            loaded[name] = Example(imported[name], stand_ins.CALLS, stand_ins, stack, imported)
        return loaded[name]

    yield load


def _uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- the docs quote the files ---------------------------------------------------------------


def test_docs_quote_every_example_file_verbatim() -> None:
    quoted = {m["path"]: m["code"] for m in QUOTE.finditer(DOCS.read_text())}
    files = {
        str(path.relative_to(REPO_ROOT)): path.read_text()
        for path in sorted(EXAMPLES.glob("*.py"))
        if path.name != "stand_ins.py"
    }
    assert sorted(quoted) == sorted(files)
    for path, code in files.items():
        assert quoted[path] == code, f"docs/sdk.md's copy of {path} differs from the file"


# -- static fan-out ------------------------------------------------------------------------

SIGNUP_FUNCTIONS = {
    "signup-send-welcome-email",
    "signup-create-billing-trial",
    "signup-add-user-to-crm",
    "signup-notify-team-slack",
}


def _check_first_consumers(
    ex: Example, runs: dict[str, dict[str, Any]], user_id: str, email: str
) -> None:
    assert all(run["status"] == "Completed" for run in runs.values()), runs
    assert runs["signup-send-welcome-email"]["output"] == {
        "message_id": f"welcome-{email}",
        "greeting": "Welcome, Ada Lovelace!",
    }
    assert runs["signup-create-billing-trial"]["output"] == {
        "id": f"sub_cus_{user_id}",
        "trial_days": 14,
    }
    assert runs["signup-add-user-to-crm"]["output"] == {
        "contact_id": f"hs-{email}",
        "first_name": "Ada",
        "plan": "free",
    }
    assert runs["signup-notify-team-slack"]["output"] == {"ok": True, "channel": "#signups"}
    assert ex.calls["emails.send_welcome", email] == 1
    assert ex.calls["stripe.create_customer", user_id] == 1
    assert ex.calls["stripe.start_trial", f"cus_{user_id}"] == 1
    assert ex.calls["hubspot.create_contact", email] == 1
    assert ex.calls["slack.post", f"New signup: Ada Lovelace ({email})"] == 1


def test_static_fan_out_one_signup_runs_four_independent_functions(
    example: Callable[[str], Example],
) -> None:
    ex = example("static_fanout")
    user_id = _uid("u")
    email = f"{user_id}@example.com"
    event_id = ex.module.sign_up(user_id, email, "Ada Lovelace")
    runs = ex.finished(event_id, 4)
    assert set(runs) == SIGNUP_FUNCTIONS
    _check_first_consumers(ex, runs, user_id, email)


# -- dynamic fan-out -----------------------------------------------------------------------


def test_dynamic_fan_out_sends_one_event_per_user_to_a_limited_worker(
    example: Callable[[str], Example],
) -> None:
    ex = example("dynamic_fanout")
    users = [{"id": _uid("user"), "email": f"user{i}@example.com"} for i in range(30)]
    ex.stand_ins.USERS[:] = users
    (event_id,) = ex.stack.send(surge.Event(name="digest/weekly.requested"))
    loader = ex.finished(event_id, 1)["signup-flow-weekly-activity-load-users"]
    assert loader["status"] == "Completed", loader
    assert loader["output"] == {"count": len(users)}
    assert ex.calls["db.fetch_users", "all"] == 1

    children = ex.children(loader, len(users))
    assert {run["function_id"] for run in children} == {"signup-flow-weekly-activity-send-email"}
    assert all(run["status"] == "Completed" for run in children), children
    for user in users:
        assert ex.calls["db.load_user_activity", user["id"]] == 1
        assert ex.calls["emails.send", f"{user['email']}:Your week"] == 1

    # What the app registered: the worker's limit, and the loader's cron beside its event.
    assert ex.module.send_reminder.config("http://app")["concurrency"] == [{"limit": 50}]
    assert _triggers(ex.server, "signup-flow-weekly-activity-load-users") == [
        {"cron": "0 12 * * 5"},
        {"event": "digest/weekly.requested"},
    ]


def _triggers(server: SurgeServer, slug: str) -> list[dict[str, Any]]:
    functions = server.request("GET", "/dev").json().get("functions") or []
    (found,) = [fn for fn in functions if fn.get("slug") == slug]
    return [{k: v for k, v in trigger.items() if v} for trigger in found["triggers"]]


# -- chained fan-out and the completion cascade --------------------------------------------

ORDER_CONSUMERS = {
    "shop-send-order-confirmation-email",
    "shop-send-order-sms",
    "shop-update-loyalty-points",
    "shop-notify-warehouse-system",
}


def _place_order(ex: Example, consumers: int) -> tuple[str, dict[str, dict[str, Any]]]:
    order_id, customer_id = _uid("o"), _uid("c")
    order = {
        "id": order_id,
        "customer_id": customer_id,
        "email": f"{customer_id}@example.com",
        "items": ["book", "lamp"],
        "total": 12_345,
    }
    (event_id,) = ex.stack.send(surge.Event(name="order/placed", data=order))
    core = ex.finished(event_id, 1)["shop-process-order"]
    assert core["status"] == "Completed", core
    assert core["output"] == {"charge_id": f"ch_{order_id}", "fulfillment_id": f"ful_{order_id}"}
    for operation in (
        "stripe.charge",
        "warehouse.decrement_stock",
        "warehouse.create_pick_order",
        "db.update_order",
    ):
        assert ex.calls[operation, order_id] == 1, operation
    runs = {run["function_id"]: run for run in ex.children(core, consumers)}
    assert all(run["status"] == "Completed" for run in runs.values()), runs
    assert runs["shop-update-loyalty-points"]["output"] == 123
    assert runs["shop-notify-warehouse-system"]["output"] == {
        "order_id": order_id,
        "priority": "high",
    }
    assert runs["shop-send-order-sms"]["output"] == {"sid": f"sms-+1-555-{customer_id}"}
    assert ex.calls["emails.send", f"{customer_id}@example.com:Order {order_id} confirmed"] == 1
    assert ex.calls["db.customer_phone", customer_id] == 1
    assert ex.calls["sms.send", f"+1-555-{customer_id}"] == 1
    assert ex.calls["loyalty.add_points", customer_id] == 1
    assert ex.calls["warehouse.push", order_id] == 1
    return order_id, runs


def test_chained_fan_out_emits_order_confirmed_after_the_core_work(
    example: Callable[[str], Example],
) -> None:
    ex = example("chained_fanout")
    _, runs = _place_order(ex, consumers=4)
    assert set(runs) == ORDER_CONSUMERS


def test_completion_cascade_adds_a_consumer_without_touching_the_others(
    example: Callable[[str], Example],
) -> None:
    ex = example("completion_cascade")
    order_id, runs = _place_order(ex, consumers=5)
    assert set(runs) == {*ORDER_CONSUMERS, "shop-sync-to-erp"}
    assert runs["shop-sync-to-erp"]["output"]["erp_id"] == f"erp-{order_id}"
    assert ex.calls["erp.sync_order", order_id] == 1


# -- the signup pipeline -------------------------------------------------------------------


def test_signup_pipeline_runs_six_onboarding_functions_and_sends_due_emails(
    example: Callable[[str], Example],
) -> None:
    ex = example("signup_pipeline")
    user_id = _uid("u")
    email = f"{user_id}@example.com"
    # Signed up eight days ago (say, a backfill): every onboarding email is already due.
    signed_up_at = (datetime.now(UTC) - timedelta(days=8)).isoformat()
    user = {"user_id": user_id, "email": email, "name": "Ada Lovelace", "plan": "free"}
    data = {**user, "signed_up_at": signed_up_at}
    (event_id,) = ex.stack.send(surge.Event(name="user/account.created", data=data))
    runs = ex.finished(event_id, 6)
    assert set(runs) == {
        *SIGNUP_FUNCTIONS,
        "signup-add-to-mailing-list",
        "signup-schedule-onboarding-sequence",
    }
    _check_first_consumers(
        ex, {k: v for k, v in runs.items() if k in SIGNUP_FUNCTIONS}, user_id, email
    )
    assert runs["signup-add-to-mailing-list"]["output"] == {
        "list": "newsletter",
        "status": "subscribed",
    }
    assert ex.calls["mailchimp.add_member", email] == 1
    onboarding = runs["signup-schedule-onboarding-sequence"]
    assert onboarding["status"] == "Completed", onboarding
    assert onboarding["output"] == ["getting-started", "power-tips", "check-in"]
    for template in onboarding["output"]:
        assert ex.calls["emails.send", f"{email}:{template}"] == 1


def test_signup_pipeline_onboarding_sleeps_until_the_first_email_is_due(
    example: Callable[[str], Example],
) -> None:
    ex = example("signup_pipeline")
    user_id = _uid("u")
    email = f"{user_id}@example.com"
    sign_up = ex.imported["static_fanout"].sign_up
    event_id = sign_up(user_id, email, "Ada Lovelace")  # signed up just now
    slug = "signup-schedule-onboarding-sequence"
    others = ex.finished_some(event_id, 5, exclude=slug)
    _check_first_consumers(
        ex, {k: v for k, v in others.items() if k in SIGNUP_FUNCTIONS}, user_id, email
    )
    (run,) = [r for r in ex.server.event_runs(event_id) if r["function_id"] == slug]
    deadline = time.monotonic() + 30
    while not (sleeps := _sleeps(ex.server, run["run_id"])):
        assert time.monotonic() < deadline, _history(ex.server, run["run_id"])
        time.sleep(0.1)
    (sleep,) = sleeps  # asleep on the server until a day after the signup
    due = datetime.fromtimestamp(sleep["until"] / 1000, UTC)  # epoch ms
    assert timedelta(hours=23) < due - datetime.now(UTC) <= timedelta(days=1)
    assert ex.server.run(run["run_id"])["status"] == "Running"
    assert ex.calls["emails.send", f"{email}:getting-started"] == 0


def _history(server: SurgeServer, run_id: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = server.request("GET", f"/v1/runs/{run_id}/history").json()[
        "data"
    ]
    return entries


def _sleeps(server: SurgeServer, run_id: str) -> list[dict[str, Any]]:
    return [entry for entry in _history(server, run_id) if entry["kind"] == "sleeping"]


# -- the batch processor -------------------------------------------------------------------


def test_batch_processor_processes_every_item_once(example: Callable[[str], Example]) -> None:
    ex = example("batch_processor")
    items = [{"id": _uid("item")} for _ in range(45)]
    ex.stand_ins.ITEMS[:] = items
    (event_id,) = ex.stack.send(surge.Event(name="item/batch.requested"))
    loader = ex.finished(event_id, 1)["batch-process-pending-items"]
    assert loader["status"] == "Completed", loader
    assert loader["output"] == {"items": len(items)}
    assert ex.calls["db.items_to_process", "all"] == 1
    children = ex.children(loader, len(items))
    assert all(run["status"] == "Completed" for run in children), children
    assert sorted(run["output"]["item_id"] for run in children) == sorted(i["id"] for i in items)
    for item in items:
        assert ex.calls["db.load_item", item["id"]] == 1
        assert ex.calls["db.save_result", item["id"]] == 1
    assert ex.module.process_item.config("http://app")["concurrency"] == [{"limit": 20}]
