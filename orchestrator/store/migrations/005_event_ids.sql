-- The coordinator now numbers audit rows itself, like jobs: each event it
-- publishes carries its row's id, so a watcher that lost its connection
-- resumes after the last id it saw (the HTTP API's Server-Sent Events,
-- Last-Event-ID). Ids come from a range reserved by setval on the
-- sequence, so a later session never reuses one.
-- state: where the event left the job, as the live stream says it.
-- A BRIN index serves "id > $1" for that resume at next to no write cost
-- (ids are appended in increasing order).
ALTER TABLE job_events ADD COLUMN state text;
CREATE INDEX job_events_id_brin ON job_events USING brin (id);
