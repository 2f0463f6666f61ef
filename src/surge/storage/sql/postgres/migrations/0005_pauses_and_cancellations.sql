-- Pauses (storage/rules/pauses.py): a run waiting for an event, for a step.waitForEvent, a
-- step.invoke or a cancelOn. match_key indexes an equality the candidate must meet
-- (core/matching.py; NULL: every event of the name is evaluated); pause_paths lists, per
-- event name, the paths match keys are made of ('' when some pause has none), so an event
-- computes only the keys pauses can have. A pause's timeout is a wake work item.
CREATE TABLE pauses (
    id          TEXT PRIMARY KEY,
    run_id      TEXT NOT NULL,
    step_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    event_name  TEXT NOT NULL,
    expression  TEXT,
    match_key   TEXT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT
);
CREATE INDEX pauses_name ON pauses (event_name, match_key);
CREATE INDEX pauses_key ON pauses (match_key) WHERE match_key IS NOT NULL;
CREATE INDEX pauses_run ON pauses (run_id);
CREATE TABLE pause_paths (
    event_name  TEXT NOT NULL,
    path        TEXT NOT NULL,
    PRIMARY KEY (event_name, path)
);
-- Bulk cancellations (POST /v1/cancellations): a job that cancels the running runs of one
-- function started in [started_after, started_before) whose trigger matches expression; a
-- work item of kind cancel_runs works through them in run id order, counting in cancelled.
CREATE TABLE cancellations (
    id              TEXT PRIMARY KEY,
    app_id          TEXT NOT NULL,
    function_id     TEXT NOT NULL,
    started_after   BIGINT NOT NULL,
    started_before  BIGINT NOT NULL,
    expression      TEXT,
    created_at      BIGINT NOT NULL,
    cancelled       BIGINT NOT NULL DEFAULT 0,
    done_at         BIGINT
);
-- Work other than calls (wake-ups, cron ticks, gather closes, matches, cancellations) and
-- urgent calls (priority > 0: a run resumed by an event) are leased before the other due
-- calls: a backlog of calls does not make a timer or a resumed wait late.
CREATE INDEX work_items_first ON work_items (due_at) WHERE kind <> 'call' OR priority > 0;
-- A singleton key is held by the running runs that have it (storage/rules/gates.py).
ALTER TABLE runs ADD COLUMN singleton_key TEXT;
CREATE INDEX runs_singleton ON runs (singleton_key) WHERE singleton_key IS NOT NULL;
-- 1 when the run has pauses or timeout checks, which its end drops (0: nothing to drop).
ALTER TABLE runs ADD COLUMN lingering INTEGER NOT NULL DEFAULT 0;
