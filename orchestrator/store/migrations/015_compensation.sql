-- Compensation (docs/design.md, "Compensation"): a job submitted with
-- "on_failure" keeps its compensation jobs here. When a job ends dead or
-- cancelled, the compensations of the jobs it depended on (transitively)
-- that had succeeded are submitted, most recently finished first, each
-- after the one before; triggered_at marks them, in the same transaction
-- that inserts the compensation jobs, so a saga is undone once.
CREATE TABLE job_compensations (
    job_id       bigint PRIMARY KEY,
    spec         json NOT NULL,      -- a list of {"type", "queue"?, "payload"?, ...}
    triggered_at timestamptz,        -- NULL: not run
    triggered_by bigint              -- the job whose failure ran them
);
CREATE INDEX job_compensations_open ON job_compensations (job_id) WHERE triggered_at IS NULL;
