-- Live queue settings (orchctl queues set, POST /v1/queues/{name}/settings):
-- each column overrides the configuration's policy for the queue while it
-- is not NULL; the coordinator loads them at recovery.
ALTER TABLE queues ADD COLUMN concurrency integer, ADD COLUMN rate_limit double precision,
    ADD COLUMN rate_burst integer, ADD COLUMN priority integer;
