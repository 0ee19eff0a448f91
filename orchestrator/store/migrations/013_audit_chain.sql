-- A tamper-evident audit trail (docs/operations.md, "Audit chain"): every
-- job_events row gets a hash chained over the previous row's hash and its
-- own content, hash_i = SHA-256(hash_(i-1) || content_i), in id order (the
-- order of commits). The coordinator seals new rows a page at a time off
-- its commit path (store/store_audit.c); `orchctl audit verify` recomputes
-- the chain and names the first row that does not match.
--
-- The hashes live beside the rows, keyed by id, instead of in a column of
-- job_events: filling a column would UPDATE every audit row once, doubling
-- the writes of the largest table; this table only grows by inserts.
CREATE TABLE audit_chain (
    id   bigint PRIMARY KEY,   -- job_events.id
    hash bytea NOT NULL        -- 32 bytes
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
