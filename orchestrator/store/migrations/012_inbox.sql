-- Transactional enqueue (docs/operations.md, "Enqueue from SQL"): an
-- application creates a job inside its own transaction by calling
-- orch.orch_enqueue(...); the row goes to orch.inbox and a NOTIFY on
-- channel orch_inbox wakes the leader, which turns inbox rows into jobs in
-- its group commit, deleting each row in the transaction that creates its
-- job (exactly once). A rolled-back transaction leaves no row, so no job.
CREATE SCHEMA orch;

CREATE TABLE orch.inbox (
    id              bigserial PRIMARY KEY,
    queue           text NOT NULL,
    type            text NOT NULL,
    payload         jsonb NOT NULL,
    priority        integer,          -- NULL: the queue's default
    max_attempts    integer,          -- NULL: the queue's default
    run_at          timestamptz,      -- NULL: now
    idempotency_key text,
    created_by      text NOT NULL DEFAULT session_user,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Checks what the coordinator would check of a SUBMIT (names, priority,
-- attempts, key, payload an object of at most 1 MiB) so that a bad call
-- fails in the caller's transaction, naming the argument, instead of
-- later. SECURITY DEFINER: callers need EXECUTE on this function only (no
-- rights on orch.inbox); nobody has it until an administrator grants it:
--   GRANT USAGE ON SCHEMA orch TO app; GRANT EXECUTE ON FUNCTION
--   orch.orch_enqueue(text, text, jsonb, integer, timestamptz, integer, text) TO app;
CREATE FUNCTION orch.orch_enqueue(queue text, type text, payload jsonb DEFAULT '{}',
                                  priority integer DEFAULT NULL,
                                  run_at timestamptz DEFAULT NULL,
                                  max_attempts integer DEFAULT NULL,
                                  idempotency_key text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_id bigint;
BEGIN
    IF queue IS NULL OR queue !~ '^[A-Za-z0-9_.:-]{1,64}$' THEN
        RAISE EXCEPTION 'orch_enqueue: "queue" must be 1..64 characters of [A-Za-z0-9_.:-], got %',
            coalesce(quote_literal(queue), 'NULL') USING ERRCODE = '22023';
    END IF;
    IF type IS NULL OR type !~ '^[A-Za-z0-9_.:-]{1,64}$' THEN
        RAISE EXCEPTION 'orch_enqueue: "type" must be 1..64 characters of [A-Za-z0-9_.:-], got %',
            coalesce(quote_literal(type), 'NULL') USING ERRCODE = '22023';
    END IF;
    IF payload IS NULL OR jsonb_typeof(payload) <> 'object' THEN
        RAISE EXCEPTION 'orch_enqueue: "payload" must be a JSON object, got %',
            coalesce(jsonb_typeof(payload), 'NULL') USING ERRCODE = '22023';
    END IF;
    IF octet_length(payload::text) > 1048576 THEN
        RAISE EXCEPTION 'orch_enqueue: "payload" is % bytes, more than 1 MiB',
            octet_length(payload::text) USING ERRCODE = '54000';
    END IF;
    IF priority IS NOT NULL AND priority NOT BETWEEN 0 AND 9 THEN
        RAISE EXCEPTION 'orch_enqueue: "priority" must be 0..9 (0 most urgent), got %', priority
            USING ERRCODE = '22023';
    END IF;
    IF max_attempts IS NOT NULL AND max_attempts NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'orch_enqueue: "max_attempts" must be 1..1000, got %', max_attempts
            USING ERRCODE = '22023';
    END IF;
    IF idempotency_key IS NOT NULL AND octet_length(idempotency_key) NOT BETWEEN 1 AND 255 THEN
        RAISE EXCEPTION 'orch_enqueue: "idempotency_key" must be 1..255 bytes, got %',
            octet_length(idempotency_key) USING ERRCODE = '22023';
    END IF;
    INSERT INTO orch.inbox (queue, type, payload, priority, max_attempts, run_at, idempotency_key)
    VALUES (queue, type, payload, priority, max_attempts, run_at, idempotency_key)
    RETURNING orch.inbox.id INTO new_id;
    PERFORM pg_notify('orch_inbox', '');
    RETURN new_id;
END $$;

REVOKE ALL ON FUNCTION orch.orch_enqueue(text, text, jsonb, integer, timestamptz, integer, text)
    FROM PUBLIC;
