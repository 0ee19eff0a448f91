-- job_events becomes a table partitioned by day (UTC) on "at", so that
-- retention drops whole days (retention.events) instead of deleting rows.
-- The coordinator's maintenance (store/store_maint.c, on the query thread)
-- creates partitions ahead and drops old ones with orch_events_partitions.
-- Existing rows stay where they are: the old table becomes the partition
-- of everything before its last day (dropped once that day is older than
-- the retention); an empty old table is simply replaced.
ALTER SEQUENCE job_events_id_seq OWNED BY NONE;
ALTER TABLE job_events RENAME TO job_events_legacy;
ALTER INDEX job_events_job RENAME TO job_events_legacy_job;
ALTER INDEX job_events_id_brin RENAME TO job_events_legacy_id_brin;
CREATE TABLE job_events (
    id       bigint NOT NULL DEFAULT nextval('job_events_id_seq'),
    job_id   bigint NOT NULL,
    at       timestamptz NOT NULL,
    event    text NOT NULL,
    attempt  integer,
    worker   text,
    detail   json,
    state    text
) PARTITION BY RANGE (at);
CREATE INDEX job_events_job ON job_events (job_id, id);
CREATE INDEX job_events_id_brin ON job_events USING brin (id);
-- rows no partition covers (a clock far off) land here instead of failing a commit
CREATE TABLE job_events_default PARTITION OF job_events DEFAULT;

DO $$
DECLARE
    upper timestamptz;
BEGIN
    IF EXISTS (SELECT 1 FROM job_events_legacy) THEN
        SELECT greatest(date_trunc('day', now() AT TIME ZONE 'UTC') + interval '1 day',
                        date_trunc('day', max(at) AT TIME ZONE 'UTC') + interval '1 day')
                   AT TIME ZONE 'UTC'
          INTO upper FROM job_events_legacy;
        EXECUTE format('ALTER TABLE job_events ATTACH PARTITION job_events_legacy'
                       ' FOR VALUES FROM (MINVALUE) TO (%L)', upper);
    ELSE
        DROP TABLE job_events_legacy;
    END IF;
END $$;

-- The partitions of job_events and the instant each one ends (NULL: the
-- default partition).
CREATE FUNCTION orch_events_partition_ends()
RETURNS TABLE (name text, ends timestamptz) LANGUAGE sql STABLE AS $$
    SELECT c.relname::text,
           substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']+)''\)')::timestamptz
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'job_events'::regclass
$$;

-- Creates the daily partitions up to ahead_days after today (UTC), starting
-- where the last one ends, and drops those that ended before now - keep_ms.
-- Returns how many it created and dropped.
CREATE FUNCTION orch_events_partitions(ahead_days integer, keep_ms bigint)
RETURNS TABLE (created integer, dropped integer) LANGUAGE plpgsql AS $$
DECLARE
    day timestamptz;
    last_day timestamptz := date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                            + ahead_days * interval '1 day';
    p record;
BEGIN
    created := 0;
    dropped := 0;
    SELECT max(ends) INTO day FROM orch_events_partition_ends();
    IF day IS NULL THEN
        day := date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    END IF;
    WHILE day <= last_day LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF job_events FOR VALUES FROM (%L) TO (%L)',
                       'job_events_p' || to_char(day AT TIME ZONE 'UTC', 'YYYYMMDD'),
                       day, day + interval '1 day');
        created := created + 1;
        day := day + interval '1 day';
    END LOOP;
    FOR p IN SELECT name FROM orch_events_partition_ends()
              WHERE ends IS NOT NULL AND ends <= now() - keep_ms * interval '1 millisecond'
    LOOP
        EXECUTE format('DROP TABLE %I', p.name);
        dropped := dropped + 1;
    END LOOP;
    RETURN NEXT;
END $$;

SELECT * FROM orch_events_partitions(7, 30 * 86400000::bigint);
