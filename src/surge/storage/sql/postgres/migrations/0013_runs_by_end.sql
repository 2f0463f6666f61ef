-- Runs by when they ended, for lists filtered by end time (the dashboard's Runs page, the
-- GraphQL runs query's timeField ENDED_AT). Only ended runs are in it.
CREATE INDEX runs_ended ON runs (ended_at) WHERE ended_at IS NOT NULL;
