#include "backup_tool.h"

#include "handler_kit.h"
#include "orch_error.h"
#include "strbuf.h"
#include "xalloc.h"

#include <errno.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

#define BACKUP_MAX_TABLES 10000
#define BACKUP_CIPHER_ENV "PGBACKREST_REPO1_CIPHER_PASS"

static const char *const s_sql_tables =
    "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_toast%' ORDER BY 1, 2";

const char *backup_tool_check_word(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                      "0123456789_.-") != n || s[0] == '-')
        return "1..64 of [A-Za-z0-9_.-], not starting with '-'";
    return NULL;
}

/* ---- environment and user ------------------------------------------- */

static bool s_env_skip(const char *entry, char *const *set, size_t nset)
{
    if (strncmp(entry, "ORCH_", 5) == 0 || strncmp(entry, BACKUP_CIPHER_ENV "=",
                                                   sizeof BACKUP_CIPHER_ENV) == 0)
        return true; /* the worker's own secrets stay with the worker */
    size_t name = strcspn(entry, "=");
    for (size_t i = 0; i < nset; i++)
        if (strncmp(entry, set[i], name) == 0 && set[i][name] == '=')
            return true;
    return false;
}

static void s_push(char ***set, size_t *n, size_t *cap, char *entry)
{
    if (*n + 1 >= *cap)
        *set = xrealloc(*set, (*cap *= 2) * sizeof **set);
    (*set)[(*n)++] = entry;
}

/* The passphrase file's first line: PGBACKREST_REPO1_CIPHER_PASS=... */
static char *s_cipher_entry(const char *file, handler_error_t *err)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        handler_error_set(err, "could not read cipher_pass_file \"%s\": %s", file,
                          strerror(errno));
        return NULL;
    }
    char line[1024] = "";
    bool got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    if (!got || !line[0]) {
        handler_error_set(err, "cipher_pass_file \"%s\" is empty", file);
        return NULL;
    }
    strbuf_t sb;
    strbuf_init(&sb);
    strbuf_printf(&sb, "%s=%s", BACKUP_CIPHER_ENV, line);
    memset(line, 0, sizeof line);
    return strbuf_detach(&sb);
}

static char **s_env(const char *conninfo, char *cipher)
{
    size_t nset = 0, cap = 16;
    char **set = xcalloc(cap, sizeof *set);
    PQconninfoOption *opts = conninfo ? PQconninfoParse(conninfo, NULL) : NULL;
    for (PQconninfoOption *o = opts; o && o->keyword; o++) {
        if (!o->val || !o->envvar || strcmp(o->keyword, "dbname") == 0)
            continue;
        strbuf_t sb;
        strbuf_init(&sb);
        strbuf_printf(&sb, "%s=%s", o->envvar, o->val);
        s_push(&set, &nset, &cap, strbuf_detach(&sb));
    }
    PQconninfoFree(opts);
    if (cipher)
        s_push(&set, &nset, &cap, cipher);
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

int backup_tool_user(const char *name, unsigned *uid, unsigned *gid, char *msg, size_t msglen)
{
    struct passwd pw, *found = NULL;
    char buf[4096];
    int rc = getpwnam_r(name, &pw, buf, sizeof buf, &found);
    if (rc != 0 || !found) {
        snprintf(msg, msglen, "cannot run tools as \"%s\": %s", name,
                 rc ? strerror(rc) : "no such user");
        return ORCH_ENOTFOUND;
    }
    *uid = (unsigned)pw.pw_uid;
    *gid = (unsigned)pw.pw_gid;
    return 0;
}

handler_status_t backup_tool_init(backup_tool_t *t, handler_ctx_t *ctx, const char *conninfo,
                                  const char *cipher_pass_file, const char *run_as,
                                  int64_t limit_ms, handler_error_t *err)
{
    *t = (backup_tool_t){.ctx = ctx, .limit_ms = limit_ms > 0 ? limit_ms : 600000};
    char *cipher = NULL;
    if (cipher_pass_file && !(cipher = s_cipher_entry(cipher_pass_file, err)))
        return HANDLER_PERMANENT;
    t->envp = s_env(conninfo, cipher);
    if (run_as && getuid() == 0) {
        /* not root: tools run as the worker's own user (the check at start
         * refuses a run_as naming someone else) */
        if (backup_tool_user(run_as, &t->uid, &t->gid, err->message, sizeof err->message) != 0)
            return HANDLER_PERMANENT;
        t->as_user = t->uid != 0;
    }
    return HANDLER_OK;
}

void backup_tool_fini(backup_tool_t *t)
{
    for (size_t i = 0; t->envp && t->envp[i]; i++) {
        memset(t->envp[i], 0, strlen(t->envp[i])); /* may hold passwords */
        free(t->envp[i]);
    }
    free(t->envp);
    t->envp = NULL;
}

handler_status_t backup_tool_run(backup_tool_t *t, const char *path, char *argv[],
                                 toolrun_result_t *res, handler_error_t *err)
{
    /* argv[0] is the full path: PostgreSQL tools locate their siblings
     * (pg_verifybackup runs pg_waldump) from it, not from PATH */
    argv[0] = (char *)path;
    const char *tool = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    int64_t budget = handler_kit_budget_ms(t->ctx, t->limit_ms);
    toolrun_opts_t o = {.path = path,
                        .argv = argv,
                        .envp = t->envp,
                        .cwd = t->cwd ? t->cwd : (t->as_user ? "/" : NULL),
                        .timeout_ms = budget,
                        .cancelled = t->ctx->cancelled,
                        .as_user = t->as_user,
                        .run_uid = t->uid,
                        .run_gid = t->gid};
    char msg[512];
    if (toolrun_spawn(&o, res, msg, sizeof msg) != 0) {
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
    return HANDLER_OK;
}

/* ---- row counts -------------------------------------------------------- */

static handler_status_t s_count_one(PGconn *conn, const char *ns, const char *rel,
                                    json_t *counts, handler_error_t *err)
{
    char *qn = PQescapeIdentifier(conn, ns, strlen(ns));
    char *qr = PQescapeIdentifier(conn, rel, strlen(rel));
    strbuf_t sql, name;
    strbuf_init(&sql);
    strbuf_init(&name);
    strbuf_printf(&sql, "SELECT count(*) FROM %s.%s", qn ? qn : "\"\"", qr ? qr : "\"\"");
    strbuf_printf(&name, "%s.%s", ns, rel);
    PQfreemem(qn);
    PQfreemem(qr);
    handler_status_t st = HANDLER_OK;
    PGresult *r = PQexec(conn, sql.data);
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        json_object_set_new(counts, name.data, json_integer(strtoll(PQgetvalue(r, 0, 0), NULL, 10)));
    else {
        handler_error_set(err, "could not count rows of %s: %.300s", name.data,
                          PQresultErrorMessage(r));
        st = HANDLER_PERMANENT;
    }
    PQclear(r);
    strbuf_fini(&sql);
    strbuf_fini(&name);
    return st;
}

handler_status_t backup_tool_count_rows(const char *const *keys, const char *const *vals,
                                        const char *what, json_t **counts, handler_error_t *err)
{
    *counts = NULL;
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    PGresult *tables = NULL;
    if (PQstatus(conn) != CONNECTION_OK ||
        PQresultStatus(tables = PQexec(conn, s_sql_tables)) != PGRES_TUPLES_OK) {
        char first[400];
        snprintf(first, sizeof first, "%s", PQerrorMessage(conn));
        first[strcspn(first, "\n")] = '\0';
        handler_error_set(err, "could not list the tables of %s: %s", what, first);
        PQclear(tables);
        PQfinish(conn);
        return HANDLER_RETRY;
    }
    json_t *out = json_object();
    handler_status_t st = HANDLER_OK;
    for (int i = 0; st == HANDLER_OK && i < PQntuples(tables) && i < BACKUP_MAX_TABLES; i++)
        st = s_count_one(conn, PQgetvalue(tables, i, 0), PQgetvalue(tables, i, 1), out, err);
    PQclear(tables);
    PQfinish(conn);
    if (st != HANDLER_OK) {
        json_decref(out);
        return st;
    }
    *counts = out;
    return HANDLER_OK;
}

static void s_diff(strbuf_t *sb, size_t *n, const char *table, const json_t *got,
                   const json_t *want)
{
    if (*n < 5) {
        strbuf_printf(sb, "%s%s: restored ", *n ? "; " : "", table);
        if (got)
            strbuf_put_i64(sb, (int64_t)json_integer_value(got));
        else
            strbuf_puts(sb, "none");
        strbuf_puts(sb, ", recorded ");
        if (want)
            strbuf_put_i64(sb, (int64_t)json_integer_value(want));
        else
            strbuf_puts(sb, "none");
    }
    (*n)++;
}

size_t backup_tool_compare_counts(const json_t *want, const json_t *got, char *out, size_t outlen)
{
    strbuf_t sb;
    strbuf_init(&sb);
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)want, k, v) {
        json_t *g = json_object_get(got, k);
        if (!g || !json_equal(g, v))
            s_diff(&sb, &n, k, g, v);
    }
    json_object_foreach((json_t *)got, k, v) {
        if (!json_object_get(want, k))
            s_diff(&sb, &n, k, v, NULL);
    }
    if (n > 5)
        strbuf_printf(&sb, "; and %zu more", n - 5);
    snprintf(out, outlen, "%s", sb.data);
    strbuf_fini(&sb);
    return n;
}

/* ---- pgBackRest output ------------------------------------------------ */

int backup_pgbr_info(const char *text, const char *stanza, const char *label, json_t **doc,
                     int *status_code, const char **status_msg, json_t **backup, char *msg,
                     size_t msglen)
{
    *doc = NULL;
    *backup = NULL;
    json_error_t jerr;
    json_t *root = json_loads(text ? text : "", 0, &jerr);
    if (!json_is_array(root)) {
        snprintf(msg, msglen, "pgbackrest info printed no json array: %s", jerr.text);
        json_decref(root);
        return ORCH_EPROTO;
    }
    size_t i;
    json_t *s, *entry = NULL;
    json_array_foreach(root, i, s) {
        const char *name = json_string_value(json_object_get(s, "name"));
        if (name && strcmp(name, stanza) == 0)
            entry = s;
    }
    json_t *status = json_object_get(entry, "status");
    if (!entry || !json_is_integer(json_object_get(status, "code"))) {
        snprintf(msg, msglen, "pgbackrest info has no status for stanza \"%s\"", stanza);
        json_decref(root);
        return ORCH_EPROTO;
    }
    *status_code = (int)json_integer_value(json_object_get(status, "code"));
    *status_msg = json_string_value(json_object_get(status, "message"));
    json_t *b, *list = json_object_get(entry, "backup");
    json_array_foreach(list, i, b) {
        const char *l = json_string_value(json_object_get(b, "label"));
        if (l && (!label || strcmp(l, label) == 0))
            *backup = b; /* the list is oldest first: the last match is the newest */
    }
    *doc = root;
    return 0;
}

static bool s_starts(const char *line, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(line, prefix, n) == 0;
}

static bool s_has(const char *line, size_t len, const char *what)
{
    size_t n = strlen(what);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(line + i, what, n) == 0)
            return true;
    return false;
}

/* One line of the report, its log prefix gone: 1 ok, -1 a problem, 0 neither. */
static int s_verify_line(const char *line, size_t len)
{
    if (s_starts(line, len, "status: "))
        return len == 10 && s_starts(line, len, "status: ok") ? 1 : -1;
    if (s_has(line, len, "status: invalid") || s_starts(line, len, "invalid ") ||
        s_starts(line, len, "missing ") || s_has(line, len, "ERROR:"))
        return -1;
    return 0;
}

bool backup_pgbr_verify_ok(const char *text, char *problems, size_t plen)
{
    strbuf_t sb;
    strbuf_init(&sb);
    bool status_ok = false, bad = false;
    int quoted = 0;
    for (const char *p = text ? text : ""; *p;) {
        size_t n = strcspn(p, "\n");
        const char *line = p;
        size_t len = n;
        /* the log prefix "2026-12-06 09:11:50.006 P01   INFO: " goes */
        for (const char *q = p; q + 6 <= p + n; q++)
            if (memcmp(q, "INFO: ", 6) == 0) {
                len = n - (size_t)(q + 6 - p);
                line = q + 6;
                break;
            }
        while (len > 0 && (*line == ' ' || *line == '\t'))
            line++, len--;
        int verdict = s_verify_line(line, len);
        if (verdict > 0)
            status_ok = true;
        else if (verdict < 0) {
            bad = true;
            if (quoted++ < 4)
                strbuf_printf(&sb, "%s%.*s", quoted > 1 ? "; " : "", (int)(len > 300 ? 300 : len),
                              line);
        }
        p += n + (p[n] ? 1 : 0);
    }
    bool ok = status_ok && !bad;
    snprintf(problems, plen, "%s", ok ? "" : (sb.len ? sb.data : "verify did not report "
                                                                 "\"status: ok\""));
    strbuf_fini(&sb);
    return ok;
}

void backup_argv_init(backup_argv_t *a, const backup_pgbr_conf_t *pgbr)
{
    memset(a, 0, sizeof *a);
    a->v[a->n++] = pgbr->bin; /* borrowed: backup_tool_run puts the path there anyway */
    if (pgbr->config)
        backup_argv_add(a, "--config=%s", pgbr->config);
    backup_argv_add(a, "--stanza=%s", pgbr->stanza);
}

void backup_argv_add(backup_argv_t *a, const char *fmt, ...)
{
    /* a programmer error, never input: every caller adds a fixed few */
    if (a->n + 2 > sizeof a->v / sizeof a->v[0])
        abort();
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *arg = xmalloc(n > 0 ? (size_t)n + 1 : 1);
    vsnprintf(arg, n > 0 ? (size_t)n + 1 : 1, fmt, ap2);
    va_end(ap2);
    a->v[a->n++] = arg;
    a->v[a->n] = NULL;
}

void backup_argv_fini(backup_argv_t *a)
{
    for (size_t i = 1; i < a->n; i++)
        free(a->v[i]);
    memset(a, 0, sizeof *a);
}

static int s_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    int rc = (flag == FTW_DP || flag == FTW_D) ? rmdir(path) : unlink(path);
    return rc == 0 || errno == ENOENT ? 0 : -errno;
}

int backup_tool_rmtree(const char *path)
{
    int rc = nftw(path, s_rm, 32, FTW_DEPTH | FTW_PHYS);
    if (rc < 0 && errno == ENOENT)
        return 0;
    return rc > 0 ? -rc : rc;
}
