"""The statements storage rules are written in: one SQL dialect for both databases.

A rule (`storage/rules/`) is a generator. It yields a statement, or a tuple of statements,
and receives the result (or a tuple of results); it returns the operation's value. The same
rule runs on SQLite, driven synchronously on the writer thread, and on PostgreSQL, driven
asynchronously, where statements whose result the rule does not read are sent together with
the next ones, so that an operation costs one round trip per read it depends on::

    def cancel(run_id: str, at: int) -> Rule[bool]:
        yield LockRows("runs", "id", (run_id,))
        row = yield fetch_one("SELECT status FROM runs WHERE id = ?", run_id)
        ...

The SQL is written once, with ``?`` placeholders and a few fragments in braces that each
dialect fills in (`FRAGMENTS`). A list given as a parameter is a list on both sides:
JSON text for SQLite's ``json_each``, an array for PostgreSQL. What the two databases do
differently beyond that — bulk inserts, look-ups by many keys, row locks, advisory locks, a
check that aborts the transaction — is a statement kind of its own, rendered by each connector.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from surge.core import codec

__all__ = [
    "FRAGMENTS",
    "WAKE",
    "Column",
    "Expect",
    "FetchEach",
    "InsertRows",
    "LockRows",
    "Note",
    "Query",
    "Rule",
    "Serialize",
    "Statement",
    "Step",
    "Table",
    "Want",
    "count",
    "execute",
    "fetch",
    "fetch_one",
    "fill_fragments",
    "newest_first",
]

T = TypeVar("T")

FRAGMENTS = (
    "in_texts",
    "not_in_texts",
    "in_ints",
    "skip_locked",
    "payload_app_id",
    "in_select",
    "end_in_select",
)
"""The fragments neutral SQL may use, each written ``{name}``:

* ``{in_texts}``, ``{not_in_texts}``, ``{in_ints}``: ``IN`` / ``NOT IN`` a list parameter
  (one ``?``) of strings or integers: ``WHERE id {in_texts}``.
* ``{skip_locked}``: ``FOR UPDATE SKIP LOCKED`` where rows can be locked; nothing on SQLite,
  whose single writer already excludes every other.
* ``{payload_app_id}``: the ``app_id`` key of a work item's JSON payload (cron items), as the
  index on it is written.
* ``{in_select}(SELECT ...){end_in_select}``: ``IN`` the rows of a subquery. PostgreSQL reads
  it as ``= ANY(ARRAY(SELECT ...))``: the subquery's rows, taken first, are then looked up one
  by one in the index, where a plain ``IN`` may become a join that scans the whole table
  (measured on the queue: a scan of every item for each lease).
"""
_FRAGMENT = re.compile(r"\{(" + "|".join(FRAGMENTS) + r")\}")


def fill_fragments(sql: str, dialect: Mapping[str, str]) -> str:
    """`sql` with each ``{fragment}`` replaced by the `dialect`'s text for it."""
    return _FRAGMENT.sub(lambda match: dialect[match.group(1)], sql)


class Want(enum.Enum):
    """What a `Query` returns to its rule."""

    NOTHING = "nothing"
    """`None`: the rule does not read the result, so PostgreSQL need not wait for it."""
    ROWS = "rows"
    """Every row, as a list of tuples."""
    ONE = "one"
    """The first row, or `None`."""
    COUNT = "count"
    """The number of rows the statement changed."""


# Statements are built on every operation's hot path: plain slotted dataclasses (several times
# cheaper to create than frozen ones), treated as values all the same.


@dataclass(slots=True)
class Query:
    """One statement of neutral SQL with its parameters."""

    sql: str
    params: tuple[Any, ...] = ()
    want: Want = Want.NOTHING


def execute(sql: str, *params: Any) -> Query:
    """A statement whose result is not read."""
    return Query(sql, params, Want.NOTHING)


def fetch(sql: str, *params: Any) -> Query:
    """A statement whose rows are read (a list of tuples)."""
    return Query(sql, params, Want.ROWS)


def fetch_one(sql: str, *params: Any) -> Query:
    """A statement whose first row is read (a tuple, or `None`)."""
    return Query(sql, params, Want.ONE)


def newest_first(before: str | None, limit: int) -> tuple[str, tuple[Any, ...]]:
    """The end of a listing by (time-ordered) id, newest first, and its parameters: the first
    `limit` rows whose id sorts before `before` (the last of the page before), or of all."""
    if before is None:
        return " ORDER BY id DESC LIMIT ?", (limit,)
    return " WHERE id < ? ORDER BY id DESC LIMIT ?", (before, limit)


def count(sql: str, *params: Any) -> Query:
    """A statement whose count of changed rows is read."""
    return Query(sql, params, Want.COUNT)


@dataclass(frozen=True, slots=True)
class Column:
    """A column and its type: ``TEXT``, ``BIGINT``, ``INTEGER``, ``BOOLEAN``, ``JSON`` (any
    JSON value, stored as text) or ``ENUM`` (an `enum.Enum`'s value, stored as text)."""

    name: str
    type: str


class Table:
    """A table's name and the columns the rules read and write, in that order.

    A record whose fields are named as the columns converts to a row with `row_of`.
    """

    __slots__ = ("_names", "columns", "name", "row_of")

    def __init__(self, name: str, columns: tuple[Column, ...]) -> None:
        self.name = name
        self.columns = columns
        self._names = ", ".join(column.name for column in columns)
        self.row_of: Callable[[object], tuple[Any, ...]] = _row_maker(columns)
        """`record`'s fields in column order, ready to store: JSON columns encoded as text,
        enum columns as their values."""

    def names(self, alias: str = "") -> str:
        """The column list for a ``SELECT`` or an ``INSERT``: ``a, b`` or ``r.a, r.b``."""
        if not alias:
            return self._names
        return ", ".join(f"{alias}.{column.name}" for column in self.columns)

    def __repr__(self) -> str:
        return f"Table({self.name!r})"


def _row_maker(columns: tuple[Column, ...]) -> Callable[[object], tuple[Any, ...]]:
    """A function from a record to its row, written out for these columns (rows are built for
    every statement of every operation: a generic loop over the columns costs twice as much)."""
    values = []
    for column in columns:
        if not column.name.isidentifier():
            raise ValueError(f"not a column name: {column.name!r}")
        value = f"record.{column.name}"
        if column.type == "JSON":
            value = f"dumps({value})"
        elif column.type == "ENUM":
            value = f"{value}.value"
        values.append(value)
    namespace: dict[str, Any] = {"dumps": codec.dumps_str}
    exec(f"def row_of(record):\n    return ({', '.join(values)},)", namespace)
    maker: Callable[[object], tuple[Any, ...]] = namespace["row_of"]
    return maker


@dataclass(slots=True)
class InsertRows:
    """Insert `rows` (tuples in `table`'s column order) in one statement.

    `conflict` is an ``ON CONFLICT ...`` clause, written the same on both databases. With
    `returning` — the column the conflict is on — the result is the list of that column's
    values for the rows actually inserted (those a conflict skipped are left out); otherwise
    the rule reads nothing.
    """

    table: Table
    rows: Sequence[tuple[Any, ...]]
    conflict: str = ""
    returning: str | None = None


@dataclass(slots=True)
class Expect:
    """Run `query`; unless it returns (a ``SELECT``) or changes (a write) exactly `rows` rows,
    the whole operation fails with the exception `error()` makes, and changes nothing.

    With `otherwise`, a write whose SQL ends in its ``WHERE`` clause (no top-level ``OR``),
    `query` is a write too, and `otherwise` runs only when `query` changed no row; the rows
    either changed are counted. On PostgreSQL the two are one statement.

    The rule reads nothing back, so on PostgreSQL the check is made by the database itself in
    the same round trip as the statements around it.
    """

    query: Query
    rows: int
    error: Callable[[], Exception]
    otherwise: Query | None = None


@dataclass(slots=True)
class FetchEach:
    """The rows `sql` (one ``?``: a key) finds for each of `keys`, each led by its key.

    On PostgreSQL one statement that looks each key up on its own — an index probe a key,
    whatever the planner makes of the table's size (an ``= ANY(...)`` over a table it
    believes small is a scan of all of it) — and on SQLite, in process, the query once a key.
    """

    sql: str
    keys: list[str]


@dataclass(slots=True)
class LockRows:
    """Lock the rows of `table` whose `key` column is in `values` until the transaction ends.

    Every writer that touches a run's rows takes the run's own row first, so writers of one
    run (on any node) apply one after the other. Nothing to do on SQLite: it has one writer.
    """

    table: str
    key: str
    values: tuple[str, ...]


@dataclass(slots=True)
class Serialize:
    """Run one at a time with every other transaction naming one of the same `keys`.

    An advisory lock on PostgreSQL (released when the transaction ends), for rules that must
    not interleave across nodes but have no row to lock; nothing on SQLite. The `shared` keys
    (a subset of `keys`) are taken shared: only transactions taking one exclusively wait.
    """

    keys: tuple[int, ...]
    shared: frozenset[int] = frozenset()


@dataclass(slots=True)
class WakeIf:
    """Wake every node's schedulers once the operation has committed if `query`, run in the
    transaction, finds a row (or, an INSERT ... RETURNING, inserts one): no result to read,
    so no round trip of its own."""

    query: Query


class _Wake:
    """Asks the connector to wake the schedulers once the operation has committed."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "WAKE"


WAKE = _Wake()
"""Yield this when an operation queues work: every node's scheduler looks for it after commit."""


@dataclass(frozen=True, slots=True)
class Note:
    """A fact about what the operation did, for the node's metrics and trace export: told to
    the connector's note listeners once the operation has committed, forgotten if it is
    rolled back. Sends nothing to the database."""

    what: str
    labels: tuple[str, ...] = ()
    count: int = 1
    subject: str | None = None
    """The one thing it is about, if one: the run a `RUN_ENDED` note ended."""


Statement = Query | InsertRows | Expect | FetchEach | LockRows | Serialize | WakeIf | _Wake | Note
Step = Statement | tuple[Statement, ...]
"""What a rule yields: one statement (result: one value) or several (result: a tuple)."""
Rule = Generator[Step, Any, T]
"""A storage rule: yields statements, receives their results, returns the operation's value."""
