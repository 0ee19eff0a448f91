-- Transactional enqueue for a tenant (docs/operations.md, "Enqueue from
-- SQL" and "Tenants"): orch.orch_enqueue_for(tenant, ...) is
-- orch.orch_enqueue with the tenant the job belongs to first. It acts for
-- any tenant, so it is granted on its own, to roles trusted like an
-- unscoped client key; orch.orch_enqueue keeps its grants and enqueues for
-- 'default'.
ALTER TABLE orch.inbox ADD COLUMN tenant text NOT NULL DEFAULT 'default';

CREATE FUNCTION orch.orch_enqueue_for(tenant text, queue text, type text,
                                      payload jsonb DEFAULT '{}',
                                      priority integer DEFAULT NULL,
                                      run_at timestamptz DEFAULT NULL,
                                      max_attempts integer DEFAULT NULL,
                                      idempotency_key text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_id bigint;
BEGIN
    IF tenant IS NULL OR tenant !~ '^[A-Za-z0-9_.:-]{1,64}$' THEN
        RAISE EXCEPTION 'orch_enqueue_for: "tenant" must be 1..64 characters of [A-Za-z0-9_.:-], got %',
            coalesce(quote_literal(tenant), 'NULL') USING ERRCODE = '22023';
    END IF;
    new_id := orch.orch_enqueue(queue, type, payload, priority, run_at, max_attempts,
                                idempotency_key);
    UPDATE orch.inbox SET tenant = orch_enqueue_for.tenant WHERE id = new_id;
    RETURN new_id;
END $$;

REVOKE ALL ON FUNCTION orch.orch_enqueue_for(text, text, text, jsonb, integer, timestamptz,
                                            integer, text) FROM PUBLIC;
