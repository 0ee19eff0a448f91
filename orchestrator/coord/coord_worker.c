/* The worker side of the coordinator: registration, results with fencing,
 * heartbeats and liveness, leases (the slots a worker has busy). */
#include "backoff.h"
#include "clock.h"
#include "coord_internal.h"
#include "log.h"
#include "orch_error.h"
#include "xalloc.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool s_env_equal(const proto_envelope_t *a, const proto_envelope_t *b)
{
    return a->id_len == b->id_len && memcmp(a->id, b->id, a->id_len) == 0;
}

/* ---- the worker indexes: every message looks its sender up, and with a
 * thousand workers a scan of the array per message was the loop's largest
 * cost (docs/benchmarks.md, "fleet"). Routing ids are bytes chosen by the
 * peer (ZMQ_ROUTING_ID): the key is their hex text, hashed with the map's
 * keyed SipHash like any key a peer picks. */

#define S_ROUTE_KEY_MAX (2 * sizeof ((proto_envelope_t *)0)->id + 1)

static void s_route_key(const proto_envelope_t *env, char *key)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < env->id_len; i++) {
        key[2 * i] = hex[env->id[i] >> 4];
        key[2 * i + 1] = hex[env->id[i] & 15];
    }
    key[2 * env->id_len] = '\0';
}

static worker_t *s_by_env(coord_t *c, const proto_envelope_t *env)
{
    if (!c->workers_by_route)
        return NULL;
    char key[S_ROUTE_KEY_MAX];
    s_route_key(env, key);
    return hmap_str_get(c->workers_by_route, key);
}

worker_t *coord_worker_by_name(coord_t *c, const char *name)
{
    return c->workers_by_name ? hmap_str_get(c->workers_by_name, name) : NULL;
}

/* Appends a registered worker to the array and the indexes. A name keeps
 * the worker that registered it first: HELLO never gives a live name to a
 * second connection, except when a registration on the same connection
 * renames itself to it (then, as with the array scan before, the earlier
 * one is found). */
static void s_worker_add(coord_t *c, worker_t *w)
{
    if (!c->workers_by_route) {
        c->workers_by_route = hmap_new_str();
        c->workers_by_name = hmap_new_str();
    }
    c->workers = xrealloc(c->workers, (c->nworkers + 1) * sizeof *c->workers);
    c->workers[c->nworkers++] = w;
    char key[S_ROUTE_KEY_MAX];
    s_route_key(&w->env, key);
    hmap_str_put(c->workers_by_route, key, w);
    if (!hmap_str_get(c->workers_by_name, w->name))
        hmap_str_put(c->workers_by_name, w->name, w);
}

/* Takes w out of the indexes (the array is the caller's). */
static void s_index_remove(coord_t *c, worker_t *w)
{
    char key[S_ROUTE_KEY_MAX];
    s_route_key(&w->env, key);
    if (hmap_str_get(c->workers_by_route, key) == w)
        hmap_str_remove(c->workers_by_route, key);
    if (hmap_str_get(c->workers_by_name, w->name) != w)
        return;
    hmap_str_remove(c->workers_by_name, w->name);
    for (size_t i = 0; i < c->nworkers; i++)
        if (c->workers[i] != w && strcmp(c->workers[i]->name, w->name) == 0) {
            hmap_str_put(c->workers_by_name, w->name, c->workers[i]);
            break;
        }
}

static void s_index_forget(coord_t *c, bool destroy)
{
    if (destroy) {
        hmap_destroy(&c->workers_by_route);
        hmap_destroy(&c->workers_by_name);
    } else if (c->workers_by_route) {
        hmap_clear(c->workers_by_route);
        hmap_clear(c->workers_by_name);
    }
}

/* Sends a body built by the codec (proto_*_encode) to a worker. */
static void s_send(coord_t *c, worker_t *w, const char *cmd, const strbuf_t *body)
{
    if (proto_send(c->wsock, &w->env, PROTO_WORKER_V1, cmd, body->data, body->len) == ORCH_OK)
        w->last_sent_ms = clock_mono_ms();
    coord_touch(c, COORD_SOCK_WORKERS);
}

/* An ERROR with code and message to a connection (registered or not). */
static void s_send_error(coord_t *c, const proto_envelope_t *env, const char *code,
                         const char *message)
{
    strbuf_t sb;
    strbuf_init(&sb);
    proto_error_encode(&sb, code, message);
    proto_send(c->wsock, env, PROTO_WORKER_V1, "ERROR", sb.data, sb.len);
    coord_touch(c, COORD_SOCK_WORKERS);
    strbuf_fini(&sb);
}

/* An ERROR asking the connection to register (again). */
static void s_send_reconnect(coord_t *c, const proto_envelope_t *env, const char *message)
{
    s_send_error(c, env, PROTO_ERROR_RECONNECT, message);
}

static void s_worker_free(worker_t *w)
{
    free(w->version);
    for (size_t i = 0; i < w->nqueues; i++)
        free(w->queues[i]);
    for (size_t i = 0; i < w->ntypes; i++)
        free(w->types[i]);
    free(w->queues);
    free(w->types);
    free(w->leases);
    free(w->lanes);
    strbuf_fini(&w->outbox);
    free(w);
}

static void s_worker_remove(coord_t *c, worker_t *w)
{
    s_index_remove(c, w);
    for (size_t i = 0; i < c->nworkers; i++) {
        if (c->workers[i] == w) {
            c->workers[i] = c->workers[--c->nworkers];
            break;
        }
    }
    s_worker_free(w);
}

void coord_workers_destroy(coord_t *c, bool tell_reconnect)
{
    for (size_t i = 0; i < c->nworkers; i++) {
        if (tell_reconnect)
            s_send_reconnect(c, &c->workers[i]->env, "please register again");
        s_worker_free(c->workers[i]);
    }
    c->nworkers = 0;
    s_index_forget(c, true);
}

void coord_workers_redirect(coord_t *c, const char *message)
{
    for (size_t i = 0; i < c->nworkers; i++) {
        s_send_error(c, &c->workers[i]->env, PROTO_ERROR_STANDBY, message);
        s_worker_free(c->workers[i]);
    }
    c->nworkers = 0;
    s_index_forget(c, false);
}

void coord_lease_drop(worker_t *w, int64_t id, int attempt)
{
    for (int i = 0; i < w->nleases; i++) {
        if (w->leases[i].id == id && w->leases[i].attempt == attempt) {
            w->leases[i] = w->leases[--w->nleases];
            return;
        }
    }
}

void coord_send_cancel(coord_t *c, job_t *job, const char *reason)
{
    if (!job->worker)
        return;
    strbuf_t sb;
    strbuf_init(&sb);
    proto_cancel_encode(&sb, job->id, job->attempt, reason);
    s_send(c, job->worker, "CANCEL", &sb);
    strbuf_fini(&sb);
}

void coord_attempt_failed(coord_t *c, job_t *job, job_end_t why, const char *error,
                          bool permanent)
{
    coord_attempt_failed_after(c, job, why, error, permanent, 0);
}

void coord_attempt_failed_after(coord_t *c, job_t *job, job_end_t why, const char *error,
                                bool permanent, int64_t min_delay_ms)
{
    job->worker = NULL;
    job->timer_gen++; /* the attempt's deadline no longer applies */
    const queue_policy_t *p = coord_policy(c, job->lane->queue->name);
    int64_t delay = backoff_delay_ms(job_attempts_used(job), p->backoff_base_ms,
                                     p->backoff_max_ms, coord_rand01(c));
    if (delay < min_delay_ms)
        delay = min_delay_ms;
    int64_t now = clock_real_us();
    int to = jobstate_attempt_ended(&c->js, job, why, error, permanent, delay, now);
    if (to == JOB_SCHEDULED) {
        job->timer_armed = coord_scheduled_resident(job->run_at_us, now);
        if (job->timer_armed)
            coord_arm_timer(c, job, TIMER_JOB_RETRY, clock_mono_ms() + delay);
    }
    coord_job_release(c, job);
}

/* Every attempt the worker still holds goes back through the retry policy. */
static void s_worker_lost(coord_t *c, worker_t *w, const char *why)
{
    LOG_WARN("worker lost worker=%s reason=\"%s\" jobs=%d", w->name, why, w->nleases);
    if (strcmp(why, "worker left") != 0)
        c->metrics.workers_lost++;
    for (int i = 0; i < w->nleases; i++) {
        job_t *job = hmap_i64_get(c->jobs, w->leases[i].id);
        if (job && job->state == JOB_RUNNING && job->worker == w &&
            job->attempt == w->leases[i].attempt)
            coord_attempt_failed(c, job, JOB_END_LOST, why, false);
    }
    s_worker_remove(c, w);
}

static void s_stale(coord_t *c, job_t *job, int64_t id, int attempt, const char *worker,
                    const char *why)
{
    LOG_INFO("ignored stale result job=%lld attempt=%d worker=%s reason=\"%s\"", (long long)id,
             attempt, worker ? worker : "-", why);
    jobstate_stale(&c->js, job, id, attempt, worker, why);
}

/* Fencing: a result counts only from the worker and attempt holding the job.
 * An orphaned attempt (no live holder since a restart or a failed commit)
 * recorded under this worker's name is its own: names are identities. */
static job_t *s_fenced(coord_t *c, worker_t *w, int64_t id, int attempt)
{
    job_t *job = hmap_i64_get(c->jobs, id);
    if (job && job->state == JOB_RUNNING && job->attempt == attempt &&
        (job->worker == w || (!job->worker && job->worker_name == w->name)))
        return job;
    const char *why = !job ? "job is not running"
                      : job->state != JOB_RUNNING ? "job is no longer running"
                      : job->attempt != attempt   ? "a newer attempt holds the job"
                                                  : "another worker holds the job";
    s_stale(c, job, id, attempt, w->name, why);
    return NULL;
}

static void s_on_done(coord_t *c, worker_t *w, proto_result_t *r)
{
    coord_lease_drop(w, r->id, r->attempt);
    job_t *job = s_fenced(c, w, r->id, r->attempt);
    if (!job)
        return;
    coord_downstream_call(c, job, &r->call);
    job->worker = NULL;
    job->timer_gen++;
    char *result = r->result;
    r->result = NULL;
    jobstate_succeed(&c->js, job, result, clock_real_us());
    w->jobs_done++;
    coord_job_release(c, job);
}

static void s_on_fail(coord_t *c, worker_t *w, proto_result_t *r)
{
    coord_lease_drop(w, r->id, r->attempt);
    job_t *job = s_fenced(c, w, r->id, r->attempt);
    if (!job)
        return;
    int64_t retry_after = coord_downstream_call(c, job, &r->call);
    if (r->cancelled && job->cancel_requested) {
        coord_attempt_failed(c, job, JOB_END_CANCEL, r->error, true);
        return;
    }
    coord_attempt_failed_after(c, job, JOB_END_FAILED, r->error, r->permanent, retry_after);
}

/* A DONE or FAIL's entries, decoded (takes rs). */
static void s_results(coord_t *c, worker_t *w, const proto_envelope_t *env, int cmd,
                      proto_result_t *rs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!w || c->mode != COORD_UP)
            continue; /* not acknowledged: the worker re-sends it (see below) */
        if (cmd == PROTO_W_DONE)
            s_on_done(c, w, &rs[i]);
        else
            s_on_fail(c, w, &rs[i]);
        /* recorded or ignored as stale: either way the worker may forget it
         * once this turn's commit is done (a worker that did not ask for
         * ACKs in its HELLO forgot it already) */
        if (w->acks)
            batch_result(&c->cur, w->name, rs[i].id, rs[i].attempt);
    }
    if (n && w && c->mode != COORD_UP)
        LOG_INFO("results deferred while the database is down worker=%s results=%zu", w->name, n);
    /* A result on a connection that has not registered (the worker has not
     * noticed a coordinator restart yet) is not recorded, not even as
     * stale: its attempt may still hold the job. The worker registers again,
     * listing the attempt as running, and re-sends the result. */
    if (n && !w)
        LOG_INFO("results from an unregistered connection, asked to register first results=%zu", n);
    proto_results_free(rs, n);
    if (!w)
        s_send_reconnect(c, env, "unknown worker, send HELLO");
}

static void s_on_results(coord_t *c, worker_t *w, const proto_envelope_t *env, int cmd,
                         json_t *body)
{
    proto_result_t *rs = NULL;
    size_t n = 0;
    char err[256];
    if (proto_results_parse(cmd, body, &c->limits, &rs, &n, err, sizeof err) != ORCH_OK) {
        LOG_WARN("refused malformed %s worker=%s error=\"%s\"", proto_wcmd_name(cmd),
                 w ? w->name : "unknown", err);
        s_send_error(c, env, PROTO_ERROR_MALFORMED, err);
        return;
    }
    s_results(c, w, env, cmd, rs, n);
}

static bool s_in_running(const proto_hello_t *h, int64_t id, int attempt)
{
    for (size_t i = 0; i < h->nrunning; i++)
        if (h->running[i].id == id && h->running[i].attempt == attempt)
            return true;
    return false;
}

/* A worker that registers again (reconnect, or the same worker on a new
 * connection) replaces its old registration: attempts it still runs move
 * over. On the same connection a JOB sent before the HELLO arrived is still
 * on its way to the worker (a connection keeps the order of messages), so
 * its attempt moves over too; on a new connection it was lost with the old
 * one, and goes back through the retry policy. */
static void s_retire(coord_t *c, worker_t *old, worker_t *w, const proto_hello_t *h)
{
    bool same_conn = s_env_equal(&old->env, &w->env);
    for (int i = 0; i < old->nleases; i++) {
        job_t *job = hmap_i64_get(c->jobs, old->leases[i].id);
        if (!job || job->worker != old || job->attempt != old->leases[i].attempt)
            continue;
        if (s_in_running(h, job->id, job->attempt)) {
            job->worker = w;
        } else if (same_conn) {
            job->worker = w;
            w->leases = xrealloc(w->leases, ((size_t)w->slots + w->nleases + 1) *
                                                sizeof *w->leases);
            w->leases[w->nleases++] = old->leases[i];
        } else if (c->mode == COORD_UP) {
            coord_attempt_failed(c, job, JOB_END_LOST, "worker registered again without this job",
                                 false);
        } else {
            job->worker = NULL;
        }
    }
    s_worker_remove(c, old);
}

static void s_attach(coord_t *c, worker_t *w, job_t *job, int attempt)
{
    bool changed = job->state == JOB_QUEUED || job->worker != w;
    if (changed && jobstate_reattach(&c->js, job, w->name, attempt, clock_real_us()) != ORCH_OK)
        return;
    job->worker = w;
    job->worker_name = w->name;
    coord_arm_timer(c, job, TIMER_JOB_DEADLINE, clock_mono_ms() + job->timeout_ms);
    if (changed)
        LOG_INFO("job re-attached job=%lld attempt=%d worker=%s", (long long)job->id, attempt,
                 w->name);
}

/* Matches the attempts a worker reports running against the jobs. */
void coord_reattach_worker(coord_t *c, worker_t *w)
{
    for (int i = 0; i < w->nleases; i++) {
        int64_t id = w->leases[i].id;
        int attempt = w->leases[i].attempt;
        job_t *job = hmap_i64_get(c->jobs, id);
        bool ok = false;
        if (job && job->state == JOB_RUNNING && job->attempt == attempt &&
            (job->worker == w ||
             (!job->worker && (!job->worker_name || strcmp(job->worker_name, w->name) == 0))))
            ok = true;
        if (job && job->state == JOB_QUEUED && attempt == job->attempt + 1)
            ok = true;
        if (ok) {
            s_attach(c, w, job, attempt);
            continue;
        }
        strbuf_t sb;
        strbuf_init(&sb);
        proto_cancel_encode(&sb, id, attempt, "attempt no longer holds the job");
        s_send(c, w, "CANCEL", &sb);
        strbuf_fini(&sb);
    }
}

static void s_record_worker(coord_t *c, worker_t *w, const char *state)
{
    if (c->mode != COORD_UP)
        return;
    op_t *op = coord_op_new(STORE_OP_WORKER, NULL, NULL);
    store_worker_in_t *in = &op->sop.in.worker;
    in->name = op_strdup(op, w->name);
    in->version = op_strdup(op, w->version);
    in->state = state; /* static */
    char **queues = op_own(op, xcalloc(w->nqueues + 1, sizeof *queues));
    char **types = op_own(op, xcalloc(w->ntypes + 1, sizeof *types));
    for (size_t i = 0; i < w->nqueues; i++)
        queues[i] = (char *)op_strdup(op, w->queues[i]);
    for (size_t i = 0; i < w->ntypes; i++)
        types[i] = (char *)op_strdup(op, w->types[i]);
    in->queues = queues;
    in->nqueues = w->nqueues;
    in->types = types;
    in->ntypes = w->ntypes;
    in->slots = w->slots;
    coord_queue_op(c, op);
}

/* The registration a HELLO replaces (same connection, or the same worker
 * proving itself with its session token from another connection), or NULL.
 * *refused is set when a live, differently-connected worker holds the name
 * and the HELLO did not prove to be it: names are identities. */
static worker_t *s_hello_replaces(coord_t *c, const proto_envelope_t *env,
                                  const proto_hello_t *h, bool *refused)
{
    *refused = false;
    worker_t *old = s_by_env(c, env);
    if (old)
        return old;
    old = coord_worker_by_name(c, h->name);
    if (!old || (h->session && strcmp(h->session, old->session) == 0))
        return old;
    *refused = true;
    return NULL;
}

static worker_t *s_worker_from_hello(coord_t *c, const proto_envelope_t *env, proto_hello_t *h)
{
    worker_t *w = xcalloc(1, sizeof *w);
    w->name = coord_intern(c, h->name);
    w->version = h->version;
    w->queues = h->queues;
    w->nqueues = h->nqueues;
    w->types = h->types;
    w->ntypes = h->ntypes;
    h->version = NULL;
    h->queues = h->types = NULL;
    h->nqueues = h->ntypes = 0;
    w->slots = h->slots;
    w->acks = h->acks;
    w->env = *env;
    w->connected_us = clock_real_us();
    w->last_seen_ms = clock_mono_ms();
    w->lanes_version = (size_t)-1;
    strbuf_init(&w->outbox);
    w->leases = xcalloc((size_t)h->slots + h->nrunning, sizeof *w->leases);
    for (size_t i = 0; i < h->nrunning; i++)
        w->leases[w->nleases++] = h->running[i];
    unsigned char token[16];
    randombytes_buf(token, sizeof token);
    for (size_t i = 0; i < sizeof token; i++)
        snprintf(w->session + 2 * i, 3, "%02x", token[i]);
    return w;
}

static void s_send_welcome(coord_t *c, worker_t *w)
{
    /* acks: this coordinator acknowledges the worker's results after their
     * commit (the worker asked for it in HELLO), so it keeps them until then */
    proto_welcome_t welcome = {.heartbeat_ms = c->cfg->heartbeat_interval_ms,
                               .liveness = c->cfg->heartbeat_liveness,
                               .max_message_bytes = (int64_t)c->cfg->max_message_bytes,
                               .acks = w->acks};
    snprintf(welcome.session, sizeof welcome.session, "%s", w->session);
    strbuf_t sb;
    strbuf_init(&sb);
    proto_welcome_encode(&sb, &welcome);
    s_send(c, w, "WELCOME", &sb);
    strbuf_fini(&sb);
}

static void s_on_hello(coord_t *c, const proto_envelope_t *env, json_t *body)
{
    proto_hello_t h = {0};
    char err[300];
    if (proto_hello_parse(body, &h, err, sizeof err) != ORCH_OK) {
        LOG_WARN("refused malformed HELLO error=\"%s\"", err);
        s_send_error(c, env, PROTO_ERROR_MALFORMED, err);
        proto_hello_fini(&h);
        return;
    }
    if (c->mode == COORD_STANDBY) {
        s_send_error(c, env, PROTO_ERROR_STANDBY, coord_standby_text(c));
        proto_hello_fini(&h);
        return;
    }
    if (!coord_auth_hello(c->auth, c->peer, h.name, h.queues, h.nqueues, err, sizeof err)) {
        LOG_WARN("refused HELLO worker=%s key=%s reason=\"%s\"", h.name, c->peer->name, err);
        s_send_error(c, env, PROTO_ERROR_FORBIDDEN, err);
        proto_hello_fini(&h);
        return;
    }
    bool refused;
    worker_t *old = s_hello_replaces(c, env, &h, &refused);
    if (refused) {
        snprintf(err, sizeof err,
                 "worker name \"%s\" is registered by another live connection; start this worker"
                 " with another name, or stop the other one",
                 h.name);
        LOG_WARN("refused HELLO: name in use worker=%s", h.name);
        s_send_error(c, env, PROTO_ERROR_NAME_IN_USE, err);
        proto_hello_fini(&h);
        return;
    }
    worker_t *w = s_worker_from_hello(c, env, &h);
    for (size_t i = 0; i < w->ntypes; i++)
        hmap_str_put(c->seen_types, w->types[i], c->seen_types); /* any non-NULL value */
    if (old)
        s_retire(c, old, w, &h);
    proto_hello_fini(&h);
    s_worker_add(c, w);
    s_send_welcome(c, w);
    LOG_INFO("worker registered worker=%s slots=%d queues=%zu types=%zu running=%d%s", w->name,
             w->slots, w->nqueues, w->ntypes, w->nleases, old ? " replaced=yes" : "");
    if (c->mode == COORD_UP)
        coord_reattach_worker(c, w);
    s_record_worker(c, w, "connected");
}

static void s_on_progress(coord_t *c, worker_t *w, json_t *body)
{
    proto_progress_t p = {0};
    char err[256];
    if (proto_progress_parse(body, &p, err, sizeof err) != ORCH_OK) {
        LOG_WARN("refused malformed PROGRESS worker=%s error=\"%s\"", w->name, err);
        s_send_error(c, &w->env, PROTO_ERROR_MALFORMED, err);
    } else {
        job_t *job = hmap_i64_get(c->jobs, p.id);
        if (job && job->state == JOB_RUNNING && job->worker == w && job->attempt == p.attempt &&
            job->progress != p.percent) {
            job->progress = p.percent;
            batch_touch(&c->cur, job);
        }
    }
    proto_progress_fini(&p);
}

static void s_on_bye(coord_t *c, worker_t *w, json_t *body)
{
    bool drain = false;
    char err[256];
    if (proto_bye_parse(body, &drain, err, sizeof err) != ORCH_OK) {
        LOG_WARN("dropped malformed BYE worker=%s error=\"%s\"", w->name, err);
        return;
    }
    if (drain) {
        w->draining = true;
        LOG_INFO("worker draining worker=%s running=%d", w->name, w->nleases);
        s_record_worker(c, w, "draining");
        return;
    }
    LOG_INFO("worker left worker=%s running=%d", w->name, w->nleases);
    s_record_worker(c, w, "left");
    if (c->mode == COORD_UP)
        s_worker_lost(c, w, "worker left");
    else
        s_worker_remove(c, w);
}

/* A worker message, decoded: a DONE of the common shape straight into its
 * results (proto_done_scan, no jansson tree), anything else as a body. */
static int s_decode(coord_t *c, const proto_frame_t *frames, size_t nf, int *cmd, json_t **body,
                    proto_result_t **done, size_t *ndone, char *err, size_t errlen)
{
    int rc = proto_decode_head(PROTO_KIND_WORKER, frames, nf, cmd, err, errlen);
    if (rc != ORCH_OK ||
        (*cmd == PROTO_W_DONE &&
         proto_done_scan(frames[2].data, frames[2].size, &c->limits, done, ndone)))
        return rc;
    return proto_decode_body(&c->limits, &frames[2], body, err, errlen);
}

static void s_handle(coord_t *c, proto_rawmsg_t *m)
{
    proto_envelope_t env;
    proto_envelope_from(m, &env);
    if (m->too_many || m->env_len != 1) {
        LOG_WARN("dropped worker message with %s", m->too_many ? "too many frames" : "a bad envelope");
        return;
    }
    proto_frame_t frames[PROTO_MAX_PARTS];
    size_t nf = proto_rawmsg_frames(m, frames, PROTO_MAX_PARTS);
    int cmd = 0;
    json_t *body = NULL;
    proto_result_t *done = NULL;
    size_t ndone = 0;
    char err[256];
    if (s_decode(c, frames, nf, &cmd, &body, &done, &ndone, err, sizeof err) != ORCH_OK) {
        LOG_WARN("refused malformed worker message error=\"%s\"", err);
        s_send_error(c, &env, PROTO_ERROR_MALFORMED, err);
        return;
    }
    worker_t *w = s_by_env(c, &env);
    c->peer = coord_auth_peer(c->auth, m);
    if (w && !coord_auth_owns(c->auth, c->peer, w->name)) {
        /* another key on a connection id a registered worker had: not it */
        LOG_WARN("dropped worker message: the connection belongs to another key's worker "
                 "worker=%s key=%s", w->name, c->peer->name);
        json_decref(body);
        proto_results_free(done, ndone);
        return;
    }
    if (w)
        w->last_seen_ms = clock_mono_ms();
    if (done) {
        s_results(c, w, &env, cmd, done, ndone); /* takes them */
        return;
    }
    switch (cmd) {
    case PROTO_W_HELLO: s_on_hello(c, &env, body); break;
    case PROTO_W_DONE:
    case PROTO_W_FAIL: s_on_results(c, w, &env, cmd, body); break;
    case PROTO_W_PROGRESS:
        if (w)
            s_on_progress(c, w, body);
        break;
    case PROTO_W_HEARTBEAT:
        if (!w)
            s_send_reconnect(c, &env, "unknown worker, send HELLO");
        break;
    case PROTO_W_BYE:
        if (w)
            s_on_bye(c, w, body);
        break;
    default:
        LOG_WARN("dropped worker message with unexpected command=%s", proto_wcmd_name(cmd));
    }
    json_decref(body);
}

void coord_on_worker_message(coord_t *c)
{
    for (int i = 0; i < 4096; i++) {
        proto_rawmsg_t m;
        if (proto_recv_raw(c->wsock, ZMQ_DONTWAIT, true, &m) != ORCH_OK)
            break;
        s_handle(c, &m);
        proto_rawmsg_close(&m);
    }
}

void coord_worker_cron(coord_t *c, int64_t now_ms)
{
    int64_t ivl = c->cfg->heartbeat_interval_ms;
    int64_t dead_after = ivl * c->cfg->heartbeat_liveness;
    for (size_t i = 0; i < c->nworkers;) {
        worker_t *w = c->workers[i];
        if (now_ms - w->last_seen_ms > dead_after) {
            char why[96];
            snprintf(why, sizeof why, "no heartbeat for %lld ms", (long long)(now_ms - w->last_seen_ms));
            if (c->mode == COORD_UP)
                s_worker_lost(c, w, why);
            else
                s_worker_remove(c, w);
            continue; /* the array was compacted: same index holds another worker */
        }
        if (now_ms - w->last_sent_ms >= ivl) {
            strbuf_t sb;
            strbuf_init(&sb);
            proto_empty_encode(&sb);
            s_send(c, w, "HEARTBEAT", &sb);
            strbuf_fini(&sb);
        }
        i++;
    }
}

char *coord_workers_json(coord_t *c)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < c->nworkers; i++) {
        worker_t *w = c->workers[i];
        json_t *q = json_array(), *t = json_array();
        for (size_t k = 0; k < w->nqueues; k++)
            json_array_append_new(q, json_string(w->queues[k]));
        for (size_t k = 0; k < w->ntypes; k++)
            json_array_append_new(t, json_string(w->types[k]));
        json_array_append_new(
            arr, json_pack("{s:s, s:s?, s:o, s:o, s:i, s:i, s:I, s:I, s:b, s:I}", "name", w->name,
                           "version", w->version, "queues", q, "types", t, "slots", w->slots,
                           "running", w->nleases, "connected_at_us", (json_int_t)w->connected_us,
                           "idle_ms", (json_int_t)(clock_mono_ms() - w->last_seen_ms),
                           "draining", w->draining, "jobs_done", (json_int_t)w->jobs_done));
    }
    char *s = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return s;
}

/* After a commit: tells each worker which of its results are recorded (or
 * ignored as stale), so it can forget them. One ACK per run of results from
 * one worker, at most max_batch_jobs entries each, to the connection that
 * holds its name now (names are interned: a pointer compare). A worker that
 * left meanwhile gets nothing; it re-sends after registering again. */
void coord_ack_results(coord_t *c, const batch_t *b)
{
    strbuf_t sb;
    strbuf_init(&sb);
    for (size_t i = 0; i < b->nresults;) {
        const char *name = b->results[i].worker;
        worker_t *w = coord_worker_by_name(c, name);
        strbuf_reset(&sb);
        proto_jobs_open(&sb);
        size_t n = 0;
        for (; i < b->nresults && n < c->limits.max_batch_jobs && b->results[i].worker == name;
             i++, n++)
            proto_ack_add(&sb, b->results[i].ref.id, b->results[i].ref.attempt);
        proto_jobs_close(&sb);
        if (w)
            s_send(c, w, "ACK", &sb);
    }
    strbuf_fini(&sb);
}
