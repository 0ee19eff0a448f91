-- Issue 4: dependencies, uniqueness and recurring schedules.

-- A waiting job's dependencies; the job queues when all have succeeded.
CREATE TABLE job_deps (
    job_id      bigint NOT NULL,
    depends_on  bigint NOT NULL,
    PRIMARY KEY (job_id, depends_on)
);
CREATE INDEX job_deps_on ON job_deps (depends_on);

-- Idempotency keys are looked up per queue.
CREATE INDEX jobs_idempotency ON jobs (queue, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE schedules (
    name          text PRIMARY KEY,
    cron          text NOT NULL,
    queue         text NOT NULL,
    type          text NOT NULL,
    payload       json NOT NULL DEFAULT '{}',
    priority      smallint,
    max_attempts  integer,
    paused        boolean NOT NULL DEFAULT false,
    source        text NOT NULL DEFAULT 'api' CHECK (source IN ('config', 'api')),
    next_run_at   timestamptz,
    last_run_at   timestamptz,
    last_job_id   bigint,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
