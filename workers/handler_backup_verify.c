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
#include "xalloc.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

#define BACKUP_PATH_MAX 4096
#define BACKUP_MAX_TABLES 10000

static const char *const s_sql_record =
    "INSERT INTO backup_verifications (path, kind, ok, detail, duration_ms, job_id, attempt) "
    "VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)";
static const char *const s_sql_tables =
    "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_toast%' ORDER BY 1, 2";

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
    char **envp;    /* environment for the tools, owned */
    int64_t started_ms;
} s_job_t;

static bool s_env_skip(const char *entry, char *const *set, size_t nset)
{
    if (strncmp(entry, "ORCH_", 5) == 0)
        return true; /* the worker's own secrets stay with the worker */
    size_t name = strcspn(entry, "=");
    for (size_t i = 0; i < nset; i++)
        if (strncmp(entry, set[i], name) == 0 && set[i][name] == '=')
            return true;
    return false;
}

/* The worker's environment, minus ORCH_*, plus PGHOST, PGPORT, PGUSER,
 * PGPASSWORD, ... from backup_verify.database_url (dbname excluded: each
 * tool gets its database on the command line). */
static char **s_tool_env(const char *conninfo)
{
    size_t nset = 0, cap = 16;
    char **set = xcalloc(cap, sizeof *set);
    PQconninfoOption *opts = conninfo ? PQconninfoParse(conninfo, NULL) : NULL;
    for (PQconninfoOption *o = opts; o && o->keyword; o++) {
        if (!o->val || !o->envvar || strcmp(o->keyword, "dbname") == 0)
            continue;
        if (nset + 1 >= cap)
            set = xrealloc(set, (cap *= 2) * sizeof *set);
        strbuf_t sb;
        strbuf_init(&sb);
        strbuf_printf(&sb, "%s=%s", o->envvar, o->val);
        set[nset++] = strbuf_detach(&sb);
    }
    PQconninfoFree(opts);
    size_t nenv = 0;
    while (environ && environ[nenv])
        nenv++;
    char **envp = xcalloc(nenv + nset + 1, sizeof *envp);
    size_t k = 0;
    for (size_t i = 0; i < nenv; i++)
        if (!s_env_skip(environ[i], set, nset))
            envp[k++] = xstrdup(environ[i]);
    for (size_t i = 0; i < nset; i++)
        envp[k++] = set[i];
    free(set);
    return envp;
}

static void s_env_free(char **envp)
{
    for (size_t i = 0; envp && envp[i]; i++) {
        memset(envp[i], 0, strlen(envp[i])); /* may hold PGPASSWORD */
        free(envp[i]);
    }
    free(envp);
}

/* Runs bin_dir/tool with argv; fills detail.exit_code. Returns HANDLER_OK
 * when the tool ran to an exit (any code, in *exit_code). */
static handler_status_t s_tool(s_job_t *job, const char *tool, char *argv[],
                               toolrun_result_t *res, handler_error_t *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", job->cfg->bin_dir, tool);
    /* argv[0] is the full path: PostgreSQL tools locate their siblings
     * (pg_verifybackup runs pg_waldump) from it, not from PATH */
    argv[0] = path;
    int64_t limit = job->cfg->timeout_ms > 0 ? job->cfg->timeout_ms : 600000;
    int64_t budget = handler_kit_budget_ms(job->ctx, limit);
    char msg[512];
    if (toolrun_run(path, argv, job->envp, budget, job->ctx->cancelled, res, msg, sizeof msg) != 0) {
        handler_error_set(err, "%s", msg);
        return HANDLER_PERMANENT; /* a missing or broken tool: fix the configuration */
    }
    if (res->cancelled) {
        handler_error_set(err, "cancelled while %s was running", tool);
        return HANDLER_CANCELLED;
    }
    if (res->timed_out) {
        handler_error_set(err, "%s did not finish within %lld ms", tool, (long long)budget);
        return HANDLER_RETRY;
    }
    if (!res->exited) {
        handler_error_set(err, "%s was killed by signal %d", tool, res->term_signal);
        return HANDLER_RETRY;
    }
    json_object_set_new(job->detail, "exit_code", json_integer(res->exit_code));
    return HANDLER_OK;
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
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    handler_status_t st = HANDLER_OK;
    PGresult *tables = NULL;
    if (PQstatus(conn) != CONNECTION_OK ||
        PQresultStatus(tables = PQexec(conn, s_sql_tables)) != PGRES_TUPLES_OK) {
        handler_error_set(err, "could not list tables of scratch database %s: %.300s", db,
                          PQerrorMessage(conn));
        st = HANDLER_RETRY;
    }
    json_t *counts = json_object();
    for (int i = 0; st == HANDLER_OK && i < PQntuples(tables) && i < BACKUP_MAX_TABLES; i++) {
        const char *ns = PQgetvalue(tables, i, 0), *rel = PQgetvalue(tables, i, 1);
        char *qn = PQescapeIdentifier(conn, ns, strlen(ns));
        char *qr = PQescapeIdentifier(conn, rel, strlen(rel));
        strbuf_t sql, name;
        strbuf_init(&sql);
        strbuf_init(&name);
        strbuf_printf(&sql, "SELECT count(*) FROM %s.%s", qn, qr);
        strbuf_printf(&name, "%s.%s", ns, rel);
        PQfreemem(qn);
        PQfreemem(qr);
        PGresult *r = PQexec(conn, sql.data);
        if (PQresultStatus(r) == PGRES_TUPLES_OK)
            json_object_set_new(counts, name.data,
                                json_integer(strtoll(PQgetvalue(r, 0, 0), NULL, 10)));
        else {
            handler_error_set(err, "could not count rows of %s in the restored dump: %.300s",
                              name.data, PQresultErrorMessage(r));
            st = HANDLER_PERMANENT;
        }
        PQclear(r);
        strbuf_fini(&sql);
        strbuf_fini(&name);
    }
    json_object_set_new(job->detail, "tables", counts);
    PQclear(tables);
    PQfinish(conn);
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

static handler_status_t s_record(s_job_t *job, bool ok, handler_error_t *err)
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
    const char *p[7] = {job->path ? job->path : job->path_given, job->kind, ok ? "t" : "f", detail,
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
    if (!job->kind || (strcmp(job->kind, "basebackup") != 0 && strcmp(job->kind, "dump") != 0)) {
        handler_error_set(err, "payload field \"kind\" must be \"basebackup\" or \"dump\"");
        return ORCH_EINVAL;
    }
    if (!handler_kit_opt_string(payload, "path", BACKUP_PATH_MAX, &job->path_given, err))
        return ORCH_EINVAL;
    if (!job->path_given) {
        handler_error_set(err, "payload field \"path\" is required");
        return ORCH_EINVAL;
    }
    json_t *restore = json_object_get(payload, "restore");
    if (restore && !json_is_boolean(restore)) {
        handler_error_set(err, "payload field \"restore\" must be true or false");
        return ORCH_EINVAL;
    }
    job->restore = json_is_true(restore);
    return 0;
}

static handler_status_t s_verify(s_job_t *job, handler_error_t *err)
{
    if (backup_resolve_path(job->path_given, job->cfg->allowed_roots, job->cfg->nallowed_roots,
                            &job->path, err) != 0)
        return HANDLER_PERMANENT;
    job->envp = s_tool_env(job->cfg->database_url);
    if (strcmp(job->kind, "basebackup") == 0)
        return s_verify_basebackup(job, err);
    return s_verify_dump(job, err);
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
    handler_status_t rec = s_record(&job, st == HANDLER_OK, &rec_err);
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
        *result = json_pack("{s:s, s:s, s:b, s:O}", "path", job.path, "kind", job.kind, "ok", 1,
                            "detail", job.detail);
        LOG_INFO("backup_verify ok job=%lld kind=%s path=%s", (long long)ctx->job_id, job.kind,
                 job.path);
    }
    json_decref(job.detail);
    s_env_free(job.envp);
    free(job.path);
    return st;
}

/* Refuses to start a worker that enables backup_verify without what it needs. */
static int s_init(const void *conf, void **state, handler_error_t *err)
{
    const backup_config_t *cfg = conf;
    *state = NULL;
    if (!cfg->database_url || !cfg->bin_dir || cfg->nallowed_roots == 0) {
        handler_error_set(err, "backup_verify needs database_url (or ORCH_DATABASE_URL), bin_dir "
                               "and at least one allowed_roots entry");
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
};
/* clang-format on */

static int s_check(cfgsection_ctx_t *cx, void *conf)
{
    const backup_config_t *cfg = conf;
    int rc = handler_kit_require_db(cx, cfg->database_url, "backup_verify");
    if (rc == 0 && cfgsection_enabled(cx) && cfg->nallowed_roots == 0)
        rc = cfgsection_fail(cx, "allowed_roots",
                             "at least one root is required when the backup_verify handler is "
                             "enabled");
    return rc;
}

const handler_t handler_backup_verify = {
    .name = "backup_verify",
    .config = {CFGSECTION_KEYS(s_keys, backup_config_t), .check = s_check},
    .init = s_init,
    .run = s_run,
};
