-- A suspended function (paused by an operator, engine `suspend_function`): while it is
-- suspended, an event it matches records a Skipped run (skip_reason 'paused') and its cron
-- does not fire. Kept apart from functions, which every app sync rewrites; a suspension
-- bumps the registry version, so every node matches events against it.
CREATE TABLE suspensions (
    function_id   TEXT PRIMARY KEY,
    suspended_at  BIGINT NOT NULL,
    suspended_by  TEXT NOT NULL
);
-- Who or what asked for a bulk cancellation ('pause' when pausing a function cancelled its
-- running runs); NULL: the cancellations API.
ALTER TABLE cancellations ADD COLUMN requested_by TEXT;
-- Bulk replays (POST /v1/replays): a job that reruns the runs of one function started in
-- [started_after, started_before) with one of statuses (a JSON list), in run id order; each
-- batch of reruns and the job's new position are committed together under its lease.
CREATE TABLE replays (
    id              TEXT PRIMARY KEY,
    app_id          TEXT NOT NULL,
    function_id     TEXT NOT NULL,
    started_after   BIGINT NOT NULL,
    started_before  BIGINT NOT NULL,
    statuses        TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    requested_by    TEXT NOT NULL,
    total           BIGINT NOT NULL,
    started         BIGINT NOT NULL DEFAULT 0,
    done_at         BIGINT
);
-- The replay a rerun belongs to: a replay's progress counts its runs by status.
ALTER TABLE runs ADD COLUMN replay_id TEXT;
CREATE INDEX runs_replay ON runs (replay_id, status) WHERE replay_id IS NOT NULL;
