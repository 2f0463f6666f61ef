-- Runs of a function with a status, newest first (GraphQL runs, a replay's selection): an
-- ordered range of this index, whatever the share of the function's runs with the status.
CREATE INDEX runs_function_status ON runs (function_id, status, id);
