-- Chained commits (orchestrator/coord/coord_commit.c, coord_chain): the
-- coordinator may send a second pipeline on its connection before the
-- first one's answer. PostgreSQL runs the second after the first's Sync
-- even when the first failed, so the second begins with this check: the
-- last audit row the first one wrote must be there (every pipeline that
-- may have one chained behind it writes audit rows). If the first rolled
-- back, the check raises (SQLSTATE OR002) and the second writes nothing
-- either: a submission answered 503 ("the request was not applied") was
-- not applied. The row is found through job_events_job (job_id, id) in
-- the one partition its time names.
CREATE FUNCTION orch_chain_check(p_job bigint, p_event bigint, p_at_us bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM job_events e
      WHERE e.job_id = p_job AND e.id = p_event
        AND e.at = timestamptz 'epoch' + p_at_us * interval '1 microsecond';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the commit this one was chained behind was not made: audit row % of job % is missing',
            p_event, p_job USING ERRCODE = 'OR002';
    END IF;
END $$;
