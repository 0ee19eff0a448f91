#include "query.h"
#include "store_audit.h"
#include "store_int.h"
#include "log.h"
#include "orch_error.h"
#include "proto.h"
#include "strbuf.h"
#include "xalloc.h"
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define QUERY_JOB_JSON                                                                             \
    "json_build_object('id', id, 'queue', queue, 'type', type, 'priority', priority,"             \
    " 'state', state, 'attempt', attempt, 'max_attempts', max_attempts + attempt_base,"           \
    " 'payload', payload, 'result', result, 'error', error, 'worker', worker,"                    \
    " 'progress', progress, 'timeout_ms', timeout_ms, 'idempotency_key', idempotency_key,"        \
    " 'run_at', run_at, 'created_at', created_at, 'started_at', started_at,"                      \
    " 'finished_at', finished_at, 'updated_at', updated_at, 'tenant', tenant)"

/* $2: the tenant a scoped key may see (NULL: any): another tenant's job is
 * "not found", as if it did not exist. */
#define QUERY_SQL_GET                                                                              \
    "SELECT " QUERY_JOB_JSON "::text FROM jobs WHERE id = $1::bigint"                              \
    " AND ($2::text IS NULL OR tenant = $2)"
#define QUERY_SQL_HISTORY                                                                          \
    "SELECT coalesce(json_agg(json_build_object('at', at, 'event', event, 'attempt', attempt,"    \
    " 'worker', worker, 'detail', detail) ORDER BY id), '[]'::json)::text"                        \
    " FROM job_events WHERE job_id = $1::bigint"
#define QUERY_SQL_LIST                                                                             \
    "SELECT coalesce(json_agg(j ORDER BY (j->>'id')::bigint DESC), '[]'::json)::text,"           \
    " count(*), min((j->>'id')::bigint) FROM ("                                                    \
    " SELECT " QUERY_JOB_JSON " AS j FROM jobs"                                                    \
    " WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR queue = $2)"                \
    "  AND ($4::text IS NULL OR type = $4) AND ($5::bigint IS NULL OR id < $5)"                   \
    "  AND ($6::text IS NULL OR strpos(error, $6) > 0) AND ($7::text IS NULL OR tenant = $7)"     \
    " ORDER BY id DESC LIMIT $3::int) s"
/* What a watcher missed: the next $5 audit rows after $1, oldest first,
 * those of the wanted queue, type and tenant shaped as the event stream's
 * bodies (tenant only when not "default", as published);
 * with how many rows were scanned and the last id scanned (where to go on).
 * Rows of jobs deleted since are skipped (their queue is unknown). */
#define QUERY_SQL_EVENTS                                                                           \
    "WITH e AS (SELECT * FROM job_events WHERE id > $1::bigint"                                    \
    "  AND ($4::bigint IS NULL OR job_id = $4) ORDER BY id LIMIT $5::int)"                         \
    " SELECT coalesce(json_agg(json_strip_nulls(json_build_object('id', j.id, 'queue', j.queue,"  \
    "  'type', j.type, 'event', e.event, 'state', coalesce(e.state, j.state),"                    \
    "  'attempt', coalesce(e.attempt, 0),"                                                         \
    "  'at_us', (extract(epoch from e.at) * 1000000)::bigint, 'worker', e.worker,"                \
    "  'event_id', e.id, 'tenant', nullif(j.tenant, 'default'))) ORDER BY e.id), '[]'::json)::text," \
    "  (SELECT count(*) FROM e), (SELECT coalesce(max(id), $1::bigint) FROM e)"                    \
    " FROM e JOIN jobs j ON j.id = e.job_id"                                                       \
    " WHERE ($2::text IS NULL OR j.queue = $2) AND ($3::text IS NULL OR j.type = $3)"             \
    "  AND ($6::text IS NULL OR j.tenant = $6)"

struct query {
    pthread_t thread;
    void *zctx;
    char *conninfo;
};

static void s_append_req(strbuf_t *sb, const json_t *body)
{
    json_t *req = json_object_get(body, "req");
    if (!req)
        return;
    char *t = json_dumps(req, JSON_COMPACT | JSON_ENCODE_ANY);
    strbuf_puts(sb, ",\"req\":");
    strbuf_puts(sb, t);
    free(t);
}

static char *s_error_body(const json_t *body, int status, const char *msg)
{
    strbuf_t sb;
    strbuf_init(&sb);
    strbuf_printf(&sb, "{\"status\":%d,\"error\":", status);
    strbuf_put_json_string(&sb, msg, strlen(msg));
    s_append_req(&sb, body);
    strbuf_putc(&sb, '}');
    return strbuf_detach(&sb);
}

static char *s_db_error(const json_t *body, PGconn *conn, PGresult *r)
{
    char msg[512];
    snprintf(msg, sizeof msg, "could not query the database: %s",
             r ? PQresultErrorMessage(r) : PQerrorMessage(conn));
    for (char *p = msg; *p; p++)
        if (*p == '\n')
            *p = ' ';
    return s_error_body(body, PROTO_STATUS_UNAVAILABLE, msg);
}

/* The caller checks the status. */
static PGresult *s_exec(PGconn *conn, const char *sql, int n, const char *const *v)
{
    return PQexecParams(conn, sql, n, NULL, v, NULL, NULL, 0);
}


static char *s_get(PGconn *conn, const json_t *body)
{
    json_t *idv = json_object_get(body, "id");
    if (!json_is_integer(idv) || json_integer_value(idv) < 1)
        return s_error_body(body, PROTO_STATUS_BAD_REQUEST, "id: must be an integer >= 1");
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)json_integer_value(idv));
    const char *v[2] = {id, json_string_value(json_object_get(body, "tenant"))};
    PGresult *r = s_exec(conn, QUERY_SQL_GET, 2, v);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char *e = s_db_error(body, conn, r);
        PQclear(r);
        return e;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        char msg[64];
        snprintf(msg, sizeof msg, "job %s not found", id);
        return s_error_body(body, PROTO_STATUS_NOT_FOUND, msg);
    }
    strbuf_t sb;
    strbuf_init(&sb);
    strbuf_puts(&sb, "{\"status\":200,\"job\":");
    strbuf_puts(&sb, PQgetvalue(r, 0, 0));
    PQclear(r);
    if (json_is_true(json_object_get(body, "history"))) {
        r = s_exec(conn, QUERY_SQL_HISTORY, 1, v);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            strbuf_fini(&sb);
            char *e = s_db_error(body, conn, r);
            PQclear(r);
            return e;
        }
        strbuf_puts(&sb, ",\"history\":");
        strbuf_puts(&sb, PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    s_append_req(&sb, body);
    strbuf_putc(&sb, '}');
    return strbuf_detach(&sb);
}

static char *s_rows_error(const json_t *body, PGconn *conn, PGresult *r)
{
    char *e = s_db_error(body, conn, r);
    PQclear(r);
    return e;
}

static char *s_list(PGconn *conn, const json_t *body)
{
    proto_list_t l;
    char err[256];
    if (proto_list_parse(body, &l, err, sizeof err) != ORCH_OK)
        return s_error_body(body, PROTO_STATUS_BAD_REQUEST, err);
    char lbuf[24], bbuf[24];
    snprintf(lbuf, sizeof lbuf, "%d", l.limit > 0 ? l.limit : PROTO_LIST_DEFAULT_LIMIT);
    snprintf(bbuf, sizeof bbuf, "%lld", (long long)l.before);
    const char *v[7] = {l.state >= 0 ? proto_states[l.state] : NULL, l.queue, lbuf, l.type,
                        l.before > 0 ? bbuf : NULL, l.error, l.tenant};
    PGresult *r = s_exec(conn, QUERY_SQL_LIST, 7, v);
    int limit = atoi(lbuf);
    proto_list_fini(&l);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return s_rows_error(body, conn, r);
    strbuf_t sb;
    strbuf_init(&sb);
    strbuf_puts(&sb, "{\"status\":200,\"jobs\":");
    strbuf_puts(&sb, PQgetvalue(r, 0, 0));
    /* a full page may have a next one: it starts below this page's last id */
    if (atoi(PQgetvalue(r, 0, 1)) == limit)
        strbuf_printf(&sb, ",\"next_before\":%s", PQgetvalue(r, 0, 2));
    PQclear(r);
    s_append_req(&sb, body);
    strbuf_putc(&sb, '}');
    return strbuf_detach(&sb);
}

static char *s_events(PGconn *conn, const json_t *body)
{
    proto_events_t e;
    char err[256];
    if (proto_events_parse(body, &e, err, sizeof err) != ORCH_OK)
        return s_error_body(body, PROTO_STATUS_BAD_REQUEST, err);
    char after[24], job[24], lbuf[24];
    snprintf(after, sizeof after, "%lld", (long long)e.after);
    snprintf(job, sizeof job, "%lld", (long long)e.job);
    snprintf(lbuf, sizeof lbuf, "%d", e.limit > 0 ? e.limit : PROTO_EVENTS_DEFAULT_LIMIT);
    const char *v[6] = {after, e.queue, e.type, e.job > 0 ? job : NULL, lbuf, e.tenant};
    PGresult *r = s_exec(conn, QUERY_SQL_EVENTS, 6, v);
    int limit = atoi(lbuf);
    proto_events_fini(&e);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return s_rows_error(body, conn, r);
    strbuf_t sb;
    strbuf_init(&sb);
    strbuf_puts(&sb, "{\"status\":200,\"events\":");
    strbuf_puts(&sb, PQgetvalue(r, 0, 0));
    strbuf_printf(&sb, ",\"last\":%s,\"more\":%s", PQgetvalue(r, 0, 2),
                  atoi(PQgetvalue(r, 0, 1)) == limit ? "true" : "false");
    PQclear(r);
    s_append_req(&sb, body);
    strbuf_putc(&sb, '}');
    return strbuf_detach(&sb);
}

/* PURGE: finished jobs of one state by queue, type, tenant ($6) and age
 * (since they finished), oldest first, at most $5; the DELETE checks the
 * state again (a job retried meanwhile stays). With dry_run only counted. */
#define QUERY_SQL_PURGE_WHERE                                                                      \
    " state = $1 AND ($2::text IS NULL OR queue = $2) AND ($3::text IS NULL OR type = $3)"         \
    " AND coalesce(finished_at, created_at) < now() - $4::bigint * interval '1 ms'"               \
    " AND ($6::text IS NULL OR tenant = $6)"
#define QUERY_SQL_PURGE_COUNT                                                                      \
    "SELECT count(*) FROM (SELECT 1 FROM jobs WHERE" QUERY_SQL_PURGE_WHERE " LIMIT $5::int) x"
#define QUERY_SQL_PURGE                                                                            \
    "WITH v AS (SELECT id FROM jobs WHERE" QUERY_SQL_PURGE_WHERE " ORDER BY id LIMIT $5::int),"   \
    " dd AS (DELETE FROM job_deps WHERE job_id IN (SELECT id FROM v)),"                            \
    " dr AS (DELETE FROM job_reuse WHERE job_id IN (SELECT id FROM v)),"                           \
    " dc AS (DELETE FROM job_compensations WHERE job_id IN (SELECT id FROM v)),"                   \
    " d AS (DELETE FROM jobs WHERE id IN (SELECT id FROM v) AND state = $1 RETURNING queue)"       \
    " SELECT coalesce(json_agg(x), '[]'::json)::text, coalesce(sum(x.n), 0) FROM"                  \
    " (SELECT queue, count(*) AS n FROM d GROUP BY 1) x"

static char *s_purge(PGconn *conn, const json_t *body)
{
    const char *state = json_string_value(json_object_get(body, "state"));
    const char *queue = json_string_value(json_object_get(body, "queue"));
    const char *type = json_string_value(json_object_get(body, "type"));
    const char *tenant = json_string_value(json_object_get(body, "tenant"));
    json_t *age = json_object_get(body, "older_than_ms"), *lim = json_object_get(body, "limit");
    if ((json_object_get(body, "queue") && (!queue || !proto_name_valid(queue))) ||
        (json_object_get(body, "type") && (!type || !proto_name_valid(type))) ||
        (json_object_get(body, "tenant") && (!tenant || !proto_name_valid(tenant))))
        return s_error_body(body, PROTO_STATUS_BAD_REQUEST, "queue, type and tenant: must be "
                                                            "names of 1..64 characters "
                                                            "[A-Za-z0-9_.:-]");
    if (age && (!json_is_integer(age) || json_integer_value(age) < 0))
        return s_error_body(body, PROTO_STATUS_BAD_REQUEST,
                            "older_than_ms: must be an integer >= 0");
    if (lim && (!json_is_integer(lim) || json_integer_value(lim) < 1 ||
                json_integer_value(lim) > 100000))
        return s_error_body(body, PROTO_STATUS_BAD_REQUEST, "limit: must be an integer 1..100000");
    json_t *dry = json_object_get(body, "dry_run");
    if (dry && !json_is_boolean(dry))
        return s_error_body(body, PROTO_STATUS_BAD_REQUEST, "dry_run: must be a boolean");
    char agebuf[24], limbuf[24];
    snprintf(agebuf, sizeof agebuf, "%lld", age ? (long long)json_integer_value(age) : 0LL);
    long limit = lim ? (long)json_integer_value(lim) : 10000;
    snprintf(limbuf, sizeof limbuf, "%ld", limit);
    const char *v[6] = {state, queue, type, agebuf, limbuf, tenant};
    PGresult *r = s_exec(conn, json_is_true(dry) ? QUERY_SQL_PURGE_COUNT : QUERY_SQL_PURGE, 6, v);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return s_rows_error(body, conn, r);
    strbuf_t sb;
    strbuf_init(&sb);
    strbuf_puts(&sb, "{\"status\":200,\"state\":");
    strbuf_put_json_string(&sb, state, strlen(state));
    if (json_is_true(dry)) {
        long n = atol(PQgetvalue(r, 0, 0));
        strbuf_printf(&sb, ",\"matched\":%ld,\"dry_run\":true,\"more\":%s", n,
                      n == limit ? "true" : "false");
    } else {
        long n = atol(PQgetvalue(r, 0, 1));
        strbuf_printf(&sb, ",\"deleted\":%ld,\"queues\":%s,\"more\":%s", n,
                      PQgetvalue(r, 0, 0), n == limit ? "true" : "false");
    }
    PQclear(r);
    s_append_req(&sb, body);
    strbuf_putc(&sb, '}');
    return strbuf_detach(&sb);
}

char *query_answer(void *pgconn, int cmd, const json_t *body)
{
    PGconn *conn = pgconn;
    if (cmd == PROTO_C_GET)
        return s_get(conn, body);
    if (cmd == PROTO_C_LIST)
        return s_list(conn, body);
    if (cmd == PROTO_C_EVENTS)
        return s_events(conn, body);
    if (cmd == QUERY_CMD_MAINTAIN)
        return store_maint_run(conn, body);
    if (cmd == QUERY_CMD_STATS)
        return store_maint_stats(conn, body);
    if (cmd == PROTO_C_PURGE)
        return s_purge(conn, body);
    return s_error_body(body, PROTO_STATUS_BAD_REQUEST, "unexpected command for the query thread");
}

static PGconn *s_ensure_conn(struct query *q, PGconn *conn)
{
    if (conn && PQstatus(conn) == CONNECTION_OK)
        return conn;
    if (conn)
        PQfinish(conn);
    conn = store_pg_connectdb(q->conninfo);
    if (PQstatus(conn) == CONNECTION_OK)
        PQclear(PQexec(conn, "SET application_name = 'orchestratord-query'"));
    return conn;
}

static void *s_thread(void *arg)
{
    struct query *q = arg;
    void *pipe = zmq_socket(q->zctx, ZMQ_PAIR);
    zmq_connect(pipe, QUERY_PIPE_ENDPOINT);
    PGconn *conn = NULL;
    store_audit_head_t head = {0}; /* the chain's end as this thread last sealed it */
    for (;;) {
        zmq_msg_t env, cmd, body;
        zmq_msg_init(&env);
        zmq_msg_init(&cmd);
        zmq_msg_init(&body);
        if (zmq_msg_recv(&env, pipe, 0) < 0)
            break;
        if (zmq_msg_size(&env) == 0) { /* stop */
            zmq_msg_close(&env);
            break;
        }
        zmq_msg_recv(&cmd, pipe, 0);
        zmq_msg_recv(&body, pipe, 0);
        int c = 0;
        if (zmq_msg_size(&cmd) == sizeof c)
            memcpy(&c, zmq_msg_data(&cmd), sizeof c);
        bool raw = c == QUERY_CMD_SEAL_ROWS;
        json_t *j = raw ? NULL : json_loadb(zmq_msg_data(&body), zmq_msg_size(&body), 0, NULL);
        conn = s_ensure_conn(q, conn);
        if (PQstatus(conn) != CONNECTION_OK)
            head.known = false; /* a new connection: the chain may have moved meanwhile */
        char *reply = PQstatus(conn) != CONNECTION_OK ? s_db_error(j, conn, NULL)
                      : raw ? store_audit_seal_rows(conn, &head, zmq_msg_data(&body),
                                                    zmq_msg_size(&body))
                      : c == QUERY_CMD_SEAL ? store_audit_seal(conn, &head, j)
                                            : query_answer(conn, c, j);
        json_decref(j);
        zmq_send(pipe, zmq_msg_data(&env), zmq_msg_size(&env), ZMQ_SNDMORE);
        zmq_send(pipe, reply, strlen(reply), 0);
        free(reply);
        zmq_msg_close(&env);
        zmq_msg_close(&cmd);
        zmq_msg_close(&body);
    }
    if (conn)
        PQfinish(conn);
    zmq_close(pipe);
    return NULL;
}

query_t *query_start(void *zctx, const char *conninfo)
{
    struct query *q = xcalloc(1, sizeof *q);
    q->zctx = zctx;
    q->conninfo = xstrdup(conninfo);
    if (pthread_create(&q->thread, NULL, s_thread, q) != 0) {
        LOG_ERROR("could not start the query thread");
        free(q->conninfo);
        free(q);
        return NULL;
    }
    return q;
}

void query_stop(query_t **qp, void *pipe)
{
    if (!qp || !*qp)
        return;
    zmq_send(pipe, "", 0, 0);
    pthread_join((*qp)->thread, NULL);
    free((*qp)->conninfo);
    free(*qp);
    *qp = NULL;
}

int query_forward_raw(void *pipe, const proto_envelope_t *env, int cmd, const void *data,
                      size_t len)
{
    if (zmq_send(pipe, env, sizeof *env, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(pipe, &cmd, sizeof cmd, ZMQ_SNDMORE) < 0 || zmq_send(pipe, data, len, 0) < 0)
        return ORCH_EIO;
    return ORCH_OK;
}

int query_forward(void *pipe, const proto_envelope_t *env, int cmd, const json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    if (!text)
        return ORCH_EINVAL;
    int rc = ORCH_OK;
    if (zmq_send(pipe, env, sizeof *env, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(pipe, &cmd, sizeof cmd, ZMQ_SNDMORE) < 0 ||
        zmq_send(pipe, text, strlen(text), 0) < 0)
        rc = ORCH_EIO;
    free(text);
    return rc;
}

int query_recv_reply(void *pipe, proto_envelope_t *env, char **body, size_t *len)
{
    zmq_msg_t e, b;
    zmq_msg_init(&e);
    if (zmq_msg_recv(&e, pipe, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&e);
        return ORCH_EUNAVAIL;
    }
    zmq_msg_init(&b);
    zmq_msg_recv(&b, pipe, 0);
    if (zmq_msg_size(&e) == sizeof *env)
        memcpy(env, zmq_msg_data(&e), sizeof *env);
    *len = zmq_msg_size(&b);
    *body = xstrndup(zmq_msg_data(&b), *len);
    zmq_msg_close(&e);
    zmq_msg_close(&b);
    return ORCH_OK;
}
