"""Group commit: the rules queued on one node, run in one transaction and one commit.

PostgreSQL makes each commit durable with a flush of its write-ahead log, and a busy node's
commits queue behind those flushes (`docs/scaling.md`). So, as the SQLite writer does, a
node runs the rules that asked for a transaction and are waiting at the same moment as one
*group*: one transaction, each rule inside its own savepoint, one commit. A rule that fails
rolls back to its savepoint alone and gets its error; the others commit. The rules of a group
run one after the other, each seeing what the ones before it wrote (as if each had committed),
and the statements of consecutive rules that read nothing go out together: a group of rules
that read nothing until they end is one message and one round trip.

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
    """Whether its savepoint was sent (so undoing it needs a rollback to the savepoint)."""

    def restart(self) -> st.Rule[Any]:
        self.value = self.error = None
        self.woke, self.notes, self.began = False, [], False
        return self.factory()


_Entry = tuple[Member | None, "st.Statement | str"]


async def drive_group(session: Session, members: list[Member]) -> None:
    """Run `members` in one transaction on `session`, each in a savepoint, and commit; set
    each one's `value` or `error`.

    Raises:
        psycopg.Error: The group failed as a whole (see the module docstring); the
            transaction may be left open or aborted, for the caller to roll back.
    """
    outbox: list[_Entry] = [(None, "BEGIN")]
    at = 0
    while True:
        if at == len(members):
            outbox.append((None, "COMMIT"))
            try:
                await _send(session, outbox)
                return
            except ExpectFailed as failed:
                at = await _undo(session, members, failed)
                outbox = []
                continue
        member = members[at]
        rule = member.restart()
        outbox.append((member, _SAVEPOINT))
        result: Any = None
        while True:
            try:
                step = rule.send(result)
            except StopIteration as done:
                member.value = done.value
                outbox.append((member, _RELEASE))
                at += 1
                break
            except Exception as exc:  # the rule's own error, raised after reading
                member.error = exc
                outbox = [entry for entry in outbox if entry[0] is not member]
                if member.began:
                    outbox += [(member, part) for part in _UNDO]
                member.woke, member.notes = False, []
                at += 1
                break
            statements = step if isinstance(step, tuple) else (step,)
            outbox += [(member, statement) for statement in statements]
            if not any(wants(s) for s in statements):
                result = (None,) * len(statements) if isinstance(step, tuple) else None
                continue
            try:
                results = await _send(session, outbox)
            except ExpectFailed as failed:
                at = await _undo(session, members, failed)
                outbox = []
                break
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


async def _undo(session: Session, members: list[Member], failed: ExpectFailed) -> int:
    """Roll back the rule whose `Expect` failed to its savepoint, give it its error, and
    return where the group goes on: the rule after it (those after it in the same message
    never ran, and run again from their start)."""
    owner: Member = failed.owner
    await session.conn.execute(";".join(_UNDO).encode())
    owner.error = failed.expect.error()
    owner.woke, owner.notes = False, []
    return members.index(owner) + 1
