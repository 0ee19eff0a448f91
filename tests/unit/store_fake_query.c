/* store/query.h for the unit tests: GET and LIST answered from the store
 * fake's tables in the reply format of store/query.c (a JOB object as its
 * QUERY_JOB_JSON builds it, history as QUERY_SQL_HISTORY does). No thread:
 * the answer is computed when the loop forwards the request and sent back
 * over the pipe at once, so the loop reads it on a later poll exactly as
 * it reads the real thread's replies. */
#include "query.h"
#include "store_audit.h"
#include "job.h"
#include "orch_error.h"
#include "proto.h"
#include "store_fake.h"
#include "strbuf.h"
#include "xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

struct query {
    void *sock; /* PAIR connected to the loop's pipe */
};

static query_t *s_query; /* the one coordinator's */

query_t *query_start(void *zctx, const char *conninfo)
{
    (void)conninfo;
    query_t *q = xcalloc(1, sizeof *q);
    q->sock = zmq_socket(zctx, ZMQ_PAIR);
    int zero = 0;
    zmq_setsockopt(q->sock, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_connect(q->sock, QUERY_PIPE_ENDPOINT) != 0) {
        zmq_close(q->sock);
        free(q);
        return NULL;
    }
    s_query = q;
    return q;
}

void query_stop(query_t **qp, void *pipe)
{
    (void)pipe;
    if (!qp || !*qp)
        return;
    zmq_close((*qp)->sock);
    if (s_query == *qp)
        s_query = NULL;
    free(*qp);
    *qp = NULL;
}

/* PostgreSQL's ISO 8601 text of a timestamptz, or null. */
static json_t *s_ts(int64_t us)
{
    if (!us)
        return json_null();
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char date[32], buf[64];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, sizeof buf, "%s.%06d+00:00", date, (int)(us % 1000000));
    return json_string(buf);
}

static json_t *s_json_or_null(const char *text)
{
    json_t *j = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
    return j ? j : json_null();
}

static json_t *s_str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *s_job_json(const fake_job_t *j)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(j->id));
    json_object_set_new(o, "queue", json_string(j->queue));
    json_object_set_new(o, "type", json_string(j->type));
    json_object_set_new(o, "priority", json_integer(j->priority));
    json_object_set_new(o, "state", json_string(job_state_name(j->state)));
    json_object_set_new(o, "attempt", json_integer(j->attempt));
    json_object_set_new(o, "max_attempts", json_integer(j->max_attempts + j->attempt_base));
    json_object_set_new(o, "payload", s_json_or_null(j->payload));
    json_object_set_new(o, "result", s_json_or_null(j->result));
    json_object_set_new(o, "error", s_str_or_null(j->error));
    json_object_set_new(o, "worker", s_str_or_null(j->worker));
    json_object_set_new(o, "progress", j->progress >= 0 ? json_integer(j->progress) : json_null());
    json_object_set_new(o, "timeout_ms", json_integer(j->timeout_ms));
    json_object_set_new(o, "idempotency_key", s_str_or_null(j->idempotency_key));
    json_object_set_new(o, "run_at", s_ts(j->run_at_us));
    json_object_set_new(o, "created_at", s_ts(j->created_us));
    json_object_set_new(o, "started_at", s_ts(j->started_us));
    json_object_set_new(o, "finished_at", s_ts(j->finished_us));
    json_object_set_new(o, "updated_at", s_ts(j->updated_us));
    return o;
}

static json_t *s_history(int64_t id)
{
    json_t *arr = json_array();
    const fake_event_t *e;
    for (size_t i = 0; (e = store_fake_job_event(id, i)) != NULL; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "at", s_ts(e->at_us));
        json_object_set_new(o, "event", json_string(e->event));
        json_object_set_new(o, "attempt", json_integer(e->attempt));
        json_object_set_new(o, "worker", s_str_or_null(e->worker));
        json_object_set_new(o, "detail", s_json_or_null(e->detail));
        json_array_append_new(arr, o);
    }
    return arr;
}

static char *s_reply(json_t *reply, const json_t *body)
{
    json_t *req = json_object_get(body, "req");
    if (req)
        json_object_set(reply, "req", req);
    char *t = json_dumps(reply, JSON_COMPACT);
    json_decref(reply);
    return t;
}

static char *s_error(const json_t *body, int status, const char *msg)
{
    return s_reply(json_pack("{s:i, s:s}", "status", status, "error", msg), body);
}

static char *s_get(const json_t *body)
{
    json_t *idv = json_object_get(body, "id");
    if (!json_is_integer(idv) || json_integer_value(idv) < 1)
        return s_error(body, PROTO_STATUS_BAD_REQUEST, "id: must be an integer >= 1");
    int64_t id = json_integer_value(idv);
    const fake_job_t *j = store_fake_job(id);
    if (!j) {
        char msg[64];
        snprintf(msg, sizeof msg, "job %lld not found", (long long)id);
        return s_error(body, PROTO_STATUS_NOT_FOUND, msg);
    }
    json_t *reply = json_pack("{s:i, s:o}", "status", 200, "job", s_job_json(j));
    if (json_is_true(json_object_get(body, "history")))
        json_object_set_new(reply, "history", s_history(id));
    return s_reply(reply, body);
}

static char *s_list(const json_t *body)
{
    proto_list_t l;
    char err[256];
    if (proto_list_parse(body, &l, err, sizeof err) != ORCH_OK)
        return s_error(body, PROTO_STATUS_BAD_REQUEST, err);
    int limit = l.limit > 0 ? l.limit : PROTO_LIST_DEFAULT_LIMIT;
    json_t *arr = json_array();
    size_t n = store_fake_njobs();
    const fake_job_t **rows = xcalloc(n + 1, sizeof *rows);
    size_t nrows = store_fake_rows(rows, n);
    int64_t last = 0;
    /* newest first */
    for (size_t k = nrows; k > 0 && (int)json_array_size(arr) < limit; k--) {
        const fake_job_t *j = rows[k - 1];
        if ((l.state >= 0 && j->state != l.state) || (l.queue && strcmp(j->queue, l.queue)) ||
            (l.type && strcmp(j->type, l.type)) || (l.before > 0 && j->id >= l.before) ||
            (l.error && (!j->error || !strstr(j->error, l.error))))
            continue;
        json_array_append_new(arr, s_job_json(j));
        last = j->id;
    }
    free(rows);
    json_t *reply = json_pack("{s:i, s:o}", "status", 200, "jobs", arr);
    if ((int)json_array_size(arr) == limit)
        json_object_set_new(reply, "next_before", json_integer(last));
    proto_list_fini(&l);
    return s_reply(reply, body);
}

/* query.c's QUERY_SQL_EVENTS over the fake's rows. */
static char *s_events(const json_t *body)
{
    proto_events_t q;
    char err[256];
    if (proto_events_parse(body, &q, err, sizeof err) != ORCH_OK)
        return s_error(body, PROTO_STATUS_BAD_REQUEST, err);
    int limit = q.limit > 0 ? q.limit : PROTO_EVENTS_DEFAULT_LIMIT;
    json_t *arr = json_array();
    int scanned = 0;
    int64_t last = q.after;
    for (size_t i = 0; i < store_fake_nevents() && scanned < limit; i++) {
        const fake_event_t *e = store_fake_event_at(i);
        if (e->id <= q.after || (q.job > 0 && e->job_id != q.job))
            continue;
        scanned++;
        last = e->id;
        const fake_job_t *j = store_fake_job(e->job_id);
        if (!j || (q.queue && strcmp(j->queue, q.queue)) || (q.type && strcmp(j->type, q.type)))
            continue;
        json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:i, s:I, s:I}", "id", (json_int_t)j->id,
                              "queue", j->queue, "type", j->type, "event", e->event, "state",
                              e->state ? e->state : job_state_name(j->state), "attempt",
                              e->attempt, "at_us", (json_int_t)e->at_us, "event_id",
                              (json_int_t)e->id);
        if (e->worker)
            json_object_set_new(o, "worker", json_string(e->worker));
        json_array_append_new(arr, o);
    }
    proto_events_fini(&q);
    return s_reply(json_pack("{s:i, s:o, s:I, s:b}", "status", 200, "events", arr, "last",
                             (json_int_t)last, "more", scanned == limit),
                   body);
}

int query_forward(void *pipe, const proto_envelope_t *env, int cmd, const json_t *body)
{
    (void)pipe;
    if (!s_query)
        return ORCH_EIO;
    char *reply = cmd == QUERY_CMD_MAINTAIN
                      ? strdup("{\"status\":200,\"partitions_created\":0,\"partitions_dropped\":0,"
                               "\"deleted\":[],\"scanned\":0,\"cursor\":0,\"more\":false}")
                  : cmd == QUERY_CMD_STATS /* the fake has no planner */
                      ? strdup("{\"status\":200,\"analyzed\":false,\"rows_before\":0,"
                               "\"changed\":0,\"rows_after\":0}")
                  : cmd == QUERY_CMD_SEAL /* the fake keeps no audit chain */
                      ? strdup("{\"status\":200,\"sealed\":0,\"last_id\":0,\"more\":false}")
                  : cmd == PROTO_C_PURGE
                      ? strdup("{\"status\":500,\"error\":\"PURGE is not in the store fake\"}")
                  : cmd == PROTO_C_GET    ? s_get(body)
                  : cmd == PROTO_C_LIST   ? s_list(body)
                  : cmd == PROTO_C_EVENTS ? s_events(body)
                                          : s_error(body, PROTO_STATUS_BAD_REQUEST,
                                                  "unexpected command for the query thread");
    int rc = ORCH_OK;
    if (zmq_send(s_query->sock, env, sizeof *env, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(s_query->sock, reply, strlen(reply), ZMQ_DONTWAIT) < 0)
        rc = ORCH_EIO;
    free(reply);
    return rc;
}

/* The audit rows the loop ships (QUERY_CMD_SEAL_ROWS): the fake keeps no
 * audit chain, and answers that nothing was sealed. */
int query_forward_raw(void *pipe, const proto_envelope_t *env, int cmd, const void *data,
                      size_t len)
{
    (void)pipe;
    (void)data;
    (void)len;
    if (!s_query || cmd != QUERY_CMD_SEAL_ROWS)
        return ORCH_EIO;
    const char *reply = "{\"status\":200,\"sealed\":0,\"last_id\":0}";
    if (zmq_send(s_query->sock, env, sizeof *env, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(s_query->sock, reply, strlen(reply), ZMQ_DONTWAIT) < 0)
        return ORCH_EIO;
    return ORCH_OK;
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
