-- Start gates (storage/rules/gates.py). flow_state keeps one number per key: when its state
-- runs out, in microseconds since the epoch (a throttle's or rate limit's theoretical arrival
-- time, an idempotency key's expiry); a row past it means the same as no row.
CREATE TABLE flow_state (
    key       TEXT PRIMARY KEY,
    until_us  BIGINT NOT NULL
);
CREATE INDEX flow_state_until ON flow_state (until_us);
-- A run a gate kept from starting has status Skipped and says why; queued_at orders a run's
-- calls behind a full concurrency key: its start, moved by its priority.
ALTER TABLE runs ADD COLUMN skip_reason TEXT;
ALTER TABLE runs ADD COLUMN queued_at BIGINT;
