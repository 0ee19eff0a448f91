-- Leaner audit blocks (store/store_audit.c). Measured on a drain of
-- 40,000 jobs with sealing on: PostgreSQL spent 3.2% of all CPU samples in
-- pglz_compress, trying to compress each block's hashes (random bytes,
-- which never compress) when the block was moved out of line, and 1.3% in
-- array_in, parsing the block's row ids from text: most of what sealing
-- cost the drain.
--
-- hashes: stored out of line without a compression attempt.
-- ids: NULL when the block's rows are exactly first_id .. last_id, every id
-- in between (the usual case: the coordinator numbers audit rows itself,
-- from reserved ranges); the list only when ids were skipped. Readers take
-- the rows of a NULL list from generate_series(first_id, last_id).
ALTER TABLE audit_seals
    ALTER COLUMN ids DROP NOT NULL,
    ALTER COLUMN hashes SET STORAGE EXTERNAL;
COMMENT ON COLUMN audit_seals.ids IS
    'the rows sealed, in id order; NULL when they are every id from first_id to last_id';
