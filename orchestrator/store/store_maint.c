/* Retention (docs/operations.md, "Retention"): run on the query thread's
 * connection, never in the coordinator's commits. One call does one round:
 * job_events partitions created ahead and old ones dropped
 * (orch_events_partitions, migration 006), then one sweep step over jobs
 * in id order deleting finished jobs past their retention, a batch at a
 * time, within a time budget. The loop keeps the sweep's cursor and adjusts
 * its per-queue counts from what was deleted. */
#include "query.h"
#include "store_audit.h"
#include "store_int.h"
#include "clock.h"
#include "orch_error.h"
#include "proto.h"
#include "strbuf.h"
#include "xalloc.h"
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One sweep step: the next $2 jobs after id $1; the succeeded and
 * cancelled ones finished more than their queue's keep ago ($3/$4 the
 * queues with their own retention, $5 the default; 0 keeps), the dead ones
 * more than $6 ago (0 keeps) are deleted with their dependency rows. The
 * DELETE checks the state again: a job an operator retried meanwhile
 * stays. Answers the last id scanned, the rows scanned, the deleted counts
 * per queue and state, and whether the scan reached jobs younger than $7
 * (none after those can be due: ids grow with creation time). */
#define S_SQL_SWEEP                                                                                \
    "WITH scan AS (SELECT id, queue, state, finished_at, created_at FROM jobs"                     \
    "  WHERE id > $1::bigint ORDER BY id LIMIT $2::int),"                                          \
    " pol AS (SELECT * FROM unnest($3::text[], $4::bigint[]) AS p(queue, keep_ms)),"               \
    " victims AS (SELECT s.id FROM scan s LEFT JOIN pol ON pol.queue = s.queue"                    \
    "  WHERE s.finished_at IS NOT NULL AND ("                                                      \
    "   (s.state IN ('succeeded', 'cancelled') AND coalesce(pol.keep_ms, $5::bigint) > 0"          \
    "    AND s.finished_at < now() - coalesce(pol.keep_ms, $5::bigint) * interval '1 ms')"         \
    "   OR (s.state = 'dead' AND $6::bigint > 0"                                                   \
    "    AND s.finished_at < now() - $6::bigint * interval '1 ms'))),"                             \
    " dd AS (DELETE FROM job_deps WHERE job_id IN (SELECT id FROM victims)),"                      \
    " dr AS (DELETE FROM job_reuse WHERE job_id IN (SELECT id FROM victims)),"                     \
    " dc AS (DELETE FROM job_compensations WHERE job_id IN (SELECT id FROM victims)),"             \
    " d AS (DELETE FROM jobs WHERE id IN (SELECT id FROM victims)"                                 \
    "  AND state IN ('succeeded', 'cancelled', 'dead') RETURNING queue, state)"                    \
    " SELECT (SELECT coalesce(max(id), 0) FROM scan), (SELECT count(*) FROM scan),"                \
    "  (SELECT coalesce(json_agg(x), '[]'::json) FROM"                                             \
    "   (SELECT queue, state, count(*) AS n FROM d GROUP BY 1, 2) x)::text,"                        \
    "  (SELECT coalesce(bool_or(created_at > now() - $7::bigint * interval '1 ms'), false)"        \
    "   FROM scan)"

#define S_SQL_PARTITIONS "SELECT created, dropped FROM orch_events_partitions($1::int, $2::bigint)"
#define S_SQL_FENCE "SELECT orch_lease_check($1::bigint)"

/* Runs sql in a transaction that first checks the leader lease (epoch > 0;
 * orch_lease_check holds a lock an acquire waits for until the commit, see
 * migration 016), so the retention of a coordinator that lost the lease
 * deletes nothing. then: run after sql in the same transaction (NULL:
 * none); it may look at sql's result and fail the whole (false, *then_err
 * set). Returns the statement's result (caller clears) or NULL with *err
 * (or then_err) set. */
typedef bool (*s_then_fn)(PGconn *conn, const PGresult *r, char *err, size_t errlen);

static PGresult *s_fenced_then(PGconn *conn, int64_t epoch, const char *sql, int n,
                               const char *const *v, PGresult **err, s_then_fn then,
                               char *then_err, size_t then_errlen)
{
    *err = NULL;
    if (epoch > 0) {
        PGresult *b = PQexec(conn, "BEGIN");
        PQclear(b);
        char e[24];
        snprintf(e, sizeof e, "%lld", (long long)epoch);
        const char *fv[1] = {e};
        PGresult *f = PQexecParams(conn, S_SQL_FENCE, 1, NULL, fv, NULL, NULL, 0);
        if (PQresultStatus(f) != PGRES_TUPLES_OK) {
            *err = f;
            PQclear(PQexec(conn, "ROLLBACK"));
            return NULL;
        }
        PQclear(f);
    }
    PGresult *r = PQexecParams(conn, sql, n, NULL, v, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        *err = r;
        if (epoch > 0)
            PQclear(PQexec(conn, "ROLLBACK"));
        return NULL;
    }
    if (then && !then(conn, r, then_err, then_errlen)) {
        PQclear(r);
        if (epoch > 0)
            PQclear(PQexec(conn, "ROLLBACK"));
        return NULL;
    }
    if (epoch > 0) {
        PGresult *c = PQexec(conn, "COMMIT");
        if (PQresultStatus(c) != PGRES_COMMAND_OK) {
            PQclear(r);
            *err = c;
            return NULL;
        }
        PQclear(c);
    }
    return r;
}

static PGresult *s_fenced(PGconn *conn, int64_t epoch, const char *sql, int n,
                          const char *const *v, PGresult **err)
{
    return s_fenced_then(conn, epoch, sql, n, v, err, NULL, NULL, 0);
}

/* After the partitions' statement: when it dropped days, the audit
 * anchor moves past them (store_audit_trim). */
static bool s_trim(PGconn *conn, const PGresult *r, char *err, size_t errlen)
{
    long trimmed = 0;
    return atoi(PQgetvalue(r, 0, 1)) == 0 ||
           store_audit_trim(conn, &trimmed, err, errlen) == ORCH_OK;
}

static char *s_fail(PGconn *conn, PGresult *r, const char *what)
{
    char msg[600];
    snprintf(msg, sizeof msg, "%s: %s", what, r ? PQresultErrorMessage(r) : PQerrorMessage(conn));
    for (char *p = msg; *p; p++)
        if (*p == '\n')
            *p = ' ';
    PQclear(r);
    strbuf_t sb;
    strbuf_init(&sb);
    strbuf_printf(&sb, "{\"status\":%d,\"error\":", PROTO_STATUS_UNAVAILABLE);
    strbuf_put_json_string(&sb, msg, strlen(msg));
    strbuf_putc(&sb, '}');
    return strbuf_detach(&sb);
}

static int64_t s_int(const json_t *body, const char *key, int64_t def)
{
    json_t *v = json_object_get(body, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

/* A PostgreSQL array literal of the strings or integers in arr. */
static void s_array(strbuf_t *sb, const json_t *arr)
{
    strbuf_putc(sb, '{');
    size_t i;
    json_t *v;
    json_array_foreach (arr, i, v) {
        if (i)
            strbuf_putc(sb, ',');
        if (json_is_integer(v)) {
            strbuf_printf(sb, "%lld", (long long)json_integer_value(v));
        } else {
            /* names: [A-Za-z0-9_.:-], quoted anyway */
            strbuf_putc(sb, '"');
            strbuf_puts(sb, json_string_value(v) ? json_string_value(v) : "");
            strbuf_putc(sb, '"');
        }
    }
    strbuf_putc(sb, '}');
}

char *store_maint_run(void *pgconn, const json_t *body)
{
    PGconn *conn = pgconn;
    char ahead[16], keep_events[24];
    snprintf(ahead, sizeof ahead, "%lld", (long long)s_int(body, "ahead_days", 7));
    snprintf(keep_events, sizeof keep_events, "%lld",
             (long long)s_int(body, "events_keep_ms", 30LL * 86400000));
    const char *pv[2] = {ahead, keep_events};
    int64_t epoch = s_int(body, "epoch", 0);
    PGresult *ferr = NULL;
    char terr[600] = "";
    /* the audit anchor moves in the transaction that drops the days: never
     * a moment (nor a crash) where rows are gone and the anchor is not */
    PGresult *r = s_fenced_then(conn, epoch, S_SQL_PARTITIONS, 2, pv, &ferr, s_trim, terr,
                                sizeof terr);
    if (!r && terr[0])
        return s_fail(conn, NULL, terr);
    if (!r)
        return s_fail(conn, ferr, "could not maintain the job_events partitions");
    int created = atoi(PQgetvalue(r, 0, 0)), dropped = atoi(PQgetvalue(r, 0, 1));
    PQclear(r);

    strbuf_t queues, keeps;
    strbuf_init(&queues);
    strbuf_init(&keeps);
    s_array(&queues, json_object_get(body, "queues"));
    s_array(&keeps, json_object_get(body, "queue_keep_ms"));
    char after[24], batch[16], keep[24], dead[24], young[24];
    int64_t cursor = s_int(body, "after", 0);
    snprintf(batch, sizeof batch, "%lld", (long long)s_int(body, "batch", 2000));
    snprintf(keep, sizeof keep, "%lld", (long long)s_int(body, "jobs_keep_ms", 0));
    snprintf(dead, sizeof dead, "%lld", (long long)s_int(body, "dead_keep_ms", 0));
    snprintf(young, sizeof young, "%lld", (long long)s_int(body, "young_ms", 0));
    int64_t budget_ms = s_int(body, "budget_ms", 1000);
    int64_t t0 = clock_mono_ms();
    json_t *deleted = json_array();
    long scanned_total = 0;
    bool done = false;
    char *err = NULL;
    while (!done && clock_mono_ms() - t0 < budget_ms) {
        snprintf(after, sizeof after, "%lld", (long long)cursor);
        const char *v[7] = {after, batch, queues.data, keeps.data, keep, dead, young};
        r = s_fenced(conn, epoch, S_SQL_SWEEP, 7, v, &ferr);
        if (!r) {
            err = s_fail(conn, ferr, "could not delete finished jobs");
            break;
        }
        int64_t last = atoll(PQgetvalue(r, 0, 0));
        long scanned = atol(PQgetvalue(r, 0, 1));
        json_t *d = json_loads(PQgetvalue(r, 0, 2), 0, NULL);
        bool young_reached = PQgetvalue(r, 0, 3)[0] == 't';
        PQclear(r);
        size_t i;
        json_t *x;
        json_array_foreach (d, i, x)
            json_array_append(deleted, x);
        json_decref(d);
        scanned_total += scanned;
        if (scanned == 0 || young_reached) {
            done = true;
            cursor = 0; /* the next round starts over */
        } else {
            cursor = last;
        }
    }
    strbuf_fini(&queues);
    strbuf_fini(&keeps);
    if (err) {
        json_decref(deleted);
        return err;
    }
    json_t *reply = json_pack("{s:i, s:i, s:i, s:o, s:I, s:I, s:b}", "status", 200,
                              "partitions_created", created, "partitions_dropped", dropped,
                              "deleted", deleted, "scanned", (json_int_t)scanned_total, "cursor",
                              (json_int_t)cursor, "more", !done);
    char *text = json_dumps(reply, JSON_COMPACT);
    json_decref(reply);
    return text;
}

/* The coordinator's statements are planned once per session
 * (force_generic_plan, store_pg.c), against what the statistics of jobs
 * say at their first execute, and kept until those statistics change. A
 * plan made while jobs looked empty (analyzed empty, or never analyzed and
 * under ten pages) reads jobs by a scan inside each commit: the single-row
 * UPDATE becomes a Seq Scan, the array UPDATE puts jobs outside its loop.
 * Each commit then costs a scan of the whole table, and autovacuum's
 * analyze comes only after its nap and a tenth of the table changed, by
 * which time a fast producer has added a million rows (docs/benchmarks.md,
 * "new jobs committed ahead of the bookkeeping"). So the query thread
 * analyzes jobs itself, every second if need be, once its changes since
 * the last analyze pass STORE_STATS_MIN_CHANGES and the rows the
 * statistics know of: while jobs is small or growing fast, its statistics
 * stay within half of it, and the analyze replans the cached plans. A
 * large table is left to autovacuum. */
#define STORE_STATS_MIN_CHANGES 1000
#define S_SQL_STATS                                                                                \
    "SELECT c.reltuples::bigint, s.n_mod_since_analyze FROM pg_class c"                         \
    " JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = 'jobs'::regclass"

char *store_maint_stats(void *pgconn, const json_t *body)
{
    (void)body;
    PGconn *conn = pgconn;
    PGresult *r = PQexec(conn, S_SQL_STATS);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        return s_fail(conn, r, "could not read the statistics of jobs");
    long long known = atoll(PQgetvalue(r, 0, 0)), changed = atoll(PQgetvalue(r, 0, 1));
    PQclear(r);
    bool due = changed >= STORE_STATS_MIN_CHANGES && changed > known;
    long long after = known;
    if (due) {
        /* never wait behind autovacuum's own analyze or vacuum of jobs */
        r = PQexec(conn, "BEGIN; SET LOCAL lock_timeout = '100ms'; ANALYZE jobs");
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        PQclear(PQexec(conn, ok ? "COMMIT" : "ROLLBACK"));
        due = ok;
    }
    if (due) {
        r = PQexec(conn, S_SQL_STATS);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
            after = atoll(PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    strbuf_t sb;
    strbuf_init(&sb);
    strbuf_printf(&sb,
                  "{\"status\":200,\"analyzed\":%s,\"rows_before\":%lld,\"changed\":%lld,"
                  "\"rows_after\":%lld}",
                  due ? "true" : "false", known, changed, after);
    return strbuf_detach(&sb);
}
