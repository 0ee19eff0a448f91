-- Result reuse (docs/design.md, "Result reuse"): a job submitted with
-- "reuse": {"key", "ttl_ms"} (or of a type with reuse_key in the
-- configuration) is recorded here under (type, key); a later submission
-- of the same type and key within its ttl, while such a job succeeded,
-- gets that job's id and stored result instead of a new job. Rows go with
-- their job (retention, purge).
CREATE TABLE job_reuse (
    type   text NOT NULL,
    key    text NOT NULL,
    job_id bigint NOT NULL,
    PRIMARY KEY (type, key, job_id)
);
CREATE INDEX job_reuse_job ON job_reuse (job_id);
