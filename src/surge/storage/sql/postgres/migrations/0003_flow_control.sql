-- Flow control. A run's is fixed when it starts: JSON such as {"concurrency": [[key, limit]]},
-- NULL when its function uses none; each call of the run carries a copy (read when leased). A leased call of such a run holds a slot of each key
-- (slot1, slot2) while it runs; a call that finds a key full waits, parked on that key
-- (due_at far in the future, fell_due_at its run's start), until a slot of it frees.
ALTER TABLE runs ADD COLUMN flow TEXT;
ALTER TABLE work_items ADD COLUMN flow TEXT;
ALTER TABLE work_items ADD COLUMN slot1 TEXT;
ALTER TABLE work_items ADD COLUMN slot2 TEXT;
ALTER TABLE work_items ADD COLUMN parked_on TEXT;
CREATE INDEX work_items_slot1 ON work_items (slot1) WHERE slot1 IS NOT NULL;
CREATE INDEX work_items_slot2 ON work_items (slot2) WHERE slot2 IS NOT NULL;
CREATE INDEX work_items_parked ON work_items (parked_on, fell_due_at, id)
    WHERE parked_on IS NOT NULL;
