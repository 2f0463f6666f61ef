"""Group commit: the rules queued on one node, run in one transaction and one commit.

PostgreSQL makes each commit durable with a flush of its write-ahead log, and a busy node's
commits queue behind those flushes (`docs/scaling.md`). So, as the SQLite writer does, a
node runs the rules that asked for a transaction and are waiting at the same moment as one
*group*: one transaction, one commit. A rule that fails rolls back alone and gets its error;
the others commit. For that each rule needs a savepoint, but a savepoint is a subtransaction,
which PostgreSQL pays for in every rule, and rules rarely fail (an `Expect` finds a lease
lapsed or a run ended meanwhile). So a group first runs without them; if a rule then fails
after it sent a statement, the transaction is rolled back and the group runs again from the
start, each rule in its own savepoint.

The rules of a group run one after the other, each seeing what the ones before it wrote (as if
each had committed), and the statements of consecutive rules that read nothing go out
together: a group of rules that read nothing until they end is one message and one round trip.

Nothing waits for a group to fill: the first rule starts one at once, and the rules that arrive
while it runs make up the next, so groups grow only as the load does. A group that fails as a
whole (a lost connection, a deadlock, any error that is not one rule's `Expect`) is rolled
back, and each of its rules is run again alone, with the retries of `pool`. Callers hear of
their rule's outcome only after the group's commit.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from .. import statements as st
from ..connector import RuleFactory
from .batch import ExpectFailed, Message, Session, wants

__all__ = ["Member", "drive_group"]

_SAVEPOINT = "SAVEPOINT surge_rule"
_RELEASE = "RELEASE SAVEPOINT surge_rule"
_UNDO = ("ROLLBACK TO SAVEPOINT surge_rule", _RELEASE)


@dataclass(eq=False, slots=True)
class Member:
    """A rule waiting in a group, and, once the group has run, its outcome."""

    factory: RuleFactory[Any]
    future: asyncio.Future[Any]
    value: Any = None
    error: BaseException | None = None
    woke: bool = False
    notes: list[st.Note] = field(default_factory=list)
    began: bool = False
    """Whether a statement of its own, or its savepoint, was sent (so undoing it needs a
    rollback)."""

    def restart(self) -> st.Rule[Any]:
        self.value = self.error = None
        self.woke, self.notes, self.began = False, [], False
        return self.factory()


_Entry = tuple[Member | None, "st.Statement | str"]


class _NeedsSavepoints(Exception):
    """A rule of a group run without savepoints failed after it sent a statement: undoing it
    alone takes them."""


async def drive_group(session: Session, members: list[Member]) -> None:
    """Run `members` in one transaction on `session` and commit; set each one's `value` or
    `error`. Without savepoints first; with them if a rule must be undone alone.

    Raises:
        psycopg.Error: The group failed as a whole (see the module docstring); the
            transaction may be left open or aborted, for the caller to roll back.
    """
    try:
        await _attempt(session, members, savepoints=False)
    except _NeedsSavepoints:
        await session.conn.execute(b"ROLLBACK")
        await _attempt(session, members, savepoints=True)


async def _attempt(session: Session, members: list[Member], *, savepoints: bool) -> None:
    outbox: list[_Entry] = [(None, "BEGIN")]
    at = 0
    while True:
        while at < len(members):
            at, outbox = await _run_rule(session, members, at, outbox, savepoints=savepoints)
        try:
            await _send(session, [*outbox, (None, "COMMIT")])
            return
        except ExpectFailed as failed:
            at, outbox = await _undo(session, members, failed, savepoints=savepoints), []


async def _run_rule(
    session: Session, members: list[Member], at: int, outbox: list[_Entry], *, savepoints: bool
) -> tuple[int, list[_Entry]]:
    """Drive the rule of `members[at]`, adding its statements to `outbox` and sending them
    when it reads; return the member the group goes on with, and the outbox."""
    member = members[at]
    rule = member.restart()
    if savepoints:
        outbox.append((member, _SAVEPOINT))
    result: Any = None
    while True:
        try:
            step = rule.send(result)
        except StopIteration as done:
            member.value = done.value
            if savepoints:
                outbox.append((member, _RELEASE))
            return at + 1, outbox
        except Exception as exc:  # the rule's own error, raised after reading
            if member.began and not savepoints:
                raise _NeedsSavepoints from exc
            member.error = exc
            outbox = [entry for entry in outbox if entry[0] is not member]
            if member.began:
                outbox += [(member, part) for part in _UNDO]
            member.woke, member.notes = False, []
            return at + 1, outbox
        statements = step if isinstance(step, tuple) else (step,)
        outbox += [(member, statement) for statement in statements]
        if not any(wants(s) for s in statements):
            result = (None,) * len(statements) if isinstance(step, tuple) else None
            continue
        try:
            results = await _send(session, outbox)
        except ExpectFailed as failed:
            return await _undo(session, members, failed, savepoints=savepoints), []
        outbox = []
        tail = results[len(results) - len(statements) :]
        result = tuple(tail) if isinstance(step, tuple) else tail[0]


async def _send(session: Session, outbox: list[_Entry]) -> list[Any]:
    """Send the outbox as one message; return the results of its statements (raw parts
    left out)."""
    message = Message(parts=[])
    statements: list[st.Statement] = []
    for owner, entry in outbox:
        if isinstance(entry, str):
            message.parts.append(entry)
        else:
            assert owner is not None
            session.add(message, entry, len(statements), effects=owner, owner=owner)
            statements.append(entry)
        if owner is not None:
            owner.began = True
    return await session.execute(message, statements)


async def _undo(
    session: Session, members: list[Member], failed: ExpectFailed, *, savepoints: bool
) -> int:
    """Roll back the rule whose `Expect` failed to its savepoint, give it its error, and
    return where the group goes on: the rule after it (those after it in the same message
    never ran, and run again from their start)."""
    if not savepoints:
        raise _NeedsSavepoints from failed
    owner: Member = failed.owner
    await session.conn.execute(";".join(_UNDO).encode())
    owner.error = failed.expect.error()
    owner.woke, owner.notes = False, []
    return members.index(owner) + 1
