/* The typed calls: each builds its request body with the codec (proto/),
 * makes one request through orch_client_call, and hands out the member of
 * the reply that carries the answer. */
#include "orch_client_int.h"
#include "proto.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void orch_job_init(orch_job_t *job)
{
    memset(job, 0, sizeof *job);
    job->priority = -1;
    job->delay_ms = -1;
}

void orch_schedule_init(orch_schedule_t *s)
{
    memset(s, 0, sizeof *s);
    s->priority = -1;
}

void orch_ids_fini(orch_ids_t *ids)
{
    if (!ids)
        return;
    free(ids->ids);
    free(ids->existing);
    memset(ids, 0, sizeof *ids);
}

/* ---- replies ---- */

/* The member key of a 200 reply, checked for type: *out owns it. */
static int s_member(orch_client_t *cl, json_t *reply, const char *key, json_type type,
                    json_t **out)
{
    json_t *v = json_object_get(reply, key);
    *out = NULL;
    if (!v || json_typeof(v) != type) {
        json_decref(reply);
        return orch_int_fail(cl, ORCH_EPROTO, "malformed reply from coordinator: no \"%s\" %s",
                                key, type == JSON_ARRAY ? "array" : "object");
    }
    *out = json_incref(v);
    json_decref(reply);
    return 0;
}

/* The reply without "status", for the caller if it wants it. */
static void s_give_reply(json_t *reply, json_t **out)
{
    if (out) {
        json_object_del(reply, "status");
        *out = reply;
    } else {
        json_decref(reply);
    }
}

static int s_call_body(orch_client_t *cl, const char *command, strbuf_t *body, bool retry_safe,
                       json_t **reply)
{
    orch_req_t rq = {.command = command, .body = body->data, .len = body->len,
                     .kind = ORCH_REQ_OK, .retry_safe = retry_safe};
    int rc = orch_int_call(cl, &rq, reply);
    strbuf_fini(body);
    return rc;
}

static int s_call_empty(orch_client_t *cl, const char *command, json_t **reply)
{
    strbuf_t body;
    strbuf_init(&body);
    proto_empty_encode(&body);
    return s_call_body(cl, command, &body, true, reply);
}

/* ---- SUBMIT ---- */

static void s_spec(const orch_job_t *j, proto_jobspec_t *s)
{
    /* the codec's struct holds char *: these are only read by the encoder */
    *s = (proto_jobspec_t){
        .queue = (char *)j->queue, .type = (char *)j->type, .priority = j->priority,
        .max_attempts = j->max_attempts, .timeout_ms = j->timeout_ms,
        .payload = (char *)(j->payload ? j->payload : "{}"),
        .payload_len = strlen(j->payload ? j->payload : "{}"),
        .idempotency_key = (char *)j->idempotency_key, .run_at_us = j->run_at_us,
        .delay_ms = j->delay_ms, .depends_on = (int64_t *)j->depends_on, .ndepends = j->ndepends};
}

/* What the encoder cannot say: a payload that is not an object would make
 * the whole body unreadable, and both times given would lose one. */
static int s_check_job(orch_client_t *cl, const orch_job_t *j, size_t i)
{
    if (!j->queue || !j->type)
        return orch_int_fail(cl, ORCH_EINVAL, "jobs[%zu]: queue and type are required", i);
    if (j->run_at_us != 0 && j->delay_ms >= 0)
        return orch_int_fail(cl, ORCH_EINVAL,
                                "jobs[%zu]: run_at_us and delay_ms cannot be combined", i);
    if (!j->payload)
        return 0;
    json_t *p = json_loads(j->payload, JSON_REJECT_DUPLICATES, NULL);
    bool ok = json_is_object(p);
    json_decref(p);
    if (!ok)
        return orch_int_fail(cl, ORCH_EINVAL, "jobs[%zu].payload: expected a JSON object", i);
    return 0;
}

/* The SUBMIT body of jobs, checked with the coordinator's own decoder so
 * that a bad job is refused before anything is sent, named as the
 * coordinator would ("jobs[3].priority: ..."). *safe: every job has an
 * idempotency key, so sending it twice creates nothing twice. */
static int s_submit_body(orch_client_t *cl, const orch_job_t *jobs, size_t n, strbuf_t *sb,
                         bool *safe)
{
    if (n == 0)
        return orch_int_fail(cl, ORCH_EINVAL, "nothing to submit");
    *safe = true;
    proto_jobs_open(sb);
    for (size_t i = 0; i < n; i++) {
        int rc = s_check_job(cl, &jobs[i], i);
        if (rc != 0)
            return rc;
        proto_jobspec_t s;
        s_spec(&jobs[i], &s);
        s.tenant = (char *)orch_int_tenant(cl); /* only read by the encoder */
        proto_submit_add(sb, &s);
        *safe = *safe && jobs[i].idempotency_key;
    }
    proto_jobs_close(sb);
    proto_limits_t lim;
    proto_limits_default(&lim);
    lim.max_batch_jobs = SIZE_MAX; /* the coordinator's own limit decides (413) */
    lim.max_body_bytes = SIZE_MAX;
    json_t *body = json_loadb(sb->data, sb->len, 0, NULL);
    proto_jobspec_t *specs = NULL;
    size_t nspecs = 0;
    char why[512] = "invalid job";
    int rc = body ? proto_submit_parse(body, &lim, &specs, &nspecs, why, sizeof why) : ORCH_EINVAL;
    json_decref(body);
    if (rc == 0)
        proto_jobspecs_free(specs, nspecs);
    return rc == 0 ? 0 : orch_int_fail(cl, ORCH_EINVAL, "%s", why);
}

static void s_take_ids(const json_t *reply, orch_ids_t *out)
{
    proto_reply_t r;
    memset(out, 0, sizeof *out);
    /* the connection checked the reply with this decoder: it cannot fail */
    if (proto_reply_parse(reply, &r, NULL, 0) != 0)
        return;
    out->n = r.nids;
    out->ids = r.ids;
    out->existing = r.existing;
    r.ids = NULL;
    r.existing = NULL;
    proto_reply_fini(&r);
}

static int s_submit_text(orch_client_t *cl, const char *body, size_t len, size_t njobs,
                         bool safe, orch_ids_t *ids)
{
    orch_req_t rq = {.command = "SUBMIT", .body = body, .len = len, .kind = ORCH_REQ_SUBMIT,
                     .njobs = njobs, .retry_safe = safe};
    json_t *reply = NULL;
    int rc = orch_int_call(cl, &rq, &reply);
    if (ids)
        memset(ids, 0, sizeof *ids);
    if (rc == 0 && ids)
        s_take_ids(reply, ids);
    json_decref(reply);
    return rc;
}

int orch_client_submit(orch_client_t *cl, const orch_job_t *jobs, size_t n, orch_ids_t *ids)
{
    strbuf_t sb;
    strbuf_init(&sb);
    bool safe = false;
    int rc = s_submit_body(cl, jobs, n, &sb, &safe);
    if (rc == 0)
        rc = s_submit_text(cl, sb.data, sb.len, n, safe, ids);
    else if (ids)
        memset(ids, 0, sizeof *ids);
    strbuf_fini(&sb);
    return rc;
}

int orch_client_submit_json(orch_client_t *cl, const char *body, size_t len, orch_ids_t *ids)
{
    return s_submit_text(cl, body, len, 0, false, ids);
}

int orch_client_submit_async(orch_client_t *cl, const orch_job_t *jobs, size_t n,
                             orch_callback_fn *cb, void *userdata)
{
    strbuf_t sb;
    strbuf_init(&sb);
    bool safe = false;
    int rc = s_submit_body(cl, jobs, n, &sb, &safe);
    orch_req_t rq = {.command = "SUBMIT", .body = sb.data, .len = sb.len,
                     .kind = ORCH_REQ_SUBMIT, .njobs = n, .retry_safe = safe};
    if (rc == 0)
        rc = orch_int_call_async(cl, &rq, cb, userdata);
    strbuf_fini(&sb);
    return rc;
}

int orch_client_submit_json_async(orch_client_t *cl, const char *body, size_t len,
                                  orch_callback_fn *cb, void *userdata)
{
    orch_req_t rq = {.command = "SUBMIT", .body = body, .len = len, .kind = ORCH_REQ_SUBMIT};
    return orch_int_call_async(cl, &rq, cb, userdata);
}

int orch_client_request_async(orch_client_t *cl, const char *command, const char *body,
                              size_t len, orch_callback_fn *cb, void *userdata)
{
    orch_req_t rq = {.command = command, .body = body, .len = len, .kind = ORCH_REQ_ANY};
    return orch_int_call_async(cl, &rq, cb, userdata);
}

int orch_client_request(orch_client_t *cl, const char *command, const char *body, size_t len,
                        json_t **reply)
{
    orch_req_t rq = {.command = command, .body = body, .len = len, .kind = ORCH_REQ_ANY};
    return orch_int_call(cl, &rq, reply);
}

/* ---- GET, LIST ---- */

int orch_client_get(orch_client_t *cl, int64_t id, bool history, json_t **job,
                    json_t **history_out)
{
    *job = NULL;
    if (history_out)
        *history_out = NULL;
    if (id < 1)
        return orch_int_fail(cl, ORCH_EINVAL, "invalid job id %lld", (long long)id);
    strbuf_t body;
    strbuf_init(&body);
    proto_get_encode(&body, &(proto_get_t){.id = id, .history = history});
    json_t *reply = NULL;
    int rc = s_call_body(cl, "GET", &body, true, &reply);
    if (rc != 0)
        return rc;
    if (history) {
        json_t *events = json_object_get(reply, "history");
        if (json_is_object(json_object_get(reply, "job")) && !json_is_array(events)) {
            json_decref(reply);
            return orch_int_fail(cl, ORCH_EPROTO,
                                    "malformed reply from coordinator: no \"history\" array");
        }
        if (history_out)
            *history_out = json_incref(events);
    }
    rc = s_member(cl, reply, "job", JSON_OBJECT, job);
    if (rc != 0 && history_out) {
        json_decref(*history_out);
        *history_out = NULL;
    }
    return rc;
}

int orch_client_list(orch_client_t *cl, const orch_list_filter_t *filter, json_t **jobs)
{
    int64_t next = 0;
    return orch_client_list_page(cl, filter, jobs, &next);
}

int orch_client_list_page(orch_client_t *cl, const orch_list_filter_t *filter, json_t **jobs,
                          int64_t *next_before)
{
    *jobs = NULL;
    *next_before = 0;
    proto_list_t l = {.state = -1};
    if (filter && filter->state && (l.state = proto_state_index(filter->state)) < 0)
        return orch_int_fail(cl, ORCH_EINVAL, "invalid state '%s'", filter->state);
    if (filter && filter->queue && !proto_name_valid(filter->queue))
        return orch_int_fail(cl, ORCH_EINVAL, "invalid queue name '%s'", filter->queue);
    if (filter && (filter->limit < 0 || filter->limit > PROTO_LIST_MAX_LIMIT))
        return orch_int_fail(cl, ORCH_EINVAL, "invalid limit %d: must be 1..%d",
                                filter->limit, PROTO_LIST_MAX_LIMIT);
    if (filter && filter->type && !proto_name_valid(filter->type))
        return orch_int_fail(cl, ORCH_EINVAL, "invalid type name '%s'", filter->type);
    if (filter && filter->error && (!*filter->error || strlen(filter->error) > 256))
        return orch_int_fail(cl, ORCH_EINVAL, "invalid error text: 1..256 bytes");
    if (filter && filter->before < 0)
        return orch_int_fail(cl, ORCH_EINVAL, "invalid cursor %lld", (long long)filter->before);
    if (filter) {
        /* only read by the encoder */
        l.queue = (char *)filter->queue;
        l.type = (char *)filter->type;
        l.error = (char *)filter->error;
        l.limit = filter->limit;
        l.before = filter->before;
    }
    l.tenant = (char *)orch_int_tenant(cl); /* only read by the encoder */
    strbuf_t body;
    strbuf_init(&body);
    proto_list_encode(&body, &l);
    json_t *reply = NULL;
    int rc = s_call_body(cl, "LIST", &body, true, &reply);
    if (rc == 0) {
        json_t *nb = json_object_get(reply, "next_before");
        *next_before = json_is_integer(nb) ? (int64_t)json_integer_value(nb) : 0;
    }
    return rc != 0 ? rc : s_member(cl, reply, "jobs", JSON_ARRAY, jobs);
}

/* ---- actions ---- */

static int s_job_action(orch_client_t *cl, const char *command, int64_t id, json_t **out)
{
    if (out)
        *out = NULL;
    if (id < 1)
        return orch_int_fail(cl, ORCH_EINVAL, "invalid job id %lld", (long long)id);
    strbuf_t body;
    strbuf_init(&body);
    proto_jobid_encode(&body, id);
    json_t *reply = NULL;
    int rc = s_call_body(cl, command, &body, false, &reply);
    if (rc == 0)
        s_give_reply(reply, out);
    return rc;
}

int orch_client_cancel(orch_client_t *cl, int64_t id, json_t **reply)
{
    return s_job_action(cl, "CANCEL", id, reply);
}

int orch_client_retry(orch_client_t *cl, int64_t id, json_t **reply)
{
    return s_job_action(cl, "RETRY", id, reply);
}

static int s_queue_action(orch_client_t *cl, const char *command, const char *queue,
                          json_t **out)
{
    if (out)
        *out = NULL;
    if (!queue || !proto_name_valid(queue))
        return orch_int_fail(cl, ORCH_EINVAL, "invalid queue name '%s'", queue ? queue : "");
    strbuf_t body;
    strbuf_init(&body);
    proto_queue_encode(&body, queue);
    json_t *reply = NULL;
    int rc = s_call_body(cl, command, &body, true, &reply);
    if (rc == 0)
        s_give_reply(reply, out);
    return rc;
}

int orch_client_pause(orch_client_t *cl, const char *queue, json_t **reply)
{
    return s_queue_action(cl, "PAUSE", queue, reply);
}

int orch_client_resume(orch_client_t *cl, const char *queue, json_t **reply)
{
    return s_queue_action(cl, "RESUME", queue, reply);
}

/* ---- STATS, QUEUES, WORKERS ---- */

int orch_client_stats(orch_client_t *cl, json_t **stats)
{
    *stats = NULL;
    json_t *reply = NULL;
    int rc = s_call_empty(cl, "STATS", &reply);
    if (rc != 0)
        return rc;
    if (!json_is_object(json_object_get(reply, "queues"))) {
        json_decref(reply);
        return orch_int_fail(cl, ORCH_EPROTO,
                                "malformed reply from coordinator: no \"queues\" object");
    }
    s_give_reply(reply, stats);
    return 0;
}

int orch_client_queues(orch_client_t *cl, json_t **queues)
{
    return orch_client_queues_downstreams(cl, queues, NULL);
}

int orch_client_queues_downstreams(orch_client_t *cl, json_t **queues, json_t **downstreams)
{
    json_t *reply = NULL;
    *queues = NULL;
    if (downstreams)
        *downstreams = NULL;
    int rc = s_call_empty(cl, "QUEUES", &reply);
    if (rc != 0)
        return rc;
    if (downstreams) { /* a coordinator older than the member: none */
        json_t *d = json_object_get(reply, "downstreams");
        *downstreams = json_is_array(d) ? json_incref(d) : json_array();
    }
    rc = s_member(cl, reply, "queues", JSON_ARRAY, queues);
    if (rc != 0 && downstreams) {
        json_decref(*downstreams);
        *downstreams = NULL;
    }
    return rc;
}

int orch_client_workers(orch_client_t *cl, json_t **workers)
{
    json_t *reply = NULL;
    *workers = NULL;
    int rc = s_call_empty(cl, "WORKERS", &reply);
    return rc != 0 ? rc : s_member(cl, reply, "workers", JSON_ARRAY, workers);
}

/* ---- SCHEDULES ---- */

static int s_sched(orch_client_t *cl, const proto_sched_req_t *req, bool safe, json_t **reply)
{
    strbuf_t body;
    strbuf_init(&body);
    proto_sched_req_encode(&body, req);
    return s_call_body(cl, "SCHEDULES", &body, safe, reply);
}

int orch_client_schedules(orch_client_t *cl, json_t **schedules)
{
    json_t *reply = NULL;
    *schedules = NULL;
    proto_sched_req_t req = {.action = PROTO_SCHED_LIST, .priority = -1};
    int rc = s_sched(cl, &req, true, &reply);
    return rc != 0 ? rc : s_member(cl, reply, "schedules", JSON_ARRAY, schedules);
}

int orch_client_schedule_add(orch_client_t *cl, const orch_schedule_t *s, json_t **out)
{
    if (out)
        *out = NULL;
    if (!s->name || !s->cron || !*s->cron || !s->queue || !s->type)
        return orch_int_fail(cl, ORCH_EINVAL, "a schedule needs a name, cron, queue and type");
    /* strings only read by the encoder */
    proto_sched_req_t req = {.action = PROTO_SCHED_ADD, .name = (char *)s->name,
                             .cron = (char *)s->cron, .queue = (char *)s->queue,
                             .type = (char *)s->type, .payload = (char *)s->payload,
                             .priority = s->priority, .max_attempts = s->max_attempts,
                             .paused = s->paused};
    json_t *reply = NULL;
    int rc = s_sched(cl, &req, false, &reply);
    if (rc == 0)
        s_give_reply(reply, out);
    return rc;
}

static int s_sched_change(orch_client_t *cl, proto_sched_action_t action, const char *name,
                          json_t **out)
{
    if (out)
        *out = NULL;
    if (!name || !proto_name_valid(name))
        return orch_int_fail(cl, ORCH_EINVAL, "invalid schedule name '%s'", name ? name : "");
    proto_sched_req_t req = {.action = action, .name = (char *)name, .priority = -1};
    json_t *reply = NULL;
    int rc = s_sched(cl, &req, action != PROTO_SCHED_REMOVE, &reply);
    if (rc == 0)
        s_give_reply(reply, out);
    return rc;
}

int orch_client_schedule_remove(orch_client_t *cl, const char *name, json_t **reply)
{
    return s_sched_change(cl, PROTO_SCHED_REMOVE, name, reply);
}

int orch_client_schedule_pause(orch_client_t *cl, const char *name, json_t **reply)
{
    return s_sched_change(cl, PROTO_SCHED_PAUSE, name, reply);
}

int orch_client_schedule_resume(orch_client_t *cl, const char *name, json_t **reply)
{
    return s_sched_change(cl, PROTO_SCHED_RESUME, name, reply);
}
