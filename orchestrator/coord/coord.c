#include "clock.h"
#include "coord_internal.h"
#include "log.h"
#include "orch_error.h"
#include "query.h"
#include "xalloc.h"
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <zmq.h>

#define COORD_MAX_MSGS_PER_TURN 4096
/* RECOVERING: how often the loop looks whether the reads are done (a
 * recovery is rare; a wake-up socket would save at most this). */
#define COORD_RECOVERY_POLL_MS 10

const char *coord_intern(coord_t *c, const char *name)
{
    if (!name)
        return NULL;
    const char *found = hmap_str_get(c->names, name);
    if (found)
        return found;
    char *copy = xstrdup(name);
    hmap_str_put(c->names, name, copy);
    c->name_list = xrealloc(c->name_list, (c->nnames + 1) * sizeof *c->name_list);
    c->name_list[c->nnames++] = copy;
    return copy;
}

double coord_rand01(coord_t *c)
{
    /* xorshift64*: jitter only, not security */
    c->rng ^= c->rng >> 12;
    c->rng ^= c->rng << 25;
    c->rng ^= c->rng >> 27;
    return (double)((c->rng * 2685821657736338717ULL) >> 11) / (double)(1ULL << 53);
}

const queue_policy_t *coord_policy(coord_t *c, const char *queue)
{
    const queue_policy_t *p = coord_queue_override(c, queue);
    return p ? p : orch_config_policy(c->cfg, queue);
}

void coord_on_terminal(void *arg, job_t *job)
{
    coord_t *c = arg;
    if (job->lane)
        coord_queue_finished(c, job->lane->queue, clock_mono_ms());
    coord_deps_notify(c, job->id, job->state);
}

job_t *coord_job_from_row(coord_t *c, const store_job_row_t *row)
{
    job_t *job = job_new(row->id);
    job->lane = readyq_lane(c->rq, row->queue, row->type, row->tenant, true);
    job->priority = (uint8_t)row->priority;
    job->attempt = row->attempt;
    job->attempt_base = row->attempt_base;
    job->max_attempts = row->max_attempts;
    job->timeout_ms = row->timeout_ms;
    job->payload = xstrdup(row->payload ? row->payload : "{}");
    job->idempotency_key = row->idempotency_key ? xstrdup(row->idempotency_key) : NULL;
    job->created_us = row->created_us;
    job->run_at_us = row->run_at_us;
    job->worker_name = coord_intern(c, row->worker);
    job->started_us = row->started_us;
    jobstate_adopt(job, row->state);
    if (job->state == JOB_RUNNING) /* counted in PostgreSQL's figures, not yet here */
        coord_downstream_running(c, job, 1);
    return job;
}

/* A job stays in memory while it is in a lane, running, waiting on a timer
 * or (within scheduler.waiting_window) on dependencies, or pinned by a
 * batch. */
static bool s_job_resident(const job_t *job)
{
    if (job->pins > 0 || job->in_lane)
        return true;
    if (job->state == JOB_SCHEDULED)
        return job->timer_armed;
    return job->state == JOB_RUNNING || (job->state == JOB_WAITING && !job->spilled);
}

void coord_job_release(coord_t *c, job_t *job)
{
    if (s_job_resident(job))
        return;
    coord_key_unregister(c, job);
    hmap_i64_remove(c->jobs, job->id);
    job_destroy(&job);
}

void coord_push_ready(coord_t *c, job_t *job)
{
    if (job->in_lane || job->state != JOB_QUEUED)
        return;
    job_t *evicted = NULL;
    readyq_push(c->rq, job->lane, job, &evicted);
    if (evicted)
        coord_job_release(c, evicted);
    coord_job_release(c, job);
}

static void s_fail_acks(coord_t *c, batch_t *b, const char *reason)
{
    char msg[700];
    snprintf(msg, sizeof msg, "could not commit: %s; the request was not applied, retry later",
             reason);
    for (size_t i = 0; i < b->nacks; i++)
        coord_error(c, &b->acks[i].env, PROTO_STATUS_UNAVAILABLE, b->acks[i].req, msg);
}

static void s_fail_ops(coord_t *c, op_t *ops, const char *reason)
{
    char msg[700];
    snprintf(msg, sizeof msg, "could not commit: %s; retry later", reason);
    while (ops) {
        op_t *next = ops->next;
        if (ops->has_env)
            coord_error(c, &ops->env, PROTO_STATUS_UNAVAILABLE, ops->req, msg);
        op_free(ops);
        ops = next;
    }
}

static void s_collect(int64_t id, void *job, void *arg)
{
    (void)id;
    job_t ***cursor = arg;
    *(*cursor)++ = job;
}

/* Drops every job from memory; PostgreSQL is the truth we reload from.
 * The batches are emptied first: they pin jobs about to be freed. */
static void s_forget_jobs(coord_t *c)
{
    s_fail_acks(c, &c->cur, c->down_reason[0] ? c->down_reason : "database unavailable");
    batch_reset(&c->cur);
    size_t n = hmap_count(c->jobs);
    job_t **all = xmalloc((n ? n : 1) * sizeof *all);
    job_t **cursor = all;
    hmap_i64_foreach(c->jobs, s_collect, &cursor);
    hmap_clear(c->jobs);
    coord_metrics_forget(c);
    readyq_destroy(&c->rq);
    c->rq = readyq_new(c->cfg->ready_window);
    for (size_t i = 0; i < n; i++)
        job_destroy(&all[i]);
    free(all);
    timerheap_clear(c->timers);
    coord_downstreams_forget(c);
    coord_deps_forget(c);
    for (size_t i = 0; i < c->nworkers; i++) {
        c->workers[i]->nlanes = 0;
        c->workers[i]->lanes_version = (size_t)-1;
        strbuf_reset(&c->workers[i]->outbox);
        c->workers[i]->outbox_jobs = 0;
    }
}

void coord_go_down(coord_t *c, const char *reason)
{
    if (c->mode == COORD_DOWN)
        return;
    LOG_ERROR("database unavailable, refusing submissions until it is back reason=\"%s\"", reason);
    snprintf(c->down_reason, sizeof c->down_reason, "%s", reason);
    s_fail_acks(c, &c->inflight, reason);
    s_fail_acks(c, &c->chain, reason);
    s_fail_acks(c, &c->cur, reason);
    batch_reset(&c->inflight);
    batch_reset(&c->chain);
    batch_reset(&c->cur);
    c->inflight_active = c->chain_active = c->inflight_chained = false;
    s_fail_ops(c, c->inflight_ops, reason);
    s_fail_ops(c, c->ops_head, reason);
    c->inflight_ops = c->ops_head = c->ops_tail = NULL;
    c->nops = 0;
    coord_recover_abort(c);
    s_forget_jobs(c);
    store_disconnect(c->store);
    c->mode = COORD_DOWN;
    c->reconnect_delay_ms = 100;
    c->reconnect_at_ms = clock_mono_ms() + c->reconnect_delay_ms;
}

/* Connected, a coordinator leads (coord_lease.c: takes the leader lease,
 * recovers) or stands by. */
static void s_try_connect(coord_t *c)
{
    if (store_connect(c->store) == ORCH_OK && coord_lease_try(c, clock_mono_ms()) == ORCH_OK) {
        c->reconnect_delay_ms = 100;
        return;
    }
    if (strcmp(c->down_reason, store_errmsg(c->store)) != 0)
        LOG_ERROR("%s (retrying in %lld ms)", store_errmsg(c->store),
                  (long long)c->reconnect_delay_ms);
    snprintf(c->down_reason, sizeof c->down_reason, "%s", store_errmsg(c->store));
    s_forget_jobs(c);
    store_disconnect(c->store);
    c->reconnect_at_ms = clock_mono_ms() + c->reconnect_delay_ms;
    c->reconnect_delay_ms *= 2;
    if (c->reconnect_delay_ms > c->cfg->db_reconnect_max_ms)
        c->reconnect_delay_ms = c->cfg->db_reconnect_max_ms;
}

/* domain: the socket's ZAP domain (coord_auth.h), NULL for the query pipe. */
static void *s_bind(coord_t *c, int type, const char *endpoint, const char *domain, char *err,
                    size_t errlen)
{
    void *s = zmq_socket(c->zctx, type);
    int zero = 0, hwm = 1000000;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (type == ZMQ_ROUTER) {
        /* No ZMQ_ROUTER_HANDOVER: a peer that claims the routing id of a
         * live connection is refused by libzmq instead of taking its route
         * (and its jobs or replies) over. Our peers let libzmq choose ids. */
        /* The protocol limit is answered with 413; this transport cap, 4x
         * higher, drops the connection so a hostile peer cannot make us
         * buffer arbitrarily large messages. */
        int64_t maxmsg = 4 * (int64_t)c->cfg->max_message_bytes + 4096;
        zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    }
    if (domain && coord_auth_server(c->auth, s, domain, err, errlen) != 0) {
        zmq_close(s);
        return NULL;
    }
    if (zmq_bind(s, endpoint) != 0) {
        snprintf(err, errlen, "could not bind \"%s\": %s", endpoint, zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    return s;
}

/* A second endpoint on a bound socket (inproc: no handshake, so no CURVE;
 * only this process can connect). */
static int s_bind_more(void *s, const char *endpoint, char *err, size_t errlen)
{
    if (zmq_bind(s, endpoint) == 0)
        return ORCH_OK;
    snprintf(err, errlen, "could not bind \"%s\": %s", endpoint, zmq_strerror(errno));
    return ORCH_EIO;
}

int coord_query(coord_t *c, const proto_envelope_t *env, int cmd, const json_t *body)
{
    coord_touch(c, COORD_SOCK_QUERY);
    return query_forward(c->qpipe, env, cmd, body);
}

int coord_query_raw(coord_t *c, const proto_envelope_t *env, int cmd, const void *data,
                    size_t len)
{
    coord_touch(c, COORD_SOCK_QUERY);
    return query_forward_raw(c->qpipe, env, cmd, data, len);
}

/* The sockets in the poller's order (COORD_SOCK_*). */
static int s_poll_init(coord_t *c, char *err, size_t errlen)
{
    void *socks[] = {c->wsock, c->csock, c->qpipe, c->pub, c->hsock,
                     coord_auth_zap_socket(c->auth)};
    proto_poll_init(&c->poll);
    for (int i = 0; i <= COORD_SOCK_ZAP; i++) {
        if (i == COORD_SOCK_ZAP && !socks[i])
            break;
        if (proto_poll_add(&c->poll, socks[i]) != i) {
            snprintf(err, errlen, "cannot poll socket %d: %s", i, zmq_strerror(zmq_errno()));
            return ORCH_EIO;
        }
    }
    return ORCH_OK;
}

coord_t *coord_new(const orch_config_t *cfg, char *err, size_t errlen)
{
    if (!cfg->db_url) {
        snprintf(err, errlen, "no database configured: set database.url or ORCH_DATABASE_URL");
        return NULL;
    }
    if (sodium_init() < 0) { /* session tokens come from its random source */
        snprintf(err, errlen, "could not initialise libsodium");
        return NULL;
    }
    coord_t *c = xcalloc(1, sizeof *c);
    c->cfg = cfg;
    c->commit_delay_ms = COORD_COMMIT_DELAY_MS;
    proto_limits_default(&c->limits);
    c->limits.max_body_bytes = cfg->max_message_bytes;
    c->limits.max_payload_bytes = cfg->max_payload_bytes;
    c->limits.max_batch_jobs = cfg->max_batch_jobs;
    c->rng = (uint64_t)clock_real_us() | 1;
    c->metrics.start_us = clock_real_us();
    c->store = store_new(cfg->db_url);
    c->rq = readyq_new(cfg->ready_window);
    coord_seal_init(c);
    c->jobs = hmap_new_i64();
    c->timers = timerheap_new();
    c->depindex = hmap_new_i64();
    c->keys = hmap_new_str();
    c->names = hmap_new_str();
    c->seen_types = hmap_new_str();
    c->queue_settings = hmap_new_str();
    batch_init(&c->cur);
    batch_init(&c->inflight);
    batch_init(&c->chain);
    c->chain_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    c->js = (jobstate_t){.batch = &c->cur, .on_terminal = coord_on_terminal,
                         .on_running = coord_downstream_running, .arg = c};
    coord_downstreams_init(c);
    c->zctx = zmq_ctx_new();
    c->mode = COORD_DOWN;
    c->reconnect_delay_ms = 100;
    coord_lease_init(c);
    /* the ZAP handler first: no handshake may find it missing */
    if (!(c->auth = coord_auth_new(c->zctx, cfg, err, errlen)) ||
        !(c->wsock = s_bind(c, ZMQ_ROUTER, cfg->listen_workers, COORD_AUTH_WORKERS, err, errlen)) ||
        !(c->csock = s_bind(c, ZMQ_ROUTER, cfg->listen_clients, COORD_AUTH_CLIENTS, err, errlen)) ||
        !(c->pub = s_bind(c, ZMQ_XPUB, cfg->listen_events, COORD_AUTH_EVENTS, err, errlen)) ||
        !(c->qpipe = s_bind(c, ZMQ_PAIR, QUERY_PIPE_ENDPOINT, NULL, err, errlen)) ||
        !(c->hsock = s_bind(c, ZMQ_PAIR, COORD_HTTP_PIPE, NULL, err, errlen)) ||
        s_bind_more(c->pub, COORD_HTTP_EVENTS, err, errlen) != ORCH_OK ||
        s_poll_init(c, err, errlen) != ORCH_OK) {
        coord_destroy(&c);
        return NULL;
    }
    c->query = query_start(c->zctx, cfg->db_url);
    return c;
}

void coord_destroy(coord_t **cp)
{
    if (!cp || !*cp)
        return;
    coord_t *c = *cp;
    if (c->query)
        query_stop((query_t **)&c->query, c->qpipe);
    coord_recover_abort(c);
    coord_workers_destroy(c, false);
    s_fail_ops(c, c->inflight_ops, "shutting down");
    s_fail_ops(c, c->ops_head, "shutting down");
    batch_fini(&c->cur);
    batch_fini(&c->inflight);
    batch_fini(&c->chain);
    if (c->chain_tfd >= 0)
        close(c->chain_tfd);
    s_forget_jobs(c);
    readyq_destroy(&c->rq);
    coord_seal_fini(c);
    hmap_destroy(&c->jobs);
    coord_deps_forget(c);
    hmap_destroy(&c->depindex);
    hmap_destroy(&c->keys);
    coord_schedules_forget(c);
    hmap_destroy(&c->names);
    hmap_destroy(&c->seen_types);
    coord_queue_settings_forget(c);
    hmap_destroy(&c->queue_settings);
    coord_downstreams_destroy(c);
    for (size_t i = 0; i < c->nnames; i++)
        free(c->name_list[i]);
    free(c->name_list);
    timerheap_destroy(&c->timers);
    store_destroy(&c->store);
    const void *socks[] = {c->wsock, c->csock, c->pub, c->qpipe, c->hsock};
    for (int i = 0; i < 5; i++)
        if (socks[i])
            zmq_close((void *)socks[i]);
    coord_auth_destroy(&c->auth); /* after the sockets it authenticates for */
    if (c->zctx)
        zmq_ctx_term(c->zctx);
    free(c->workers);
    free(c);
    *cp = NULL;
}

void *coord_zmq_context(coord_t *c)
{
    return c->zctx;
}

void coord_stop(coord_t *c)
{
    c->stop_requested = 1;
}

/* The event socket is an XPUB so we learn whether anyone listens: with no
 * subscriber, state changes are not serialised for the stream at all. */
static void s_on_subscription(coord_t *c)
{
    char buf[256];
    int n;
    while ((n = zmq_recv(c->pub, buf, sizeof buf, ZMQ_DONTWAIT)) > 0) {
        if (buf[0] == 1)
            c->subscribers++;
        else if (buf[0] == 0 && c->subscribers > 0)
            c->subscribers--;
    }
}

static bool s_has_work_to_flush(const coord_t *c)
{
    return !batch_empty(&c->cur) || c->ops_head;
}

/* Someone waits for the commit (a client's reply, a refill the dispatcher
 * needs) or the batch is big: commit now. A batch of dispatches and worker
 * results only, which nobody waits for, may gather for COORD_COMMIT_DELAY_MS
 * first, so that many jobs' bookkeeping shares one commit; a submission of
 * one or two new jobs commits ahead of it, a larger one takes it along
 * (s_new_jobs_alone, coord_commit.c). */
static bool s_flush_due(coord_t *c, int64_t now)
{
    if (coord_lease_renew_due(c, now))
        return true;
    if (!s_has_work_to_flush(c))
        return false;
    if (c->cur.nacks || c->ops_head || c->stopping ||
        c->cur.nwrites >= (size_t)c->cfg->max_commit_jobs / 4)
        return true;
    if (!c->cur_since_ms)
        c->cur_since_ms = now;
    return now - c->cur_since_ms >= c->commit_delay_ms;
}

static long s_poll_timeout(coord_t *c, int64_t now)
{
    if (c->mode == COORD_UP && !c->inflight_active && s_has_work_to_flush(c)) {
        if (s_flush_due(c, now))
            return 0;
        int64_t wait = c->cur_since_ms + c->commit_delay_ms - now;
        return wait < 1 ? 1 : (long)wait;
    }
    int64_t next = c->next_cron_ms;
    int64_t t = coord_next_timer_ms(c);
    if (t >= 0 && t < next)
        next = t;
    if (c->mode == COORD_UP) {
        t = coord_schedules_next_ms(c);
        if (t < next)
            next = t;
        t = coord_queues_next_token_ms(c, now);
        if (t >= 0 && t < next)
            next = t;
        t = coord_downstreams_next_ms(c, now);
        if (t >= 0 && t < next)
            next = t;
        t = coord_maint_next_ms(c);
        if (t < next)
            next = t;
    }
    if (c->mode == COORD_DOWN && c->reconnect_at_ms < next)
        next = c->reconnect_at_ms;
    if (c->mode == COORD_RECOVERING && now + COORD_RECOVERY_POLL_MS < next)
        next = now + COORD_RECOVERY_POLL_MS;
    t = coord_lease_next_ms(c);
    if (t >= 0 && t < next && !c->inflight_active)
        next = t;
    return next <= now ? 0 : (long)(next - now);
}

static void s_turn(coord_t *c, long max_wait_ms)
{
    int64_t now = clock_mono_ms();
    /* Backpressure: while the batch being filled is already at its size
     * limit, clients wait in their sockets' queues; workers never wait. */
    unsigned want = 1u << COORD_SOCK_WORKERS | 1u << COORD_SOCK_QUERY | 1u << COORD_SOCK_EVENTS |
                    1u << COORD_SOCK_ZAP;
    if (c->cur.nwrites < (size_t)c->cfg->max_commit_jobs)
        want |= 1u << COORD_SOCK_CLIENTS | 1u << COORD_SOCK_HTTP;
    /* the ZAP socket is used inside coord_auth: always ask it */
    coord_touch(c, COORD_SOCK_ZAP);
    struct pollfd db = {.fd = store_socket(c->store), .events = 0};
    if (c->inflight_active && db.fd >= 0)
        db.events = (short)(POLLIN | (store_wants_write(c->store) ? POLLOUT : 0));
    else if (c->mode == COORD_UP && db.fd >= 0)
        db.events = POLLIN; /* idle: only the connection's end can arrive */
    if (!db.events)
        db.fd = -1;
    long wait = s_poll_timeout(c, now);
    if (max_wait_ms >= 0 && wait > max_wait_ms)
        wait = max_wait_ms;
    struct pollfd fds[2] = {db, {.fd = c->chain_timer_armed ? c->chain_tfd : -1,
                                 .events = POLLIN}};
    unsigned ready = proto_poll_wait(&c->poll, want, fds, 2, wait);
    db = fds[0];
    if (fds[1].revents) {
        int saved = errno; /* the wait's, looked at below */
        uint64_t expirations;
        (void)!read(c->chain_tfd, &expirations, sizeof expirations);
        errno = saved;
        c->chain_timer_armed = false;
    }
    if (errno != 0 && errno != EINTR)
        LOG_WARN("poll failed error=\"%s\"", strerror(errno));
    /* a socket read from is asked again before the next wait */
    c->poll.dirty |= ready;
    /* before anything a successor may do too (after a SIGSTOP, say) */
    coord_lease_check(c, clock_mono_ms());
    if (db.revents) {
        if (c->inflight_active)
            coord_on_store_io(c);
        else if (store_idle_check(c->store) != ORCH_OK)
            coord_go_down(c, store_errmsg(c->store));
    }
    /* every turn: a standby's lease polls read notifications too, and
     * libpq keeps them until taken */
    if (store_take_notify(c->store) && c->mode == COORD_UP)
        coord_inbox_wake(c);
    if (ready & 1u << COORD_SOCK_ZAP)
        coord_auth_on_zap(c->auth);
    if (ready & 1u << COORD_SOCK_EVENTS)
        s_on_subscription(c);
    if (ready & 1u << COORD_SOCK_WORKERS)
        coord_on_worker_message(c);
    if (ready & 1u << COORD_SOCK_CLIENTS)
        coord_on_client_message(c);
    if (ready & 1u << COORD_SOCK_HTTP)
        coord_on_http_message(c);
    if (ready & 1u << COORD_SOCK_QUERY)
        coord_on_query_reply(c);
    now = clock_mono_ms();
    if (c->mode == COORD_UP) {
        coord_run_timers(c, now);
        coord_schedules_tick(c, now);
        coord_maint_tick(c, now);
    }
    if (now >= c->next_cron_ms) {
        proto_poll_touch_all(&c->poll); /* a safety net: a send nobody marked waits no longer */
        coord_worker_cron(c, now);
        coord_timers_compact(c);
        int64_t step = c->cfg->heartbeat_interval_ms / 4;
        c->next_cron_ms = now + (step < 10 ? 10 : step > 250 ? 250 : step);
    }
    if (c->mode == COORD_DOWN && !c->stopping && now >= c->reconnect_at_ms)
        s_try_connect(c);
    if (c->mode == COORD_STANDBY && !c->stopping && now >= c->lease.poll_at_ms &&
        coord_lease_try(c, now) != ORCH_OK)
        coord_go_down(c, store_errmsg(c->store));
    if (c->mode == COORD_RECOVERING) {
        coord_lease_recovering(c, now);
        if (c->mode == COORD_RECOVERING)
            coord_recover_poll(c);
    }
    if (c->mode == COORD_UP) {
        coord_dispatch(c);
        coord_request_refills(c);
        coord_inbox_tick(c);
        coord_comp_tick(c);
        if (!c->inflight_active && s_flush_due(c, now))
            coord_flush(c); /* and restarts cur_since_ms */
        else if (c->inflight_active)
            coord_chain(c); /* new jobs behind the commit in flight, if they may */
    }
}

void coord_run_once(coord_t *c, int max_wait_ms)
{
    s_turn(c, max_wait_ms < 0 ? 0 : max_wait_ms);
}

void coord_set_commit_delay_ms(coord_t *c, int ms)
{
    c->commit_delay_ms = ms;
}

void coord_set_commit_estimate_us(coord_t *c, int64_t us)
{
    c->commit_est_us = us;
}

bool coord_is_up(const coord_t *c)
{
    return c->mode == COORD_UP;
}

unsigned long long coord_invalid_transitions(const coord_t *c)
{
    return (unsigned long long)c->js.invalid;
}

int coord_run(coord_t *c)
{
    LOG_INFO("coordinator listening workers=%s clients=%s events=%s curve=%s",
             c->cfg->listen_workers, c->cfg->listen_clients, c->cfg->listen_events,
             coord_auth_curve(c->auth) ? "on" : "off");
    c->next_cron_ms = clock_mono_ms();
    c->reconnect_at_ms = 0;
    for (;;) {
        if (c->stop_requested && !c->stopping) {
            LOG_INFO("shutting down: no new submissions, flushing pending commits");
            c->stopping = true;
        }
        if (c->stopping && (c->mode != COORD_UP ||
                            (!c->inflight_active && !s_has_work_to_flush(c))))
            break;
        s_turn(c, -1);
    }
    coord_lease_release(c);
    /* requests already queued in the client socket get their 503 rather
     * than silence */
    coord_on_client_message(c);
    LOG_INFO("coordinator stopped commits=%llu changes=%llu", (unsigned long long)c->commits,
             (unsigned long long)c->committed_changes);
    return ORCH_OK;
}
