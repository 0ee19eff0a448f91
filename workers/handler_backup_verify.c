/* backup_verify handler.
 *
 * Security: the payload names only a kind and a path. The path must resolve
 * (realpath, symlinks followed) under a configured allowed root; the tools
 * come from backup_verify.bin_dir and run with fork/execve and an argument
 * vector (toolrun.c), never through a shell. Database passwords reach the
 * tools through their environment (PGPASSWORD etc.), not the command line. */
#include "handler_backup_verify.h"

#include "clock.h"
#include "handler_kit.h"
#include "log.h"
#include "orch_error.h"
#include "pgconn.h"
#include "strbuf.h"
#include "toolrun.h"
#include "backup_tool.h"
#include "xalloc.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BACKUP_PATH_MAX 4096

static const char *const s_sql_record =
    "INSERT INTO backup_verifications (path, kind, ok, detail, duration_ms, job_id, attempt) "
    "VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)";
static atomic_uint s_scratch_counter;

/* ---- pure parts ------------------------------------------------------- */

int backup_resolve_path(const char *path, char *const *roots, size_t nroots, char **resolved,
                        handler_error_t *err)
{
    *resolved = NULL;
    if (!path || path[0] != '/') {
        handler_error_set(err, "backup path must be absolute");
        return ORCH_EPERM;
    }
    char *real = realpath(path, NULL);
    if (!real) {
        handler_error_set(err, "cannot resolve backup path \"%.512s\": %s", path, strerror(errno));
        return ORCH_ENOTFOUND;
    }
    for (size_t i = 0; i < nroots; i++) {
        char *root = realpath(roots[i], NULL);
        if (!root)
            continue; /* a missing root allows nothing */
        size_t n = strlen(root);
        bool inside = strncmp(real, root, n) == 0 &&
                      (real[n] == '\0' || real[n] == '/' || (n == 1 && root[0] == '/'));
        free(root);
        if (inside) {
            *resolved = real;
            return 0;
        }
    }
    handler_error_set(err, "backup path \"%.512s\" is not under an allowed root "
                           "(backup_verify.allowed_roots)", path);
    free(real);
    return ORCH_EPERM;
}

void backup_first_lines(const char *text, int max_lines, char *out, size_t outlen)
{
    strbuf_t sb;
    strbuf_init(&sb);
    int lines = 0;
    for (const char *p = text ? text : ""; *p && lines < max_lines;) {
        size_t n = strcspn(p, "\n");
        size_t start = 0;
        while (start < n && (p[start] == ' ' || p[start] == '\t' || p[start] == '\r'))
            start++;
        size_t end = n;
        while (end > start && (p[end - 1] == ' ' || p[end - 1] == '\r'))
            end--;
        if (end > start) {
            if (lines++ > 0)
                strbuf_puts(&sb, "; ");
            strbuf_append(&sb, p + start, end - start);
        }
        p += n + (p[n] ? 1 : 0);
    }
    snprintf(out, outlen, "%s", sb.data);
    strbuf_fini(&sb);
}

size_t backup_count_toc(const char *listing)
{
    size_t n = 0;
    for (const char *p = listing ? listing : ""; *p;) {
        size_t len = strcspn(p, "\n");
        if (len > 0 && p[0] != ';')
            n++;
        p += len + (p[len] ? 1 : 0);
    }
    return n;
}

/* ---- job state -------------------------------------------------------- */

typedef struct {
    handler_ctx_t *ctx;
    const backup_config_t *cfg;
    const char *kind;
    const char *path_given;
    char *path;     /* resolved, owned */
    bool restore;
    json_t *detail; /* what the backup_verifications row says */
    const char *label; /* pgbackrest: the backup to check, NULL: the newest */
    backup_tool_t tool; /* how tools run: environment, user, budget */
    int64_t started_ms;
} s_job_t;

/* Runs bin_dir/tool with argv; fills detail.exit_code. Returns HANDLER_OK
 * when the tool ran to an exit (any code, in res->exit_code). */
static handler_status_t s_tool(s_job_t *job, const char *tool, char *argv[],
                               toolrun_result_t *res, handler_error_t *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", job->cfg->bin_dir, tool);
    handler_status_t st = backup_tool_run(&job->tool, path, argv, res, err);
    if (st == HANDLER_OK)
        json_object_set_new(job->detail, "exit_code", json_integer(res->exit_code));
    return st;
}

/* ---- basebackup -------------------------------------------------------- */

static handler_status_t s_verify_basebackup(s_job_t *job, handler_error_t *err)
{
    json_object_set_new(job->detail, "tool", json_string("pg_verifybackup"));
    char *argv[] = {"pg_verifybackup", job->path, NULL};
    toolrun_result_t res;
    handler_status_t st = s_tool(job, "pg_verifybackup", argv, &res, err);
    if (st == HANDLER_OK) {
        char lines[800];
        if (res.exit_code == 0) {
            backup_first_lines(res.out, 1, lines, sizeof lines);
            json_object_set_new(job->detail, "output", json_string(lines));
        } else {
            backup_first_lines(res.err, 3, lines, sizeof lines);
            handler_error_set(err, "pg_verifybackup found problems in \"%.200s\": %s", job->path,
                              lines);
            st = HANDLER_PERMANENT;
        }
    }
    toolrun_result_fini(&res);
    return st;
}

/* ---- dump ------------------------------------------------------------- */

static handler_status_t s_list_dump(s_job_t *job, handler_error_t *err)
{
    json_object_set_new(job->detail, "tool", json_string("pg_restore"));
    char *argv[] = {"pg_restore", "--list", job->path, NULL};
    toolrun_result_t res;
    handler_status_t st = s_tool(job, "pg_restore", argv, &res, err);
    if (st == HANDLER_OK) {
        if (res.exit_code == 0) {
            json_object_set_new(job->detail, "toc_entries",
                                json_integer((json_int_t)backup_count_toc(res.out)));
        } else {
            char lines[800];
            backup_first_lines(res.err, 3, lines, sizeof lines);
            handler_error_set(err, "pg_restore --list rejected \"%.200s\": %s", job->path, lines);
            st = HANDLER_PERMANENT;
        }
    }
    toolrun_result_fini(&res);
    return st;
}

/* Runs "<before><quoted db><after>" on the control connection. */
static handler_status_t s_admin(s_job_t *job, const char *verb, const char *before,
                                const char *after, const char *db, handler_error_t *err)
{
    char cerr[256];
    PGconn *conn = pgconn_get(job->cfg->database_url, cerr, sizeof cerr);
    if (!conn) {
        handler_error_set(err, "%s", cerr);
        return HANDLER_RETRY;
    }
    /* Identifiers cannot be parameters; the name is ours ([a-z0-9_]) and quoted anyway. */
    char *ident = PQescapeIdentifier(conn, db, strlen(db));
    char sql[256];
    snprintf(sql, sizeof sql, "%s%s%s", before, ident ? ident : "\"\"", after);
    PQfreemem(ident);
    bool retry = true;
    char msg[512];
    if (pgconn_exec(conn, sql, &retry, msg, sizeof msg) != 0) {
        handler_error_set(err, "could not %s scratch database %s: %s", verb, db, msg);
        return retry ? HANDLER_RETRY : HANDLER_PERMANENT;
    }
    return HANDLER_OK;
}

static handler_status_t s_count_rows(s_job_t *job, const char *db, handler_error_t *err)
{
    const char *keys[] = {"dbname", "dbname", "application_name", NULL};
    const char *vals[] = {job->cfg->database_url, db, "orch-worker", NULL};
    char what[128];
    snprintf(what, sizeof what, "scratch database %s", db);
    json_t *counts = NULL;
    handler_status_t st = backup_tool_count_rows(keys, vals, what, &counts, err);
    json_object_set_new(job->detail, "tables", counts ? counts : json_object());
    return st;
}

static bool s_connection_trouble(const char *text)
{
    return strstr(text, "could not connect") || strstr(text, "connection to server") ||
           strstr(text, "server closed the connection");
}

static handler_status_t s_restore_into(s_job_t *job, const char *db, handler_error_t *err)
{
    char *argv[] = {"pg_restore", "-d", (char *)db, "--exit-on-error", "--no-owner",
                    "--no-privileges", job->path, NULL};
    toolrun_result_t res;
    handler_status_t st = s_tool(job, "pg_restore", argv, &res, err);
    if (st == HANDLER_OK && res.exit_code != 0) {
        char lines[800];
        backup_first_lines(res.err, 3, lines, sizeof lines);
        handler_error_set(err, "pg_restore could not restore \"%.200s\": %s", job->path, lines);
        st = s_connection_trouble(res.err) ? HANDLER_RETRY : HANDLER_PERMANENT;
    }
    toolrun_result_fini(&res);
    if (st == HANDLER_OK && !handler_kit_must_stop(job->ctx, "row counts", &st, err))
        st = s_count_rows(job, db, err);
    return st;
}

static handler_status_t s_verify_dump(s_job_t *job, handler_error_t *err)
{
    handler_status_t st = s_list_dump(job, err);
    json_object_set_new(job->detail, "restore", json_boolean(job->restore));
    if (st != HANDLER_OK || !job->restore)
        return st;
    char db[64];
    snprintf(db, sizeof db, "orch_verify_%lld_%d_%d_%u", (long long)job->ctx->job_id,
             job->ctx->attempt, (int)getpid() % 100000, atomic_fetch_add(&s_scratch_counter, 1));
    json_object_set_new(job->detail, "scratch_db", json_string(db));
    st = s_admin(job, "create", "CREATE DATABASE ", "", db, err);
    if (st != HANDLER_OK)
        return st;
    st = s_restore_into(job, db, err);
    handler_error_t drop_err;
    if (s_admin(job, "drop", "DROP DATABASE IF EXISTS ", " WITH (FORCE)", db, &drop_err) !=
        HANDLER_OK) {
        LOG_WARN("backup_verify could not drop scratch database db=%s error=\"%s\"", db,
                 drop_err.message);
        json_object_set_new(job->detail, "drop_error", json_string(drop_err.message));
    }
    return st;
}

/* ---- record and run --------------------------------------------------- */

static handler_status_t s_record(s_job_t *job, const char *path, bool ok, handler_error_t *err)
{
    char cerr[256];
    PGconn *conn = pgconn_get(job->cfg->database_url, cerr, sizeof cerr);
    if (!conn) {
        handler_error_set(err, "could not record the verification: %s", cerr);
        return HANDLER_RETRY;
    }
    char *detail = json_dumps(job->detail, JSON_COMPACT);
    char dur[32], jid[32], att[16];
    snprintf(dur, sizeof dur, "%lld", (long long)(clock_mono_ms() - job->started_ms));
    snprintf(jid, sizeof jid, "%lld", (long long)job->ctx->job_id);
    snprintf(att, sizeof att, "%d", job->ctx->attempt);
    const char *p[7] = {path, job->kind, ok ? "t" : "f", detail,
                        dur, jid, att};
    PGresult *r = PQexecParams(conn, s_sql_record, 7, NULL, p, NULL, NULL, 0);
    free(detail);
    handler_status_t st = HANDLER_OK;
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        char msg[512];
        pgconn_after_error(conn, r, "could not record the verification", msg, sizeof msg);
        handler_error_set(err, "%s", msg);
        st = HANDLER_RETRY; /* the record is part of the job: verify again later */
    }
    PQclear(r);
    return st;
}

static int s_parse(const json_t *payload, s_job_t *job, handler_error_t *err)
{
    if (!json_is_object(payload)) {
        handler_error_set(err, "payload must be a json object");
        return ORCH_EINVAL;
    }
    job->kind = json_string_value(json_object_get(payload, "kind"));
    bool pgbr = job->kind && strcmp(job->kind, "pgbackrest") == 0;
    if (!job->kind ||
        (!pgbr && strcmp(job->kind, "basebackup") != 0 && strcmp(job->kind, "dump") != 0)) {
        handler_error_set(err, "payload field \"kind\" must be \"basebackup\", \"dump\" or "
                               "\"pgbackrest\"");
        return ORCH_EINVAL;
    }
    if (!handler_kit_opt_string(payload, "path", BACKUP_PATH_MAX, &job->path_given, err) ||
        !handler_kit_opt_string(payload, "label", 64, &job->label, err))
        return ORCH_EINVAL;
    if (pgbr ? job->path_given != NULL : job->path_given == NULL) {
        handler_error_set(err, pgbr ? "payload field \"path\" is not accepted with kind "
                                      "pgbackrest: the repository comes from the worker's "
                                      "configuration (use \"label\")"
                                    : "payload field \"path\" is required");
        return ORCH_EINVAL;
    }
    if (job->label && (!pgbr || backup_tool_check_word(job->label))) {
        handler_error_set(err, "payload field \"label\" must be a pgBackRest backup label "
                               "(kind pgbackrest only)");
        return ORCH_EINVAL;
    }
    json_t *restore = json_object_get(payload, "restore");
    if (restore && !json_is_boolean(restore)) {
        handler_error_set(err, "payload field \"restore\" must be true or false");
        return ORCH_EINVAL;
    }
    /* a pgBackRest backup is restored unless the payload says otherwise */
    job->restore = restore ? json_is_true(restore) : pgbr;
    return 0;
}

static handler_status_t s_verify(s_job_t *job, handler_error_t *err)
{
    const backup_config_t *cfg = job->cfg;
    handler_status_t st = backup_tool_init(&job->tool, job->ctx, cfg->database_url,
                                           cfg->pgbr.cipher_pass_file, cfg->run_as,
                                           cfg->timeout_ms, err);
    if (st != HANDLER_OK)
        return st;
    if (strcmp(job->kind, "pgbackrest") == 0) {
        if (!cfg->pgbr.stanza) {
            handler_error_set(err, "kind pgbackrest is not configured on this worker "
                                   "(backup_verify.stanza)");
            return HANDLER_PERMANENT;
        }
        return backup_verify_pgbackrest(job->ctx, cfg, &job->tool, job->label, job->restore,
                                        job->detail, err);
    }
    if (backup_resolve_path(job->path_given, cfg->allowed_roots, cfg->nallowed_roots, &job->path,
                            err) != 0)
        return HANDLER_PERMANENT;
    if (strcmp(job->kind, "basebackup") == 0)
        return s_verify_basebackup(job, err);
    return s_verify_dump(job, err);
}

/* What the record's path column says. */
static const char *s_record_path(s_job_t *job, char *buf, size_t len)
{
    if (strcmp(job->kind, "pgbackrest") != 0)
        return job->path ? job->path : job->path_given;
    const char *label = json_string_value(json_object_get(job->detail, "label"));
    snprintf(buf, len, "pgbackrest:%s:%s", job->cfg->pgbr.stanza ? job->cfg->pgbr.stanza : "-",
             label ? label : (job->label ? job->label : "latest"));
    return buf;
}

static handler_status_t s_run(handler_ctx_t *ctx, const json_t *payload, json_t **result,
                              handler_error_t *err)
{
    s_job_t job = {.ctx = ctx, .cfg = ctx->conf, .started_ms = clock_mono_ms()};
    if (!job.cfg || !job.cfg->database_url || !job.cfg->bin_dir) {
        handler_error_set(err, "backup_verify.database_url or backup_verify.bin_dir is not "
                               "configured");
        return HANDLER_PERMANENT;
    }
    if (s_parse(payload, &job, err) != 0)
        return HANDLER_PERMANENT;
    job.detail = json_object();
    handler_status_t st = s_verify(&job, err);
    if (st != HANDLER_OK)
        json_object_set_new(job.detail, "error", json_string(err->message));
    handler_error_t rec_err;
    char pbuf[256];
    const char *rpath = s_record_path(&job, pbuf, sizeof pbuf);
    handler_status_t rec = s_record(&job, rpath, st == HANDLER_OK, &rec_err);
    if (rec != HANDLER_OK && st != HANDLER_CANCELLED) {
        if (st == HANDLER_OK)
            *err = rec_err;
        else
            handler_error_set(err, "%.500s (and %.400s)", json_string_value(json_object_get(
                                                              job.detail, "error")),
                              rec_err.message);
        st = HANDLER_RETRY;
    }
    if (st == HANDLER_OK) {
        *result = json_pack("{s:s, s:s, s:b, s:O}", "path", rpath, "kind", job.kind, "ok", 1,
                            "detail", job.detail);
        LOG_INFO("backup_verify ok job=%lld kind=%s path=%s", (long long)ctx->job_id, job.kind,
                 rpath);
    }
    json_decref(job.detail);
    backup_tool_fini(&job.tool);
    free(job.path);
    return st;
}

/* Refuses to start a worker that enables backup_verify without what it needs. */
static int s_init(const void *conf, void **state, handler_error_t *err)
{
    const backup_config_t *cfg = conf;
    *state = NULL;
    if (!cfg->database_url || !cfg->bin_dir || (cfg->nallowed_roots == 0 && !cfg->pgbr.stanza)) {
        handler_error_set(err, "backup_verify needs database_url (or ORCH_DATABASE_URL), bin_dir "
                               "and at least one allowed_roots entry (or a stanza)");
        return ORCH_ECONFIG;
    }
    unsigned uid = 0, gid = 0;
    if (cfg->run_as &&
        backup_tool_user(cfg->run_as, &uid, &gid, err->message, sizeof err->message) != 0)
        return ORCH_ECONFIG;
    if (cfg->run_as && getuid() != 0 && uid != getuid()) {
        handler_error_set(err, "backup_verify.run_as \"%s\" needs the worker to run as root (or "
                               "as %s)", cfg->run_as, cfg->run_as);
        return ORCH_ECONFIG;
    }
    if (cfg->pgbr.stanza && getuid() == 0 && (!cfg->run_as || uid == 0)) {
        handler_error_set(err, "backup_verify.run_as must name a user other than root when the "
                               "worker runs as root and a stanza is set: pg_ctl, which starts "
                               "the restored cluster, refuses to run as root");
        return ORCH_ECONFIG;
    }
    return 0;
}

#define OFF(field) offsetof(backup_config_t, field)
/* clang-format off */
static const cfgtab_key_t s_keys[] = {
    CFGTAB_K_LIST("allowed_roots", OFF(allowed_roots), OFF(nallowed_roots), NULL, 0, 64, NULL,
                  cfgtab_check_abs_path),
    HANDLER_KIT_DATABASE_URL(OFF(database_url)),
    CFGTAB_K_STR("bin_dir", OFF(bin_dir), "/usr/lib/postgresql/15/bin", 0, NULL,
                 cfgtab_check_abs_path),
    CFGTAB_K_DUR("timeout", OFF(timeout_ms), "10m", CFGTAB_SEC, CFGTAB_DAY),
    BACKUP_PGBR_KEYS(OFF(pgbr)),
    CFGTAB_K_STR("run_as", OFF(run_as), NULL, CFGTAB_NULLABLE, NULL, backup_tool_check_word),
    CFGTAB_K_STR("scratch_dir", OFF(scratch_dir), "/var/tmp", 0, NULL, backup_verify_check_dir),
    CFGTAB_K_STR("restore_user", OFF(restore_user), "postgres", 0, NULL, backup_tool_check_word),
    CFGTAB_K_BOOL("compare_counts", OFF(compare_counts), "true"),
};
/* clang-format on */

static int s_check(cfgsection_ctx_t *cx, void *conf)
{
    const backup_config_t *cfg = conf;
    int rc = handler_kit_require_db(cx, cfg->database_url, "backup_verify");
    if (rc == 0 && cfgsection_enabled(cx) && cfg->nallowed_roots == 0 && !cfg->pgbr.stanza)
        rc = cfgsection_fail(cx, "allowed_roots",
                             "at least one root (or a stanza) is required when the "
                             "backup_verify handler is enabled");
    return rc;
}

const handler_t handler_backup_verify = {
    .name = "backup_verify",
    .config = {CFGSECTION_KEYS(s_keys, backup_config_t), .check = s_check},
    .init = s_init,
    .run = s_run,
};
