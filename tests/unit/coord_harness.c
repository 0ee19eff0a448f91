/* The coordinator under test, driven in-process (see coord_harness.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coord_harness.h"
#include "clock.h"
#include "config.h"
#include "coord.h"
#include "log.h"
#include "orch_error.h"
#include "proto_io.h"
#include "xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

typedef struct {
    char cmd[24];
    json_t *body;
} h_msg_t;

typedef struct {
    h_msg_t *v;
    size_t n, cap;
} h_inbox_t;

struct fw {
    harness_t *h;
    void *sock;
    char name[72];
    bool beating;
    bool hello_sent;
    int64_t last_sent_ms;
    h_inbox_t inbox;
    json_t *jobs; /* every job entry received, in order */
};

struct fc {
    harness_t *h;
    void *sock;
    h_inbox_t replies;
};

#define H_MAX_PEERS 32

struct harness {
    char dir[64];
    char cfg_path[128];
    orch_config_t *cfg;
    coord_t *c;
    void *zctx;
    int heartbeat_ms;
    fw_t *workers[H_MAX_PEERS];
    size_t nworkers;
    fc_t *clients[H_MAX_PEERS];
    size_t nclients;
    void *sub;
    json_t *events;
};

static harness_t *s_current;

int64_t h_now_us(void)
{
    return clock_real_us();
}

/* ---- inbox ---- */

static void s_inbox_push(h_inbox_t *in, const char *cmd, json_t *body)
{
    if (in->n == in->cap) {
        in->cap = in->cap ? in->cap * 2 : 16;
        in->v = xrealloc(in->v, in->cap * sizeof *in->v);
    }
    snprintf(in->v[in->n].cmd, sizeof in->v[in->n].cmd, "%s", cmd);
    in->v[in->n++].body = body;
}

static json_t *s_inbox_take(h_inbox_t *in, const char *cmd)
{
    for (size_t i = 0; i < in->n; i++) {
        if (cmd && strcmp(in->v[i].cmd, cmd) != 0)
            continue;
        json_t *b = in->v[i].body;
        memmove(&in->v[i], &in->v[i + 1], (in->n - i - 1) * sizeof *in->v);
        in->n--;
        return b;
    }
    return NULL;
}

static void s_inbox_free(h_inbox_t *in)
{
    for (size_t i = 0; i < in->n; i++)
        json_decref(in->v[i].body);
    free(in->v);
    memset(in, 0, sizeof *in);
}

/* Receives one message after the envelope: [proto][cmd][body]. Checks the
 * framing the coordinator must respect. Returns false when none waits. */
static bool s_recv(void *sock, const char *proto, char cmd[24], json_t **body)
{
    proto_rawmsg_t m;
    if (proto_recv_raw(sock, ZMQ_DONTWAIT, false, &m) != ORCH_OK)
        return false;
    proto_frame_t f[PROTO_MAX_PARTS];
    size_t nf = proto_rawmsg_frames(&m, f, PROTO_MAX_PARTS);
    if (nf != 3 || m.too_many)
        fail_msg("coordinator sent a message of %zu frames", nf);
    if (f[0].size != strlen(proto) || memcmp(f[0].data, proto, f[0].size) != 0)
        fail_msg("coordinator sent a message with a wrong protocol frame");
    if (f[1].size == 0 || f[1].size >= 24)
        fail_msg("coordinator sent a bad command frame");
    memcpy(cmd, f[1].data, f[1].size);
    cmd[f[1].size] = '\0';
    json_error_t e;
    *body = json_loadb(f[2].data, f[2].size, 0, &e);
    if (!*body || !json_is_object(*body))
        fail_msg("coordinator sent %s with a body that is not a JSON object: %.*s", cmd,
                 (int)f[2].size, (const char *)f[2].data);
    proto_rawmsg_close(&m);
    return true;
}

static void s_send(void *sock, const char *proto, const char *cmd, const char *body)
{
    assert_int_equal(proto_send(sock, NULL, proto, cmd, body, strlen(body)), ORCH_OK);
}

static void *s_dealer(harness_t *h, const char *ep, const char *id)
{
    void *s = zmq_socket(h->zctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    if (id)
        zmq_setsockopt(s, ZMQ_ROUTING_ID, id, strlen(id));
    assert_int_equal(zmq_connect(s, ep), 0);
    return s;
}

/* ---- config and lifecycle ---- */

static const char *s_or(const char *v, const char *def)
{
    return v ? v : def;
}

static void s_write_config(harness_t *h, const h_opts_t *o)
{
    FILE *f = fopen(h->cfg_path, "w");
    assert_non_null(f);
    h->heartbeat_ms = o->heartbeat_ms ? o->heartbeat_ms : 50;
    fprintf(f,
            "database:\n  url: \"fake\"\n  reconnect_max: 100ms\n"
            "listen:\n  workers: ipc://%s/w\n  clients: ipc://%s/c\n  events: ipc://%s/e\n"
            "heartbeat:\n  interval: %dms\n  liveness: %d\n"
            "scheduler:\n  ready_window: %d\n  refill_batch: %d\n  waiting_window: %d\n"
            "  max_commit_jobs: %d\n"
            "  priority_aging: %s\n  idempotency_window: %s\n  cancel_grace: %s\n"
            "  accept_unknown_types: %s\n"
            "defaults:\n  max_attempts: %d\n  timeout: %s\n  backoff_base: %s\n"
            "  backoff_max: %s\n"
            "log:\n  level: warn\n"
            "%s\n",
            h->dir, h->dir, h->dir, h->heartbeat_ms, o->liveness ? o->liveness : 20,
            o->ready_window ? o->ready_window : 4096, o->refill_batch ? o->refill_batch : 1024,
            o->waiting_window ? o->waiting_window : 100000,
            o->max_commit_jobs ? o->max_commit_jobs : 20000, s_or(o->aging, "0"),
            s_or(o->idem_window, "24h"), s_or(o->cancel_grace, "30s"),
            o->reject_unknown_types ? "false" : "true",
            o->max_attempts ? o->max_attempts : 3, s_or(o->timeout, "10s"),
            s_or(o->backoff_base, "10ms"), s_or(o->backoff_max, "20ms"), s_or(o->extra, ""));
    fclose(f);
}

static void s_log_level(void)
{
    log_level_t lvl = LOG_LEVEL_ERROR;
    const char *env = getenv("ORCH_TEST_LOG");
    if (env)
        log_parse_level(env, &lvl);
    log_init("test_coord", lvl);
}

static void s_new_coord(harness_t *h)
{
    char err[512] = "";
    h->c = coord_new(h->cfg, err, sizeof err);
    if (!h->c)
        fail_msg("coord_new: %s", err);
}

harness_t *h_start(const h_opts_t *opts)
{
    h_opts_t none = {0};
    const h_opts_t *o = opts ? opts : &none;
    s_log_level();
    static const char *const env[] = {"ORCH_DATABASE_URL", "ORCH_WORKER_ENDPOINT",
                                      "ORCH_CLIENT_ENDPOINT", "ORCH_EVENT_ENDPOINT",
                                      "ORCH_LOG_LEVEL"};
    for (size_t i = 0; i < sizeof env / sizeof env[0]; i++)
        unsetenv(env[i]);
    if (!o->keep_db)
        store_fake_reset();
    harness_t *h = xcalloc(1, sizeof *h);
    s_current = h;
    snprintf(h->dir, sizeof h->dir, "/tmp/orch-ct-XXXXXX");
    assert_non_null(mkdtemp(h->dir));
    snprintf(h->cfg_path, sizeof h->cfg_path, "%s/orchestrator.yaml", h->dir);
    s_write_config(h, o);
    char err[512] = "";
    if (orch_config_load(h->cfg_path, &h->cfg, err, sizeof err) != ORCH_OK)
        fail_msg("config: %s", err);
    h->zctx = zmq_ctx_new();
    h->events = json_array();
    s_new_coord(h);
    if (!o->no_wait_up)
        h_wait_up(h);
    return h;
}

static void s_fw_free(fw_t *w)
{
    if (w->sock)
        zmq_close(w->sock);
    s_inbox_free(&w->inbox);
    json_decref(w->jobs);
    free(w);
}

static void s_free(harness_t *h)
{
    coord_destroy(&h->c);
    for (size_t i = 0; i < h->nworkers; i++)
        s_fw_free(h->workers[i]);
    for (size_t i = 0; i < h->nclients; i++) {
        zmq_close(h->clients[i]->sock);
        s_inbox_free(&h->clients[i]->replies);
        free(h->clients[i]);
    }
    if (h->sub)
        zmq_close(h->sub);
    json_decref(h->events);
    zmq_ctx_term(h->zctx);
    orch_config_destroy(&h->cfg);
    const char *files[] = {"w", "c", "e", "orchestrator.yaml"};
    for (size_t i = 0; i < 4; i++) {
        char p[160];
        snprintf(p, sizeof p, "%s/%s", h->dir, files[i]);
        unlink(p);
    }
    rmdir(h->dir);
    free(h);
}

void h_finish(harness_t *h)
{
    h_settle(h);
    unsigned long long invalid = coord_invalid_transitions(h->c);
    if (invalid)
        fail_msg("the job state machine refused %llu transitions", invalid);
    if (store_fake_violations())
        fail_msg("the coordinator broke a constraint of the schema: %s",
                 store_fake_last_violation());
    assert_int_equal(store_fake_lost_updates(), 0);
    s_current = NULL;
    s_free(h);
}

int h_teardown(void **state)
{
    (void)state;
    if (s_current)
        s_free(s_current);
    s_current = NULL;
    return 0;
}

void h_restart(harness_t *h)
{
    h_settle(h);
    coord_destroy(&h->c);
    s_new_coord(h);
    h_wait_up(h);
}

struct coord *h_coord(harness_t *h)
{
    return h->c;
}

/* ---- the loop ---- */

static void s_drain(harness_t *h)
{
    int64_t now = clock_mono_ms();
    for (size_t i = 0; i < h->nworkers; i++) {
        fw_t *w = h->workers[i];
        if (!w->sock)
            continue;
        char cmd[24];
        json_t *body;
        while (s_recv(w->sock, PROTO_WORKER_V1, cmd, &body)) {
            if (strcmp(cmd, "JOB") == 0) {
                json_t *jobs = json_object_get(body, "jobs");
                size_t k;
                json_t *j;
                json_array_foreach(jobs, k, j) json_array_append(w->jobs, j);
            }
            s_inbox_push(&w->inbox, cmd, body);
        }
        if (w->beating && w->hello_sent && now - w->last_sent_ms >= h->heartbeat_ms / 2)
            fw_send(w, "HEARTBEAT", "{}");
    }
    for (size_t i = 0; i < h->nclients; i++) {
        char cmd[24];
        json_t *body;
        while (s_recv(h->clients[i]->sock, PROTO_CLIENT_V1, cmd, &body)) {
            if (strcmp(cmd, "REPLY") != 0)
                fail_msg("client received %s instead of REPLY", cmd);
            s_inbox_push(&h->clients[i]->replies, cmd, body);
        }
    }
    while (h->sub) {
        char topic[128], proto[16], body[4096];
        int n = zmq_recv(h->sub, topic, sizeof topic, ZMQ_DONTWAIT);
        if (n < 0)
            break;
        int np = zmq_recv(h->sub, proto, sizeof proto, 0);
        int nb = zmq_recv(h->sub, body, sizeof body - 1, 0);
        assert_int_equal(np, 6);
        assert_memory_equal(proto, PROTO_EVENT_V1, 6);
        assert_true(nb > 0 && nb < (int)sizeof body);
        body[nb] = '\0';
        json_t *ev = json_loads(body, 0, NULL);
        assert_non_null(ev);
        json_array_append_new(h->events, ev);
    }
}

void h_turn(harness_t *h, int wait_ms)
{
    coord_run_once(h->c, wait_ms);
    s_drain(h);
}

void h_pump_ms(harness_t *h, int ms)
{
    int64_t end = clock_mono_ms() + ms;
    while (clock_mono_ms() < end)
        h_turn(h, 1);
}

bool h_pump_until(harness_t *h, h_pred_fn pred, void *arg, int max_ms)
{
    int64_t end = clock_mono_ms() + max_ms;
    for (;;) {
        if (pred(h, arg))
            return true;
        if (clock_mono_ms() >= end)
            return false;
        h_turn(h, 1);
    }
}

void h_settle(harness_t *h)
{
    int64_t end = clock_mono_ms() + H_WAIT_MS;
    int64_t quiet_since = clock_mono_ms();
    unsigned commits = store_fake_commits() + store_fake_failed_commits();
    while (clock_mono_ms() < end) {
        h_turn(h, 1);
        unsigned now_commits = store_fake_commits() + store_fake_failed_commits();
        if (store_fake_in_flight() || now_commits != commits) {
            commits = now_commits;
            quiet_since = clock_mono_ms();
            continue;
        }
        if (clock_mono_ms() - quiet_since >= 20)
            return;
    }
    fail_msg("the coordinator did not settle within %d ms", H_WAIT_MS);
}

static bool s_is_up(harness_t *h, void *arg)
{
    (void)arg;
    return coord_is_up(h->c);
}

void h_wait_up(harness_t *h)
{
    if (!h_pump_until(h, s_is_up, NULL, H_WAIT_MS))
        fail_msg("the coordinator did not come up within %d ms", H_WAIT_MS);
}

static bool s_in_flight(harness_t *h, void *arg)
{
    (void)h;
    (void)arg;
    return store_fake_in_flight();
}

void h_wait_in_flight(harness_t *h)
{
    if (!h_pump_until(h, s_in_flight, NULL, H_WAIT_MS))
        fail_msg("no pipeline went in flight within %d ms", H_WAIT_MS);
}

typedef struct {
    int64_t id;
    int state;
} s_state_arg_t;

static bool s_in_state(harness_t *h, void *arg)
{
    (void)h;
    s_state_arg_t *a = arg;
    return store_fake_state(a->id) == a->state;
}

void h_wait_state(harness_t *h, int64_t id, int state)
{
    s_state_arg_t a = {id, state};
    if (!h_pump_until(h, s_in_state, &a, H_WAIT_MS))
        fail_msg("job %lld: state %d in the store, expected %d (events: %s)", (long long)id,
                 store_fake_state(id), state, store_fake_events_of(id));
}

typedef struct {
    int64_t id;
    const char *events;
} s_events_arg_t;

static bool s_has_events(harness_t *h, void *arg)
{
    (void)h;
    s_events_arg_t *a = arg;
    return strcmp(store_fake_events_of(a->id), a->events) == 0;
}

void h_expect_events(harness_t *h, int64_t id, const char *events)
{
    s_events_arg_t a = {id, events};
    h_pump_until(h, s_has_events, &a, H_WAIT_MS);
    h_settle(h);
    const char *got = store_fake_events_of(id);
    if (strcmp(got, events) != 0)
        fail_msg("job %lld: events \"%s\", expected \"%s\"", (long long)id, got, events);
}

/* ---- fake worker ---- */

fw_t *fw_connect(harness_t *h, const char *name)
{
    return fw_connect_id(h, name, name);
}

fw_t *fw_connect_id(harness_t *h, const char *name, const char *routing_id)
{
    assert_true(h->nworkers < H_MAX_PEERS);
    fw_t *w = xcalloc(1, sizeof *w);
    w->h = h;
    snprintf(w->name, sizeof w->name, "%s", name);
    w->sock = s_dealer(h, h->cfg->listen_workers, routing_id);
    w->jobs = json_array();
    w->beating = true;
    h->workers[h->nworkers++] = w;
    return w;
}

static json_t *s_csv(const char *csv)
{
    json_t *a = json_array();
    char buf[512];
    snprintf(buf, sizeof buf, "%s", csv);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        json_array_append_new(a, json_string(t));
    return a;
}

void fw_hello(fw_t *w, const char *queues, const char *types, int slots, const char *running)
{
    json_t *b = json_pack("{s:s, s:s, s:o, s:o, s:i, s:b}", "name", w->name, "version", "test",
                          "queues", s_csv(queues), "types", s_csv(types), "slots", slots,
                          "acks", 1);
    if (running)
        json_object_set_new(b, "running", json_loads(running, 0, NULL));
    char *t = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    fw_send(w, "HELLO", t);
    free(t);
    w->hello_sent = true;
}

static bool s_has_msg(harness_t *h, void *arg)
{
    (void)h;
    void **a = arg;
    return fw_count(a[0], a[1]) > 0;
}

json_t *fw_expect(harness_t *h, fw_t *w, const char *cmd)
{
    void *a[2] = {w, (void *)cmd};
    if (!h_pump_until(h, s_has_msg, a, H_WAIT_MS))
        fail_msg("worker %s: no %s within %d ms", w->name, cmd, H_WAIT_MS);
    return fw_take(w, cmd);
}

fw_t *fw_new(harness_t *h, const char *name, const char *queues, const char *types, int slots)
{
    fw_t *w = fw_connect(h, name);
    fw_hello(w, queues, types, slots, NULL);
    json_decref(fw_expect(h, w, "WELCOME"));
    return w;
}

void fw_beat(fw_t *w, bool on)
{
    w->beating = on;
}

void fw_send(fw_t *w, const char *cmd, const char *body)
{
    s_send(w->sock, PROTO_WORKER_V1, cmd, body);
    w->last_sent_ms = clock_mono_ms();
}

void fw_sendf(fw_t *w, const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *t = NULL;
    assert_true(vasprintf(&t, fmt, ap) >= 0);
    va_end(ap);
    fw_send(w, cmd, t);
    free(t);
}

void fw_done(fw_t *w, int64_t id, int attempt, const char *result_json)
{
    fw_sendf(w, "DONE", "{\"jobs\":[{\"id\":%lld,\"attempt\":%d,\"result\":%s}]}", (long long)id,
             attempt, result_json ? result_json : "null");
}

void fw_fail(fw_t *w, int64_t id, int attempt, const char *error, bool permanent)
{
    json_t *b = json_pack("{s:[{s:I, s:i, s:s, s:b}]}", "jobs", "id", (json_int_t)id, "attempt",
                          attempt, "error", error, "permanent", permanent);
    char *t = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    fw_send(w, "FAIL", t);
    free(t);
}

void fw_close(fw_t *w)
{
    if (w->sock)
        zmq_close(w->sock);
    w->sock = NULL;
    w->beating = false;
}

size_t fw_njobs(const fw_t *w)
{
    return json_array_size(w->jobs);
}

json_t *fw_job(const fw_t *w, size_t i)
{
    json_t *j = json_array_get(w->jobs, i);
    if (!j)
        fail_msg("worker %s: no job %zu (received %zu)", w->name, i, fw_njobs(w));
    return j;
}

int64_t fw_job_id(const fw_t *w, size_t i)
{
    return json_integer_value(json_object_get(fw_job(w, i), "id"));
}

int fw_job_attempt(const fw_t *w, size_t i)
{
    return (int)json_integer_value(json_object_get(fw_job(w, i), "attempt"));
}

static bool s_has_jobs(harness_t *h, void *arg)
{
    (void)h;
    void **a = arg;
    return fw_njobs(a[0]) >= *(size_t *)a[1];
}

void fw_wait_jobs(harness_t *h, fw_t *w, size_t n)
{
    void *a[2] = {w, &n};
    if (!h_pump_until(h, s_has_jobs, a, H_WAIT_MS))
        fail_msg("worker %s: received %zu jobs within %d ms, expected %zu", w->name, fw_njobs(w),
                 H_WAIT_MS, n);
}

size_t fw_count(const fw_t *w, const char *cmd)
{
    size_t n = 0;
    for (size_t i = 0; i < w->inbox.n; i++)
        n += strcmp(w->inbox.v[i].cmd, cmd) == 0;
    return n;
}

json_t *fw_take(fw_t *w, const char *cmd)
{
    return s_inbox_take(&w->inbox, cmd);
}

/* ---- fake client ---- */

fc_t *fc_new(harness_t *h)
{
    assert_true(h->nclients < H_MAX_PEERS);
    fc_t *c = xcalloc(1, sizeof *c);
    c->h = h;
    c->sock = s_dealer(h, h->cfg->listen_clients, NULL);
    h->clients[h->nclients++] = c;
    return c;
}

void fc_send(fc_t *c, const char *cmd, const char *body)
{
    s_send(c->sock, PROTO_CLIENT_V1, cmd, body);
}

void fc_sendf(fc_t *c, const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *t = NULL;
    assert_true(vasprintf(&t, fmt, ap) >= 0);
    va_end(ap);
    fc_send(c, cmd, t);
    free(t);
}

void fc_send_frames(fc_t *c, const char *const *frames, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(frames[i]);
        assert_int_equal(zmq_send(c->sock, frames[i], len, i + 1 < n ? ZMQ_SNDMORE : 0), (int)len);
    }
}

size_t fc_nreplies(const fc_t *c)
{
    return c->replies.n;
}

json_t *fc_take(fc_t *c)
{
    return s_inbox_take(&c->replies, NULL);
}

static bool s_has_reply(harness_t *h, void *arg)
{
    (void)h;
    return fc_nreplies(arg) > 0;
}

json_t *fc_reply(harness_t *h, fc_t *c)
{
    if (!h_pump_until(h, s_has_reply, c, H_WAIT_MS))
        fail_msg("client: no reply within %d ms", H_WAIT_MS);
    return fc_take(c);
}

typedef struct {
    fc_t *c;
    char req[32];
    json_t *found;
} s_sync_t;

static bool s_synced(harness_t *h, void *arg)
{
    (void)h;
    s_sync_t *s = arg;
    h_inbox_t *in = &s->c->replies;
    for (size_t i = 0; i < in->n; i++) {
        const char *req = json_string_value(json_object_get(in->v[i].body, "req"));
        if (req && strcmp(req, s->req) == 0) {
            s->found = in->v[i].body;
            memmove(&in->v[i], &in->v[i + 1], (in->n - i - 1) * sizeof *in->v);
            in->n--;
            return true;
        }
    }
    return false;
}

void fc_sync(harness_t *h, fc_t *c)
{
    static unsigned seq;
    s_sync_t s = {.c = c};
    snprintf(s.req, sizeof s.req, "sync-%u", ++seq);
    fc_sendf(c, "STATS", "{\"req\":\"%s\"}", s.req);
    if (!h_pump_until(h, s_synced, &s, H_WAIT_MS))
        fail_msg("client: no STATS reply within %d ms", H_WAIT_MS);
    json_decref(s.found);
}

json_t *fc_call(harness_t *h, fc_t *c, const char *cmd, const char *body)
{
    fc_send(c, cmd, body);
    return fc_reply(h, c);
}

json_t *fc_callf(harness_t *h, fc_t *c, const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *t = NULL;
    assert_true(vasprintf(&t, fmt, ap) >= 0);
    va_end(ap);
    json_t *r = fc_call(h, c, cmd, t);
    free(t);
    return r;
}

int h_status(const json_t *reply)
{
    assert_non_null(reply);
    json_t *s = json_object_get(reply, "status");
    if (!json_is_integer(s)) {
        char *t = json_dumps(reply, JSON_COMPACT);
        fail_msg("reply without an integer status: %s", t);
    }
    return (int)json_integer_value(s);
}

int64_t h_id(const json_t *reply, size_t i)
{
    json_t *id = json_array_get(json_object_get(reply, "ids"), i);
    if (!json_is_integer(id)) {
        char *t = json_dumps(reply, JSON_COMPACT);
        fail_msg("reply has no ids[%zu]: %s", i, t);
    }
    return json_integer_value(id);
}

int64_t fc_submit(harness_t *h, fc_t *c, const char *job)
{
    json_t *r = fc_callf(h, c, "SUBMIT", "{\"jobs\":[%s]}", job);
    if (h_status(r) != 200) {
        char *t = json_dumps(r, JSON_COMPACT);
        fail_msg("SUBMIT %s: %s", job, t);
    }
    int64_t id = h_id(r, 0);
    json_decref(r);
    return id;
}

/* ---- events ---- */

void h_subscribe(harness_t *h)
{
    h->sub = zmq_socket(h->zctx, ZMQ_SUB);
    int zero = 0;
    zmq_setsockopt(h->sub, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(h->sub, ZMQ_SUBSCRIBE, "", 0);
    assert_int_equal(zmq_connect(h->sub, h->cfg->listen_events), 0);
    h_pump_ms(h, 30); /* the subscription reaches the XPUB */
}

size_t h_nevents(harness_t *h)
{
    return json_array_size(h->events);
}

json_t *h_event(harness_t *h, size_t i)
{
    return json_array_get(h->events, i);
}
