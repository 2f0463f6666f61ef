-- Surge schema, SQLite dialect. Timestamps are integer milliseconds since the epoch (UTC);
-- JSON values are stored as text.

CREATE TABLE apps (
    id          TEXT PRIMARY KEY,
    url         TEXT NOT NULL UNIQUE,
    sdk         TEXT NOT NULL DEFAULT '',
    framework   TEXT NOT NULL DEFAULT '',
    checksum    TEXT NOT NULL DEFAULT '',
    synced_at   INTEGER NOT NULL,
    config      TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE functions (
    id          TEXT PRIMARY KEY,
    app_id      TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    url         TEXT NOT NULL,
    config      TEXT NOT NULL
);
CREATE INDEX functions_app ON functions (app_id);

CREATE TABLE events (
    internal_id   TEXT PRIMARY KEY,
    id            TEXT NOT NULL,
    name          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    ts            INTEGER NOT NULL,
    received_at   INTEGER NOT NULL,
    source_run_id TEXT
);
CREATE INDEX events_user_id ON events (id, received_at);
CREATE INDEX events_name ON events (name, internal_id);
CREATE INDEX events_source_run ON events (source_run_id) WHERE source_run_id IS NOT NULL;

CREATE TABLE runs (
    id               TEXT PRIMARY KEY,
    function_id      TEXT NOT NULL,
    status           TEXT NOT NULL,
    event_ids        TEXT NOT NULL,
    first_event_id   TEXT,
    started_at       INTEGER NOT NULL,
    ended_at         INTEGER,
    output           TEXT,
    error            TEXT,
    cron             TEXT,
    request_version  INTEGER NOT NULL DEFAULT -1,
    force_step_plan  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_first_event ON runs (first_event_id);
CREATE INDEX runs_function ON runs (function_id, id);

-- A run may be started by several events (batches); this maps each event to its runs.
CREATE TABLE run_events (
    event_id    TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    PRIMARY KEY (event_id, run_id)
) WITHOUT ROWID;

CREATE TABLE memos (
    run_id      TEXT NOT NULL,
    step_id     TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    name        TEXT NOT NULL DEFAULT '',
    op          TEXT NOT NULL DEFAULT '',
    outcome     TEXT NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (run_id, step_id)
) WITHOUT ROWID;

CREATE TABLE history (
    id          INTEGER PRIMARY KEY,
    run_id      TEXT NOT NULL,
    at          INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    step_id     TEXT,
    attempt     INTEGER NOT NULL DEFAULT 0,
    detail      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX history_run ON history (run_id, id);

-- The queue. A leased item's due_at is pushed to its lease expiry, so one index serves both
-- "what is due" and "whose lease lapsed".
CREATE TABLE work_items (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    run_id      TEXT,
    step_id     TEXT NOT NULL DEFAULT 'step',
    attempt     INTEGER NOT NULL DEFAULT 0,
    priority    INTEGER NOT NULL DEFAULT 0,
    due_at      INTEGER NOT NULL,
    payload     TEXT NOT NULL DEFAULT '{}',
    unique_key  TEXT UNIQUE,
    lease_token TEXT
);
CREATE INDEX work_items_due ON work_items (due_at, priority DESC);
CREATE INDEX work_items_run ON work_items (run_id) WHERE run_id IS NOT NULL;
-- An app sync finds the app's cron items by the app id in their payload.
CREATE INDEX work_items_cron_app ON work_items (json_extract(payload, '$.app_id'))
    WHERE kind = 'cron';
