"""The component schemas of the OpenAPI document (`openapi.py`): requests and records."""

from __future__ import annotations

from typing import Any

from surge.core.limits import MAX_ID_LENGTH, MAX_NAME_LENGTH, MAX_URL_LENGTH

__all__ = ["EVENT_IN", "SCHEMAS"]

EVENT_IN = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH},
        "data": {"type": "object"},
        "user": {"type": "object"},
        "id": {"type": "string", "maxLength": MAX_ID_LENGTH},
        "ts": {"type": "integer", "description": "Epoch milliseconds; 0 or missing: now."},
        "v": {"type": "string", "maxLength": MAX_NAME_LENGTH},
    },
}

GRAPHQL_REQUEST = {
    "type": "object",
    "required": ["query"],
    "properties": {
        "query": {"type": "string"},
        "variables": {"type": ["object", "null"]},
        "operationName": {"type": ["string", "null"]},
    },
}
GRAPHQL_RESPONSE = {
    "type": "object",
    "properties": {
        "data": {"type": ["object", "null"]},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}
CHECKPOINT_IN = {
    "type": "object",
    "required": ["qi_id", "steps"],
    "properties": {
        "run_id": {"type": "string"},
        "fn_id": {"type": "string"},
        "qi_id": {"type": "string", "description": "The call's `ctx.qi_id`."},
        "request_id": {"type": "string"},
        "generation_id": {"type": "integer"},
        "request_started_at": {"type": "integer"},
        "ts": {"type": "integer"},
        "steps": {"type": "array", "items": {"type": "object"}, "description": "StepRun ops."},
    },
    "additionalProperties": False,
}
REPLAYABLE_STATUSES = ["Failed", "Cancelled", "Skipped", "Completed"]

_HTTP_URL = "^https?://[a-z0-9.-]{1,30}(:[0-9]{2,5})?/[a-z/]{0,20}$"
_DURATION = {"type": "string", "description": 'A duration such as "30s" or "1h30m".'}
_EXPRESSION = {"type": "string", "description": "A CEL expression."}
_CONCURRENCY = {
    "type": "object",
    "properties": {
        "limit": {"type": "integer"},
        "key": _EXPRESSION,
        "scope": {"enum": ["fn", "env", "account"]},
    },
}
_LIMITED = {
    "type": "object",
    "properties": {
        "limit": {"type": "integer"},
        "period": _DURATION,
        "burst": {"type": "integer"},
        "key": _EXPRESSION,
    },
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "status"],
        "properties": {
            "error": {"type": "string"},
            "status": {"type": "integer"},
            "field": {"type": "string", "description": "The offending input, when one is."},
        },
    },
    "Metadata": {
        "type": "object",
        "properties": {"fetched_at": {"type": "string", "format": "date-time"}},
    },
    "Event": {
        "type": "object",
        "properties": {
            "internal_id": {"type": "string"},
            "id": {"type": "string"},
            "name": {"type": "string"},
            "data": {"type": "object"},
            "user": {"type": "object"},
            "ts": {"type": "integer"},
            "v": {"type": ["string", "null"]},
            "received_at": {"type": "string", "format": "date-time"},
            "source_run_id": {"type": ["string", "null"]},
        },
    },
    "EventDetail": {
        "allOf": [
            {"$ref": "#/components/schemas/Event"},
            {
                "type": "object",
                "properties": {
                    "runs": {
                        "type": "array",
                        "description": "The runs it started; skipped ones say why.",
                        "items": {
                            "type": "object",
                            "properties": {
                                "run_id": {"type": "string"},
                                "function_id": {"type": "string"},
                                "status": {"type": "string"},
                                "skip_reason": {"type": ["string", "null"]},
                                "batch_id": {"type": ["string", "null"]},
                            },
                        },
                    },
                    "pending": {
                        "type": "array",
                        "description": "The debounces and event batches it waits in.",
                        "items": {
                            "type": "object",
                            "properties": {
                                "kind": {"enum": ["debounce", "batch"]},
                                "batch_id": {"type": "string"},
                                "function_id": {"type": "string"},
                                "closes_at": {"type": "string", "format": "date-time"},
                            },
                        },
                    },
                },
            },
        ]
    },
    "MetadataRequest": {
        "type": "object",
        "required": ["metadata"],
        "additionalProperties": False,
        "properties": {
            "target": {
                "type": "object",
                "description": "The run (no step_id), or its step (hashed or as written).",
                "properties": {
                    "run_id": {"type": "string"},
                    "step_id": {"type": "string"},
                    "step_index": {"type": "integer"},
                    "step_attempt": {"type": "integer"},
                    "span_id": {"type": "string"},
                },
            },
            "metadata": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["kind", "values"],
                    "properties": {
                        "kind": {"type": "string", "description": "userland.* or inngest.*"},
                        "op": {"type": "string", "enum": ["merge", "set", "delete", "add"]},
                        "values": {"type": "object"},
                    },
                },
            },
        },
    },
    "RerunRequest": {
        "type": "object",
        "properties": {
            "from_step": {"type": "string"},
            "input": {
                "type": "array",
                "description": "The step's arguments, edited (with from_step; apps on the"
                " TypeScript or the Surge SDK).",
            },
        },
        "additionalProperties": False,
    },
    "Run": {
        "type": "object",
        "properties": {
            "run_id": {"type": "string"},
            "run_started_at": {"type": "string", "format": "date-time"},
            "function_id": {"type": "string"},
            "event_id": {"type": ["string", "null"]},
            "event_ids": {"type": "array", "items": {"type": "string"}},
            "parent_run_id": {"type": ["string", "null"]},
            "original_run_id": {"type": ["string", "null"]},
            "batch_id": {"type": ["string", "null"]},
            "cron": {"type": ["string", "null"]},
            "status": {"enum": ["Running", "Completed", "Failed", "Cancelled", "Skipped"]},
            "skip_reason": {"enum": ["paused", "rate_limit", "idempotency", "singleton", None]},
            "ended_at": {"type": ["string", "null"], "format": "date-time"},
            "output": {},
            "error": {},
            "waiting": {
                "type": ["object", "null"],
                "description": "Why it has not begun, or why its next step waits.",
                "properties": {
                    "reason": {"enum": ["concurrency", "throttle", "priority"]},
                    "until": {"type": ["string", "null"], "format": "date-time"},
                },
            },
        },
    },
    "HistoryEntry": {
        "type": "object",
        "properties": {
            "at": {"type": "string", "format": "date-time"},
            "kind": {"type": "string"},
            "step_id": {"type": ["string", "null"]},
            "attempt": {"type": "integer"},
        },
    },
    "NewCancellation": {
        "type": "object",
        "required": ["app_id", "function_id", "started_after", "started_before"],
        "additionalProperties": False,
        "properties": {
            "app_id": {"type": "string", "minLength": 1},
            "function_id": {
                "type": "string",
                "minLength": 1,
                "description": "The function's id in the app, or its slug.",
            },
            "started_after": {"type": "string", "format": "date-time"},
            "started_before": {"type": "string", "format": "date-time"},
            "if": {"type": "string", "description": "CEL over `event`, the run's trigger."},
        },
    },
    "Cancellation": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "environment_id": {"type": "string"},
            "app_id": {"type": "string"},
            "function_id": {"type": "string"},
            "started_after": {"type": "string", "format": "date-time"},
            "started_before": {"type": "string", "format": "date-time"},
            "if": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "cancelled_count": {"type": "integer"},
            "done": {"type": "boolean"},
            "done_at": {"type": ["string", "null"], "format": "date-time"},
            "requested_by": {"type": "string", "description": "`api`, or `pause`."},
        },
    },
    "Suspension": {
        "type": "object",
        "properties": {
            "function_id": {"type": "string"},
            "paused": {"const": True},
            "paused_at": {"type": "string", "format": "date-time"},
            "paused_by": {"type": "string"},
        },
    },
    "NewReplay": {
        "type": "object",
        "required": ["function_id", "started_after", "started_before"],
        "additionalProperties": False,
        "properties": {
            "function_id": {"type": "string", "minLength": 1, "description": "The slug."},
            "started_after": {"type": "string", "format": "date-time"},
            "started_before": {"type": "string", "format": "date-time"},
            "statuses": {
                "type": "array",
                "items": {"enum": REPLAYABLE_STATUSES},
                "minItems": 1,
                "default": ["Failed"],
                "description": "The runs to rerun: those that ended with one of these.",
            },
            "preview": {
                "type": "boolean",
                "default": False,
                "description": "Only count the runs it would rerun; store nothing.",
            },
        },
    },
    "Replay": {
        "type": "object",
        "properties": {
            "id": {"type": ["string", "null"], "description": "null for a preview."},
            "preview": {"type": "boolean"},
            "app_id": {"type": "string"},
            "function_id": {"type": "string"},
            "started_after": {"type": "string", "format": "date-time"},
            "started_before": {"type": "string", "format": "date-time"},
            "statuses": {"type": "array", "items": {"enum": REPLAYABLE_STATUSES}},
            "created_at": {"type": "string", "format": "date-time"},
            "requested_by": {"type": "string"},
            "total": {"type": "integer", "description": "The runs it reruns."},
            "started": {"type": "integer", "description": "The runs it has rerun so far."},
            "done": {"type": "boolean", "description": "It has gone through every run."},
            "done_at": {"type": ["string", "null"], "format": "date-time"},
            "runs": {
                "type": "object",
                "description": "Its reruns by status.",
                "properties": {
                    status: {"type": "integer"}
                    for status in ("running", "completed", "failed", "cancelled", "skipped")
                },
            },
        },
    },
    "Register": {
        "type": "object",
        "required": ["appName", "url"],
        "properties": {
            "appName": {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH},
            "url": {"type": "string", "pattern": _HTTP_URL, "maxLength": MAX_URL_LENGTH},
            "sdk": {"type": "string"},
            "framework": {"type": "string"},
            "functions": {"type": "array", "items": {"$ref": "#/components/schemas/Function"}},
        },
    },
    "Function": {
        "type": "object",
        "description": "A function as the SDKs describe it; options: docs/protocol.md, Sync.",
        "required": ["id", "steps"],
        "properties": {
            "id": {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH},
            "name": {"type": "string", "maxLength": MAX_NAME_LENGTH},
            "triggers": {
                "type": "array",
                "items": {
                    "oneOf": [
                        {
                            "type": "object",
                            "required": ["event"],
                            "properties": {
                                "event": {"type": "string"},
                                "expression": {"type": "string"},
                            },
                        },
                        {
                            "type": "object",
                            "required": ["cron"],
                            "properties": {"cron": {"type": "string"}, "jitter": _DURATION},
                        },
                    ]
                },
            },
            "steps": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "required": ["runtime"],
                    "properties": {
                        "id": {"type": "string"},
                        "name": {"type": "string"},
                        "runtime": {
                            "type": "object",
                            "required": ["url"],
                            "properties": {
                                "type": {"const": "http"},
                                "url": {"type": "string", "pattern": _HTTP_URL},
                            },
                        },
                        "retries": {
                            "type": "object",
                            "properties": {"attempts": {"type": "integer"}},
                        },
                    },
                },
            },
            "concurrency": {
                "oneOf": [
                    {"type": "integer"},
                    _CONCURRENCY,
                    {"type": "array", "items": _CONCURRENCY},
                ]
            },
            "throttle": _LIMITED,
            "rateLimit": _LIMITED,
            "debounce": {
                "type": "object",
                "properties": {"period": _DURATION, "timeout": _DURATION, "key": _EXPRESSION},
            },
            "batchEvents": {
                "type": "object",
                "properties": {
                    "maxSize": {"type": "integer"},
                    "timeout": _DURATION,
                    "key": _EXPRESSION,
                    "if": _EXPRESSION,
                },
            },
            "cancel": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"event": {"type": "string"}, "if": _EXPRESSION},
                },
            },
            "singleton": {
                "type": "object",
                "properties": {"mode": {"enum": ["skip", "cancel"]}, "key": _EXPRESSION},
            },
            "priority": {"type": "object", "properties": {"run": _EXPRESSION}},
            "timeouts": {
                "type": "object",
                "properties": {"start": _DURATION, "finish": _DURATION},
            },
            "idempotency": _EXPRESSION,
        },
    },
}
