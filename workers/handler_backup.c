/* backup handler.
 *
 * Security: the payload chooses only "kind" and "type", each among values
 * the worker's configuration allows; stanza, repository, configuration
 * file, directories and tool paths come from worker.yaml. Tools run with
 * fork/execve and an argument vector (toolrun.c), never through a shell,
 * as backup.run_as when the worker is root. Passwords reach them through
 * their environment (PGPASSWORD, PGBACKREST_REPO1_CIPHER_PASS), never the
 * command line, and are never logged. */
#include "handler_backup.h"

#include "clock.h"
#include "handler_kit.h"
#include "log.h"
#include "orch_error.h"
#include "pgconn.h"
#include "strbuf.h"
#include "xalloc.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const s_sql_record =
    "INSERT INTO backups (kind, stanza, label, type, path, size_bytes, repo_size_bytes, "
    "wal_start, wal_stop, lsn_start, lsn_stop, started_at, stopped_at, duration_ms, row_counts, "
    "detail, job_id, attempt) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
    "to_timestamp($12::bigint), to_timestamp($13::bigint), $14, $15::jsonb, $16::jsonb, $17, $18) "
    "ON CONFLICT (kind, stanza, label) DO NOTHING";

/* pgBackRest's option and command errors (OptionInvalidError,
 * OptionInvalidValueError, CommandInvalidError) and a missing stanza
 * (FileMissingError): the configuration must change, retrying will not help. */
static const int s_pgbr_permanent[] = {31, 32, 37, 55};

/* ---- payload ----------------------------------------------------------- */

static bool s_listed(char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

static const char *s_default_kind(const backup_take_config_t *cfg)
{
    if (cfg->kind)
        return cfg->kind;
    return cfg->pgbr.stanza ? "pgbackrest" : "basebackup";
}

static bool s_kind_configured(const backup_take_config_t *cfg, const char *kind)
{
    if (strcmp(kind, "pgbackrest") == 0)
        return cfg->pgbr.stanza != NULL;
    if (strcmp(kind, "basebackup") == 0)
        return cfg->basebackup_dir != NULL;
    return false;
}

int backup_take_parse(const backup_take_config_t *cfg, const json_t *payload, const char **kind,
                      const char **type, handler_error_t *err)
{
    if (payload && !json_is_object(payload) && !json_is_null(payload)) {
        handler_error_set(err, "payload must be a json object");
        return ORCH_EINVAL;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)payload, key, v) {
        if (strcmp(key, "kind") != 0 && strcmp(key, "type") != 0) {
            handler_error_set(err, "payload field \"%.64s\" is not accepted: stanza, repository, "
                                   "directories and tools come from the worker's configuration",
                              key);
            return ORCH_EINVAL;
        }
    }
    if (!handler_kit_opt_string(payload, "kind", 32, kind, err) ||
        !handler_kit_opt_string(payload, "type", 16, type, err))
        return ORCH_EINVAL;
    if (!*kind)
        *kind = s_default_kind(cfg);
    if (!s_kind_configured(cfg, *kind)) {
        handler_error_set(err, "backup kind \"%.32s\" is not configured on this worker (%s)",
                          *kind, strcmp(*kind, "pgbackrest") == 0 ? "backup.stanza"
                          : strcmp(*kind, "basebackup") == 0     ? "backup.basebackup_dir"
                                                                 : "pgbackrest or basebackup");
        return ORCH_EINVAL;
    }
    if (strcmp(*kind, "basebackup") == 0) {
        if (*type && strcmp(*type, "full") != 0) {
            handler_error_set(err, "backup kind basebackup takes only type \"full\", not "
                                   "\"%.16s\"", *type);
            return ORCH_EINVAL;
        }
        *type = "full";
        return 0;
    }
    if (!*type)
        *type = cfg->type;
    if (!s_listed(cfg->types, cfg->ntypes, *type)) {
        handler_error_set(err, "backup type \"%.16s\" is not allowed (backup.types)", *type);
        return ORCH_EINVAL;
    }
    return 0;
}

/* ---- job state ---------------------------------------------------------- */

typedef struct {
    handler_ctx_t *ctx;
    const backup_take_config_t *cfg;
    const char *kind, *type;
    backup_tool_t tool;
    json_t *info;   /* what was taken: label, type, sizes, wal, lsn, times */
    json_t *counts; /* the source's row counts, or NULL */
    int64_t started_ms;
} s_job_t;

/* The first "ERROR:" line of pgBackRest's output, else its stderr. */
static void s_pgbr_error(const toolrun_result_t *res, char *out, size_t outlen)
{
    const char *e = res->out ? strstr(res->out, "ERROR:") : NULL;
    if (!e && res->err)
        e = strstr(res->err, "ERROR:");
    if (e) {
        size_t n = strcspn(e, "\n");
        snprintf(out, outlen, "%.*s", (int)(n > 600 ? 600 : n), e);
        return;
    }
    char *dup = xstrdup(res->err && res->err[0] ? res->err : (res->out ? res->out : ""));
    dup[strcspn(dup, "\n")] = '\0';
    snprintf(out, outlen, "%.600s", dup[0] ? dup : "no message");
    free(dup);
}

static handler_status_t s_pgbr(s_job_t *job, const char *what, const char *extra,
                               toolrun_result_t *res, handler_error_t *err)
{
    backup_argv_t a;
    backup_argv_init(&a, &job->cfg->pgbr);
    if (extra)
        backup_argv_add(&a, "%s", extra);
    backup_argv_add(&a, "%s", what);
    handler_status_t st = backup_tool_run(&job->tool, job->cfg->pgbr.bin, a.v, res, err);
    backup_argv_fini(&a);
    if (st != HANDLER_OK || res->exit_code == 0)
        return st;
    char msg[700];
    s_pgbr_error(res, msg, sizeof msg);
    handler_error_set(err, "pgbackrest %s failed for stanza \"%s\" (exit %d): %s", what,
                      job->cfg->pgbr.stanza, res->exit_code, msg);
    for (size_t i = 0; i < sizeof s_pgbr_permanent / sizeof s_pgbr_permanent[0]; i++)
        if (res->exit_code == s_pgbr_permanent[i])
            return HANDLER_PERMANENT;
    return HANDLER_RETRY;
}

/* `pgbackrest info --output=json`: *doc and the backup labelled label
 * (NULL: the newest), or *backup NULL when the stanza has none. */
static handler_status_t s_pgbr_info(s_job_t *job, json_t **doc, json_t **backup,
                                    handler_error_t *err)
{
    toolrun_result_t res;
    handler_status_t st = s_pgbr(job, "info", "--output=json", &res, err);
    if (st == HANDLER_OK) {
        int code = 0;
        const char *smsg = NULL;
        char msg[300];
        if (backup_pgbr_info(res.out, job->cfg->pgbr.stanza, NULL, doc, &code, &smsg, backup, msg,
                             sizeof msg) != 0) {
            handler_error_set(err, "%s", msg);
            st = HANDLER_RETRY;
        }
    }
    toolrun_result_fini(&res);
    return st;
}

static json_t *s_get(const json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(o, a);
    return b ? json_object_get(v, b) : v;
}

/* The result's and the record's fields from an info backup entry. */
static json_t *s_pgbr_describe(const json_t *b)
{
    json_t *d = json_object();
    json_object_set(d, "label", s_get(b, "label", NULL));
    json_object_set(d, "type", s_get(b, "type", NULL));
    json_object_set(d, "size_bytes", s_get(b, "info", "size"));
    json_object_set(d, "repo_size_bytes", json_object_get(s_get(b, "info", "repository"), "size"));
    json_object_set(d, "wal_start", s_get(b, "archive", "start"));
    json_object_set(d, "wal_stop", s_get(b, "archive", "stop"));
    json_object_set(d, "lsn_start", s_get(b, "lsn", "start"));
    json_object_set(d, "lsn_stop", s_get(b, "lsn", "stop"));
    json_object_set(d, "started_at", s_get(b, "timestamp", "start"));
    json_object_set(d, "stopped_at", s_get(b, "timestamp", "stop"));
    json_object_set(d, "prior", s_get(b, "prior", NULL));
    json_object_set(d, "error", s_get(b, "error", NULL));
    /* json_object_set with NULL values is a no-op in jansson: absent stays absent */
    return d;
}

static handler_status_t s_take_pgbackrest(s_job_t *job, handler_error_t *err)
{
    json_t *doc = NULL, *before = NULL, *after = NULL;
    handler_status_t st = s_pgbr_info(job, &doc, &before, err);
    char prev[128] = "";
    if (before)
        snprintf(prev, sizeof prev, "%s", json_string_value(json_object_get(before, "label")));
    json_decref(doc);
    doc = NULL;
    if (st != HANDLER_OK)
        return st;
    char type_opt[32];
    snprintf(type_opt, sizeof type_opt, "--type=%s", job->type);
    toolrun_result_t res;
    st = s_pgbr(job, "backup", type_opt, &res, err);
    toolrun_result_fini(&res);
    if (st == HANDLER_OK && !handler_kit_must_stop(job->ctx, "pgbackrest info", &st, err))
        st = s_pgbr_info(job, &doc, &after, err);
    if (st == HANDLER_OK) {
        const char *label = json_string_value(json_object_get(after, "label"));
        if (!label || strcmp(label, prev) == 0) {
            handler_error_set(err, "pgbackrest backup succeeded but info lists no new backup in "
                                   "stanza \"%s\"", job->cfg->pgbr.stanza);
            st = HANDLER_RETRY;
        } else {
            job->info = s_pgbr_describe(after);
        }
    }
    json_decref(doc);
    return st;
}

/* ---- basebackup --------------------------------------------------------- */

/* "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)" */
static void s_read_label(const char *dir, json_t *info)
{
    char path[PATH_MAX], line[512];
    if (snprintf(path, sizeof path, "%s/backup_label", dir) >= (int)sizeof path)
        return;
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f)) {
        char lsn[64], file[64];
        if (sscanf(line, "START WAL LOCATION: %63s (file %63[0-9A-F])", lsn, file) == 2) {
            json_object_set_new(info, "lsn_start", json_string(lsn));
            json_object_set_new(info, "wal_start", json_string(file));
        }
    }
    if (f)
        fclose(f);
}

/* The manifest's WAL range end and the sum of its file sizes. */
static void s_read_manifest(const char *dir, json_t *info)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/backup_manifest", dir) >= (int)sizeof path)
        return;
    json_t *m = json_load_file(path, 0, NULL);
    size_t i;
    json_t *v;
    json_int_t total = 0;
    json_array_foreach(json_object_get(m, "Files"), i, v)
        total += json_integer_value(json_object_get(v, "Size"));
    json_object_set_new(info, "size_bytes", json_integer(total));
    json_t *ranges = json_object_get(m, "WAL-Ranges");
    json_t *last = json_array_get(ranges, json_array_size(ranges) - 1);
    json_t *end = json_object_get(last, "End-LSN");
    if (json_is_string(end))
        json_object_set(info, "lsn_stop", end);
    json_decref(m);
}

/* basebackup_dir/latest -> label, replaced atomically. */
static void s_point_latest(const char *root, const char *label)
{
    char tmp[PATH_MAX], latest[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/.latest.%ld", root, (long)getpid());
    snprintf(latest, sizeof latest, "%s/latest", root);
    unlink(tmp);
    if (symlink(label, tmp) != 0 || rename(tmp, latest) != 0) {
        LOG_WARN("backup could not point latest at the new backup dir=%s error=\"%s\"", root,
                 strerror(errno));
        unlink(tmp);
    }
}

static handler_status_t s_take_basebackup(s_job_t *job, handler_error_t *err)
{
    const backup_take_config_t *cfg = job->cfg;
    char label[96], dir[PATH_MAX], tool[PATH_MAX], label_opt[128];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    size_t n = strftime(label, sizeof label, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(label + n, sizeof label - n, "-j%lld-a%d", (long long)job->ctx->job_id,
             job->ctx->attempt);
    snprintf(dir, sizeof dir, "%s/%s", cfg->basebackup_dir, label);
    snprintf(tool, sizeof tool, "%s/pg_basebackup", cfg->bin_dir);
    snprintf(label_opt, sizeof label_opt, "--label=orch %s", label);
    char *argv[] = {tool, "-D", dir, "-Fp", "-Xs", "--manifest-checksums=SHA256",
                    "--checkpoint=fast", label_opt, NULL};
    toolrun_result_t res;
    handler_status_t st = backup_tool_run(&job->tool, tool, argv, &res, err);
    if (st == HANDLER_OK && res.exit_code != 0) {
        char *first = xstrdup(res.err ? res.err : "");
        first[strcspn(first, "\n")] = '\0';
        handler_error_set(err, "pg_basebackup into \"%s\" failed (exit %d): %.600s", dir,
                          res.exit_code, first);
        free(first);
        st = HANDLER_RETRY;
    }
    toolrun_result_fini(&res);
    if (st != HANDLER_OK) {
        backup_tool_rmtree(dir); /* never leave half a backup that looks like one */
        return st;
    }
    job->info = json_pack("{s:s, s:s, s:s}", "label", label, "type", "full", "path", dir);
    s_read_label(dir, job->info);
    s_read_manifest(dir, job->info);
    s_point_latest(cfg->basebackup_dir, label);
    return HANDLER_OK;
}

/* ---- counts, record, result --------------------------------------------- */

/* The database name a conninfo or URI names ("postgres" when it names none). */
static json_t *s_dbname(const char *conninfo)
{
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    const char *db = NULL, *user = NULL;
    for (PQconninfoOption *o = opts; o && o->keyword; o++) {
        if (strcmp(o->keyword, "dbname") == 0)
            db = o->val;
        else if (strcmp(o->keyword, "user") == 0)
            user = o->val;
    }
    json_t *name = json_string(db && db[0] ? db : (user && user[0] ? user : "postgres"));
    PQconninfoFree(opts);
    return name;
}

static handler_status_t s_count_source(s_job_t *job, handler_error_t *err)
{
    const char *url = job->cfg->source_url ? job->cfg->source_url : job->cfg->database_url;
    const char *keys[] = {"dbname", "application_name", NULL};
    const char *vals[] = {url, "orch-worker", NULL};
    /* backup_verify counts the same database in the restore */
    json_object_set_new(job->info, "database", s_dbname(url));
    handler_status_t st = backup_tool_count_rows(keys, vals, "the backed up database",
                                                 &job->counts, err);
    if (st != HANDLER_OK)
        handler_error_set(err, "%.900s (the backup itself was taken)", err->message);
    return st;
}

static const char *s_str(const json_t *o, const char *k, char *buf, size_t len)
{
    json_t *v = json_object_get(o, k);
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    return NULL;
}

static handler_status_t s_record(s_job_t *job, handler_error_t *err)
{
    char cerr[256];
    PGconn *conn = pgconn_get(job->cfg->database_url, cerr, sizeof cerr);
    if (!conn) {
        handler_error_set(err, "could not record the backup: %s", cerr);
        return HANDLER_RETRY;
    }
    char b[6][32], dur[32], jid[32], att[16];
    snprintf(dur, sizeof dur, "%lld", (long long)(clock_mono_ms() - job->started_ms));
    snprintf(jid, sizeof jid, "%lld", (long long)job->ctx->job_id);
    snprintf(att, sizeof att, "%d", job->ctx->attempt);
    char *counts = job->counts ? json_dumps(job->counts, JSON_COMPACT) : NULL;
    char *detail = json_dumps(job->info, JSON_COMPACT);
    const json_t *i = job->info;
    const char *p[18] = {job->kind,
                         strcmp(job->kind, "pgbackrest") == 0 ? job->cfg->pgbr.stanza : "",
                         s_str(i, "label", b[0], 32), job->type, s_str(i, "path", b[0], 32),
                         s_str(i, "size_bytes", b[1], 32), s_str(i, "repo_size_bytes", b[2], 32),
                         s_str(i, "wal_start", b[0], 32), s_str(i, "wal_stop", b[0], 32),
                         s_str(i, "lsn_start", b[0], 32), s_str(i, "lsn_stop", b[0], 32),
                         s_str(i, "started_at", b[3], 32), s_str(i, "stopped_at", b[4], 32), dur,
                         counts, detail, jid, att};
    PGresult *r = PQexecParams(conn, s_sql_record, 18, NULL, p, NULL, NULL, 0);
    free(counts);
    free(detail);
    handler_status_t st = HANDLER_OK;
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        char msg[512];
        pgconn_after_error(conn, r, "could not record the backup", msg, sizeof msg);
        handler_error_set(err, "%s", msg);
        st = HANDLER_RETRY;
    }
    PQclear(r);
    return st;
}

/* The backup_verify job that checks this backup (submit it with
 * depends_on, or let a schedule verify the newest). */
static json_t *s_verify_job(const s_job_t *job)
{
    json_t *payload;
    if (strcmp(job->kind, "pgbackrest") == 0)
        payload = json_pack("{s:s, s:O, s:b}", "kind", "pgbackrest", "label",
                            json_object_get(job->info, "label"), "restore", 1);
    else
        payload = json_pack("{s:s, s:O}", "kind", "basebackup", "path",
                            json_object_get(job->info, "path"));
    return json_pack("{s:s, s:o}", "type", "backup_verify", "payload", payload);
}

static handler_status_t s_take(s_job_t *job, handler_error_t *err)
{
    const char *conninfo = job->cfg->source_url ? job->cfg->source_url : job->cfg->database_url;
    handler_status_t st = backup_tool_init(&job->tool, job->ctx, conninfo,
                                           job->cfg->pgbr.cipher_pass_file, job->cfg->run_as,
                                           job->cfg->timeout_ms, err);
    if (st != HANDLER_OK)
        return st;
    handler_progress(job->ctx, 5, job->kind);
    if (strcmp(job->kind, "pgbackrest") == 0)
        st = s_take_pgbackrest(job, err);
    else
        st = s_take_basebackup(job, err);
    if (st == HANDLER_OK && job->cfg->count_rows)
        st = s_count_source(job, err);
    if (st == HANDLER_OK)
        st = s_record(job, err);
    return st;
}

static handler_status_t s_run(handler_ctx_t *ctx, const json_t *payload, json_t **result,
                              handler_error_t *err)
{
    s_job_t job = {.ctx = ctx, .cfg = ctx->conf, .started_ms = clock_mono_ms()};
    if (!job.cfg || !job.cfg->database_url) {
        handler_error_set(err, "backup.database_url is not configured");
        return HANDLER_PERMANENT;
    }
    if (backup_take_parse(job.cfg, payload, &job.kind, &job.type, err) != 0)
        return HANDLER_PERMANENT;
    handler_status_t st = s_take(&job, err);
    if (st == HANDLER_OK) {
        json_object_set_new(job.info, "kind", json_string(job.kind));
        if (strcmp(job.kind, "pgbackrest") == 0)
            json_object_set_new(job.info, "stanza", json_string(job.cfg->pgbr.stanza));
        json_object_set_new(job.info, "duration_ms",
                            json_integer(clock_mono_ms() - job.started_ms));
        if (job.counts)
            json_object_set(job.info, "row_counts", job.counts);
        json_object_set_new(job.info, "verify", s_verify_job(&job));
        *result = json_incref(job.info);
        LOG_INFO("backup taken job=%lld kind=%s type=%s label=%s", (long long)ctx->job_id,
                 job.kind, job.type, json_string_value(json_object_get(job.info, "label")));
    }
    json_decref(job.info);
    json_decref(job.counts);
    backup_tool_fini(&job.tool);
    return st;
}

/* ---- configuration -------------------------------------------------------- */

static int s_init(const void *conf, void **state, handler_error_t *err)
{
    const backup_take_config_t *cfg = conf;
    *state = NULL;
    if (!cfg->database_url || (!cfg->pgbr.stanza && !cfg->basebackup_dir)) {
        handler_error_set(err, "backup needs database_url (or ORCH_DATABASE_URL) and stanza or "
                               "basebackup_dir");
        return ORCH_ECONFIG;
    }
    unsigned uid, gid;
    if (cfg->run_as &&
        backup_tool_user(cfg->run_as, &uid, &gid, err->message, sizeof err->message) != 0)
        return ORCH_ECONFIG;
    if (cfg->run_as && getuid() != 0 && uid != getuid()) {
        handler_error_set(err, "backup.run_as \"%s\" needs the worker to run as root (or as %s)",
                          cfg->run_as, cfg->run_as);
        return ORCH_ECONFIG;
    }
    return 0;
}

static const char *s_check_type(const char *s)
{
    return strcmp(s, "full") == 0 || strcmp(s, "incr") == 0 || strcmp(s, "diff") == 0
               ? NULL
               : "full, incr or diff";
}

static const char *s_check_kind(const char *s)
{
    return strcmp(s, "pgbackrest") == 0 || strcmp(s, "basebackup") == 0
               ? NULL
               : "pgbackrest or basebackup";
}

#define OFF(field) offsetof(backup_take_config_t, field)
/* clang-format off */
static const cfgtab_key_t s_keys[] = {
    CFGTAB_K_STR("kind", OFF(kind), NULL, CFGTAB_NULLABLE, NULL, s_check_kind),
    BACKUP_PGBR_KEYS(OFF(pgbr)),
    CFGTAB_K_LIST("types", OFF(types), OFF(ntypes), "full,incr,diff", 1, 3, NULL, s_check_type),
    CFGTAB_K_STR("type", OFF(type), "incr", 0, NULL, s_check_type),
    CFGTAB_K_STR("basebackup_dir", OFF(basebackup_dir), NULL, CFGTAB_NULLABLE, NULL,
                 cfgtab_check_abs_path),
    CFGTAB_K_STR("bin_dir", OFF(bin_dir), "/usr/lib/postgresql/15/bin", 0, NULL,
                 cfgtab_check_abs_path),
    HANDLER_KIT_DATABASE_URL(OFF(database_url)),
    CFGTAB_K_STR("source_url", OFF(source_url), NULL, CFGTAB_SECRET | CFGTAB_NULLABLE, NULL,
                 NULL),
    CFGTAB_K_BOOL("count_rows", OFF(count_rows), "true"),
    CFGTAB_K_STR("run_as", OFF(run_as), NULL, CFGTAB_NULLABLE, NULL, backup_tool_check_word),
    CFGTAB_K_DUR("timeout", OFF(timeout_ms), "2h", CFGTAB_SEC, CFGTAB_DAY),
};
/* clang-format on */

static int s_check(cfgsection_ctx_t *cx, void *conf)
{
    const backup_take_config_t *cfg = conf;
    int rc = handler_kit_require_db(cx, cfg->database_url, "backup");
    if (rc != 0 || !cfgsection_enabled(cx))
        return rc;
    if (!cfg->pgbr.stanza && !cfg->basebackup_dir)
        return cfgsection_fail(cx, "stanza",
                               "stanza (pgBackRest) or basebackup_dir (pg_basebackup) is "
                               "required when the backup handler is enabled");
    if (cfg->kind && !s_kind_configured(cfg, cfg->kind))
        return cfgsection_fail(cx, "kind", "kind %s needs %s", cfg->kind,
                               strcmp(cfg->kind, "pgbackrest") == 0 ? "stanza" : "basebackup_dir");
    if (!s_listed(cfg->types, cfg->ntypes, cfg->type))
        return cfgsection_fail(cx, "type", "the default type \"%s\" is not among types",
                               cfg->type);
    return 0;
}

const handler_t handler_backup = {
    .name = "backup",
    .config = {CFGSECTION_KEYS(s_keys, backup_take_config_t), .check = s_check},
    .init = s_init,
    .run = s_run,
};
