/* backup_verify: proves that a backup restores. A base backup is checked
 * with pg_verifybackup; a pg_dump archive with pg_restore --list and,
 * optionally, a restore into a scratch database (created and always dropped)
 * with per-table row counts. Every verification is recorded in
 * backup_verifications. See docs/handlers.md. */
#ifndef HANDLER_BACKUP_VERIFY_H
#define HANDLER_BACKUP_VERIFY_H

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
} backup_config_t;

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
