-- Events by name and arrival: a pause, once stored, looks for the events of its name that
-- arrived since it began and did not see it (storage/rules/pauses.py, `store`); listings go
-- newest first by arrival, with or without a name. This replaces the index by name and id:
-- every index that leads with the name costs ingest a page per name a batch touches.
DROP INDEX events_name;
CREATE INDEX events_name_received ON events (name, received_at, internal_id);
CREATE INDEX events_received ON events (received_at, internal_id);
