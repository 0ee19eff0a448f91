-- A tamper-evident audit trail (docs/operations.md, "Audit chain"): every
-- job_events row gets a hash chained over the previous row's hash and its
-- own content, hash_i = SHA-256(hash_(i-1) || content_i), in id order (the
-- order of commits). The coordinator seals new rows a block at a time off
-- its commit path (store/store_audit.c); `orchctl audit verify` recomputes
-- the chain and names the first row that does not match.
--
-- The hashes are kept a block per row here (the block's row ids and their
-- 32-byte hashes, packed) rather than in a column of job_events or a row
-- per event: a column would UPDATE every audit row once, a row per event
-- would add an index entry and its WAL for each; a block is one insert per
-- few thousand events.
CREATE TABLE audit_seals (
    last_id   bigint PRIMARY KEY,      -- the block's last job_events.id
    first_id  bigint NOT NULL,
    ids       bigint[] NOT NULL,       -- the rows sealed, in id order
    hashes    bytea NOT NULL,          -- 32 bytes per row: its chain hash
    sealed_at timestamptz NOT NULL DEFAULT now()
);

-- Where the chain starts: the last row retention dropped (its id and
-- hash), so the rows that remain can be checked from there; id 0 and 32
-- zero bytes before anything was dropped. One row.
CREATE TABLE audit_anchor (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    id       bigint NOT NULL,
    hash     bytea NOT NULL,
    moved_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO audit_anchor (id, hash) VALUES (0, '\x0000000000000000000000000000000000000000000000000000000000000000');
