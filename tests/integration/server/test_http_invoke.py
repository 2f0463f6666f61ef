"""`step.invoke` through the server with a scripted app: what the caller's step gets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import Harness, ScriptedApp

S = "9f8e"  # the invoking step's (hashed) id


async def test_an_invoked_run_a_gate_skips_fails_the_invoking_step_at_once(
    any_db: Harness, sdk_app: ScriptedApp
) -> None:
    child = sdk_app.function("inv", "kid", [{"event": "inv/kid"}])
    child["idempotency"] = "event.data.k"
    parent = sdk_app.function("inv", "mom", [{"event": "inv/mom"}])
    invoke = sdk_app.op(
        "InvokeFunction",
        S,
        name="call-kid",
        opts={"function_id": child["id"], "payload": {"data": {"k": 1}}, "timeout": "1h"},
    )

    def mom(call: Any) -> Any:
        steps = call.body.get("steps") or {}
        return sdk_app.ok(steps[S]) if S in steps else sdk_app.ops(invoke)

    sdk_app.script(parent["id"], mom)
    sdk_app.script(child["id"], lambda call: sdk_app.ok("kid done"))
    await sdk_app.register(any_db, "inv", [child, parent])

    first, second = await any_db.send([{"name": "inv/mom"}, {"name": "inv/mom"}])
    [run1] = await any_db.wait_event_runs(first, 1)
    [run2] = await any_db.wait_event_runs(second, 1)

    outputs = sorted([run1["output"], run2["output"]], key=lambda o: "error" in o)
    assert outputs[0] == {"data": "kid done"}
    error = outputs[1]["error"]
    assert error["name"] == "InvokeSkipped" and "idempotency" in error["message"]
