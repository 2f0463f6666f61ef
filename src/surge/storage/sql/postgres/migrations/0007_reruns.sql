-- A rerun is a new run of the same function with the same event(s); it names the run it
-- reruns (engine `rerun`), and the original lists its reruns through this index.
ALTER TABLE runs ADD COLUMN original_run_id TEXT;
CREATE INDEX runs_original ON runs (original_run_id) WHERE original_run_id IS NOT NULL;
