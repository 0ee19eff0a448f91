/* Moving an orchestrator database's jobs, schedules and queue settings
 * to another as JSON lines (store_tools.h). PostgreSQL builds and parses the
 * rows' JSON (row_to_json, json_populate_recordset), so a column added by a
 * migration travels without a change here; every value is a parameter. */
#include "store_tools.h"
#include "orch_error.h"

#include <errno.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT_FORMAT 1
/* Job rows per INSERT: one round trip each, a few MB of JSON at most. */
#define IMPORT_BATCH 500

static const char s_sql_version[] = "SELECT coalesce(max(version), 0) FROM schema_migrations";

static const char s_sql_queues[] =
    "SELECT json_build_object('kind', 'queue', 'row', row_to_json(q))::text"
    " FROM queues q ORDER BY q.name";
static const char s_sql_schedules[] =
    "SELECT json_build_object('kind', 'schedule', 'row', row_to_json(s))::text"
    " FROM schedules s ORDER BY s.name";
/* Without --all ($1 false) finished jobs stay behind, and so do
 * dependencies on succeeded jobs: they are met, and a dependency the
 * coordinator cannot find counts as cancelled. */
static const char s_sql_jobs[] =
    "SELECT json_build_object('kind', 'job', 'row', row_to_json(j), 'depends_on',"
    "  (SELECT coalesce(json_agg(d.depends_on ORDER BY d.depends_on), '[]'::json)"
    "     FROM job_deps d LEFT JOIN jobs dj ON dj.id = d.depends_on"
    "    WHERE d.job_id = j.id AND ($1::boolean OR dj.state IS DISTINCT FROM 'succeeded')))::text"
    " FROM jobs j WHERE $1::boolean OR j.state NOT IN ('succeeded', 'dead', 'cancelled')"
    " ORDER BY j.id";

/* A coordinator on the target would keep its own idea of the jobs (and of
 * the next id): import refuses while one is connected or leads. */
static const char s_sql_coordinators[] =
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    " AND application_name LIKE 'orchestratord%' AND pid <> pg_backend_pid()";
/* Only when the table exists (a schema with high availability). */
static const char s_sql_has_lease[] = "SELECT to_regclass('leader_lease') IS NOT NULL";
static const char s_sql_lease[] =
    "SELECT EXISTS (SELECT 1 FROM leader_lease WHERE holder IS NOT NULL AND expires_at > now())";

static const char s_sql_del_queue[] = "DELETE FROM queues WHERE name = $1::json->>'name'";
static const char s_sql_put_queue[] =
    "INSERT INTO queues SELECT * FROM json_populate_record(NULL::queues, $1::json)";
static const char s_sql_del_schedule[] = "DELETE FROM schedules WHERE name = $1::json->>'name'";
static const char s_sql_put_schedule[] =
    "INSERT INTO schedules SELECT * FROM json_populate_record(NULL::schedules, $1::json)";
static const char s_sql_put_jobs[] =
    "INSERT INTO jobs SELECT * FROM json_populate_recordset(NULL::jobs, $1::json)";
static const char s_sql_put_deps[] =
    "INSERT INTO job_deps (job_id, depends_on)"
    " SELECT * FROM json_populate_recordset(NULL::job_deps, $1::json)";

typedef struct {
    char *err;
    size_t errlen;
    PGconn *conn;
    FILE *file;     /* the lines: out (export) or in (import) */
    long counts[3]; /* queues, schedules, jobs */
    json_t *jobs;   /* import: the batch of job rows */
    json_t *deps;   /* import: their {job_id, depends_on} */
} s_run_t;

enum { S_QUEUES, S_SCHEDULES, S_JOBS };
static const char *const s_kinds[] = {"queue", "schedule", "job"};
static const char *const s_plural[] = {"queues", "schedules", "jobs"};

/* The server's message without its trailing newline. */
static const char *s_pq_error(PGconn *conn)
{
    static char buf[600];
    snprintf(buf, sizeof buf, "%s", PQerrorMessage(conn));
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    return buf;
}

/* The message into r->err; returns ORCH_EDB. */
__attribute__((format(printf, 2, 3))) static int s_fail(s_run_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, r->errlen, fmt, ap);
    va_end(ap);
    return ORCH_EDB;
}

/* Connected to conninfo, or ORCH_EDB with the reason. */
static int s_connect(s_run_t *r, const char *conninfo)
{
    r->conn = PQconnectdb(conninfo);
    if (PQstatus(r->conn) != CONNECTION_OK)
        return s_fail(r, "could not connect to the database: %s", s_pq_error(r->conn));
    return 0;
}

static void s_close(s_run_t *r)
{
    PQfinish(r->conn);
    json_decref(r->jobs);
    json_decref(r->deps);
}

/* One statement: its result when it has status want, else NULL (error
 * printed, naming what). Caller clears the result. */
static PGresult *s_exec(s_run_t *r, const char *sql, int n, const char *const *params,
                        ExecStatusType want, const char *what)
{
    PGresult *res = PQexecParams(r->conn, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) == want)
        return res;
    s_fail(r, "could not %s: %s", what, s_pq_error(r->conn));
    PQclear(res);
    return NULL;
}

static bool s_cmd(s_run_t *r, const char *sql, int n, const char *const *params, const char *what)
{
    PGresult *res = s_exec(r, sql, n, params, PGRES_COMMAND_OK, what);
    PQclear(res);
    return res != NULL;
}

/* The first value of a one-row query (copied into buf), or NULL. */
static const char *s_value(s_run_t *r, const char *sql, const char *what, char *buf, size_t len)
{
    PGresult *res = s_exec(r, sql, 0, NULL, PGRES_TUPLES_OK, what);
    if (!res)
        return NULL;
    snprintf(buf, len, "%s", PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return buf;
}

/* ---- export ---- */

/* Streams one query's lines (single-row mode: the jobs table may be big). */
static int s_export_kind(s_run_t *r, const char *sql, int kind, const char *all)
{
    const char *params[1] = {all};
    if (!PQsendQueryParams(r->conn, sql, kind == S_JOBS ? 1 : 0, NULL, params, NULL, NULL, 0) ||
        !PQsetSingleRowMode(r->conn))
        return s_fail(r, "could not export %s: %s", s_plural[kind], s_pq_error(r->conn));
    int rc = 0;
    PGresult *res;
    while ((res = PQgetResult(r->conn))) {
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_SINGLE_TUPLE) {
            fprintf(r->file, "%s\n", PQgetvalue(res, 0, 0));
            r->counts[kind]++;
        } else if (st != PGRES_TUPLES_OK && rc == 0) {
            rc = s_fail(r, "could not export %s: %s", s_plural[kind], s_pq_error(r->conn));
        }
        PQclear(res);
    }
    return rc;
}

static int s_export(s_run_t *r, bool all)
{
    char version[32];
    /* one snapshot: a job and the schedule that made it agree */
    if (!s_cmd(r, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, "begin") ||
        !s_value(r, s_sql_version, "read the schema version", version, sizeof version))
        return ORCH_EDB;
    fprintf(r->file, "{\"kind\":\"header\",\"format\":%d,\"schema_version\":%s}\n", EXPORT_FORMAT,
            version);
    int rc = s_export_kind(r, s_sql_queues, S_QUEUES, NULL);
    if (rc == 0)
        rc = s_export_kind(r, s_sql_schedules, S_SCHEDULES, NULL);
    if (rc == 0)
        rc = s_export_kind(r, s_sql_jobs, S_JOBS, all ? "true" : "false");
    if (rc != 0)
        return rc;
    s_cmd(r, "COMMIT", 0, NULL, "commit");
    fprintf(r->file, "{\"kind\":\"end\",\"queues\":%ld,\"schedules\":%ld,\"jobs\":%ld}\n",
            r->counts[S_QUEUES], r->counts[S_SCHEDULES], r->counts[S_JOBS]);
    if (fflush(r->file) != 0 || ferror(r->file))
        return s_fail(r, "could not write the export: %s", strerror(errno));
    return 0;
}

/* ---- import ---- */

/* The target: same schema version as the file, no coordinator, no jobs. */
static int s_import_checks(s_run_t *r, long version)
{
    char buf[64];
    if (!s_value(r, "SELECT to_regclass('jobs') IS NOT NULL", "inspect the database", buf,
                 sizeof buf))
        return ORCH_EDB;
    if (strcmp(buf, "t") != 0)
        return s_fail(r, "cannot import: the database has no orchestrator schema; "
                         "start orchestratord on it once (it creates the tables), "
                         "stop it, then import");
    if (!s_value(r, s_sql_version, "read the schema version", buf, sizeof buf))
        return ORCH_EDB;
    if (atol(buf) != version)
        return s_fail(r,
                      "cannot import: the file has schema version %ld, the database %s; "
                      "run the same orchestratord release on both",
                      version, buf);
    if (!s_value(r, s_sql_coordinators, "look for coordinators", buf, sizeof buf))
        return ORCH_EDB;
    if (atol(buf) > 0)
        return s_fail(r,
                      "cannot import while orchestratord is connected to the "
                      "database (%s sessions): stop it first",
                      buf);
    if (!s_value(r, s_sql_has_lease, "inspect the database", buf, sizeof buf) ||
        (strcmp(buf, "t") == 0 &&
         !s_value(r, s_sql_lease, "read the leader lease", buf, sizeof buf)))
        return ORCH_EDB;
    if (strcmp(buf, "t") == 0)
        return s_fail(r, "cannot import: a coordinator holds the leader lease; stop "
                         "every orchestratord of this database first");
    if (!s_cmd(r, "LOCK TABLE jobs, job_deps, schedules, queues IN EXCLUSIVE MODE", 0, NULL,
               "lock the tables") ||
        !s_value(r, "SELECT EXISTS (SELECT 1 FROM jobs)", "count the jobs", buf, sizeof buf))
        return ORCH_EDB;
    if (strcmp(buf, "f") != 0)
        return s_fail(r, "cannot import into a database that has jobs: import "
                         "keeps the job ids, so the target must have none");
    return 0;
}

static int s_flush_jobs(s_run_t *r)
{
    if (json_array_size(r->jobs) == 0)
        return 0;
    char *jobs = json_dumps(r->jobs, JSON_COMPACT);
    char *deps = json_dumps(r->deps, JSON_COMPACT);
    const char *p1[1] = {jobs}, *p2[1] = {deps};
    bool ok = s_cmd(r, s_sql_put_jobs, 1, p1, "import jobs") &&
              (json_array_size(r->deps) == 0 ||
               s_cmd(r, s_sql_put_deps, 1, p2, "import job dependencies"));
    free(jobs);
    free(deps);
    json_array_clear(r->jobs);
    json_array_clear(r->deps);
    return ok ? 0 : ORCH_EDB;
}

static int s_import_job(s_run_t *r, json_t *line, json_t *row)
{
    json_t *id = json_object_get(row, "id");
    json_t *deps = json_object_get(line, "depends_on");
    if (!json_is_integer(id))
        return s_fail(r, "line %ld: a job without an integer \"id\"", r->counts[S_JOBS] + 1);
    json_array_append(r->jobs, row);
    size_t i;
    json_t *d;
    json_array_foreach(deps, i, d)
        json_array_append_new(r->deps, json_pack("{s:O, s:O}", "job_id", id, "depends_on", d));
    r->counts[S_JOBS]++;
    return json_array_size(r->jobs) >= IMPORT_BATCH ? s_flush_jobs(r) : 0;
}

/* A queue or a schedule: replaces the target's entry of the same name. */
static int s_import_named(s_run_t *r, int kind, json_t *row)
{
    char *text = json_dumps(row, JSON_COMPACT);
    const char *p[1] = {text};
    bool ok = kind == S_QUEUES ? s_cmd(r, s_sql_del_queue, 1, p, "import a queue") &&
                                     s_cmd(r, s_sql_put_queue, 1, p, "import a queue")
                               : s_cmd(r, s_sql_del_schedule, 1, p, "import a schedule") &&
                                     s_cmd(r, s_sql_put_schedule, 1, p, "import a schedule");
    free(text);
    r->counts[kind]++;
    return ok ? 0 : ORCH_EDB;
}

/* The trailer must match what was read: a cut-off file is not imported. */
static int s_import_end(s_run_t *r, json_t *line)
{
    for (int k = S_QUEUES; k <= S_JOBS; k++) {
        json_t *n = json_object_get(line, s_plural[k]);
        if (!json_is_integer(n) || json_integer_value(n) != r->counts[k])
            return s_fail(r, "the file's end line does not match its content (%s)", s_plural[k]);
    }
    return s_flush_jobs(r);
}

static int s_import_line(s_run_t *r, long lineno, json_t *line, bool *ended)
{
    const char *kind = json_string_value(json_object_get(line, "kind"));
    json_t *row = json_object_get(line, "row");
    if (*ended)
        return s_fail(r, "line %ld: content after the end line", lineno);
    if (kind && strcmp(kind, "end") == 0) {
        *ended = true;
        return s_import_end(r, line);
    }
    for (int k = S_QUEUES; kind && json_is_object(row) && k <= S_JOBS; k++)
        if (strcmp(kind, s_kinds[k]) == 0)
            return k == S_JOBS ? s_import_job(r, line, row) : s_import_named(r, k, row);
    return s_fail(r, "line %ld: not an export line (kind \"%s\")", lineno, kind ? kind : "?");
}

static int s_import_header(s_run_t *r, const char *text)
{
    json_t *h = text ? json_loads(text, 0, NULL) : NULL;
    const char *kind = json_string_value(json_object_get(h, "kind"));
    json_t *fmt = json_object_get(h, "format"), *ver = json_object_get(h, "schema_version");
    int rc = 0;
    if (!kind || strcmp(kind, "header") != 0 || !json_is_integer(fmt) || !json_is_integer(ver))
        rc = s_fail(r, "the input does not start with an orchctl export header");
    else if (json_integer_value(fmt) != EXPORT_FORMAT)
        rc = s_fail(r, "export format %lld is not supported (this orchctl reads %d)",
                    (long long)json_integer_value(fmt), EXPORT_FORMAT);
    else
        rc = s_import_checks(r, (long)json_integer_value(ver));
    json_decref(h);
    return rc;
}

static int s_import(s_run_t *r)
{
    char *line = NULL;
    size_t cap = 0;
    long lineno = 1;
    bool ended = false;
    r->jobs = json_array();
    r->deps = json_array();
    int rc = s_cmd(r, "BEGIN", 0, NULL, "begin") ? 0 : ORCH_EDB;
    if (rc == 0)
        rc = s_import_header(r, getline(&line, &cap, r->file) > 0 ? line : NULL);
    while (rc == 0 && getline(&line, &cap, r->file) > 0) {
        lineno++;
        json_error_t jerr;
        json_t *doc = json_loads(line, 0, &jerr);
        rc = doc ? s_import_line(r, lineno, doc, &ended)
                 : s_fail(r, "line %ld: %s", lineno, jerr.text);
        json_decref(doc);
    }
    free(line);
    if (rc == 0 && !ended)
        rc = s_fail(r, "the input ends without its end line (cut off?)");
    if (rc == 0 && !s_cmd(r, "COMMIT", 0, NULL, "commit the import"))
        rc = ORCH_EDB;
    if (rc != 0)
        PQclear(PQexec(r->conn, "ROLLBACK"));
    return rc;
}

/* ---- the two runs ---- */

static void s_counts(const s_run_t *r, store_move_counts_t *n)
{
    n->queues = r->counts[S_QUEUES];
    n->schedules = r->counts[S_SCHEDULES];
    n->jobs = r->counts[S_JOBS];
}

int store_export(const char *conninfo, bool all, FILE *out, store_move_counts_t *n, char *err,
                 size_t errlen)
{
    s_run_t r = {.err = err, .errlen = errlen, .file = out};
    int rc = s_connect(&r, conninfo);
    if (rc == 0)
        rc = s_export(&r, all);
    s_counts(&r, n);
    s_close(&r);
    return rc;
}

int store_import(const char *conninfo, FILE *in, store_move_counts_t *n, bool *connected, char *err,
                 size_t errlen)
{
    s_run_t r = {.err = err, .errlen = errlen, .file = in};
    int rc = s_connect(&r, conninfo);
    *connected = rc == 0;
    if (rc == 0)
        rc = s_import(&r);
    s_counts(&r, n);
    s_close(&r);
    return rc;
}
