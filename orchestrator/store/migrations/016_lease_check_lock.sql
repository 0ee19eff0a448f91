-- The fence of most leader pipelines (orch_lease_check, migration 010)
-- without writing anything: 010 locked the lease row FOR SHARE, which sets
-- the row's xmax, dirties its page and writes a WAL record in every commit
-- (measured: about 0.02 ms of a lone submission's 0.24 ms pipeline). A
-- transaction-level advisory lock orders the same two things in memory
-- only:
--   * orch_lease_check takes it shared, then reads the row. The read is a
--     statement of its own in a volatile function, so in READ COMMITTED it
--     sees every acquire committed before the lock was granted.
--   * orch_lease_acquire takes it exclusive before its UPDATE, so it waits
--     for every leader transaction that checked, and a check that comes
--     while an acquire runs waits for it and then finds the new epoch.
-- Either way a deposed leader commits nothing. orch_lease_renew (008)
-- keeps its UPDATE: the row lock orders it against the acquire's UPDATE.
-- The key is the pair (7400, 1): advisory locks taken with two int4 keys
-- live apart from those with one bigint key (the migrations' lock, the
-- compact handler's per-document locks), so none of those can collide.

CREATE OR REPLACE FUNCTION orch_lease_check(p_epoch bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(7400, 1);
    PERFORM 1 FROM leader_lease l
      WHERE l.id = 1 AND l.epoch = p_epoch AND l.expires_at > now();
    IF NOT FOUND THEN
        RAISE EXCEPTION 'leader lease lost: epoch % is no longer the leader''s', p_epoch
            USING ERRCODE = 'OR001';
    END IF;
    PERFORM set_config('orch.epoch', p_epoch::text, true);
END $$;

CREATE OR REPLACE FUNCTION orch_lease_acquire(p_name text, p_advertise text, p_lease_ms bigint)
RETURNS TABLE (held boolean, holder text, advertise text, epoch bigint, expires_in_ms bigint)
LANGUAGE plpgsql AS $$
DECLARE
    got boolean;
BEGIN
    PERFORM pg_advisory_xact_lock(7400, 1);
    UPDATE leader_lease l
       SET holder = p_name, advertise = p_advertise, epoch = l.epoch + 1,
           expires_at = now() + p_lease_ms * interval '1 millisecond', acquired_at = now()
     WHERE l.id = 1 AND (l.expires_at <= now() OR l.holder = p_name);
    got := FOUND;
    RETURN QUERY
        SELECT got, l.holder, l.advertise, l.epoch,
               (extract(epoch FROM l.expires_at - now()) * 1000)::bigint
          FROM leader_lease l WHERE l.id = 1;
END $$;
