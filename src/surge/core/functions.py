"""The ``POST /fn/register`` payload: apps, functions and triggers (`docs/protocol.md`, "Sync").

`parse_register` validates an app sync and returns an `AppSync`. Keys are matched
case-insensitively, as Go's ``encoding/json`` does (TS sends ``appName``, Python ``appname``),
and unknown keys are ignored. Every function problem raises `InvalidFunction` naming the
function id and the field path (``triggers[0].cron``).

CEL expressions are checked through the ``check_expression`` callable, because compiling CEL
belongs to the engine: the server passes ``surge.engine.expressions.check_expression``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from surge.core import codec
from surge.core.errors import InvalidFunction, InvalidInput
from surge.core.function_options import OptionProblem, check_options, duration_problem
from surge.core.limits import MAX_NAME_LENGTH, text_problem
from surge.core.urls import app_identity_url, normalize_url, url_problem

__all__ = [
    "DEFAULT_RETRIES",
    "MAX_RETRIES",
    "AppSync",
    "CronTrigger",
    "EventTrigger",
    "FunctionConfig",
    "Trigger",
    "app_identity_url",
    "normalize_url",
    "parse_cron",
    "parse_register",
]

DEFAULT_RETRIES = 4
MAX_RETRIES = 20

ExpressionCheck = Callable[[str], object]

_TZ_PREFIX_RE = re.compile(r"^(?:CRON_TZ|TZ)=(\S+)\s+(.*)$", re.DOTALL)
_CRON_FIELDS = 5


@dataclass(frozen=True, kw_only=True, slots=True)
class EventTrigger:
    """Run the function when an event named `event` arrives and `expression` holds.

    Attributes:
        event: Exact event name, or ``"prefix/*"`` for every name under ``prefix/``.
        expression: Optional CEL condition over ``event``.
    """

    event: str
    expression: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class CronTrigger:
    """Run the function on a schedule.

    Attributes:
        cron: The cron string as sent, possibly with a ``TZ=Area/City `` prefix.
        timezone: The IANA zone from the prefix, or ``None`` for UTC.
        jitter: Optional duration string of random delay.
    """

    cron: str
    timezone: str | None = None
    jitter: str | None = None

    @property
    def schedule(self) -> str:
        """The cron expression without its ``TZ=`` prefix."""
        match = _TZ_PREFIX_RE.match(self.cron.strip())
        return match.group(2).strip() if match else self.cron.strip()


Trigger = EventTrigger | CronTrigger


@dataclass(frozen=True, kw_only=True, slots=True)
class FunctionConfig:
    """One function of a synced app.

    Attributes:
        id: The composite function id (slug) ``"<appId>-<fnId>"``.
        name: Display name; the id when none was given.
        triggers: Event and cron triggers; empty for invoke-only functions.
        url: The URL to call (the first step's runtime URL, ``deployId``/``probe`` removed).
        retries: Number of retries after the first attempt (0..20, default 4).
        raw: The function object as sent, with step URLs normalized: read flow-control
            options (``concurrency``, ``throttle``, ``cancel``...) from here.
    """

    id: str
    name: str
    triggers: tuple[Trigger, ...]
    url: str
    retries: int
    raw: dict[str, Any] = field(hash=False, compare=False)

    @property
    def max_attempts(self) -> int:
        """Total attempts: the first plus `retries`."""
        return self.retries + 1


@dataclass(frozen=True, kw_only=True, slots=True)
class AppSync:
    """A validated app sync.

    Attributes:
        app_id: The app id (``appName``/``appname``).
        url: The serve URL with ``deployId``/``probe`` removed.
        sdk: The SDK identifier from the body, e.g. ``"py:v0.5.19"``.
        framework: The framework name, or ``""``.
        functions: The app's functions, in the order sent.
        checksum: SHA-256 hex of the canonical JSON of the normalized functions.
        raw: The request body as decoded.
    """

    app_id: str
    url: str
    sdk: str
    framework: str
    functions: tuple[FunctionConfig, ...]
    checksum: str
    raw: dict[str, Any] = field(hash=False, compare=False)

    @property
    def identity_url(self) -> str:
        """The URL normalized for comparing apps (see `app_identity_url`)."""
        return app_identity_url(self.url)


def _get(obj: dict[str, Any], key: str) -> Any:
    """Look up `key` as Go's encoding/json does: exact match first, then case-insensitive."""
    if key in obj:
        return obj[key]
    lowered = key.lower()
    for k, v in obj.items():
        if k.lower() == lowered:
            return v
    return None


def _optional_str(value: Any, field_name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{field_name} must be a string", field=field_name)
    return _app_text(value, field_name, field_name)


def _app_text(value: str, field_name: str, what: str) -> str:
    problem = text_problem(value, what=what, max_length=MAX_NAME_LENGTH)
    if problem is not None:
        raise InvalidInput(f"{field_name}: {problem}", field=field_name)
    return value


def _function_text(fn_id: str, value: str, field_name: str, what: str) -> str:
    problem = text_problem(value, what=what, max_length=MAX_NAME_LENGTH)
    if problem is not None:
        raise InvalidFunction(fn_id, field_name, problem)
    return value


def parse_register(body: bytes, *, check_expression: ExpressionCheck | None = None) -> AppSync:
    """Validate a ``POST /fn/register`` body.

    Args:
        body: The raw JSON body.
        check_expression: Compiles a CEL expression and raises `InvalidInput` if it is
            invalid or too costly (pass ``surge.engine.expressions.check_expression``).
            ``None`` skips CEL checks.

    Returns:
        The validated `AppSync`.

    Raises:
        InvalidInput: The body is malformed, or the app id or URL is missing.
        InvalidFunction: A function's config is unusable.
    """
    try:
        decoded = codec.loads(body)
    except codec.JSONDecodeError as exc:
        raise InvalidInput(f"malformed JSON: {exc}") from None
    if not isinstance(decoded, dict):
        raise InvalidInput("register body must be a JSON object")
    app_id = _get(decoded, "appName")
    if not isinstance(app_id, str) or not app_id.strip():
        raise InvalidInput("App ID required", field="appName")
    _app_text(app_id, "appName", "app id")
    url = _get(decoded, "url")
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput("url required", field="url")
    problem = url_problem(url.strip())
    if problem is not None:
        raise InvalidInput(f"url: {problem}", field="url")
    raw_functions = _get(decoded, "functions")
    if raw_functions is None:
        raw_functions = []
    if not isinstance(raw_functions, list):
        raise InvalidInput("functions must be an array", field="functions")
    functions = _parse_functions(raw_functions, check_expression)
    checksum = hashlib.sha256(codec.dumps_sorted([f.raw for f in functions])).hexdigest()
    return AppSync(
        app_id=app_id,
        url=normalize_url(url.strip()),
        sdk=_optional_str(_get(decoded, "sdk"), "sdk"),
        framework=_optional_str(_get(decoded, "framework"), "framework"),
        functions=functions,
        checksum=checksum,
        raw=decoded,
    )


def _parse_functions(
    raw_functions: list[Any], check: ExpressionCheck | None
) -> tuple[FunctionConfig, ...]:
    seen: set[str] = set()
    out: list[FunctionConfig] = []
    for i, item in enumerate(raw_functions):
        fn = _parse_function(item, i, check)
        if fn.id in seen:
            raise InvalidFunction(fn.id, "id", "duplicate function id in this app")
        seen.add(fn.id)
        out.append(fn)
    return tuple(out)


def _parse_function(item: Any, index: int, check: ExpressionCheck | None) -> FunctionConfig:
    if not isinstance(item, dict):
        raise InvalidFunction(f"functions[{index}]", "function", "must be a JSON object")
    fn_id = _get(item, "id")
    if not isinstance(fn_id, str) or not fn_id.strip():
        raise InvalidFunction(f"functions[{index}]", "id", "a non-empty string id is required")
    problem = text_problem(fn_id, what="function id", max_length=MAX_NAME_LENGTH)
    if problem is not None:
        raise InvalidFunction(f"functions[{index}]", "id", problem)
    name = _get(item, "name")
    if name is None or name == "":
        name = fn_id
    if not isinstance(name, str):
        raise InvalidFunction(fn_id, "name", "must be a string")
    _function_text(fn_id, name, "name", "function name")
    triggers = _parse_triggers(fn_id, _get(item, "triggers"), check)
    steps, url, retries = _parse_steps(fn_id, _get(item, "steps"))
    try:
        check_options(item, check)
    except OptionProblem as exc:
        raise InvalidFunction(fn_id, exc.field, exc.problem) from None
    raw = {k: v for k, v in item.items() if k.lower() != "steps"}
    raw["steps"] = steps
    return FunctionConfig(id=fn_id, name=name, triggers=triggers, url=url, retries=retries, raw=raw)


def _parse_triggers(fn_id: str, value: Any, check: ExpressionCheck | None) -> tuple[Trigger, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidFunction(fn_id, "triggers", "must be an array")
    return tuple(_parse_trigger(fn_id, t, f"triggers[{i}]", check) for i, t in enumerate(value))


def _parse_trigger(fn_id: str, value: Any, path: str, check: ExpressionCheck | None) -> Trigger:
    if not isinstance(value, dict):
        raise InvalidFunction(fn_id, path, "must be a JSON object")
    event, cron = _get(value, "event"), _get(value, "cron")
    if (event is None or event == "") == (cron is None or cron == ""):
        raise InvalidFunction(fn_id, path, "a trigger needs exactly one of event or cron")
    if event is not None and event != "":
        return _parse_event_trigger(fn_id, event, _get(value, "expression"), path, check)
    if not isinstance(cron, str):
        raise InvalidFunction(fn_id, f"{path}.cron", "must be a string")
    try:
        timezone = parse_cron(cron)
    except ValueError as exc:
        raise InvalidFunction(fn_id, f"{path}.cron", str(exc)) from None
    jitter = _get(value, "jitter")
    if jitter is not None:
        problem = duration_problem(jitter)
        if problem is not None:
            raise InvalidFunction(fn_id, f"{path}.jitter", problem)
    return CronTrigger(cron=cron, timezone=timezone, jitter=jitter)


def _parse_event_trigger(
    fn_id: str, event: Any, expression: Any, path: str, check: ExpressionCheck | None
) -> EventTrigger:
    if not isinstance(event, str):
        raise InvalidFunction(fn_id, f"{path}.event", "must be a string")
    _function_text(fn_id, event, f"{path}.event", "event name")
    if expression == "":
        expression = None
    if expression is not None:
        if not isinstance(expression, str):
            raise InvalidFunction(fn_id, f"{path}.expression", "must be a string")
        if check is not None:
            try:
                check(expression)
            except InvalidInput as exc:
                raise InvalidFunction(fn_id, f"{path}.expression", exc.message) from None
    return EventTrigger(event=event, expression=expression)


def parse_cron(cron: str) -> str | None:
    """Validate a cron string and return its timezone.

    Accepts a 5-field expression or an ``@daily``-style descriptor, optionally prefixed with
    ``TZ=Area/City `` or ``CRON_TZ=Area/City ``.

    Args:
        cron: The cron string as sent in a trigger.

    Returns:
        The IANA timezone from the prefix, or ``None`` (UTC).

    Raises:
        ValueError: The expression or timezone is invalid; the message says which.
    """
    text = cron.strip()
    timezone: str | None = None
    match = _TZ_PREFIX_RE.match(text)
    if match:
        timezone, text = match.group(1), match.group(2).strip()
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {timezone!r} in cron {cron!r}") from None
    # croniter ships with the server extra only; the SDK imports this module without it.
    from croniter import croniter

    is_descriptor = text.startswith("@")
    if (not is_descriptor and len(text.split()) != _CRON_FIELDS) or not croniter.is_valid(text):
        raise ValueError(f'invalid cron expression "{cron}"')
    try:
        croniter(text, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except Exception:  # croniter raises its own CroniterBadDateError when nothing matches
        raise ValueError(f"cron expression {cron!r} never fires") from None
    return timezone


def _parse_steps(fn_id: str, value: Any) -> tuple[dict[str, Any], str, int]:
    if not isinstance(value, dict) or not value:
        raise InvalidFunction(fn_id, "steps", "at least one step with a runtime url is required")
    steps: dict[str, Any] = {}
    url = ""
    retries: int | None = None
    for step_id, step in value.items():
        path = f"steps.{step_id}"
        if not isinstance(step, dict):
            raise InvalidFunction(fn_id, path, "must be a JSON object")
        runtime = _get(step, "runtime")
        step_url = _get(runtime, "url") if isinstance(runtime, dict) else None
        if not isinstance(step_url, str) or not step_url.strip():
            raise InvalidFunction(fn_id, f"{path}.runtime.url", "a step url is required")
        problem = url_problem(step_url.strip())
        if problem is not None:
            raise InvalidFunction(fn_id, f"{path}.runtime.url", problem)
        step_url = normalize_url(step_url.strip())
        url = url or step_url
        step_retries = _parse_retries(fn_id, _get(step, "retries"), f"{path}.retries")
        if retries is None:
            retries = step_retries
        steps[step_id] = {**step, "runtime": {**runtime, "url": step_url}}
    return steps, url, DEFAULT_RETRIES if retries is None else retries


def _parse_retries(fn_id: str, value: Any, path: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidFunction(fn_id, path, 'must be an object like {"attempts": 3}')
    attempts = _get(value, "attempts")
    if attempts is None:
        return None
    if isinstance(attempts, float) and attempts.is_integer():
        attempts = int(attempts)
    if not isinstance(attempts, int) or isinstance(attempts, bool):
        raise InvalidFunction(fn_id, f"{path}.attempts", "must be an integer")
    if not 0 <= attempts <= MAX_RETRIES:
        raise InvalidFunction(
            fn_id, f"{path}.attempts", f"must be between 0 and {MAX_RETRIES}, got {attempts}"
        )
    return attempts
