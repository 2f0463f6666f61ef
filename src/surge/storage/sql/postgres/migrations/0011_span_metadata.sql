-- Span metadata (core/span_metadata.py): what an SDK attaches to a run (step_id '') or to one
-- of its steps, one row per scope and kind; updates combine into `metadata_values` (a JSON
-- object) under the run's row lock.
CREATE TABLE span_metadata (
    run_id           TEXT NOT NULL,
    step_id          TEXT NOT NULL,
    scope            TEXT NOT NULL,
    kind             TEXT NOT NULL,
    metadata_values  TEXT NOT NULL,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (run_id, step_id, scope, kind)
);
