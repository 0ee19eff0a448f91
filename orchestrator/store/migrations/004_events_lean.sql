-- The audit table takes two to three rows per job on the hot path. Its
-- primary key index duplicated what job_events_job (job_id, id) serves, so
-- drop it; and let the coordinator's session take event ids 1000 at a time
-- instead of touching the sequence for every row.
ALTER TABLE job_events DROP CONSTRAINT job_events_pkey;
ALTER SEQUENCE job_events_id_seq CACHE 1000;
