/* backup_verify, kind pgbackrest: three checks, each named in the error of
 * a failed verification.
 *
 *   verify   `pgbackrest verify`: every file of the repository against its
 *            checksum (2.45 exits 0 even when it finds damage: its report
 *            is read instead)
 *   info     `pgbackrest info --output=json`: the stanza's status is ok, the
 *            backup (payload "label", else the newest) is listed without error
 *   restore  `pgbackrest restore --set=LABEL --type=immediate` into a fresh
 *            directory under scratch_dir, started with pg_ctl as a throwaway
 *            cluster (unix socket in a private directory, no TCP, archiving
 *            off, trust for local connections only), its row counts compared
 *            with those the backup handler recorded when it took the backup;
 *            then stopped and removed, whatever happened.
 *
 * The tools run as backup_verify.run_as when the worker is root: pg_ctl
 * refuses root, and the repository stays owned by its user. */
#include "handler_backup_verify.h"

#include "handler_kit.h"
#include "log.h"
#include "pgconn.h"
#include "strbuf.h"
#include "xalloc.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const s_sql_recorded =
    "SELECT row_counts, detail->>'database' FROM backups "
    "WHERE kind = 'pgbackrest' AND stanza = $1 AND label = $2";

static atomic_uint s_counter;

typedef struct {
    handler_ctx_t *ctx;
    const backup_config_t *cfg;
    backup_tool_t *tool;
    json_t *detail;
    const char *label; /* the backup checked (borrowed from detail) */
    char dir[1024], data[1100], sock[1100];
    int port;
    bool started;
} s_pgbr_t;

const char *backup_verify_check_dir(const char *s)
{
    size_t n = strlen(s);
    if (s[0] != '/' || n > 200 ||
        strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_.-") != n)
        return "an absolute path of at most 200 of [A-Za-z0-9/_.-]";
    return NULL;
}

/* The first line of pgBackRest's output that starts with "ERROR:" (else stderr's first). */
static void s_error_line(const toolrun_result_t *res, char *out, size_t outlen)
{
    const char *e = res->out ? strstr(res->out, "ERROR:") : NULL;
    if (!e && res->err)
        e = strstr(res->err, "ERROR:");
    if (!e)
        e = res->err && res->err[0] ? res->err : (res->out ? res->out : "");
    size_t n = strcspn(e, "\n");
    snprintf(out, outlen, "%.*s", (int)(n > 500 ? 500 : n), e);
}

static handler_status_t s_pgbr_run(s_pgbr_t *v, const char *const *opts, const char *cmd,
                                   toolrun_result_t *res, handler_error_t *err)
{
    backup_argv_t a;
    backup_argv_init(&a, &v->cfg->pgbr);
    for (const char *const *o = opts; o && *o; o++)
        backup_argv_add(&a, "%s", *o);
    backup_argv_add(&a, "%s", cmd);
    handler_status_t st = backup_tool_run(v->tool, v->cfg->pgbr.bin, a.v, res, err);
    backup_argv_fini(&a);
    return st;
}

/* ---- verify, info -------------------------------------------------------- */

static handler_status_t s_check_verify(s_pgbr_t *v, handler_error_t *err)
{
    /* info: the "invalid checksum 'file'" lines; --verbose: the report even when all is well */
    const char *opts[] = {"--log-level-console=info", "--output=text", "--verbose", NULL};
    toolrun_result_t res;
    handler_status_t st = s_pgbr_run(v, opts, "verify", &res, err);
    if (st == HANDLER_OK) {
        char problems[800];
        if (res.exit_code != 0) {
            s_error_line(&res, problems, sizeof problems);
            handler_error_set(err, "check verify failed: pgbackrest verify of stanza \"%s\" "
                                   "exited %d: %s", v->cfg->pgbr.stanza, res.exit_code, problems);
            st = HANDLER_PERMANENT;
        } else if (!backup_pgbr_verify_ok(res.out, problems, sizeof problems)) {
            handler_error_set(err, "check verify failed: pgbackrest verify found damage in "
                                   "stanza \"%s\": %s", v->cfg->pgbr.stanza, problems);
            st = HANDLER_PERMANENT;
        }
    }
    toolrun_result_fini(&res);
    if (st == HANDLER_OK)
        json_array_append_new(json_object_get(v->detail, "checks"), json_string("verify"));
    return st;
}

static handler_status_t s_info_backup(s_pgbr_t *v, json_t *doc, int code, const char *smsg,
                                      json_t *b, const char *label, handler_error_t *err)
{
    (void)doc;
    if (code != 0) {
        handler_error_set(err, "check info failed: stanza \"%s\" has status %d (%s)",
                          v->cfg->pgbr.stanza, code, smsg ? smsg : "no message");
        return HANDLER_PERMANENT;
    }
    if (!b) {
        handler_error_set(err, "check info failed: stanza \"%s\" lists %s", v->cfg->pgbr.stanza,
                          label ? "no backup with that label" : "no backup");
        return HANDLER_PERMANENT;
    }
    if (json_is_true(json_object_get(b, "error"))) {
        handler_error_set(err, "check info failed: backup \"%s\" is flagged with errors "
                               "(page checksums) in stanza \"%s\"",
                          json_string_value(json_object_get(b, "label")), v->cfg->pgbr.stanza);
        return HANDLER_PERMANENT;
    }
    json_object_set(v->detail, "label", json_object_get(b, "label"));
    json_object_set(v->detail, "type", json_object_get(b, "type"));
    v->label = json_string_value(json_object_get(v->detail, "label"));
    json_array_append_new(json_object_get(v->detail, "checks"), json_string("info"));
    return HANDLER_OK;
}

static handler_status_t s_check_info(s_pgbr_t *v, const char *label, handler_error_t *err)
{
    const char *opts[] = {"--output=json", NULL};
    toolrun_result_t res;
    handler_status_t st = s_pgbr_run(v, opts, "info", &res, err);
    if (st == HANDLER_OK && res.exit_code != 0) {
        char line[600];
        s_error_line(&res, line, sizeof line);
        handler_error_set(err, "check info failed: pgbackrest info exited %d: %s", res.exit_code,
                          line);
        st = HANDLER_PERMANENT;
    }
    if (st == HANDLER_OK) {
        json_t *doc = NULL, *b = NULL;
        int code = 0;
        const char *smsg = NULL;
        char msg[300];
        if (backup_pgbr_info(res.out, v->cfg->pgbr.stanza, label, &doc, &code, &smsg, &b, msg,
                             sizeof msg) != 0) {
            handler_error_set(err, "check info failed: %s", msg);
            st = HANDLER_PERMANENT;
        } else {
            st = s_info_backup(v, doc, code, smsg, b, label, err);
        }
        json_decref(doc);
    }
    toolrun_result_fini(&res);
    return st;
}

/* ---- the scratch cluster ---------------------------------------------------- */

/* mkdir 0700, owned by the tools' user. */
static int s_mkdir(const s_pgbr_t *v, const char *path, handler_error_t *err)
{
    if (mkdir(path, 0700) != 0 ||
        (v->tool->as_user && chown(path, (uid_t)v->tool->uid, (gid_t)v->tool->gid) != 0)) {
        handler_error_set(err, "could not create scratch directory \"%s\": %s", path,
                          strerror(errno));
        return -1;
    }
    return 0;
}

/* Appends text to data/name (created if missing), owned by the tools' user. */
static int s_append(const s_pgbr_t *v, const char *name, const char *text, handler_error_t *err)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", v->data, name);
    FILE *f = fopen(path, "a");
    bool ok = f && fputs(text, f) >= 0;
    if (f && v->tool->as_user)
        ok = fchown(fileno(f), (uid_t)v->tool->uid, (gid_t)v->tool->gid) == 0 && ok;
    if (f && fclose(f) != 0)
        ok = false;
    if (!ok)
        handler_error_set(err, "could not write \"%s\": %s", path, strerror(errno));
    return ok ? 0 : -1;
}

static handler_status_t s_restore(s_pgbr_t *v, handler_error_t *err)
{
    char data_opt[PATH_MAX + 16], set_opt[96], tblspc_opt[PATH_MAX + 32];
    snprintf(data_opt, sizeof data_opt, "--pg1-path=%s", v->data);
    snprintf(set_opt, sizeof set_opt, "--set=%s", v->label);
    /* tablespaces too go to the scratch directory, never to their live paths */
    snprintf(tblspc_opt, sizeof tblspc_opt, "--tablespace-map-all=%s/tblspc", v->dir);
    const char *opts[] = {data_opt,        set_opt,       "--type=immediate",
                          "--target-action=promote",      "--archive-mode=off",
                          tblspc_opt,      "--log-level-console=warn", NULL};
    toolrun_result_t res;
    handler_status_t st = s_pgbr_run(v, opts, "restore", &res, err);
    if (st == HANDLER_OK && res.exit_code != 0) {
        char line[600];
        s_error_line(&res, line, sizeof line);
        handler_error_set(err, "check restore failed: pgbackrest restore of backup \"%s\" "
                               "exited %d: %s", v->label, res.exit_code, line);
        st = HANDLER_PERMANENT;
    }
    toolrun_result_fini(&res);
    return st;
}

/* The restored cluster's own settings, after the backup's: last one wins. */
static int s_configure(s_pgbr_t *v, handler_error_t *err)
{
    strbuf_t sb;
    strbuf_init(&sb);
    strbuf_printf(&sb,
                  "\n# orch-worker backup_verify: a throwaway restore\n"
                  "port = %d\nlisten_addresses = ''\nunix_socket_directories = '%s'\n"
                  "archive_mode = off\nhba_file = '%s/orch_hba.conf'\nident_file = '%s/orch_ident.conf'\n"
                  "shared_preload_libraries = ''\nlogging_collector = off\nhot_standby = on\n",
                  v->port, v->sock, v->data, v->data);
    int rc = s_append(v, "postgresql.conf", "", err); /* Debian keeps it in /etc: have one */
    if (rc == 0)
        rc = s_append(v, "postgresql.auto.conf", sb.data, err);
    if (rc == 0)
        rc = s_append(v, "orch_hba.conf", "local all all trust\n", err);
    if (rc == 0)
        rc = s_append(v, "orch_ident.conf", "", err);
    strbuf_fini(&sb);
    return rc;
}

static handler_status_t s_pg_ctl(s_pgbr_t *v, const char *action, handler_error_t *err)
{
    char tool[PATH_MAX], log[PATH_MAX + 32];
    snprintf(tool, sizeof tool, "%s/pg_ctl", v->cfg->bin_dir);
    snprintf(log, sizeof log, "%s/postgres.log", v->dir);
    char *start[] = {tool, "-D", v->data, "-l", log, "-w", "-t", "600", "start", NULL};
    char *stop[] = {tool, "-D", v->data, "-m", "immediate", "-w", "stop", NULL};
    bool is_start = strcmp(action, "start") == 0;
    toolrun_result_t res;
    handler_status_t st = backup_tool_run(v->tool, tool, is_start ? start : stop, &res, err);
    if (st == HANDLER_OK && res.exit_code != 0) {
        char lines[600] = "";
        FILE *f = fopen(log, "r");
        char line[300];
        while (f && fgets(line, sizeof line, f))
            if (strstr(line, "FATAL") || strstr(line, "PANIC") || strstr(line, "ERROR"))
                snprintf(lines, sizeof lines, "%.590s", line);
        if (f)
            fclose(f);
        lines[strcspn(lines, "\n")] = '\0';
        handler_error_set(err, "check restore failed: the restored backup \"%s\" did not %s: %s",
                          v->label, action, lines[0] ? lines : "see postgres.log");
        st = HANDLER_PERMANENT;
    }
    toolrun_result_fini(&res);
    if (st == HANDLER_OK && is_start)
        v->started = true;
    return st;
}

/* ---- row counts ------------------------------------------------------------ */

/* The counts and database the backup handler recorded for this backup;
 * *counts NULL when it recorded none. */
static handler_status_t s_recorded(s_pgbr_t *v, json_t **counts, char *db, size_t dblen,
                                   handler_error_t *err)
{
    *counts = NULL;
    char cerr[256];
    PGconn *conn = pgconn_get(v->cfg->database_url, cerr, sizeof cerr);
    if (!conn) {
        handler_error_set(err, "could not read the recorded row counts: %s", cerr);
        return HANDLER_RETRY;
    }
    const char *p[2] = {v->cfg->pgbr.stanza, v->label};
    PGresult *r = PQexecParams(conn, s_sql_recorded, 2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char msg[512];
        bool retry = pgconn_after_error(conn, r, "could not read the recorded row counts", msg,
                                        sizeof msg);
        handler_error_set(err, "%s", msg);
        PQclear(r);
        return retry ? HANDLER_RETRY : HANDLER_PERMANENT;
    }
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        *counts = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 1))
        snprintf(db, dblen, "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    return HANDLER_OK;
}

static handler_status_t s_compare(s_pgbr_t *v, handler_error_t *err)
{
    json_t *want = NULL;
    char db[128] = "postgres", port[16];
    handler_status_t st = s_recorded(v, &want, db, sizeof db, err);
    if (st != HANDLER_OK)
        return st;
    snprintf(port, sizeof port, "%d", v->port);
    const char *keys[] = {"host", "port", "dbname", "user", "application_name", NULL};
    const char *vals[] = {v->sock, port, db, v->cfg->restore_user, "orch-worker", NULL};
    json_t *got = NULL;
    st = backup_tool_count_rows(keys, vals, "the restored backup", &got, err);
    if (st != HANDLER_OK) {
        handler_error_set(err, "check restore failed: %.900s", err->message);
        st = HANDLER_PERMANENT; /* our own private cluster: nothing to wait for */
    } else {
        json_object_set_new(v->detail, "database", json_string(db));
        json_object_set(v->detail, "tables", got);
        json_object_set_new(v->detail, "counts_compared", json_boolean(want && v->cfg->compare_counts));
        char diff[800];
        if (want && v->cfg->compare_counts && backup_tool_compare_counts(want, got, diff, sizeof diff)) {
            handler_error_set(err, "check row counts failed: the restore of backup \"%s\" differs "
                                   "from the counts recorded when it was taken: %s", v->label, diff);
            st = HANDLER_PERMANENT;
        }
    }
    json_decref(want);
    json_decref(got);
    return st;
}

static handler_status_t s_restore_and_count(s_pgbr_t *v, handler_error_t *err)
{
    unsigned n = atomic_fetch_add(&s_counter, 1);
    snprintf(v->dir, sizeof v->dir, "%s/orch-verify-%lld-%d-%ld-%u", v->cfg->scratch_dir,
             (long long)v->ctx->job_id, v->ctx->attempt, (long)getpid(), n);
    snprintf(v->data, sizeof v->data, "%s/data", v->dir);
    snprintf(v->sock, sizeof v->sock, "%s/sock", v->dir);
    v->port = 40000 + (int)((unsigned)(v->ctx->job_id * 31u + n) % 20000u);
    json_object_set_new(v->detail, "scratch_dir", json_string(v->dir));
    backup_tool_rmtree(v->dir); /* a leftover of a crashed attempt */
    if (s_mkdir(v, v->dir, err) != 0 || s_mkdir(v, v->data, err) != 0 ||
        s_mkdir(v, v->sock, err) != 0)
        return HANDLER_RETRY;
    v->tool->cwd = v->dir; /* pg_ctl's user may not read the worker's directory */
    handler_status_t st = s_restore(v, err);
    if (st == HANDLER_OK && s_configure(v, err) != 0)
        st = HANDLER_RETRY;
    if (st == HANDLER_OK && !handler_kit_must_stop(v->ctx, "the restore's start", &st, err))
        st = s_pg_ctl(v, "start", err);
    if (st == HANDLER_OK && !handler_kit_must_stop(v->ctx, "row counts", &st, err))
        st = s_compare(v, err);
    if (st == HANDLER_OK)
        json_array_append_new(json_object_get(v->detail, "checks"), json_string("restore"));
    return st;
}

/* Stops the throwaway cluster and removes its directory, whatever happened. */
static void s_cleanup(s_pgbr_t *v)
{
    if (v->started) {
        handler_error_t e;
        /* a cancelled job still stops its cluster: clear the budget's cancel */
        atomic_bool never = false;
        atomic_bool *saved = v->ctx->cancelled;
        v->ctx->cancelled = &never;
        if (s_pg_ctl(v, "stop", &e) != HANDLER_OK)
            LOG_WARN("backup_verify could not stop the scratch cluster dir=%s error=\"%s\"",
                     v->dir, e.message);
        v->ctx->cancelled = saved;
    }
    if (v->dir[0] && backup_tool_rmtree(v->dir) != 0)
        LOG_WARN("backup_verify could not remove the scratch directory dir=%s", v->dir);
    v->tool->cwd = NULL;
}

handler_status_t backup_verify_pgbackrest(handler_ctx_t *ctx, const backup_config_t *cfg,
                                          backup_tool_t *tool, const char *label, bool restore,
                                          json_t *detail, handler_error_t *err)
{
    s_pgbr_t v = {.ctx = ctx, .cfg = cfg, .tool = tool, .detail = detail};
    json_object_set_new(detail, "stanza", json_string(cfg->pgbr.stanza));
    json_object_set_new(detail, "checks", json_array());
    json_object_set_new(detail, "restore", json_boolean(restore));
    handler_status_t st = s_check_verify(&v, err);
    if (st == HANDLER_OK && !handler_kit_must_stop(ctx, "pgbackrest info", &st, err))
        st = s_check_info(&v, label, err);
    if (st == HANDLER_OK && restore) {
        st = s_restore_and_count(&v, err);
        s_cleanup(&v);
    }
    if (st == HANDLER_PERMANENT)
        json_object_set_new(detail, "failed_check",
                            json_string(strstr(err->message, "check verify") ? "verify"
                                        : strstr(err->message, "check info")  ? "info"
                                        : strstr(err->message, "check row")   ? "row counts"
                                                                              : "restore"));
    return st;
}
