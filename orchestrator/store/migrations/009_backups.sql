-- backup (workers/handler_backup.c): one row per backup taken, with what
-- `pgbackrest info` (or pg_basebackup's backup_label and manifest) says about
-- it and the row counts of the source database's tables just after it, which
-- backup_verify compares a restore against. See docs/handlers.md.
CREATE TABLE backups (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('pgbackrest', 'basebackup')),
    stanza          text NOT NULL DEFAULT '',      -- pgbackrest; '' for basebackup
    label           text NOT NULL,
    type            text NOT NULL CHECK (type IN ('full', 'incr', 'diff')),
    path            text,                          -- basebackup: its directory
    size_bytes      bigint,                        -- the database's size in the backup
    repo_size_bytes bigint,                        -- what it takes in the repository
    wal_start       text,
    wal_stop        text,
    lsn_start       text,
    lsn_stop        text,
    started_at      timestamptz,
    stopped_at      timestamptz,
    duration_ms     bigint NOT NULL,
    row_counts      jsonb,                         -- {"schema.table": rows}, null: not counted
    detail          jsonb NOT NULL,
    job_id          bigint,
    attempt         integer,
    taken_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, stanza, label)
);
CREATE INDEX backups_taken ON backups (taken_at);

-- backup_verify learns kind pgbackrest.
ALTER TABLE backup_verifications DROP CONSTRAINT IF EXISTS backup_verifications_kind_check;
ALTER TABLE backup_verifications ADD CONSTRAINT backup_verifications_kind_check
    CHECK (kind IN ('basebackup', 'dump', 'pgbackrest'));
