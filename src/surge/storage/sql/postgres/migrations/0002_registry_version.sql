-- The registry version: bumped by every app sync that changes the functions, and every
-- removal, in the same transaction; ingest compares it with the version its events were
-- matched against, so every node starts the functions synced before an event was accepted.
CREATE TABLE registry (
    id          INTEGER PRIMARY KEY,
    version     BIGINT NOT NULL
);
INSERT INTO registry (id, version) VALUES (1, 0);

-- The time a leased item fell due (its due_at is pushed to the lease expiry while leased).
ALTER TABLE work_items ADD COLUMN fell_due_at BIGINT;

-- A step's commit is written once, in Python, for both databases (storage/rules/commit.py):
-- the SQL function 0001 created for it is gone.
DROP FUNCTION surge_commit;
