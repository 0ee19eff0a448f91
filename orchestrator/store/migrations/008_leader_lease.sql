-- High availability (docs/operations.md, "High availability"): several
-- coordinators share this database; the one holding the leader lease is
-- active, the others are hot standbys polling it. One row.
CREATE TABLE leader_lease (
    id          integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    holder      text,                 -- ha.name of the leader
    advertise   text,                 -- its client endpoint (ha.advertise)
    epoch       bigint NOT NULL DEFAULT 0,
    expires_at  timestamptz NOT NULL DEFAULT '-infinity',
    acquired_at timestamptz
);
INSERT INTO leader_lease (id) VALUES (1);

-- Every audit row records the epoch of the leader whose transaction wrote
-- it: orch_lease_renew sets orch.epoch for its transaction, and every write
-- pipeline of a leader starts with it, so the batch write and every
-- operation's CTE fill the column without a parameter of their own. NULL:
-- written before this migration, or outside a leader's pipeline. On the
-- partitioned parent (migration 006): every partition gets it; a stable
-- default keeps ADD COLUMN free of a table rewrite.
ALTER TABLE job_events ADD COLUMN epoch bigint
    DEFAULT nullif(current_setting('orch.epoch', true), '')::bigint;

-- Takes the lease when it expired (or was never held), or when it is held
-- under our own name (a previous incarnation of this coordinator, which
-- cannot be alive: names are unique): epoch + 1. Answers whether we hold
-- it now and the lease as it stands. The UPDATE's row lock orders it
-- against a leader's renewal (orch_lease_renew): whichever comes second
-- waits for the first to commit and re-checks its WHERE on the row the
-- first left, so an acquire after a renewal finds the lease unexpired, and
-- a renewal after an acquire finds a different epoch.
CREATE FUNCTION orch_lease_acquire(p_name text, p_advertise text, p_lease_ms bigint)
RETURNS TABLE (held boolean, holder text, advertise text, epoch bigint, expires_in_ms bigint)
LANGUAGE plpgsql AS $$
DECLARE
    got boolean;
BEGIN
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

-- The fence: the first statement of every pipeline of a leader. Renews the
-- lease only while it is still ours (same epoch) and unexpired, else raises
-- SQLSTATE OR001 so the whole pipeline, one transaction, rolls back: a
-- deposed leader commits nothing. The row lock it takes is held to the
-- commit, so an acquire racing with this transaction waits for it and then
-- sees the renewed expiry (see orch_lease_acquire).
CREATE FUNCTION orch_lease_renew(p_epoch bigint, p_lease_ms bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE leader_lease l SET expires_at = now() + p_lease_ms * interval '1 millisecond'
     WHERE l.id = 1 AND l.epoch = p_epoch AND l.expires_at > now();
    IF NOT FOUND THEN
        RAISE EXCEPTION 'leader lease lost: epoch % is no longer the leader''s', p_epoch
            USING ERRCODE = 'OR001';
    END IF;
    PERFORM set_config('orch.epoch', p_epoch::text, true);
END $$;
