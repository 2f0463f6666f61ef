from __future__ import annotations

import copy
import hashlib
from typing import Any

import orjson
import pytest

from surge.core import codec
from surge.core.errors import InvalidFunction, InvalidInput
from surge.core.functions import (
    AppSync,
    CronTrigger,
    EventTrigger,
    app_identity_url,
    normalize_url,
    parse_cron,
    parse_register,
)
from surge.engine.expressions import compile_expression

SERVE = "http://127.0.0.1:3000/api/inngest"


def fn(fn_id: str = "app-fn", **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "id": fn_id,
        "name": "My fn",
        "triggers": [{"event": "app/created"}],
        "steps": {
            "step": {
                "id": "step",
                "name": "step",
                "runtime": {"type": "http", "url": f"{SERVE}?fnId={fn_id}&stepId=step"},
            }
        },
    }
    config.update(overrides)
    return config


def body(*functions: dict[str, Any], **top: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "appName": "app",
        "url": SERVE,
        "sdk": "js:v4.24.0",
        "framework": "express",
        "deployType": "ping",
        "functions": list(functions) if functions else [fn()],
    }
    payload.update(top)
    return payload


def sync(payload: dict[str, Any]) -> AppSync:
    return parse_register(orjson.dumps(payload), check_expression=compile_expression)


def invalid(payload: dict[str, Any]) -> InvalidFunction:
    with pytest.raises(InvalidFunction) as info:
        sync(payload)
    return info.value


def test_parses_a_ts_payload() -> None:
    app = sync(body(deployId="d1", featureObservations={"x": 1}, capabilities={"connect": "v1"}))
    assert app.app_id == "app"
    assert app.url == SERVE
    assert app.sdk == "js:v4.24.0"
    assert app.framework == "express"
    [f] = app.functions
    assert f.id == "app-fn"
    assert f.name == "My fn"
    assert f.triggers == (EventTrigger(event="app/created", expression=None),)
    assert f.url == f"{SERVE}?fnId=app-fn&stepId=step"
    assert f.retries == 4
    assert f.max_attempts == 5
    assert app.raw["deployId"] == "d1"


def test_python_spelling_appname_and_deploy_type() -> None:
    payload = body()
    del payload["appName"], payload["deployType"]
    payload.update(appname="py-app", deploy_type="ping", sdk="py:v0.5.19")
    app = sync(payload)
    assert app.app_id == "py-app"
    assert app.sdk == "py:v0.5.19"


def test_keys_are_case_insensitive() -> None:
    payload = {"APPNAME": "a", "URL": SERVE, "Functions": [fn()]}
    app = sync(payload)
    assert app.app_id == "a"
    assert len(app.functions) == 1
    assert app.sdk == ""


@pytest.mark.parametrize("app_id", [None, "", "   ", 5])
def test_app_id_required(app_id: Any) -> None:
    payload = body(appName=app_id)
    with pytest.raises(InvalidInput, match="App ID required"):
        sync(payload)


def test_url_required() -> None:
    payload = body()
    del payload["url"]
    with pytest.raises(InvalidInput, match="url required") as info:
        sync(payload)
    assert info.value.field == "url"


@pytest.mark.parametrize(("raw", "text"), [(b"{", "malformed JSON"), (b"[]", "JSON object")])
def test_bad_bodies(raw: bytes, text: str) -> None:
    with pytest.raises(InvalidInput, match=text):
        parse_register(raw)


def test_functions_may_be_empty_but_must_be_an_array() -> None:
    assert sync(body(functions=[])).functions == ()
    with pytest.raises(InvalidInput) as info:
        sync(body(functions={"a": 1}))
    assert info.value.field == "functions"


def test_name_defaults_to_id_and_empty_triggers_allowed() -> None:
    config = fn(triggers=[])
    del config["name"]
    [f] = sync(body(config)).functions
    assert f.name == "app-fn"
    assert f.triggers == ()


def test_missing_function_id() -> None:
    config = fn()
    del config["id"]
    err = invalid(body(fn("ok"), config))
    assert err.field == "id"
    assert "functions[1]" in err.message


def test_duplicate_function_ids() -> None:
    err = invalid(body(fn(), fn()))
    assert "duplicate" in err.message


def test_cron_trigger_with_timezone() -> None:
    triggers = [{"cron": "TZ=Europe/Paris 0 9 * * *", "jitter": "30s"}, {"cron": "*/5 * * * *"}]
    [f] = sync(body(fn(triggers=triggers))).functions
    first, second = f.triggers
    assert first == CronTrigger(
        cron="TZ=Europe/Paris 0 9 * * *", timezone="Europe/Paris", jitter="30s"
    )
    assert isinstance(first, CronTrigger)
    assert first.schedule == "0 9 * * *"
    assert second == CronTrigger(cron="*/5 * * * *", timezone=None, jitter=None)


@pytest.mark.parametrize(
    ("trigger", "field", "text"),
    [
        ({"cron": "x y"}, "triggers[0].cron", 'invalid cron expression "x y"'),
        ({"cron": "* * * * * *"}, "triggers[0].cron", "invalid cron expression"),
        ({"cron": "61 * * * *"}, "triggers[0].cron", "invalid cron expression"),
        ({"cron": "TZ=Mars/Base 0 9 * * *"}, "triggers[0].cron", "unknown timezone"),
        ({"cron": "0 0 30 2 *"}, "triggers[0].cron", "never fires"),
        ({"cron": "* * * * *", "jitter": "soon"}, "triggers[0].jitter", "invalid duration"),
        ({"event": "a", "cron": "* * * * *"}, "triggers[0]", "exactly one of event or cron"),
        ({}, "triggers[0]", "exactly one of event or cron"),
        ({"event": "e" * 256}, "triggers[0].event", "256"),
        ({"event": "a", "expression": "event.data =="}, "triggers[0].expression", "invalid"),
        ({"event": "a", "expression": 5}, "triggers[0].expression", "must be a string"),
        ("app/created", "triggers[0]", "JSON object"),
    ],
)
def test_bad_triggers(trigger: Any, field: str, text: str) -> None:
    err = invalid(body(fn(triggers=[trigger])))
    assert err.field == field
    assert text.replace('"', "'") in err.message.replace('"', "'")
    assert err.message.startswith(f"function 'app-fn': {field}: ")
    assert err.function_id == "app-fn"


def test_invalid_cron_message_format() -> None:
    err = invalid(body(fn(triggers=[{"cron": "x y"}])))
    assert str(err) == "function 'app-fn': triggers[0].cron: invalid cron expression \"x y\""


def test_event_name_255_ok() -> None:
    [f] = sync(body(fn(triggers=[{"event": "e" * 255}]))).functions
    assert f.triggers == (EventTrigger(event="e" * 255),)


def test_expressions_are_skipped_without_a_checker() -> None:
    payload = body(fn(triggers=[{"event": "a", "expression": "event.data =="}]))
    [f] = parse_register(orjson.dumps(payload)).functions
    assert f.triggers == (EventTrigger(event="a", expression="event.data =="),)


def test_on_failure_function() -> None:
    failure = fn(
        "app-fn-failure",
        triggers=[
            {
                "event": "inngest/function.failed",
                "expression": "event.data.function_id == 'app-fn'",
            }
        ],
    )
    failure["steps"]["step"]["retries"] = {"attempts": 0}
    [_, f] = sync(body(fn(), failure)).functions
    assert f.retries == 0
    assert f.max_attempts == 1
    assert isinstance(f.triggers[0], EventTrigger)
    assert f.triggers[0].event == "inngest/function.failed"


@pytest.mark.parametrize(("attempts", "retries"), [(0, 0), (3, 3), (20, 20), (2.0, 2)])
def test_retries(attempts: Any, retries: int) -> None:
    config = fn()
    config["steps"]["step"]["retries"] = {"attempts": attempts}
    [f] = sync(body(config)).functions
    assert f.retries == retries


@pytest.mark.parametrize("attempts", [21, -1, "3", True, 1.5])
def test_bad_retries(attempts: Any) -> None:
    config = fn()
    config["steps"]["step"]["retries"] = {"attempts": attempts}
    err = invalid(body(config))
    assert err.field == "steps.step.retries.attempts"


@pytest.mark.parametrize(
    ("steps", "field"),
    [
        (None, "steps"),
        ({}, "steps"),
        ({"step": {"id": "step"}}, "steps.step.runtime.url"),
        ({"step": {"runtime": {"url": ""}}}, "steps.step.runtime.url"),
        ({"step": 5}, "steps.step"),
    ],
)
def test_bad_steps(steps: Any, field: str) -> None:
    err = invalid(body(fn(steps=steps)))
    assert err.field == field


def test_urls_are_normalized_but_host_kept() -> None:
    config = fn()
    config["steps"]["step"]["runtime"]["url"] = (
        "http://0.0.0.0:3000/api/inngest?fnId=app-fn&deployId=d1&stepId=step&probe=trust"
    )
    app = sync(body(config, url="http://0.0.0.0:3000/api/inngest?deployId=d1"))
    assert app.url == "http://0.0.0.0:3000/api/inngest"
    assert app.functions[0].url == "http://0.0.0.0:3000/api/inngest?fnId=app-fn&stepId=step"
    assert app.functions[0].raw["steps"]["step"]["runtime"]["url"] == app.functions[0].url
    assert app.identity_url == "http://localhost:3000/api/inngest"


@pytest.mark.parametrize(
    "concurrency",
    [
        5,
        0,
        {"limit": 2, "key": "event.data.user_id", "scope": "fn"},
        [{"limit": 1}, {"limit": 10, "scope": "account", "key": "event.data.acct"}],
        {"fn": [{"limit": 1}], "step": [{"limit": 2}]},
    ],
)
def test_concurrency_shapes_kept_in_raw(concurrency: Any) -> None:
    [f] = sync(body(fn(concurrency=concurrency))).functions
    assert f.raw["concurrency"] == concurrency


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"concurrency": -1}, "concurrency"),
        ({"concurrency": "5"}, "concurrency"),
        ({"concurrency": [{"limit": 1}] * 3}, "concurrency"),
        ({"concurrency": {"limit": -1}}, "concurrency.limit"),
        ({"concurrency": [{"limit": 1}, {"key": "x"}]}, "concurrency[1].limit"),
        ({"concurrency": {"limit": 1, "scope": "world"}}, "concurrency.scope"),
        ({"concurrency": {"limit": 1, "key": "event.data =="}}, "concurrency.key"),
        ({"throttle": {"limit": 1, "period": "soon"}}, "throttle.period"),
        ({"throttle": {"limit": 0, "period": "1m"}}, "throttle.limit"),
        ({"throttle": {"limit": 1, "period": "8d"}}, "throttle.period"),
        ({"throttle": {"limit": 1, "period": "500ms"}}, "throttle.period"),
        ({"rateLimit": {"limit": 1, "period": "25h"}}, "rateLimit.period"),
        ({"debounce": {"period": "1s", "timeout": "8d"}}, "debounce.timeout"),
        ({"batchEvents": {"maxSize": 101, "timeout": "5s"}}, "batchEvents.maxSize"),
        ({"batchEvents": {"maxSize": 10, "timeout": "2m"}}, "batchEvents.timeout"),
        ({"rateLimit": [1]}, "rateLimit"),
        ({"debounce": {"period": 5}}, "debounce.period"),
        ({"batchEvents": {"maxSize": 0, "timeout": "5s"}}, "batchEvents.maxSize"),
        ({"batchEvents": {"maxSize": 10, "timeout": "5s", "if": "(("}}, "batchEvents.if"),
        ({"cancel": [{"event": "a", "if": "event.data.id =="}]}, "cancel[0].if"),
        ({"cancel": [{"if": "true"}]}, "cancel[0].event"),
        ({"cancel": {"event": "a"}}, "cancel"),
        ({"singleton": {"mode": "queue"}}, "singleton.mode"),
        ({"priority": {"run": "event.data.p +"}}, "priority.run"),
        ({"timeouts": {"start": "later"}}, "timeouts.start"),
        ({"idempotency": "event.data.id =="}, "idempotency"),
    ],
)
def test_bad_options(options: dict[str, Any], field: str) -> None:
    err = invalid(body(fn(**options)))
    assert err.field == field
    assert f": {field}: " in err.message


def test_valid_options_kept_untouched() -> None:
    options: dict[str, Any] = {
        "throttle": {"limit": 1, "period": "1m", "burst": 1, "key": "event.data.k"},
        "rateLimit": {"limit": 5, "period": "1h"},
        "debounce": {"period": "5s", "timeout": "1m"},
        "batchEvents": {"maxSize": 100, "timeout": "5s", "key": "event.data.k"},
        "cancel": [{"event": "app/cancel", "if": "async.data.id == event.data.id"}],
        "singleton": {"mode": "skip", "key": "event.data.k"},
        "priority": {"run": "event.data.priority"},
        "timeouts": {"start": "10s", "finish": "1h"},
        "idempotency": "event.data.id",
    }
    [f] = sync(body(fn(**copy.deepcopy(options)))).functions
    for key, value in options.items():
        assert f.raw[key] == value


def test_checksum_is_sha256_of_sorted_functions_and_stable() -> None:
    app = sync(body())
    expected = hashlib.sha256(codec.dumps_sorted([f.raw for f in app.functions])).hexdigest()
    assert app.checksum == expected
    reordered = {k: fn()[k] for k in reversed(list(fn()))}
    assert sync(body(reordered)).checksum == app.checksum
    assert sync(body(fn(name="Other"))).checksum != app.checksum
    assert sync(body(url="http://other:1/x")).checksum == app.checksum


def test_checksum_ignores_deploy_id_in_step_urls() -> None:
    config = fn()
    config["steps"]["step"]["runtime"]["url"] += "&deployId=abc"
    assert sync(body(config)).checksum == sync(body()).checksum


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://h/api?deployId=1", "http://h/api"),
        ("http://h/api?fnId=a&deployId=1&stepId=s", "http://h/api?fnId=a&stepId=s"),
        ("http://h/api?probe=trust&x=%20y", "http://h/api?x=%20y"),
        ("http://127.0.0.1:80/api", "http://127.0.0.1:80/api"),
        ("https://h/api", "https://h/api"),
    ],
)
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:3000/api/inngest", "http://localhost:3000/api/inngest"),
        ("http://0.0.0.0:3000/api/inngest", "http://localhost:3000/api/inngest"),
        ("HTTP://LocalHost:3000/api/inngest", "http://localhost:3000/api/inngest"),
        ("http://example.com:80/api", "http://example.com/api"),
        ("https://example.com:443/api?deployId=x&fnId=f", "https://example.com/api?fnId=f"),
        ("https://example.com:8443/api", "https://example.com:8443/api"),
    ],
)
def test_app_identity_url(url: str, expected: str) -> None:
    assert app_identity_url(url) == expected


@pytest.mark.parametrize(
    ("cron", "tz"),
    [
        ("* * * * *", None),
        ("TZ=America/New_York 0 9 * * 1-5", "America/New_York"),
        ("CRON_TZ=Asia/Tokyo 30 2 * * *", "Asia/Tokyo"),
        ("@daily", None),
    ],
)
def test_parse_cron(cron: str, tz: str | None) -> None:
    assert parse_cron(cron) == tz
