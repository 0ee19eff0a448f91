-- Tenants (docs/operations.md, "Tenants"): every job belongs to a tenant
-- ('default' unless its submission or its client's key names another).
-- The coordinator keeps one ready lane per (queue, type, tenant), so the
-- ready index leads with the tenant after (queue, type): a refill reads one
-- tenant's next jobs and never walks another tenant's backlog. Idempotency
-- keys and result-reuse keys are per tenant: one tenant can neither hit nor
-- learn another's keys or results. Adding a column with a constant default
-- rewrites nothing.
ALTER TABLE jobs ADD COLUMN tenant text NOT NULL DEFAULT 'default';

DROP INDEX jobs_ready;
CREATE INDEX jobs_ready ON jobs (queue, type, tenant, priority, id) WHERE state = 'queued';

DROP INDEX jobs_idempotency;
CREATE INDEX jobs_idempotency ON jobs (tenant, queue, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

ALTER TABLE job_reuse ADD COLUMN tenant text NOT NULL DEFAULT 'default';
ALTER TABLE job_reuse DROP CONSTRAINT job_reuse_pkey;
ALTER TABLE job_reuse ADD PRIMARY KEY (tenant, type, key, job_id);
