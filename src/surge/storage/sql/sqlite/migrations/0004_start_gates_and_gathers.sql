-- Start gates (storage/rules/gates.py) and gathers (storage/rules/gathers.py). flow_state keeps one number per key: when its state
-- runs out, in microseconds since the epoch (a throttle's or rate limit's theoretical arrival
-- time, an idempotency key's expiry); a row past it means the same as no row.
CREATE TABLE flow_state (
    key       TEXT PRIMARY KEY,
    until_us  BIGINT NOT NULL
);
CREATE INDEX flow_state_until ON flow_state (until_us);
-- A run a gate kept from starting has status Skipped and says why (skip_reason); queued_at
-- orders a run's calls behind a full concurrency key: its start, moved by its priority and
-- throttle; delayed_by says which of those made its first call due later than its start.
ALTER TABLE runs ADD COLUMN skip_reason TEXT;
ALTER TABLE runs ADD COLUMN queued_at BIGINT;
ALTER TABLE runs ADD COLUMN delayed_by TEXT;
-- A debounce or event batch open on a key (storage/rules/gathers.py): no run exists while it
-- is open. event_ids: a batch's events in arrival order, a debounce's last; run: the run to
-- start when it closes (its limits, gates and priority, as JSON); a work item of kind flush
-- with the key as its unique_key wakes it at closes_at.
CREATE TABLE gathers (
    key          TEXT PRIMARY KEY,
    id           TEXT NOT NULL,
    function_id  TEXT NOT NULL,
    event_ids    TEXT NOT NULL,
    opened_at    BIGINT NOT NULL,
    closes_at    BIGINT NOT NULL,
    run          TEXT NOT NULL
);
ALTER TABLE runs ADD COLUMN batch_id TEXT;
