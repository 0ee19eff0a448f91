/* compact handler: CRDT operation log -> snapshot, in one transaction per
 * document under pg_advisory_xact_lock(hashtext('crdt:' || doc_id)), so two
 * compactions of one document never interleave (the second waits, then finds
 * nothing new: compaction is idempotent).
 *
 * {"all": true} compacts every matching document inside this one job, one
 * transaction each, rather than enqueueing a job per document: the worker
 * has no client connection to the coordinator, and one job keeps the
 * operator's view (one result with per-document counts) simple. */
#include "handler_compact.h"

#include "clock.h"
#include "handler_kit.h"
#include "log.h"
#include "orch_error.h"
#include "pgconn.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_sql_timeout = "SELECT set_config('statement_timeout', $1, true)";
static const char *const s_sql_lock = "SELECT pg_advisory_xact_lock(hashtext('crdt:' || $1))";
static const char *const s_sql_latest =
    "SELECT version, upto_seq, state::text, octet_length(state::text) FROM crdt_snapshots "
    "WHERE doc_id = $1 ORDER BY version DESC LIMIT 1";
static const char *const s_sql_ops =
    "SELECT seq, op::text FROM crdt_ops WHERE doc_id = $1 AND seq > $2 ORDER BY seq";
static const char *const s_sql_insert =
    "INSERT INTO crdt_snapshots (doc_id, version, upto_seq, state) VALUES ($1, $2, $3, $4::jsonb) "
    "RETURNING octet_length(state::text)";
static const char *const s_sql_delete =
    "DELETE FROM crdt_ops WHERE doc_id = $1 AND seq <= $2 "
    "AND created_at < now() - $3::bigint * interval '1 millisecond'";
/* Documents with operations not yet in a snapshot and older than
 * older_than ($1), or with covered operations past the retention ($2). */
static const char *const s_sql_candidates =
    "SELECT DISTINCT o.doc_id FROM crdt_ops o "
    "LEFT JOIN LATERAL (SELECT s.upto_seq FROM crdt_snapshots s WHERE s.doc_id = o.doc_id "
    "                   ORDER BY s.version DESC LIMIT 1) s ON true "
    "WHERE (o.created_at < now() - $1::bigint * interval '1 millisecond' "
    "       AND (s.upto_seq IS NULL OR o.seq > s.upto_seq)) "
    "   OR (o.created_at < now() - $2::bigint * interval '1 millisecond' "
    "       AND o.seq <= s.upto_seq) "
    "ORDER BY o.doc_id LIMIT $3";

int compact_apply(json_t *state, const json_t *op, handler_error_t *err)
{
    if (!json_is_object(op)) {
        handler_error_set(err, "operation is not a json object");
        return ORCH_EINVAL;
    }
    json_t *set = json_object_get(op, "set");
    json_t *del = json_object_get(op, "del");
    json_t *value = json_object_get(op, "value");
    if (json_is_string(set) && value && !del && json_object_size(op) == 2) {
        json_object_set(state, json_string_value(set), value);
        return 0;
    }
    if (json_is_string(del) && !set && !value && json_object_size(op) == 1) {
        json_object_del(state, json_string_value(del));
        return 0;
    }
    handler_error_set(err, "operation must be {\"set\": key, \"value\": any} or {\"del\": key}");
    return ORCH_EINVAL;
}

typedef struct {
    int64_t ops_folded;
    int64_t ops_deleted;
    int64_t version;
    int64_t snapshot_bytes;
} s_counts_t;

typedef struct {
    handler_ctx_t *ctx;
    const compact_config_t *cfg;
    PGconn *conn;
} s_job_t;

static handler_status_t s_db_fail(s_job_t *job, PGresult *res, const char *what, const char *doc,
                                  handler_error_t *err)
{
    char msg[sizeof err->message - 128];
    bool retry = pgconn_after_error(job->conn, res, what, msg, sizeof msg);
    PQclear(res);
    job->conn = NULL; /* may be closed now: fetch again for the next document */
    handler_error_set(err, "document \"%.100s\": %s", doc, msg);
    return retry ? HANDLER_RETRY : HANDLER_PERMANENT;
}

static PGresult *s_exec(s_job_t *job, const char *sql, int n, const char *const *params)
{
    return PQexecParams(job->conn, sql, n, NULL, params, NULL, NULL, 0);
}

static handler_status_t s_begin(s_job_t *job, const char *doc, handler_error_t *err)
{
    PGresult *r = PQexec(job->conn, "BEGIN");
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return s_db_fail(job, r, "could not begin", doc, err);
    PQclear(r);
    char ms[32];
    snprintf(ms, sizeof ms, "%" PRId64, handler_kit_budget_ms(job->ctx, INT32_MAX));
    const char *p1[1] = {ms};
    r = s_exec(job, s_sql_timeout, 1, p1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return s_db_fail(job, r, "could not set statement_timeout", doc, err);
    PQclear(r);
    const char *p2[1] = {doc};
    r = s_exec(job, s_sql_lock, 1, p2);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return s_db_fail(job, r, "could not take the document lock", doc, err);
    PQclear(r);
    return HANDLER_OK;
}

/* Reads the latest snapshot: state (caller owns), version, upto_seq. */
static handler_status_t s_latest(s_job_t *job, const char *doc, json_t **state, s_counts_t *c,
                                 char *upto, size_t uptolen, handler_error_t *err)
{
    const char *p[1] = {doc};
    PGresult *r = s_exec(job, s_sql_latest, 1, p);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return s_db_fail(job, r, "could not read the latest snapshot", doc, err);
    if (PQntuples(r) == 0) {
        *state = json_object();
        snprintf(upto, uptolen, "%" PRId64, INT64_MIN);
        PQclear(r);
        return HANDLER_OK;
    }
    c->version = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    snprintf(upto, uptolen, "%s", PQgetvalue(r, 0, 1));
    c->snapshot_bytes = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
    *state = json_loads(PQgetvalue(r, 0, 2), 0, NULL);
    PQclear(r);
    if (!json_is_object(*state)) {
        json_decref(*state);
        *state = NULL;
        handler_error_set(err, "document \"%.100s\": snapshot version %" PRId64
                               " is not a json object", doc, c->version);
        return HANDLER_PERMANENT;
    }
    return HANDLER_OK;
}

/* Folds the ops after upto into state; upto becomes the last seq folded. */
static handler_status_t s_fold(s_job_t *job, const char *doc, json_t *state, char *upto,
                               size_t uptolen, s_counts_t *c, handler_error_t *err)
{
    const char *p[2] = {doc, upto};
    PGresult *r = s_exec(job, s_sql_ops, 2, p);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return s_db_fail(job, r, "could not read operations", doc, err);
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *op = json_loads(PQgetvalue(r, i, 1), 0, NULL);
        handler_error_t operr;
        int rc = compact_apply(state, op, &operr);
        json_decref(op);
        if (rc != 0) {
            handler_error_set(err, "document \"%.100s\": operation seq %s: %s", doc,
                              PQgetvalue(r, i, 0), operr.message);
            PQclear(r);
            return HANDLER_PERMANENT;
        }
        snprintf(upto, uptolen, "%s", PQgetvalue(r, i, 0));
    }
    c->ops_folded = PQntuples(r);
    PQclear(r);
    return HANDLER_OK;
}

static handler_status_t s_write(s_job_t *job, const char *doc, const json_t *state,
                                const char *upto, s_counts_t *c, handler_error_t *err)
{
    char version[32];
    snprintf(version, sizeof version, "%" PRId64, c->version + 1);
    char *text = json_dumps(state, JSON_COMPACT);
    const char *p[4] = {doc, version, upto, text};
    PGresult *r = s_exec(job, s_sql_insert, 4, p);
    free(text);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return s_db_fail(job, r, "could not write the snapshot", doc, err);
    c->version++;
    c->snapshot_bytes = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return HANDLER_OK;
}

static handler_status_t s_prune_commit(s_job_t *job, const char *doc, const char *upto,
                                       s_counts_t *c, handler_error_t *err)
{
    if (c->version > 0) { /* with no snapshot, no operation is covered */
        char retention[32];
        snprintf(retention, sizeof retention, "%" PRId64,
                 job->cfg->retention_ms > 0 ? job->cfg->retention_ms : 0);
        const char *p[3] = {doc, upto, retention};
        PGresult *r = s_exec(job, s_sql_delete, 3, p);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            return s_db_fail(job, r, "could not delete compacted operations", doc, err);
        c->ops_deleted = strtoll(PQcmdTuples(r), NULL, 10);
        PQclear(r);
    }
    PGresult *r = PQexec(job->conn, "COMMIT");
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return s_db_fail(job, r, "could not commit", doc, err);
    PQclear(r);
    return HANDLER_OK;
}

static handler_status_t s_compact_doc(s_job_t *job, const char *doc, s_counts_t *c,
                                      handler_error_t *err)
{
    memset(c, 0, sizeof *c);
    char cerr[256];
    if (!job->conn && !(job->conn = pgconn_get(job->cfg->database_url, cerr, sizeof cerr))) {
        handler_error_set(err, "%s", cerr);
        return HANDLER_RETRY;
    }
    handler_status_t st = s_begin(job, doc, err);
    if (st != HANDLER_OK)
        return st;
    json_t *state = NULL;
    char upto[32];
    st = s_latest(job, doc, &state, c, upto, sizeof upto, err);
    if (st == HANDLER_OK)
        st = s_fold(job, doc, state, upto, sizeof upto, c, err);
    if (st == HANDLER_OK && c->ops_folded > 0)
        st = s_write(job, doc, state, upto, c, err);
    if (st == HANDLER_OK)
        st = s_prune_commit(job, doc, upto, c, err);
    json_decref(state);
    if (st != HANDLER_OK && job->conn) { /* a permanent error found before any db failure */
        char ignored[64];
        pgconn_exec(job->conn, "ROLLBACK", &(bool){false}, ignored, sizeof ignored);
    }
    return st;
}

static json_t *s_counts_json(const char *doc, const s_counts_t *c)
{
    return json_pack("{s:s, s:I, s:I, s:I, s:I}", "doc_id", doc, "ops_folded",
                     (json_int_t)c->ops_folded, "ops_deleted", (json_int_t)c->ops_deleted,
                     "version", (json_int_t)c->version, "snapshot_bytes",
                     (json_int_t)c->snapshot_bytes);
}

/* ---- {"all": true} ---------------------------------------------------- */

static handler_status_t s_candidates(s_job_t *job, int64_t older_ms, int64_t limit,
                                     PGresult **out, handler_error_t *err)
{
    char cerr[256];
    if (!(job->conn = pgconn_get(job->cfg->database_url, cerr, sizeof cerr))) {
        handler_error_set(err, "%s", cerr);
        return HANDLER_RETRY;
    }
    char a[32], b[32], l[32];
    snprintf(a, sizeof a, "%" PRId64, older_ms);
    snprintf(b, sizeof b, "%" PRId64, job->cfg->retention_ms > 0 ? job->cfg->retention_ms : 0);
    snprintf(l, sizeof l, "%" PRId64, limit);
    const char *p[3] = {a, b, l};
    PGresult *r = s_exec(job, s_sql_candidates, 3, p);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return s_db_fail(job, r, "could not list documents to compact", "*", err);
    *out = r;
    return HANDLER_OK;
}

static int s_parse_all(const json_t *payload, int64_t *older_ms, int64_t *limit,
                       handler_error_t *err)
{
    *older_ms = 0;
    *limit = COMPACT_ALL_LIMIT_DEFAULT;
    json_t *ot = json_object_get(payload, "older_than");
    if (ot && (!json_is_string(ot) || clock_parse_duration_ms(json_string_value(ot), older_ms) != 0 ||
               *older_ms < 0)) {
        handler_error_set(err, "payload field \"older_than\" must be a duration such as \"1h\"");
        return ORCH_EINVAL;
    }
    json_t *lim = json_object_get(payload, "limit");
    if (lim && (!json_is_integer(lim) || json_integer_value(lim) < 1 ||
                json_integer_value(lim) > COMPACT_ALL_LIMIT_MAX)) {
        handler_error_set(err, "payload field \"limit\" must be an integer 1..%d",
                          COMPACT_ALL_LIMIT_MAX);
        return ORCH_EINVAL;
    }
    if (lim)
        *limit = json_integer_value(lim);
    return 0;
}

static handler_status_t s_run_all(s_job_t *job, const json_t *payload, json_t **result,
                                  handler_error_t *err)
{
    int64_t older_ms, limit;
    if (s_parse_all(payload, &older_ms, &limit, err) != 0)
        return HANDLER_PERMANENT;
    PGresult *docs = NULL;
    handler_status_t st = s_candidates(job, older_ms, limit, &docs, err);
    if (st != HANDLER_OK)
        return st;
    json_t *per = json_array();
    s_counts_t total = {0};
    handler_status_t worst = HANDLER_OK;
    int nfailed = 0, n = PQntuples(docs);
    handler_error_t first = {{0}};
    for (int i = 0; i < n; i++) {
        if (handler_kit_must_stop(job->ctx, "compaction of all documents", &worst, err))
            break;
        const char *doc = PQgetvalue(docs, i, 0);
        s_counts_t c;
        handler_error_t e;
        st = s_compact_doc(job, doc, &c, &e);
        if (st != HANDLER_OK) {
            if (nfailed++ == 0)
                first = e;
            /* any retryable failure makes the whole job retryable: what
             * succeeded is not redone (nothing new to fold) */
            if (worst != HANDLER_RETRY)
                worst = st;
            continue;
        }
        total.ops_folded += c.ops_folded;
        total.ops_deleted += c.ops_deleted;
        json_array_append_new(per, s_counts_json(doc, &c));
        handler_progress(job->ctx, (i + 1) * 100 / n, "compacting documents");
    }
    if (worst == HANDLER_OK)
        *result = json_pack("{s:i, s:I, s:I, s:o}", "documents", n, "ops_folded",
                            (json_int_t)total.ops_folded, "ops_deleted",
                            (json_int_t)total.ops_deleted, "results", per);
    else
        json_decref(per);
    if (nfailed > 0 && worst != HANDLER_CANCELLED)
        handler_error_set(err, "%d of %d documents failed; first: %.800s", nfailed, n,
                          first.message);
    PQclear(docs);
    return worst;
}

static handler_status_t s_run(handler_ctx_t *ctx, const json_t *payload, json_t **result,
                              handler_error_t *err)
{
    s_job_t job = {.ctx = ctx, .cfg = ctx->conf};
    if (!job.cfg || !job.cfg->database_url) {
        handler_error_set(err, "compact.database_url is not configured");
        return HANDLER_PERMANENT;
    }
    if (!json_is_object(payload)) {
        handler_error_set(err, "payload must be a json object");
        return HANDLER_PERMANENT;
    }
    if (json_is_true(json_object_get(payload, "all")))
        return s_run_all(&job, payload, result, err);
    json_t *doc = json_object_get(payload, "doc_id");
    if (!json_is_string(doc) || json_string_length(doc) == 0 ||
        json_string_length(doc) > COMPACT_DOC_ID_MAX ||
        strlen(json_string_value(doc)) != json_string_length(doc)) {
        handler_error_set(err, "payload needs \"doc_id\" (a string of 1..%d bytes) or "
                               "\"all\": true", COMPACT_DOC_ID_MAX);
        return HANDLER_PERMANENT;
    }
    s_counts_t c;
    handler_status_t st = s_compact_doc(&job, json_string_value(doc), &c, err);
    if (st == HANDLER_OK) {
        *result = s_counts_json(json_string_value(doc), &c);
        LOG_INFO("compact done job=%lld doc=%s folded=%" PRId64 " deleted=%" PRId64
                 " version=%" PRId64, (long long)ctx->job_id, json_string_value(doc),
                 c.ops_folded, c.ops_deleted, c.version);
    }
    return st;
}

static int s_init(const void *conf, void **state, handler_error_t *err)
{
    const compact_config_t *cfg = conf;
    *state = NULL;
    if (!cfg->database_url) {
        handler_error_set(err, "compact needs database_url (or ORCH_DATABASE_URL)");
        return ORCH_ECONFIG;
    }
    return 0;
}

#define OFF(field) offsetof(compact_config_t, field)
static const cfgtab_key_t s_keys[] = {
    HANDLER_KIT_DATABASE_URL(OFF(database_url)),
    CFGTAB_K_DUR("retention", OFF(retention_ms), "24h", 0, 365 * CFGTAB_DAY),
};

static int s_check(cfgsection_ctx_t *cx, void *conf)
{
    const compact_config_t *cfg = conf;
    return handler_kit_require_db(cx, cfg->database_url, "compact");
}

const handler_t handler_compact = {
    .name = "compact",
    .config = {CFGSECTION_KEYS(s_keys, compact_config_t), .check = s_check},
    .init = s_init,
    .run = s_run,
};
