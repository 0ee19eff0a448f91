/* The client side of the coordinator: submissions, cancel, retry, queue
 * pause, and the read-only requests (answered from memory, or by the query
 * thread from PostgreSQL). Replies to changes wait for the group commit. */
#include "clock.h"
#include "coord_internal.h"
#include "log.h"
#include "orch_error.h"
#include "query.h"
#include "xalloc.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void coord_send_client(coord_t *c, const proto_envelope_t *env, const char *body, size_t len)
{
    bool http = env->route == COORD_ROUTE_HTTP;
    coord_metrics_reply(c, env->cmd, body, len);
    proto_send(http ? c->hsock : c->csock, env, PROTO_CLIENT_V1, "REPLY", body, len);
    coord_touch(c, http ? COORD_SOCK_HTTP : COORD_SOCK_CLIENTS);
}

void coord_send_reply(coord_t *c, const proto_envelope_t *env, const strbuf_t *body)
{
    coord_send_client(c, env, body->data, body->len);
}

void coord_ack(batch_t *b, const proto_envelope_t *env, const char *req, strbuf_t *body)
{
    size_t len = body->len;
    batch_ack(b, env, req, strbuf_detach(body), len);
}

void coord_error(coord_t *c, const proto_envelope_t *env, int status, const char *req,
                 const char *msg)
{
    strbuf_t sb;
    strbuf_init(&sb);
    proto_reply_error(&sb, status, msg, req);
    coord_send_reply(c, env, &sb);
    strbuf_fini(&sb);
}

void coord_reply_raw(coord_t *c, const proto_envelope_t *env, const char *req, const char *key,
                     const char *json)
{
    strbuf_t sb;
    strbuf_init(&sb);
    proto_reply_open(&sb, PROTO_STATUS_OK);
    proto_reply_raw(&sb, key, json, strlen(json));
    proto_reply_close(&sb, req);
    coord_send_reply(c, env, &sb);
    strbuf_fini(&sb);
}

/* {"status":200,"state":state} after the commit of the batch being filled. */
static void s_ack_state(coord_t *c, const proto_envelope_t *env, const char *req,
                        const char *state)
{
    strbuf_t sb;
    strbuf_init(&sb);
    proto_reply_state(&sb, state, false, req);
    coord_ack(&c->cur, env, req, &sb);
}

static bool s_can_change(coord_t *c, const proto_envelope_t *env, const char *req)
{
    if (c->stopping) {
        coord_error(c, env, PROTO_STATUS_UNAVAILABLE, req, "coordinator is shutting down");
        return false;
    }
    if (c->mode != COORD_UP) {
        char msg[700];
        snprintf(msg, sizeof msg, "database unavailable: %s; retry later",
                 c->down_reason[0] ? c->down_reason : "connecting");
        coord_error(c, env, PROTO_STATUS_UNAVAILABLE, req, msg);
        return false;
    }
    return true;
}

bool coord_can_change(coord_t *c, const proto_envelope_t *env, const char *req)
{
    return s_can_change(c, env, req);
}

/* A type no worker announced and the configuration does not declare is
 * most likely a typo: 400 naming it, unless scheduler.accept_unknown_types,
 * then accepted with a warning (returned: msg, or NULL for none).
 * *rc = ORCH_EINVAL when refused (the reply was sent). */
static const char *s_unknown_types(coord_t *c, const proto_envelope_t *env, const char *req,
                                   const proto_jobspec_t *specs, size_t n, char *msg,
                                   size_t msglen, int *rc)
{
    *rc = ORCH_OK;
    for (size_t i = 0; i < n; i++) {
        if (coord_type_known(c, specs[i].type))
            continue;
        snprintf(msg, msglen,
                 "jobs[%zu].type \"%s\": no worker has announced it and types: does not declare"
                 " it%s",
                 i, specs[i].type,
                 c->cfg->accept_unknown_types ? "; accepted (scheduler.accept_unknown_types)"
                                              : " (scheduler.accept_unknown_types: true accepts it)");
        if (c->cfg->accept_unknown_types)
            return msg;
        coord_error(c, env, PROTO_STATUS_BAD_REQUEST, req, msg);
        *rc = ORCH_EINVAL;
        return NULL;
    }
    return NULL;
}

/* A SUBMIT's jobs, decoded (takes the specs). */
static void s_submit(coord_t *c, const proto_envelope_t *env, const char *req,
                     proto_jobspec_t *specs, size_t n)
{
    char err[512];
    int rc;
    if (!s_can_change(c, env, req)) {
        proto_jobspecs_free(specs, n);
        return;
    }
    int64_t horizon_us = clock_real_us() + c->cfg->max_schedule_ahead_ms * 1000;
    for (size_t i = 0; i < n; i++) {
        if (specs[i].run_at_us > horizon_us) {
            snprintf(err, sizeof err,
                     "jobs[%zu]: run_at is more than %lld days ahead"
                     " (scheduler.max_schedule_ahead)",
                     i, (long long)(c->cfg->max_schedule_ahead_ms / 86400000));
            coord_error(c, env, PROTO_STATUS_BAD_REQUEST, req, err);
            proto_jobspecs_free(specs, n);
            return;
        }
    }
    char warn[400];
    const char *warning = s_unknown_types(c, env, req, specs, n, warn, sizeof warn, &rc);
    if (rc != ORCH_OK) {
        proto_jobspecs_free(specs, n);
        return;
    }
    if (!coord_tenant_admit(c, env, req, specs, n)) {
        proto_jobspecs_free(specs, n);
        return;
    }
    coord_submit(c, env, req, specs, n, warning); /* takes the specs */
}

static void s_on_submit(coord_t *c, const proto_envelope_t *env, const char *req, json_t *body)
{
    proto_jobspec_t *specs = NULL;
    size_t n = 0;
    char err[512];
    if (!s_can_change(c, env, req))
        return;
    int rc = proto_submit_parse(body, &c->limits, &specs, &n, err, sizeof err);
    if (rc != ORCH_OK) {
        coord_error(c, env, rc == ORCH_ETOOBIG ? PROTO_STATUS_TOO_LARGE : PROTO_STATUS_BAD_REQUEST,
                    req, err);
        return;
    }
    s_submit(c, env, req, specs, n);
}

static bool s_get_id(coord_t *c, const proto_envelope_t *env, const char *req, json_t *body,
                     int64_t *id)
{
    json_t *v = json_object_get(body, "id");
    if (!json_is_integer(v) || json_integer_value(v) < 1) {
        coord_error(c, env, PROTO_STATUS_BAD_REQUEST, req, "id: must be an integer >= 1");
        return false;
    }
    *id = json_integer_value(v);
    return true;
}

/* A job of another tenant than the sender's key acts for does not exist
 * for it: 404, as for an id nobody has. */
static bool s_visible(coord_t *c, const proto_envelope_t *env, const char *req, const job_t *job)
{
    if (coord_tenant_visible(c, job->lane->tenant->name))
        return true;
    char msg[64];
    snprintf(msg, sizeof msg, "job %lld not found", (long long)job->id);
    coord_error(c, env, PROTO_STATUS_NOT_FOUND, req, msg);
    return false;
}

static void s_cancel_now(coord_t *c, job_t *job, const char *reason)
{
    job->timer_gen++; /* its run_at timer no longer applies */
    strbuf_t detail;
    strbuf_init(&detail);
    jobstate_operator_detail(&detail, "cancelled by operator", coord_peer_actor(c->peer));
    jobstate_cancel(&c->js, job, reason, detail.data, clock_real_us());
    strbuf_fini(&detail);
    coord_job_release(c, job);
}

static void s_on_cancel(coord_t *c, const proto_envelope_t *env, const char *req, json_t *body)
{
    int64_t id;
    if (!s_get_id(c, env, req, body, &id) || !s_can_change(c, env, req))
        return;
    job_t *job = hmap_i64_get(c->jobs, id);
    if (!job) {
        op_t *op = coord_op_new(STORE_OP_CANCEL, env, req);
        op->sop.in.cancel.id = id;
        op->sop.in.cancel.reason = "cancelled by operator";
        op->sop.in.cancel.actor = coord_peer_actor(c->peer);
        op->sop.in.cancel.tenant = coord_peer_tenant(c);
        coord_queue_op(c, op);
        return;
    }
    if (!s_visible(c, env, req, job))
        return;
    if (job_state_terminal(job->state)) {
        char msg[128];
        snprintf(msg, sizeof msg, "cannot cancel job %lld: it is already %s", (long long)id,
                 job_state_name(job->state));
        coord_error(c, env, PROTO_STATUS_CONFLICT, req, msg);
        return;
    }
    if (job->state == JOB_RUNNING) {
        if (!job->cancel_requested)
            coord_arm_timer(c, job, TIMER_JOB_CANCEL_GRACE, clock_mono_ms() + c->cfg->cancel_grace_ms);
        job->cancel_requested = true;
        job->cancel_actor = coord_peer_actor(c->peer);
        coord_send_cancel(c, job, "cancelled by operator");
        strbuf_t sb;
        strbuf_init(&sb);
        proto_reply_state(&sb, "running", true, req);
        coord_send_reply(c, env, &sb);
        strbuf_fini(&sb);
        return;
    }
    s_cancel_now(c, job, "cancelled by operator");
    s_ack_state(c, env, req, "cancelled");
}

static void s_on_retry(coord_t *c, const proto_envelope_t *env, const char *req, json_t *body)
{
    int64_t id;
    if (!s_get_id(c, env, req, body, &id) || !s_can_change(c, env, req))
        return;
    job_t *job = hmap_i64_get(c->jobs, id);
    if (!job) {
        op_t *op = coord_op_new(STORE_OP_RETRY, env, req);
        op->sop.in.retry.id = id;
        op->sop.in.retry.actor = coord_peer_actor(c->peer);
        op->sop.in.retry.tenant = coord_peer_tenant(c);
        coord_queue_op(c, op);
        return;
    }
    if (!s_visible(c, env, req, job))
        return;
    if (job->state != JOB_DEAD && job->state != JOB_CANCELLED) {
        char msg[128];
        snprintf(msg, sizeof msg, "cannot retry job %lld: it is %s (only dead or cancelled jobs)",
                 (long long)id, job_state_name(job->state));
        coord_error(c, env, PROTO_STATUS_CONFLICT, req, msg);
        return;
    }
    jobstate_retry(&c->js, job, coord_peer_actor(c->peer), clock_real_us());
    s_ack_state(c, env, req, "queued");
    coord_push_ready(c, job);
}

static void s_on_pause(coord_t *c, const proto_envelope_t *env, const char *req, json_t *body,
                       bool paused)
{
    const char *name = json_string_value(json_object_get(body, "queue"));
    if (!name || !proto_name_valid(name)) {
        coord_error(c, env, PROTO_STATUS_BAD_REQUEST, req,
                "queue: must be a name of 1..64 characters [A-Za-z0-9_.:-]");
        return;
    }
    if (!s_can_change(c, env, req))
        return;
    if (!coord_queue_known(c, name)) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "queue \"%s\" not found: no job, worker or queues: entry of the configuration"
                 " names it",
                 name);
        coord_error(c, env, PROTO_STATUS_NOT_FOUND, req, msg);
        return;
    }
    readyq_queue(c->rq, name, true)->paused = paused;
    op_t *op = coord_op_new(STORE_OP_PAUSE, env, req);
    op->sop.in.pause.queue = op_strdup(op, name);
    op->sop.in.pause.paused = paused;
    coord_queue_op(c, op);
    LOG_INFO("queue %s queue=%s", paused ? "paused" : "resumed", name);
}

static void s_on_stats(coord_t *c, const proto_envelope_t *env, const char *req, json_t *body)
{
    (void)body;
    json_t *queues = json_object();
    for (size_t i = 0; i < readyq_nqueues(c->rq); i++) {
        queue_t *q = readyq_queue_at(c->rq, i);
        if (q->deleted)
            continue;
        json_t *o = json_object();
        for (int s = 0; s < JOB_STATE_COUNT; s++)
            json_object_set_new(o, job_state_name(s), json_integer(q->counts[s]));
        json_object_set_new(o, "paused", json_boolean(q->paused));
        json_object_set_new(queues, q->name, o);
    }
    char *text = json_dumps(queues, JSON_COMPACT);
    json_decref(queues);
    strbuf_t sb;
    strbuf_init(&sb);
    proto_reply_open(&sb, PROTO_STATUS_OK);
    proto_reply_raw(&sb, "queues", text, strlen(text));
    proto_reply_str(&sb, "database",
                    c->mode == COORD_UP ? "up" : c->mode == COORD_RECOVERING ? "recovering" : "down");
    proto_reply_int(&sb, "invalid_transitions", (int64_t)c->js.invalid);
    json_t *tenants = coord_tenants_json(c);
    char *ttext = json_dumps(tenants, JSON_COMPACT);
    json_decref(tenants);
    proto_reply_raw(&sb, "tenants", ttext, strlen(ttext));
    free(ttext);
    proto_reply_close(&sb, req);
    coord_send_reply(c, env, &sb);
    strbuf_fini(&sb);
    free(text);
}

static void s_on_workers(coord_t *c, const proto_envelope_t *env, const char *req, json_t *body)
{
    (void)body;
    char *text = coord_workers_json(c);
    coord_reply_raw(c, env, req, "workers", text);
    free(text);
}

static void s_on_queues(coord_t *c, const proto_envelope_t *env, const char *req, json_t *body)
{
    (void)body;
    char *text = coord_queues_json(c);
    json_t *ds = coord_downstreams_json(c);
    char *dtext = json_dumps(ds, JSON_COMPACT);
    json_decref(ds);
    strbuf_t sb;
    strbuf_init(&sb);
    proto_reply_open(&sb, PROTO_STATUS_OK);
    proto_reply_raw(&sb, "queues", text, strlen(text));
    proto_reply_raw(&sb, "downstreams", dtext, strlen(dtext)); /* coord_downstream.c */
    proto_reply_close(&sb, req);
    coord_send_reply(c, env, &sb);
    strbuf_fini(&sb);
    free(dtext);
    free(text);
}

/* GET and LIST read PostgreSQL on the query thread. */
static void s_on_query(coord_t *c, const proto_envelope_t *env, const char *req, json_t *body,
                       int cmd)
{
    /* a key scoped to a tenant reads that tenant's jobs only, whatever it asks */
    const char *scope = coord_peer_tenant(c);
    if (scope)
        json_object_set_new(body, "tenant", json_string(scope));
    if (coord_query(c, env, cmd, body) != ORCH_OK)
        coord_error(c, env, PROTO_STATUS_INTERNAL, req, "could not reach the query thread");
}

static void s_on_get(coord_t *c, const proto_envelope_t *env, const char *req, json_t *body)
{
    s_on_query(c, env, req, body, PROTO_C_GET);
}

static void s_on_list(coord_t *c, const proto_envelope_t *env, const char *req, json_t *body)
{
    s_on_query(c, env, req, body, PROTO_C_LIST);
}

static void s_on_events(coord_t *c, const proto_envelope_t *env, const char *req, json_t *body)
{
    s_on_query(c, env, req, body, PROTO_C_EVENTS);
}

static void s_on_metrics(coord_t *c, const proto_envelope_t *env, const char *req, json_t *body)
{
    (void)body;
    char *text = coord_metrics_render(c);
    strbuf_t sb;
    strbuf_init(&sb);
    proto_reply_open(&sb, PROTO_STATUS_OK);
    proto_reply_str(&sb, "text", text);
    proto_reply_close(&sb, req);
    coord_send_reply(c, env, &sb);
    strbuf_fini(&sb);
    free(text);
}

static void s_on_pause_cmd(coord_t *c, const proto_envelope_t *env, const char *req, json_t *body)
{
    s_on_pause(c, env, req, body, true);
}

static void s_on_resume_cmd(coord_t *c, const proto_envelope_t *env, const char *req, json_t *body)
{
    s_on_pause(c, env, req, body, false);
}

/* The client commands: adding one is a row here (its handler and the least
 * role that may run it) plus its line in proto.h's PROTO_CLIENT_COMMANDS. */
typedef void (*s_cmd_fn)(coord_t *c, const proto_envelope_t *env, const char *req, json_t *body);
typedef struct {
    int cmd;
    s_cmd_fn fn;
    int role; /* orch_role_t; SCHEDULES: for list, its changes need operate */
} s_command_t;

static const s_command_t s_commands[] = {
    {PROTO_C_SUBMIT, s_on_submit, ORCH_ROLE_SUBMIT},
    {PROTO_C_GET, s_on_get, ORCH_ROLE_SUBMIT},
    {PROTO_C_LIST, s_on_list, ORCH_ROLE_SUBMIT},
    {PROTO_C_STATS, s_on_stats, ORCH_ROLE_SUBMIT},
    {PROTO_C_WORKERS, s_on_workers, ORCH_ROLE_SUBMIT},
    {PROTO_C_QUEUES, s_on_queues, ORCH_ROLE_SUBMIT},
    {PROTO_C_SCHEDULES, coord_on_schedules_cmd, ORCH_ROLE_SUBMIT},
    {PROTO_C_EVENTS, s_on_events, ORCH_ROLE_SUBMIT},
    {PROTO_C_METRICS, s_on_metrics, ORCH_ROLE_SUBMIT},
    {PROTO_C_QUEUE_SET, coord_on_queue_set, ORCH_ROLE_OPERATE},
    {PROTO_C_QUEUE_DELETE, coord_on_queue_delete, ORCH_ROLE_ADMIN},
    {PROTO_C_PURGE, coord_on_purge, ORCH_ROLE_ADMIN},
    {PROTO_C_CANCEL, s_on_cancel, ORCH_ROLE_OPERATE},
    {PROTO_C_RETRY, s_on_retry, ORCH_ROLE_OPERATE},
    {PROTO_C_PAUSE, s_on_pause_cmd, ORCH_ROLE_OPERATE},
    {PROTO_C_RESUME, s_on_resume_cmd, ORCH_ROLE_OPERATE},
};

static const s_command_t *s_command(int cmd)
{
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        if (s_commands[i].cmd == cmd)
            return &s_commands[i];
    return NULL;
}

/* The sender named by the HTTP listener's peer frame "REQ:TOKEN". */
static const coord_peer_t *s_http_peer(coord_t *c, const proto_envelope_t *env)
{
    char text[64];
    size_t n = env->id_len < sizeof text - 1 ? env->id_len : sizeof text - 1;
    memcpy(text, env->id, n);
    text[n] = '\0';
    const char *colon = strchr(text, ':');
    return coord_auth_http_peer(c->auth, colon ? atoi(colon + 1) : -1);
}

/* A client message, decoded: a SUBMIT of the common shape straight into
 * its jobs (proto_submit_scan, no jansson tree), anything else as a body. */
typedef struct {
    int cmd;
    json_t *body;
    proto_jobspec_t *specs;
    size_t nspecs;
    char *req;
} s_msg_t;

static int s_decode(coord_t *c, const proto_frame_t *frames, size_t nf, s_msg_t *msg, char *err,
                    size_t errlen)
{
    int rc = proto_decode_head(PROTO_KIND_CLIENT, frames, nf, &msg->cmd, err, errlen);
    if (rc != ORCH_OK)
        return rc;
    if (msg->cmd == PROTO_C_SUBMIT && proto_submit_scan(frames[2].data, frames[2].size,
                                                        &c->limits, &msg->specs, &msg->nspecs,
                                                        &msg->req))
        return ORCH_OK;
    rc = proto_decode_body(&c->limits, &frames[2], &msg->body, err, errlen);
    if (rc == ORCH_OK)
        msg->req = proto_req_dump(msg->body);
    return rc;
}

static void s_handle(coord_t *c, proto_rawmsg_t *m, bool http)
{
    proto_envelope_t env;
    proto_envelope_from(m, &env);
    if (m->env_len == 0)
        return;
    env.recv_us = clock_mono_us();
    if (http)
        env.route = COORD_ROUTE_HTTP;
    if (m->too_many) {
        coord_error(c, &env, PROTO_STATUS_BAD_REQUEST, NULL,
                "malformed message: expected 3 frames (protocol, command, body)");
        return;
    }
    proto_frame_t frames[PROTO_MAX_PARTS];
    size_t nf = proto_rawmsg_frames(m, frames, PROTO_MAX_PARTS);
    s_msg_t msg = {0};
    char err[512];
    int rc = s_decode(c, frames, nf, &msg, err, sizeof err);
    if (rc != ORCH_OK) {
        /* an unknown command or protocol frame may still carry a JSON body
         * whose "req" the client needs to match the error to its request */
        char *req = NULL;
        if (rc != ORCH_ETOOBIG && nf == 3 && frames[2].size <= c->limits.max_body_bytes) {
            json_t *b = json_loadb(frames[2].data, frames[2].size, JSON_DISABLE_EOF_CHECK, NULL);
            req = json_is_object(b) ? proto_req_dump(b) : NULL;
            json_decref(b);
        }
        coord_error(c, &env, rc == ORCH_ETOOBIG ? PROTO_STATUS_TOO_LARGE : PROTO_STATUS_BAD_REQUEST,
                    req, err);
        free(req);
        return;
    }
    env.cmd = (unsigned char)msg.cmd;
    c->peer = http ? s_http_peer(c, &env) : coord_auth_peer(c->auth, m);
    const s_command_t *row = s_command(msg.cmd);
    if (!row)
        coord_error(c, &env, PROTO_STATUS_BAD_REQUEST, msg.req, "unexpected command for a client");
    else if (!coord_auth_allows(c->peer, msg.cmd, row->role, msg.body, err, sizeof err))
        coord_error(c, &env, PROTO_STATUS_FORBIDDEN, msg.req, err);
    else if (c->mode == COORD_STANDBY && msg.cmd != PROTO_C_METRICS) /* high availability */
        coord_error(c, &env, PROTO_STATUS_UNAVAILABLE, msg.req, coord_standby_text(c));
    else if (msg.specs) {
        s_submit(c, &env, msg.req, msg.specs, msg.nspecs); /* takes them */
        msg.specs = NULL;
    } else
        row->fn(c, &env, msg.req, msg.body);
    proto_jobspecs_free(msg.specs, msg.nspecs);
    free(msg.req);
    json_decref(msg.body);
}

void coord_on_client_message(coord_t *c)
{
    for (int i = 0; i < 4096 && c->cur.nwrites < (size_t)c->cfg->max_commit_jobs; i++) {
        proto_rawmsg_t m;
        if (proto_recv_raw(c->csock, ZMQ_DONTWAIT, true, &m) != ORCH_OK)
            break;
        s_handle(c, &m, false);
        proto_rawmsg_close(&m);
    }
}

void coord_on_http_message(coord_t *c)
{
    for (int i = 0; i < 4096 && c->cur.nwrites < (size_t)c->cfg->max_commit_jobs; i++) {
        proto_rawmsg_t m;
        if (proto_recv_raw(c->hsock, ZMQ_DONTWAIT, true, &m) != ORCH_OK)
            break;
        s_handle(c, &m, true);
        proto_rawmsg_close(&m);
    }
}

void coord_on_query_reply(coord_t *c)
{
    for (int i = 0; i < 256; i++) {
        proto_envelope_t env;
        char *body = NULL;
        size_t len = 0;
        if (query_recv_reply(c->qpipe, &env, &body, &len) != ORCH_OK)
            break;
        if (env.route == COORD_ROUTE_SELF || env.route == COORD_ROUTE_SEAL ||
            env.route == COORD_ROUTE_SEAL_WRITE || env.route == COORD_ROUTE_STATS) {
            if (env.route == COORD_ROUTE_SELF)
                coord_maint_result(c, body, len);
            else if (env.route == COORD_ROUTE_STATS)
                coord_stats_result(c, body, len);
            else
                coord_seal_result(c, env.route == COORD_ROUTE_SEAL_WRITE, body, len);
            free(body);
            continue;
        }
        if (env.cmd == PROTO_C_PURGE)
            coord_purge_counted(c, body, len);
        coord_send_client(c, &env, body, len);
        free(body);
    }
}
