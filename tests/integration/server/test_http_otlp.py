"""``--otlp-endpoint``: runs and their steps exported as spans to a real OTLP/HTTP collector
on loopback, decoded with the OpenTelemetry protobuf definitions."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from loopback import serve_on_loopback, wait_for
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Status
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

if TYPE_CHECKING:
    from conftest import Harness, Received, Reply, ScriptedApp


@dataclass
class Collector:
    """An OTLP/HTTP trace receiver: what it was sent, span by span."""

    url: str = ""
    spans: list[dict[str, Any]] = field(default_factory=list)
    resources: list[dict[str, Any]] = field(default_factory=list)

    async def receive(self, request: Request) -> Response:
        assert request.headers["content-type"] == "application/x-protobuf"
        message = ExportTraceServiceRequest.FromString(await request.body())
        for resource_spans in message.resource_spans:
            self.resources.append(_attributes(resource_spans.resource.attributes))
            for scope_spans in resource_spans.scope_spans:
                self.spans += [_span(span) for span in scope_spans.spans]
        body = ExportTraceServiceResponse().SerializeToString()
        return Response(body, media_type="application/x-protobuf")

    def run_span(self, run_id: str) -> dict[str, Any] | None:
        return next((s for s in self.spans if s["attributes"].get("surge.step.id") is None
                     and s["attributes"].get("surge.run.id") == run_id), None)  # fmt: skip

    def step_spans(self, run_id: str) -> list[dict[str, Any]]:
        return sorted(
            (s for s in self.spans
             if "surge.step.id" in s["attributes"] and s["attributes"]["surge.run.id"] == run_id),
            key=lambda s: s["start"],
        )  # fmt: skip


def _span(span: Any) -> dict[str, Any]:
    return {
        "name": span.name,
        "trace_id": span.trace_id.hex(),
        "span_id": span.span_id.hex(),
        "parent_span_id": span.parent_span_id.hex(),
        "start": span.start_time_unix_nano,
        "end": span.end_time_unix_nano,
        "status": span.status.code,
        "attributes": _attributes(span.attributes),
    }


def _attributes(attributes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for attribute in attributes:
        value = attribute.value
        kind = value.WhichOneof("value")
        if kind == "array_value":
            values[attribute.key] = [v.string_value for v in value.array_value.values]
        else:
            values[attribute.key] = getattr(value, kind)
    return values


@contextlib.asynccontextmanager
async def collector_on_loopback() -> AsyncIterator[Collector]:
    collector = Collector()
    app = Starlette(routes=[Route("/v1/traces", collector.receive, methods=["POST"])])
    async with serve_on_loopback(app, lifespan="off") as base_url:
        collector.url = base_url
        yield collector


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_runs_and_steps_are_exported_as_spans_linked_across_the_fan_out(
    database: str,
    request: pytest.FixtureRequest,
    tmp_path: Any,
    socket_server_on: Any,
    sdk_app: ScriptedApp,
) -> None:
    url = (
        str(tmp_path / "surge.db")
        if database == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    async with (
        collector_on_loopback() as collector,
        socket_server_on(url, otlp_endpoint=collector.url) as server,
    ):
        await _fan_out_and_check(server, sdk_app, collector)


async def _fan_out_and_check(server: Harness, sdk_app: ScriptedApp, collector: Collector) -> None:
    base_url = str(server.client.base_url)

    async def parent(call: Received) -> Reply:
        steps = call.body["steps"]
        if "load" not in steps:
            return sdk_app.ops(sdk_app.step_run("load", [0, 1]))
        if "send" not in steps:
            async with httpx.AsyncClient(base_url=base_url) as client:
                events = [{"name": "o/child", "data": {"n": n}} for n in steps["load"]["data"]]
                resp = await client.post("/e/key", json=events)
            return sdk_app.ops(sdk_app.step_run("send", resp.json()["ids"]))
        return sdk_app.ok("sent")

    def child(call: Received) -> Reply:
        if call.body["event"]["data"]["n"] == 1:
            return sdk_app.fn_error("child 1 breaks", no_retry=True)
        if "work" not in call.body["steps"]:
            return sdk_app.ops(sdk_app.step_run("work", "done"))
        return sdk_app.ok("ok")

    sdk_app.script("o-parent", parent)
    sdk_app.script("o-child", child)
    functions = [
        sdk_app.function("o", "parent", [{"event": "o/parent"}]),
        sdk_app.function("o", "child", [{"event": "o/child"}]),
    ]
    await sdk_app.register(server, "o", functions)
    [event_id] = await server.send({"name": "o/parent"})
    [parent_run] = await server.wait_event_runs(event_id, 1)
    parent_run = await server.wait_run(parent_run["run_id"])
    children = await server.get_data("/v1/runs", parent_run_id=parent_run["run_id"])
    assert len(children) == 2
    children = [await server.wait_run(c["run_id"]) for c in children]
    run_ids = [parent_run["run_id"], *(c["run_id"] for c in children)]

    async def exported() -> bool | None:
        return all(collector.run_span(r) is not None for r in run_ids) or None

    await wait_for(exported, what="the three runs' spans", last=lambda: collector.spans)

    top = collector.run_span(parent_run["run_id"])
    assert top is not None
    assert top["name"] == "o-parent"
    assert top["parent_span_id"] == ""  # the top of the fan-out
    assert top["status"] == Status.STATUS_CODE_OK
    assert top["attributes"]["surge.function.id"] == "o-parent"
    assert top["attributes"]["surge.run.status"] == "Completed"
    steps = collector.step_spans(parent_run["run_id"])
    assert [s["name"] for s in steps] == ["load", "send"]
    assert {s["parent_span_id"] for s in steps} == {top["span_id"]}
    assert {s["trace_id"] for s in steps} == {top["trace_id"]}
    assert all(top["start"] <= s["start"] <= s["end"] <= top["end"] for s in steps)

    by_status = {c["status"]: c for c in children}
    for status, code in (
        ("Completed", Status.STATUS_CODE_OK),
        ("Failed", Status.STATUS_CODE_ERROR),
    ):
        span = collector.run_span(by_status[status]["run_id"])
        assert span is not None
        assert span["parent_span_id"] == top["span_id"], "a child run hangs off its parent"
        assert span["trace_id"] == top["trace_id"], "the whole fan-out is one trace"
        assert span["status"] == code
        assert span["attributes"]["surge.run.parent_id"] == parent_run["run_id"]
    failed = collector.run_span(by_status["Failed"]["run_id"])
    assert failed is not None
    assert failed["attributes"]["surge.error.message"] == "child 1 breaks"
    [work] = collector.step_spans(by_status["Completed"]["run_id"])
    assert (work["name"], work["attributes"]["surge.step.op"]) == ("work", "RUN")

    assert len({s["span_id"] for s in collector.spans}) == len(collector.spans), "each once"
    assert {r["service.name"] for r in collector.resources} == {"surge"}


async def test_a_collector_that_refuses_spans_costs_no_run_and_is_logged(
    tmp_path: Any,
    socket_server_on: Any,
    sdk_app: ScriptedApp,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def refuse(request: Request) -> Response:
        return Response(b"no", status_code=400)  # not retried by the exporter

    app = Starlette(routes=[Route("/v1/traces", refuse, methods=["POST"])])
    async with (
        serve_on_loopback(app, lifespan="off") as collector_url,
        socket_server_on(str(tmp_path / "surge.db"), otlp_endpoint=collector_url) as server,
    ):
        function = sdk_app.function("r", "fn", [{"event": "r/go"}])
        sdk_app.script("r-fn", [sdk_app.ok("fine")])
        await sdk_app.register(server, "r", [function])
        sent = await server.send([{"name": "r/go"} for _ in range(3)])
        for event_id in sent:
            [run] = await server.wait_event_runs(event_id, 1)
            assert (await server.wait_run(run["run_id"]))["status"] == "Completed"

        async def warned() -> bool | None:
            return any("did not take" in r.getMessage() for r in caplog.records) or None

        await wait_for(warned, what="the warning that the collector refused the spans")
