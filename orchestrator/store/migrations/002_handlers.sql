-- Tables of the built-in handlers (workers/handler_*.c); see docs/handlers.md.

-- embed: one vector per (entity, model). The vector column uses pgvector's
-- `vector` type when the extension is available here (created if we may),
-- and real[] otherwise; the embed handler reads the column type and writes
-- either. SQL in a migration is static, hence the DO block.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS vector;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'pgvector is available but this role may not create it: using real[]';
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') THEN
        EXECUTE 'CREATE TABLE embeddings (
            entity_id   text NOT NULL,
            model       text NOT NULL,
            dimension   integer NOT NULL CHECK (dimension > 0),
            vector      vector NOT NULL,
            text_sha256 text NOT NULL,
            updated_at  timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (entity_id, model))';
    ELSE
        EXECUTE 'CREATE TABLE embeddings (
            entity_id   text NOT NULL,
            model       text NOT NULL,
            dimension   integer NOT NULL CHECK (dimension > 0),
            vector      real[] NOT NULL CHECK (cardinality(vector) = dimension),
            text_sha256 text NOT NULL,
            updated_at  timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (entity_id, model))';
    END IF;
END
$$;

-- compact: a document's operation log (last writer wins by seq) and its
-- snapshots. An op is {"set": key, "value": any} or {"del": key}.
CREATE TABLE crdt_ops (
    doc_id     text NOT NULL,
    seq        bigint NOT NULL,
    actor      text NOT NULL,
    op         jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (doc_id, seq)
);
-- "all documents with operations older than X" scans by age.
CREATE INDEX crdt_ops_created ON crdt_ops (created_at);

CREATE TABLE crdt_snapshots (
    doc_id     text NOT NULL,
    version    bigint NOT NULL CHECK (version > 0),
    upto_seq   bigint NOT NULL,
    state      jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (doc_id, version)
);

-- backup_verify: one row per verification, successful or not.
CREATE TABLE backup_verifications (
    id          bigserial PRIMARY KEY,
    path        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('basebackup', 'dump')),
    ok          boolean NOT NULL,
    detail      jsonb NOT NULL,
    duration_ms bigint NOT NULL,
    job_id      bigint,
    attempt     integer,
    verified_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX backup_verifications_path ON backup_verifications (path, verified_at);
