-- A run's memos in stack order. A step's commit takes its memo's place in the stack as the
-- run's highest `seq` plus one: with this index that is one index entry read, where before
-- it read every memo of the run (a run of a thousand steps read a thousand entries for each
-- step's commit), and PostgreSQL no longer plans that read anew on every commit when its
-- statistics were sampled while one run held most memos. A run's state reads its memos
-- through it in order, with no sort.
CREATE INDEX memos_stack ON memos (run_id, seq);
