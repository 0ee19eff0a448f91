/* What the backup handlers (backup, backup_verify) share: running
 * PostgreSQL and pgBackRest tools (an environment without the worker's own
 * secrets, optionally as another system user, bounded by the job's budget),
 * counting the rows of a database's tables, reading `pgbackrest info
 * --output=json` and the text of `pgbackrest verify`, and removing a scratch
 * tree. Stanza, repository, configuration file and tool paths always come
 * from worker.yaml (backup_pgbr_conf_t), never from a payload. */
#ifndef BACKUP_TOOL_H
#define BACKUP_TOOL_H

#include "handler.h"
#include "toolrun.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The pgBackRest part of a handler's section (embedded in its struct). */
typedef struct {
    char *stanza;           /* --stanza; unset: kind pgbackrest is not configured */
    char *config;           /* --config (pgbackrest.conf); unset: pgBackRest's default */
    char *bin;              /* the pgbackrest binary, default /usr/bin/pgbackrest */
    char *cipher_pass_file; /* repository cipher passphrase, handed over as
                             * PGBACKREST_REPO1_CIPHER_PASS in the tool's environment */
} backup_pgbr_conf_t;

/* Its keys, for a handler's table (off: offsetof the embedded struct). */
#define BACKUP_PGBR_KEYS(off)                                                                      \
    CFGTAB_K_STR("stanza", (off) + offsetof(backup_pgbr_conf_t, stanza), NULL, CFGTAB_NULLABLE,   \
                 NULL, backup_tool_check_word),                                                    \
        CFGTAB_K_STR("pgbackrest_config", (off) + offsetof(backup_pgbr_conf_t, config), NULL,      \
                     CFGTAB_NULLABLE, NULL, cfgtab_check_abs_path),                                \
        CFGTAB_K_STR("pgbackrest", (off) + offsetof(backup_pgbr_conf_t, bin),                      \
                     "/usr/bin/pgbackrest", 0, NULL, cfgtab_check_abs_path),                       \
        CFGTAB_K_STR("cipher_pass_file", (off) + offsetof(backup_pgbr_conf_t, cipher_pass_file),   \
                     NULL, CFGTAB_NULLABLE, NULL, cfgtab_check_abs_path)

/* Validator: 1..64 of [A-Za-z0-9_.-] (stanza names, labels, user names). */
const char *backup_tool_check_word(const char *s);

/* One job's way of running tools. */
typedef struct {
    handler_ctx_t *ctx;
    char **envp;      /* owned: backup_tool_fini */
    bool as_user;     /* run as uid/gid (run_as) */
    unsigned uid, gid;
    int64_t limit_ms; /* per run, bounded by the job's deadline */
    const char *cwd;  /* NULL: "/" when as_user (the worker's directory may be private) */
} backup_tool_t;

/* Fills t: the worker's environment minus ORCH_* and PGBACKREST_REPO1_CIPHER_PASS,
 * plus PGHOST, PGPORT, PGUSER, PGPASSWORD, ... from conninfo (dbname excluded),
 * plus PGBACKREST_REPO1_CIPHER_PASS read from cipher_pass_file when set; and
 * the uid and gid of run_as when set. Returns HANDLER_OK, or HANDLER_PERMANENT
 * with err (unknown user, unreadable file); backup_tool_fini in every case. */
handler_status_t backup_tool_init(backup_tool_t *t, handler_ctx_t *ctx, const char *conninfo,
                                  const char *cipher_pass_file, const char *run_as,
                                  int64_t limit_ms, handler_error_t *err);
void backup_tool_fini(backup_tool_t *t);

/* Runs path with argv (argv[0] is replaced by path). HANDLER_OK when it ran
 * to an exit (any code, in res->exit_code); HANDLER_PERMANENT when it cannot
 * start, HANDLER_RETRY on timeout or a signal, HANDLER_CANCELLED. res is
 * always to be finished with toolrun_result_fini. */
handler_status_t backup_tool_run(backup_tool_t *t, const char *path, char *argv[],
                                 toolrun_result_t *res, handler_error_t *err);

/* Looks up a system user: 0, or ORCH_ENOTFOUND with msg. */
int backup_tool_user(const char *name, unsigned *uid, unsigned *gid, char *msg, size_t msglen);

/* Row counts of every ordinary and partitioned table outside the system
 * schemas, {"schema.table": n}, of the database that PQconnectdbParams(keys,
 * vals, expand_dbname=1) reaches. HANDLER_OK with *counts (caller owns),
 * HANDLER_RETRY when it cannot connect or list, HANDLER_PERMANENT when a
 * count fails. what names the database in messages. */
handler_status_t backup_tool_count_rows(const char *const *keys, const char *const *vals,
                                        const char *what, json_t **counts, handler_error_t *err);

/* Pure: the tables whose counts differ between want and got (missing on
 * either side included), "t: restored 3, recorded 5; ...", into out.
 * Returns how many differ. */
size_t backup_tool_compare_counts(const json_t *want, const json_t *got, char *out, size_t outlen);

/* Pure: the stanza's entry of `pgbackrest info --output=json` output. Sets
 * *status_code and *status_msg (borrowed from *doc) and *backup to the backup
 * labelled label (NULL: the newest), borrowed from *doc (caller frees *doc
 * with json_decref), or NULL when there is none. 0, or ORCH_EPROTO with msg
 * when the text is not such output. */
int backup_pgbr_info(const char *text, const char *stanza, const char *label, json_t **doc,
                     int *status_code, const char **status_msg, json_t **backup, char *msg,
                     size_t msglen);

/* Pure: reads `pgbackrest verify --output=text --verbose` console output
 * (log level info); true when it reports "status: ok" and nothing invalid. Otherwise problems gets the
 * first lines that say what is wrong (invalid checksum 'file', backup: X,
 * status: invalid, ...). pgBackRest 2.45 exits 0 either way. */
bool backup_pgbr_verify_ok(const char *text, char *problems, size_t plen);

/* An argument vector under construction: [bin, --config=, --stanza=, ...]. */
typedef struct {
    char *v[32];
    size_t n;
} backup_argv_t;

void backup_argv_init(backup_argv_t *a, const backup_pgbr_conf_t *pgbr);
void backup_argv_add(backup_argv_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void backup_argv_fini(backup_argv_t *a);

/* Removes path and everything under it (no symlinks followed); 0 or -errno. */
int backup_tool_rmtree(const char *path);

#endif
