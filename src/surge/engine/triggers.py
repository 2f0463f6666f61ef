"""Which functions an event triggers: exact names, ``prefix/*`` wildcards and CEL conditions."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from surge.core.errors import InvalidInput
from surge.core.functions import CronTrigger, EventTrigger, FunctionConfig
from surge.engine.expressions import Expression, compile_expression

__all__ = ["TriggerIndex"]

logger = logging.getLogger(__name__)

_WILDCARD_SUFFIX = "/*"

# (position of the function in the index, the function, its compiled condition or None)
_Entry = tuple[int, FunctionConfig, Expression | None]


class TriggerIndex:
    """An immutable index of event and cron triggers over a set of functions.

    Exact event names are a dict lookup; only wildcard prefixes are scanned.
    """

    def __init__(self, functions: Iterable[FunctionConfig]) -> None:
        """Build the index.

        Args:
            functions: Every function that may be triggered, in a stable order; `match`
                returns functions in this order.
        """
        self._functions: dict[str, FunctionConfig] = {}
        self._exact: dict[str, list[_Entry]] = {}
        self._prefixes: dict[str, list[_Entry]] = {}
        self._crons: list[tuple[FunctionConfig, CronTrigger]] = []
        for position, fn in enumerate(functions):
            self._functions[fn.id] = fn
            for trigger in fn.triggers:
                if isinstance(trigger, CronTrigger):
                    self._crons.append((fn, trigger))
                else:
                    self._add_event_trigger(position, fn, trigger)

    def _add_event_trigger(self, position: int, fn: FunctionConfig, trigger: EventTrigger) -> None:
        condition: Expression | None = None
        if trigger.expression is not None and trigger.expression.strip():
            try:
                condition = compile_expression(trigger.expression)
            except InvalidInput as exc:
                logger.warning(
                    "trigger expression does not compile; the trigger never matches",
                    extra={"function_id": fn.id, "error": exc.message},
                )
                return
        entry: _Entry = (position, fn, condition)
        if trigger.event.endswith(_WILDCARD_SUFFIX):
            prefix = trigger.event[: -len("*")]
            self._prefixes.setdefault(prefix, []).append(entry)
        else:
            self._exact.setdefault(trigger.event, []).append(entry)

    def match(self, event: dict[str, Any]) -> list[FunctionConfig]:
        """Return the functions `event` triggers, each once, in index order.

        Args:
            event: A normalized event (``name``, ``data``...); conditions see it as ``event``.
        """
        return self.decide(event, lambda condition: condition.matches({"event": event}))

    def decide(
        self, event: dict[str, Any], holds: Callable[[Expression], bool]
    ) -> list[FunctionConfig]:
        """As `match`, with `holds` deciding whether a trigger's condition holds for `event`."""
        name = event.get("name")
        if not isinstance(name, str):
            return []
        matched: dict[int, FunctionConfig] = {}
        for position, fn, condition in self.candidates(name):
            if position in matched:
                continue
            if condition is not None and not holds(condition):
                continue
            matched[position] = fn
        return [matched[p] for p in sorted(matched)]

    def candidates(self, name: str) -> list[_Entry]:
        """The triggers an event named `name` may match: (function's position, function,
        condition), before conditions are checked."""
        candidates: list[_Entry] = list(self._exact.get(name, ()))
        for prefix, entries in self._prefixes.items():
            if name.startswith(prefix):
                candidates.extend(entries)
        return candidates

    def cron_functions(self) -> list[tuple[FunctionConfig, CronTrigger]]:
        """Every (function, cron trigger) pair, in index order."""
        return list(self._crons)

    def by_id(self, slug: str) -> FunctionConfig | None:
        """The function with composite id `slug`, or None."""
        return self._functions.get(slug)

    def __len__(self) -> int:
        return len(self._functions)
