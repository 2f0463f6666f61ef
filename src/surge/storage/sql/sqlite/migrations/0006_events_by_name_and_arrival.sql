-- A pause, once stored, looks for the events of its name that arrived since it began and
-- found it not yet stored (storage/rules/pauses.py, `store`): by name and arrival time.
CREATE INDEX events_name_received ON events (name, received_at);
