/* backup_verify: proves that a backup restores. A base backup is checked
 * with pg_verifybackup; a pg_dump archive with pg_restore --list and,
 * optionally, a restore into a scratch database (created and always dropped)
 * with per-table row counts; a pgBackRest backup with `pgbackrest verify`,
 * `pgbackrest info` and a restore into a scratch directory started as a
 * throwaway cluster whose row counts must match those recorded when the
 * backup was taken (backup_verify_pgbr.c). Every verification is recorded
 * in backup_verifications. See docs/handlers.md. */
#ifndef HANDLER_BACKUP_VERIFY_H
#define HANDLER_BACKUP_VERIFY_H

#include "backup_tool.h"
#include "handler.h"

#include <stddef.h>
#include <stdint.h>

extern const handler_t handler_backup_verify;

/* Its section of worker.yaml (`handlers: backup_verify:`). */
typedef struct {
    char **allowed_roots; /* paths a payload may point under */
    size_t nallowed_roots;
    char *database_url;   /* records + scratch restores; default: ORCH_DATABASE_URL */
    char *bin_dir;        /* PostgreSQL client tools, default /usr/lib/postgresql/15/bin */
    int64_t timeout_ms;   /* per tool run, default 600000 */
    backup_pgbr_conf_t pgbr; /* kind pgbackrest: stanza, pgbackrest_config, pgbackrest, ... */
    char *run_as;         /* system user the tools run as when the worker is root */
    char *scratch_dir;    /* restores of kind pgbackrest go under it, default /var/tmp */
    char *restore_user;   /* role the row counts connect as, default postgres */
    bool compare_counts;  /* restored counts must equal the recorded ones, default true */
} backup_config_t;

/* Kind pgbackrest (backup_verify_pgbr.c): verify, info, and with restore a
 * scratch cluster whose row counts are compared. Fills detail (label,
 * checks passed, tables, ...). A damaged backup is HANDLER_PERMANENT with a
 * message naming the check that failed. */
handler_status_t backup_verify_pgbackrest(handler_ctx_t *ctx, const backup_config_t *cfg,
                                          backup_tool_t *tool, const char *label, bool restore,
                                          json_t *detail, handler_error_t *err);

/* Validator: an absolute path of [A-Za-z0-9/_.-] only (it ends up in the
 * restored cluster's configuration file, quoted). */
const char *backup_verify_check_dir(const char *s);

/* Resolves path (must be absolute) with realpath and checks that it lies
 * under one of roots (each resolved too). Returns 0 with *resolved (caller
 * frees), ORCH_ENOTFOUND when path cannot be resolved, or ORCH_EPERM when it
 * lies outside every root (err says which). */
int backup_resolve_path(const char *path, char *const *roots, size_t nroots, char **resolved,
                        handler_error_t *err);

/* Copies the first max_lines non-empty lines of text into out, joined with
 * "; " and truncated to outlen. */
void backup_first_lines(const char *text, int max_lines, char *out, size_t outlen);

/* Number of entries in pg_restore --list output (lines that are neither
 * empty nor ';' comments). */
size_t backup_count_toc(const char *listing);

#endif
