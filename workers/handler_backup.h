/* backup: takes a PostgreSQL backup. Kind pgbackrest runs `pgbackrest
 * backup --type=full|incr|diff` for the configured stanza; kind basebackup
 * runs pg_basebackup into a new directory under basebackup_dir (and points
 * basebackup_dir/latest at it). What was taken (label, type, sizes, WAL
 * and LSN range, duration, and the source's row counts just after) goes to
 * the backups table and the result, with the backup_verify job that checks
 * it. The payload may only choose the kind and the type among configured
 * values. See docs/handlers.md. */
#ifndef HANDLER_BACKUP_H
#define HANDLER_BACKUP_H

#include "backup_tool.h"
#include "handler.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

extern const handler_t handler_backup;

/* Its section of worker.yaml (`handlers: backup:`). */
typedef struct {
    char *kind;               /* default kind; unset: pgbackrest when stanza is set, else basebackup */
    backup_pgbr_conf_t pgbr;  /* stanza, pgbackrest_config, pgbackrest, cipher_pass_file */
    char **types;             /* pgBackRest types a payload may ask for, default [full, incr, diff] */
    size_t ntypes;
    char *type;               /* type when the payload names none, default incr */
    char *basebackup_dir;     /* kind basebackup: backups go to <dir>/<label> */
    char *bin_dir;            /* pg_basebackup, default /usr/lib/postgresql/15/bin */
    char *database_url;       /* the backups table; default ORCH_DATABASE_URL */
    char *source_url;         /* the database backed up (pg_basebackup, row counts);
                               * default database_url */
    bool count_rows;          /* record the source's row counts, default true */
    char *run_as;             /* system user the tools run as when the worker is root */
    int64_t timeout_ms;       /* per tool run, default 2h */
} backup_take_config_t;

/* Pure: the kind and type a payload asks for under cfg (payload fields
 * "kind" and "type", nothing else). 0 with *kind and *type (borrowed from
 * cfg or the payload), or ORCH_EINVAL with err. */
int backup_take_parse(const backup_take_config_t *cfg, const json_t *payload, const char **kind,
                      const char **type, handler_error_t *err);

#endif
