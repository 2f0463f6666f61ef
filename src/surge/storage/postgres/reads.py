"""Shared round trips for reads: the small reads a busy node makes at the same moment (every
call's run state, before the call) sent to PostgreSQL as one message.

`Database.read` queues a rule that only reads; while one batch of them is out, the next ones
wait, and go out together. The rules of a batch are driven in lockstep: each one's statements
up to its next read, of every rule, make one simple query, and each rule gets its own results
back. Nothing needs a transaction (a simple query of several statements runs as one, which
only reads), and a batch that fails for any reason is run again one rule at a time, which
reads cannot mind.
"""

from __future__ import annotations

from typing import Any

from .. import statements as st
from .batch import Message, Session, wants
from .group import Member

__all__ = ["drive_reads"]


async def drive_reads(session: Session, members: list[Member]) -> None:
    """Run the read-only rules of `members` in lockstep on `session`; set each one's `value`
    or `error`.

    Raises:
        psycopg.Error | ExpectFailed: A message failed; no member's outcome is to be used.
    """
    rules = {member: member.restart() for member in members}
    results: dict[Member, Any] = dict.fromkeys(members)
    active = list(members)
    while active:
        message = Message(parts=[])
        statements: list[st.Statement] = []
        reading: list[tuple[Member, int, int, bool]] = []
        going_on: list[Member] = []
        for member in active:
            result = results[member]
            while True:
                try:
                    step = rules[member].send(result)
                except StopIteration as done:
                    member.value = done.value
                    break
                except Exception as exc:  # the rule's own error, raised after reading
                    member.error = exc
                    break
                batch = step if isinstance(step, tuple) else (step,)
                start = len(statements)
                for statement in batch:
                    session.add(message, statement, len(statements), effects=member)
                    statements.append(statement)
                if any(wants(s) for s in batch):
                    reading.append((member, start, len(batch), isinstance(step, tuple)))
                    going_on.append(member)
                    break
                result = (None,) * len(batch) if isinstance(step, tuple) else None
        if message.parts or message.to_prepare:
            out = await session.execute(message, statements)
            for member, start, n, several in reading:
                results[member] = tuple(out[start : start + n]) if several else out[start]
        active = going_on
