"""`GET /v1/openapi.json`: the HTTP API as an OpenAPI 3.1 document.

Written by hand next to the routes it describes; `tests/integration/server/test_openapi.py`
checks that it names exactly the routes `create_app` serves, and the fuzz test
(`tests/integration/server/test_fuzz.py`) drives every operation it lists.
"""

from __future__ import annotations

from typing import Any

from surge.core.limits import (
    MAX_EVENTS_PER_REQUEST,
    MAX_PAGE_SIZE,
)
from surge.core.version import VERSION

from .checkpoint_api import PREFIXES as CHECKPOINT_PREFIXES
from .openapi_schemas import CHECKPOINT_IN, EVENT_IN, GRAPHQL_REQUEST, GRAPHQL_RESPONSE, SCHEMAS

__all__ = ["openapi_document"]


_PAUSE = {
    "type": "object",
    "properties": {
        "cancel_running": {
            "type": "boolean",
            "default": False,
            "description": "Also cancel its running runs (a bulk cancellation by `pause`).",
        }
    },
    "additionalProperties": False,
}
_RESUMED = {
    "type": "object",
    "properties": {
        "function_id": {"type": "string"},
        "paused": {"const": False},
        "was_paused": {"type": "boolean"},
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


def _data(schema: dict[str, Any]) -> dict[str, Any]:
    """The REST v1 envelope: `{"data": ..., "metadata": {"fetched_at": ...}}`."""
    return {
        "type": "object",
        "required": ["data", "metadata"],
        "properties": {"data": schema, "metadata": _ref("Metadata")},
    }


def _by_id(
    summary: str, param: dict[str, Any], schema: dict[str, Any], description: str
) -> dict[str, Any]:
    """An operation on one thing named by path parameter `param`: it, or a 404."""
    return {
        "summary": summary,
        "parameters": [param],
        "responses": {"200": _json(schema, description), "404": _error("There is none.")},
    }


def _metadata_post(run_id: dict[str, Any], invalid: dict[str, Any]) -> dict[str, Any]:
    updated = _data({"type": "object", "properties": {"updated": {"type": "integer"}}})
    operation = _by_id(
        "Attach span metadata to the run, or to one of its steps",
        run_id,
        updated,
        "How many updates were applied.",
    )
    operation["responses"] |= {"400": invalid, "413": _error("The body is too large.")}
    body = {"application/json": {"schema": _ref("MetadataRequest")}}
    return operation | {"requestBody": {"required": True, "content": body}}


def _checkpoint_post(run_id: dict[str, Any], invalid: dict[str, Any]) -> dict[str, Any]:
    written = {"type": "object", "properties": {"run_id": {}, "steps": {"type": "integer"}}}
    return {
        "summary": "Steps a call ran while still in flight (`docs/protocol.md`, Checkpointing)",
        "parameters": [run_id],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": CHECKPOINT_IN}},
        },
        "responses": {
            "200": _json(written, "Written: how many steps were memoized."),
            "400": invalid,
            "409": _error("The call no longer holds its work item, or the run has ended."),
            "413": _error("The body is too large."),
        },
    }


def _path_id(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


_PAGE = [
    {
        "name": "limit",
        "in": "query",
        "description": "How many records, newest first.",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": 100},
    },
    {
        "name": "cursor",
        "in": "query",
        "description": "The id of the last record of the previous page.",
        "schema": {"type": "string"},
    },
]


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the routes `create_app` serves."""
    event_id = _path_id("event_id", "An event's internal id, or else its latest user `id`.")
    run_id = _path_id("run_id", "A run's id.")
    function_id = _path_id("function_id", "A function's slug (`<app id>-<function id>`).")
    invalid = _error("The input is invalid; `error` names the problem and `field` the input.")
    runs = {"type": "array", "items": _ref("Run")}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Surge",
            "version": VERSION,
            "description": "The HTTP API of a Surge server node. Limits: docs/limits.md.",
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "signingKey": {"type": "http", "scheme": "bearer"},
            },
        },
        "security": [{"signingKey": []}],
        "paths": {
            "/e/{key}": {
                "post": {
                    "summary": "Send one event or several",
                    "security": [],
                    "parameters": [
                        _path_id("key", "An event key (any in dev mode)."),
                        {
                            "name": "X-Inngest-Event-Id-Seed",
                            "in": "header",
                            "description": '"<ms>,<base64 of 10 bytes>": deterministic ids.',
                            "schema": {"type": "string"},
                        },
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        EVENT_IN,
                                        {
                                            "type": "array",
                                            "items": EVENT_IN,
                                            "minItems": 1,
                                            "maxItems": MAX_EVENTS_PER_REQUEST,
                                        },
                                    ]
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "ids": {"type": "array", "items": {"type": "string"}},
                                    "status": {"const": 200},
                                },
                            },
                            "The internal ids of the events, in order.",
                        ),
                        "400": invalid,
                        "401": _error("The event key is not known."),
                        "413": _error("The body or an event is too large."),
                    },
                }
            },
            "/fn/register": {
                "post": {
                    "summary": "Sync an app and its functions",
                    "parameters": [
                        {
                            "name": "X-Inngest-Expected-Server-Kind",
                            "in": "header",
                            "schema": {"enum": ["dev", "cloud"]},
                        },
                        {"name": "X-Inngest-Sdk", "in": "header", "schema": {"type": "string"}},
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("Register")}},
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "ok": {"type": "boolean"},
                                    "modified": {"type": "boolean"},
                                    "app_id": {"type": "string"},
                                },
                            },
                            "The app is synced.",
                        ),
                        "400": invalid,
                    },
                }
            },
            "/fn/remove": {
                "delete": {
                    "summary": "Remove the app served at a URL",
                    "parameters": [
                        {"name": "url", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": _json({"type": "object"}, "The app is removed."),
                        "400": invalid,
                        "404": _error("No app is registered at that URL."),
                    },
                }
            },
            "/health": {
                "get": {
                    "summary": "Whether the node answers",
                    "security": [],
                    "responses": {"200": _json({"type": "object"}, "It does.")},
                }
            },
            "/dev": {
                "get": {
                    "summary": "The node's options, apps and functions",
                    "responses": {"200": _json({"type": "object"}, "What the node knows.")},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "The node's metrics in the Prometheus text exposition format",
                    "responses": {
                        "200": {
                            "description": "Metrics named `surge_*`.",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1.")},
                }
            },
            "/v1/events": {
                "get": {
                    "summary": "Events, newest first (by name, time, or the run that sent them)",
                    "parameters": [
                        {"name": "name", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "received_after",
                            "in": "query",
                            "schema": {"type": "string", "format": "date-time"},
                        },
                        {
                            "name": "received_before",
                            "in": "query",
                            "schema": {"type": "string", "format": "date-time"},
                        },
                        {"name": "source_run_id", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "if",
                            "in": "query",
                            "description": "A CEL expression over `event`: a search, with "
                            "`name` and `received_after`; `metadata.cursor` goes on from the "
                            "last event read.",
                            "schema": {"type": "string", "maxLength": 4096},
                        },
                        *_PAGE,
                    ],
                    "responses": {
                        "200": _json(_data({"type": "array", "items": _ref("Event")}), "Events."),
                        "400": invalid,
                    },
                }
            },
            "/v1/events/{event_id}": {
                "get": _by_id(
                    "One event, with its runs and what it waits in",
                    event_id,
                    _data(_ref("EventDetail")),
                    "The event.",
                )
            },
            "/v1/events/{event_id}/runs": {
                "get": _by_id("The runs an event started", event_id, _data(runs), "Runs.")
            },
            "/v1/runs": {
                "get": {
                    "summary": "Runs, newest first",
                    "parameters": [
                        {"name": "function_id", "in": "query", "schema": {"type": "string"}},
                        {"name": "parent_run_id", "in": "query", "schema": {"type": "string"}},
                        {"name": "original_run_id", "in": "query", "schema": {"type": "string"}},
                        *_PAGE,
                    ],
                    "responses": {
                        "200": _json(_data(runs), "Runs."),
                        "400": invalid,
                    },
                }
            },
            "/v1/runs/{run_id}": {
                "get": _by_id("One run", run_id, _data(_ref("Run")), "The run."),
                "delete": _by_id("Cancel a run", run_id, _data(_ref("Run")), "The run."),
            },
            "/v1/runs/{run_id}/rerun": {
                "post": {
                    **_by_id(
                        "Run the function again with the run's event(s), as a new run linked "
                        "to it; from a step, the steps finished before it keep their results",
                        run_id,
                        _data({"type": "object", "properties": {"run_id": {"type": "string"}}}),
                        "The new run's id.",
                    ),
                    "responses": {
                        "200": _json(
                            _data({"type": "object", "properties": {"run_id": {"type": "string"}}}),
                            "The new run's id.",
                        ),
                        "400": invalid,
                        "404": _error("There is no such run, or its function is gone."),
                        "409": _error("Its function is paused."),
                    },
                    "requestBody": {
                        "required": False,
                        "content": {"application/json": {"schema": _ref("RerunRequest")}},
                    },
                }
            },
            "/v1/runs/{run_id}/metadata": {"post": _metadata_post(run_id, invalid)},
            **{
                f"{prefix}{{run_id}}/async": {"post": _checkpoint_post(run_id, invalid)}
                for prefix in CHECKPOINT_PREFIXES
            },
            "/v1/runs/{run_id}/history": {
                "get": _by_id(
                    "A run's history, oldest first",
                    run_id,
                    _data({"type": "array", "items": _ref("HistoryEntry")}),
                    "History.",
                )
            },
            "/v1/cancellations": {
                "post": {
                    "summary": "Cancel the running runs of a function started in a time range",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("NewCancellation")}},
                    },
                    "responses": {
                        "200": _json(_data(_ref("Cancellation")), "The cancellation, started."),
                        "400": invalid,
                    },
                },
                "get": {
                    "summary": "Bulk cancellations, newest first, with what each cancelled",
                    "parameters": _PAGE,
                    "responses": {
                        "200": _json(
                            _data({"type": "array", "items": _ref("Cancellation")}),
                            "Cancellations.",
                        )
                    },
                },
            },
            "/v1/cancellations/{cancellation_id}": {
                "delete": _by_id(
                    "Stop and forget a bulk cancellation (its runs stay cancelled)",
                    _path_id("cancellation_id", "The cancellation's id."),
                    _data({"type": "object"}),
                    "Deleted.",
                )
            },
            "/v1/functions/{function_id}/pause": {
                "post": {
                    "summary": "Pause a function: its events record skipped runs (`paused`), its "
                    "cron does not fire; its running runs go on unless `cancel_running`",
                    "parameters": [function_id],
                    "requestBody": {
                        "required": False,
                        "content": {"application/json": {"schema": _PAUSE}},
                    },
                    "responses": {
                        "200": _json(_data(_ref("Suspension")), "Paused (since its first pause)."),
                        "400": invalid,
                        "404": _error("No function is registered with that slug."),
                    },
                }
            },
            "/v1/functions/{function_id}/resume": {
                "post": _by_id(
                    "Resume a paused function",
                    function_id,
                    _data(_RESUMED),
                    "Resumed; `was_paused` says whether it was.",
                )
            },
            "/v1/replays": {
                "post": {
                    "summary": "Rerun the runs of a function started in a time range that ended "
                    "with one of `statuses`, or with `preview` only count them",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("NewReplay")}},
                    },
                    "responses": {
                        "200": _json(_data(_ref("Replay")), "The replay, started (or previewed)."),
                        "400": invalid,
                        "409": _error("The function is paused: resume it first."),
                    },
                },
                "get": {
                    "summary": "Bulk replays, newest first, with their progress",
                    "parameters": _PAGE,
                    "responses": {
                        "200": _json(_data({"type": "array", "items": _ref("Replay")}), "Replays.")
                    },
                },
            },
            "/v1/replays/{replay_id}": {
                "get": _by_id(
                    "One replay, with its progress",
                    _path_id("replay_id", "The replay's id."),
                    _data(_ref("Replay")),
                    "The replay.",
                )
            },
            "/v0/runs/{run_id}": {
                "delete": _by_id(
                    "Cancel a run (the path the SDKs use)", run_id, _data(_ref("Run")), "The run."
                )
            },
            "/v0/runs/{run_id}/batch": {
                "get": _by_id(
                    "A run's events (for SDK requests sent with `use_api`)",
                    run_id,
                    {"type": "array", "items": {"type": "object"}},
                    "Events.",
                )
            },
            "/v0/runs/{run_id}/actions": {
                "get": _by_id(
                    "A run's memoized steps (for SDK requests sent with `use_api`)",
                    run_id,
                    {"type": "object"},
                    "Step outcomes by step id.",
                )
            },
            "/v0/gql": {
                "post": {
                    "summary": "GraphQL, compatible with the Inngest dev server's (runs, traces)",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": GRAPHQL_REQUEST}},
                    },
                    "responses": {
                        "200": _json(GRAPHQL_RESPONSE, "The result: `data` and `errors`."),
                        "400": _error("Not a GraphQL request."),
                        "413": _error("The request is too large."),
                    },
                }
            },
        },
    }
