-- Core job state. The coordinator is the only writer of jobs and job_events;
-- every state change and its audit row are written in one transaction.

-- Job ids are allocated by the (single active) coordinator in memory,
-- starting after max(id) at recovery: ids of batches that never committed
-- were never acknowledged, so reusing them is safe and costs no round trip.
CREATE TABLE jobs (
    id              bigint PRIMARY KEY,
    queue           text NOT NULL,
    type            text NOT NULL,
    priority        smallint NOT NULL CHECK (priority BETWEEN 0 AND 9),
    state           text NOT NULL CHECK (state IN ('waiting', 'scheduled', 'queued', 'running',
                                                    'succeeded', 'dead', 'cancelled')),
    attempt         integer NOT NULL DEFAULT 0,
    -- attempts used before the last operator retry: the budget counts from here
    attempt_base    integer NOT NULL DEFAULT 0,
    max_attempts    integer NOT NULL,
    timeout_ms      bigint NOT NULL,
    payload         json NOT NULL,
    result          json,
    error           text,
    worker          text,
    progress        smallint,
    idempotency_key text,
    run_at          timestamptz,
    created_at      timestamptz NOT NULL,
    started_at      timestamptz,
    finished_at     timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- The ready index refills from here: most urgent first, then FIFO.
CREATE INDEX jobs_ready ON jobs (queue, type, priority, id) WHERE state = 'queued';
-- Recovery and timers read the few non-queued live jobs.
CREATE INDEX jobs_live ON jobs (state, run_at) WHERE state IN ('running', 'scheduled', 'waiting');

-- Append-only audit trail: one row per state change (and per ignored late result).
CREATE TABLE job_events (
    id       bigserial PRIMARY KEY,
    job_id   bigint NOT NULL,
    at       timestamptz NOT NULL,
    event    text NOT NULL,
    attempt  integer,
    worker   text,
    detail   json
);
CREATE INDEX job_events_job ON job_events (job_id, id);

CREATE TABLE workers (
    name          text PRIMARY KEY,
    version       text,
    queues        text[] NOT NULL,
    types         text[] NOT NULL,
    slots         integer NOT NULL,
    state         text NOT NULL,
    connected_at  timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL
);

CREATE TABLE queues (
    name        text PRIMARY KEY,
    paused      boolean NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
