"""Every storage rule, written once for both databases (see `surge.storage.statements`).

* `apps`: app syncs and removals, cron items, and the registry version.
* `events`: ingest (dedupe, events, the runs they start) and event queries.
* `runs`: run queries, a run's state and history, and cancellation.
* `queue`: enqueueing, leasing, renewing and handing back work items.
* `slots`: concurrency limits: a call runs while it holds a slot of each of its run's keys.
* `commit`: a step's outcome, its run's next work, and the events it emits.
"""

from __future__ import annotations
