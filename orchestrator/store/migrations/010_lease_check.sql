-- The fence without a write (see 008): most pipelines of a leader only
-- check the lease and lock its row FOR SHARE until their commit; the
-- leader renews (008's orch_lease_renew, an UPDATE) only every ha.renew/2.
-- The share lock orders this transaction against an acquire exactly as the
-- renewal's lock does: an acquire waits for our commit and then re-reads
-- the row, and a check after an acquire finds another epoch and raises
-- (SQLSTATE OR001), so a deposed leader still commits nothing. What it
-- saves is a new version of the lease row (and its WAL) in every commit.
CREATE FUNCTION orch_lease_check(p_epoch bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM leader_lease l
      WHERE l.id = 1 AND l.epoch = p_epoch AND l.expires_at > now() FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'leader lease lost: epoch % is no longer the leader''s', p_epoch
            USING ERRCODE = 'OR001';
    END IF;
    PERFORM set_config('orch.epoch', p_epoch::text, true);
END $$;
