/* orch-worker's main loop, run in-process on a thread against a fake
 * coordinator: a ROUTER socket in this test speaking ORCHW1 with raw zmq
 * calls and jansson (not the proto codec, so the two check each other).
 *
 * No timing assertions: every wait is "until the expected message arrives",
 * bounded by a generous receive timeout that only turns a hang into a
 * failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "clock.h"
#include "config.h"
#include "handler.h"
#include "log.h"
#include "orch_error.h"
#include "worker.h"
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#define RECV_TIMEOUT_MS 20000

/* ---- fake coordinator ---- */

typedef struct {
    void *ctx;
    void *sock;
    char ep[256];
    unsigned char id[256]; /* routing id of the last peer heard from */
    size_t id_len;
} fake_t;

static void fake_open(fake_t *f, void *ctx, const char *ep)
{
    memset(f, 0, sizeof *f);
    f->ctx = ctx;
    snprintf(f->ep, sizeof f->ep, "%s", ep);
    f->sock = zmq_socket(ctx, ZMQ_ROUTER);
    int zero = 0;
    zmq_setsockopt(f->sock, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_bind(f->sock, ep), 0);
}

static void fake_close(fake_t *f)
{
    if (f->sock)
        zmq_close(f->sock);
    f->sock = NULL;
    if (strncmp(f->ep, "ipc://", 6) == 0)
        unlink(f->ep + 6);
}

/* Receives one message within timeout_ms: checks the framing, stores the
 * command and returns the body (caller owns). NULL on timeout. */
static json_t *fake_recv(fake_t *f, char cmd[32], int timeout_ms)
{
    zmq_pollitem_t it = {f->sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return NULL;
    zmq_msg_t part[4];
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        assert_true(zmq_msg_recv(&m, f->sock, 0) >= 0);
        more = zmq_msg_more(&m);
        assert_true(n < 4); /* identity + exactly three frames */
        part[n++] = m;
    }
    assert_int_equal(n, 4);
    f->id_len = zmq_msg_size(&part[0]);
    memcpy(f->id, zmq_msg_data(&part[0]), f->id_len);
    assert_int_equal(zmq_msg_size(&part[1]), 6);
    assert_memory_equal(zmq_msg_data(&part[1]), "ORCHW1", 6);
    size_t clen = zmq_msg_size(&part[2]);
    assert_true(clen > 0 && clen < 32);
    memcpy(cmd, zmq_msg_data(&part[2]), clen);
    cmd[clen] = '\0';
    json_error_t e;
    json_t *body = json_loadb(zmq_msg_data(&part[3]), zmq_msg_size(&part[3]), 0, &e);
    for (int i = 0; i < n; i++)
        zmq_msg_close(&part[i]);
    assert_non_null(body);
    assert_true(json_is_object(body));
    return body;
}

/* Receives until a message with command want arrives, skipping HEARTBEAT
 * and PROGRESS (unless that is what is wanted). Fails on timeout or on any
 * other command. */
static json_t *fake_expect(fake_t *f, const char *want)
{
    for (;;) {
        char cmd[32];
        json_t *body = fake_recv(f, cmd, RECV_TIMEOUT_MS);
        if (!body)
            fail_msg("timed out waiting for %s", want);
        if (strcmp(cmd, want) == 0)
            return body;
        json_decref(body);
        if (strcmp(cmd, "HEARTBEAT") != 0 && strcmp(cmd, "PROGRESS") != 0)
            fail_msg("expected %s, got %s", want, cmd);
    }
}

static void fake_send(fake_t *f, const char *cmd, const char *body)
{
    assert_true(f->id_len > 0); /* we answer the worker that spoke last */
    assert_int_equal(zmq_send(f->sock, f->id, f->id_len, ZMQ_SNDMORE), (int)f->id_len);
    assert_int_equal(zmq_send(f->sock, "ORCHW1", 6, ZMQ_SNDMORE), 6);
    assert_int_equal(zmq_send(f->sock, cmd, strlen(cmd), ZMQ_SNDMORE), (int)strlen(cmd));
    assert_int_equal(zmq_send(f->sock, body, strlen(body), 0), (int)strlen(body));
}

static void fake_sendf(fake_t *f, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fake_sendf(fake_t *f, const char *cmd, const char *fmt, ...)
{
    char body[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    fake_send(f, cmd, body);
}

/* Like fake_expect, as a live coordinator that acknowledges nothing (one
 * whose database is down): it sends HEARTBEAT every 100 ms meanwhile, so
 * that a worker with a short liveness keeps the connection. */
static json_t *fake_expect_beating(fake_t *f, const char *want)
{
    int64_t until = clock_mono_ms() + RECV_TIMEOUT_MS, beat = 0;
    for (;;) {
        int64_t now = clock_mono_ms();
        if (now >= until)
            fail_msg("timed out waiting for %s", want);
        if (now - beat >= 100) {
            fake_send(f, "HEARTBEAT", "{}");
            beat = now;
        }
        char cmd[32];
        json_t *body = fake_recv(f, cmd, 100);
        if (!body)
            continue;
        if (strcmp(cmd, want) == 0)
            return body;
        json_decref(body);
        if (strcmp(cmd, "HEARTBEAT") != 0 && strcmp(cmd, "PROGRESS") != 0)
            fail_msg("expected %s, got %s", want, cmd);
    }
}

/* Fails if the worker sends anything but HEARTBEAT or PROGRESS within ms. */
static void fake_quiet(fake_t *f, int ms)
{
    int64_t until = clock_mono_ms() + ms;
    for (int64_t left = ms; left > 0; left = until - clock_mono_ms()) {
        char cmd[32];
        json_t *body = fake_recv(f, cmd, (int)left);
        if (!body)
            return;
        json_decref(body);
        if (strcmp(cmd, "HEARTBEAT") != 0 && strcmp(cmd, "PROGRESS") != 0)
            fail_msg("worker sent %s", cmd);
    }
}

/* ---- fixture: a worker on a thread, one or two fake coordinators ---- */

typedef struct {
    void *ctx;
    fake_t fc[2];
    worker_config_t *cfg;
    worker_t *w;
    pthread_t thread;
    bool running;
    int rc;
} fixture_t;

static void *s_worker_thread(void *arg)
{
    fixture_t *fx = arg;
    fx->rc = worker_run(fx->w);
    return NULL;
}

static void s_replace_list(char ***list, size_t *n, const char *const *items, size_t k)
{
    for (size_t i = 0; i < *n; i++)
        free((*list)[i]);
    free(*list);
    *list = calloc(k, sizeof **list);
    for (size_t i = 0; i < k; i++)
        (*list)[i] = strdup(items[i]);
    *n = k;
}

/* The config's section of job type, to change it in a test. */
static worker_section_t *s_section(worker_config_t *cfg, const char *type)
{
    for (size_t i = 0; i < cfg->nsections; i++)
        if (strcmp(cfg->sections[i]->type, type) == 0)
            return cfg->sections[i];
    fail_msg("no section \"%s\"", type);
    return NULL;
}

/* A config from the built-in defaults, pointed at nends fresh ipc endpoints. */
static fixture_t *s_fixture(int slots, int nends)
{
    static int seq;
    fixture_t *fx = calloc(1, sizeof *fx);
    char err[512];
    assert_int_equal(worker_config_load(NULL, handler_types, &fx->cfg, err, sizeof err), 0);
    char eps[2][128];
    const char *epv[2];
    for (int i = 0; i < nends; i++) {
        snprintf(eps[i], sizeof eps[i], "ipc:///tmp/orch-wtest-%d-%d.ipc", (int)getpid(), seq++);
        epv[i] = eps[i];
    }
    s_replace_list(&fx->cfg->endpoints, &fx->cfg->nendpoints, epv, (size_t)nends);
    const char *queues[] = {"default", "q2"};
    s_replace_list(&fx->cfg->queues, &fx->cfg->nqueues, queues, 2);
    free(fx->cfg->name);
    fx->cfg->name = strdup("test-worker");
    fx->cfg->slots = slots;
    fx->cfg->reconnect_min_ms = 10;
    fx->cfg->reconnect_max_ms = 40;
    fx->cfg->drain_timeout_ms = 60000;
    fx->ctx = zmq_ctx_new();
    for (int i = 0; i < nends; i++)
        fake_open(&fx->fc[i], fx->ctx, eps[i]);
    return fx;
}

static void s_start(fixture_t *fx)
{
    char err[512] = "";
    fx->w = worker_new(fx->cfg, NULL, 0, err, sizeof err);
    if (!fx->w)
        fail_msg("worker_new: %s", err);
    assert_int_equal(pthread_create(&fx->thread, NULL, s_worker_thread, fx), 0);
    fx->running = true;
}

/* Waits for the loop to return (after worker_stop). */
static int s_join(fixture_t *fx)
{
    if (fx->running)
        pthread_join(fx->thread, NULL);
    fx->running = false;
    return fx->rc;
}

static void s_free(fixture_t *fx)
{
    if (fx->running) {
        worker_stop(fx->w);
        worker_stop(fx->w); /* second request: stop at once */
        s_join(fx);
    }
    worker_destroy(&fx->w);
    for (int i = 0; i < 2; i++)
        fake_close(&fx->fc[i]);
    zmq_ctx_term(fx->ctx);
    worker_config_destroy(&fx->cfg);
    free(fx);
}

static int s_setup(void **state)
{
    (void)state;
    log_init("test_worker_loop", LOG_LEVEL_ERROR);
    return 0;
}

/* HELLO, then WELCOME with a long liveness so the test's silence between
 * messages never makes the worker reconnect. */
static void s_register(fake_t *f, int heartbeat_ms)
{
    json_decref(fake_expect(f, "HELLO"));
    fake_sendf(f, "WELCOME", "{\"heartbeat_ms\":%d,\"liveness\":100}", heartbeat_ms);
}

static json_t *s_only_job(json_t *body)
{
    json_t *jobs = json_object_get(body, "jobs");
    assert_int_equal(json_array_size(jobs), 1);
    return json_array_get(jobs, 0);
}

static json_int_t s_int(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

/* ---- tests ---- */

static void test_hello_fields(void **state)
{
    (void)state;
    fixture_t *fx = s_fixture(3, 1);
    s_start(fx);
    json_t *h = fake_expect(&fx->fc[0], "HELLO");
    assert_string_equal(json_string_value(json_object_get(h, "name")), "test-worker");
    assert_string_equal(json_string_value(json_object_get(h, "version")), WORKER_VERSION);
    assert_int_equal(s_int(h, "slots"), 3);
    json_t *q = json_object_get(h, "queues");
    assert_int_equal(json_array_size(q), 2);
    assert_string_equal(json_string_value(json_array_get(q, 0)), "default");
    assert_string_equal(json_string_value(json_array_get(q, 1)), "q2");
    /* the built-in test handlers are enabled by default; the others are not */
    json_t *t = json_object_get(h, "types");
    assert_int_equal(json_array_size(t), 3);
    assert_string_equal(json_string_value(json_array_get(t, 0)), "noop");
    assert_string_equal(json_string_value(json_array_get(t, 1)), "sleep");
    assert_string_equal(json_string_value(json_array_get(t, 2)), "fail");
    assert_true(json_is_array(json_object_get(h, "running")));
    assert_int_equal(json_array_size(json_object_get(h, "running")), 0);
    json_decref(h);
    s_free(fx);
}

static void test_types_restricted(void **state)
{
    (void)state;
    fixture_t *fx = s_fixture(1, 1);
    char err[512] = "";
    const char *bad[] = {"noop", "nope"};
    assert_null(worker_new(fx->cfg, bad, 2, err, sizeof err));
    assert_string_equal(err, "unknown job type \"nope\"");
    const char *disabled[] = {"embed"}; /* registered, not enabled by the defaults */
    assert_null(worker_new(fx->cfg, disabled, 1, err, sizeof err));
    assert_string_equal(err, "job type \"embed\" is not enabled in the config (handlers.embed)");
    s_section(fx->cfg, "noop")->enabled = false;
    const char *off[] = {"noop"};
    assert_null(worker_new(fx->cfg, off, 1, err, sizeof err));
    s_section(fx->cfg, "noop")->enabled = true;
    const char *types[] = {"sleep"};
    fx->w = worker_new(fx->cfg, types, 1, err, sizeof err);
    assert_non_null(fx->w);
    assert_int_equal(pthread_create(&fx->thread, NULL, s_worker_thread, fx), 0);
    fx->running = true;
    json_t *h = fake_expect(&fx->fc[0], "HELLO");
    json_t *t = json_object_get(h, "types");
    assert_int_equal(json_array_size(t), 1);
    assert_string_equal(json_string_value(json_array_get(t, 0)), "sleep");
    json_decref(h);
    fake_send(&fx->fc[0], "WELCOME", "{}");
    /* a type the worker does not serve but knows: not permanent */
    fake_send(&fx->fc[0], "JOB", "{\"jobs\":[{\"id\":1,\"attempt\":1,\"queue\":\"default\","
                                 "\"type\":\"noop\",\"payload\":{},\"timeout_ms\":60000}]}");
    json_t *f = fake_expect(&fx->fc[0], "FAIL");
    json_t *j = s_only_job(f);
    assert_string_equal(json_string_value(json_object_get(j, "error")),
                        "job type \"noop\" is not enabled on this worker");
    assert_true(json_is_false(json_object_get(j, "permanent")));
    json_decref(f);
    s_free(fx);
}

static void test_job_done(void **state)
{
    (void)state;
    fixture_t *fx = s_fixture(2, 1);
    s_start(fx);
    fake_t *f = &fx->fc[0];
    s_register(f, 1000);
    fake_send(f, "JOB", "{\"jobs\":[{\"id\":42,\"attempt\":3,\"queue\":\"default\",\"type\":\"noop\","
                        "\"payload\":{\"t\":1234567},\"timeout_ms\":60000}]}");
    json_t *d = fake_expect(f, "DONE");
    json_t *j = s_only_job(d);
    assert_int_equal(s_int(j, "id"), 42);
    assert_int_equal(s_int(j, "attempt"), 3);
    assert_int_equal(s_int(json_object_get(j, "result"), "t"), 1234567);
    json_decref(d);

    /* two jobs in one JOB; a missing payload counts as {} */
    fake_send(f, "JOB", "{\"jobs\":[{\"id\":1,\"attempt\":1,\"type\":\"noop\",\"payload\":{}},"
                        "{\"id\":2,\"attempt\":1,\"type\":\"sleep\",\"payload\":{\"ms\":1}}]}");
    int seen = 0;
    while (seen != 3) {
        d = fake_expect(f, "DONE");
        size_t k;
        json_t *e;
        json_array_foreach(json_object_get(d, "jobs"), k, e) {
            json_int_t id = s_int(e, "id");
            assert_true(id == 1 || id == 2);
            assert_false(seen & (1 << (id - 1)));
            seen |= 1 << (id - 1);
            if (id == 2)
                assert_int_equal(s_int(json_object_get(e, "result"), "slept_ms"), 1);
        }
        json_decref(d);
    }
    s_free(fx);
}

static void test_bad_jobs_fail(void **state)
{
    (void)state;
    fixture_t *fx = s_fixture(4, 1);
    s_start(fx);
    fake_t *f = &fx->fc[0];
    s_register(f, 1000);
    /* a job without an id cannot be answered and is dropped; the others
     * fail permanently with a message naming the problem */
    fake_send(f, "JOB",
              "{\"jobs\":[{\"attempt\":1,\"type\":\"noop\"},"
              "{\"id\":11,\"attempt\":1,\"type\":\"bogus\",\"payload\":{}},"
              "{\"id\":12,\"attempt\":1,\"type\":\"noop\",\"payload\":[1]},"
              "{\"id\":13,\"attempt\":1,\"payload\":{}},"
              "{\"id\":14,\"attempt\":1,\"type\":\"sleep\",\"payload\":{\"ms\":\"x\"}}]}");
    const char *want[] = {"unknown job type \"bogus\"", "payload: expected a JSON object",
                          "job \"type\" is missing or not a valid name",
                          "payload.ms: expected an integer 0..86400000"};
    int seen = 0;
    while (seen != 0xF) {
        json_t *b = fake_expect(f, "FAIL");
        size_t k;
        json_t *e;
        json_array_foreach(json_object_get(b, "jobs"), k, e) {
            int idx = (int)s_int(e, "id") - 11;
            assert_true(idx >= 0 && idx < 4);
            assert_false(seen & (1 << idx));
            seen |= 1 << idx;
            assert_string_equal(json_string_value(json_object_get(e, "error")), want[idx]);
            assert_true(json_is_true(json_object_get(e, "permanent")));
            assert_true(json_is_false(json_object_get(e, "cancelled")));
        }
        json_decref(b);
    }
    /* the worker is still fine */
    fake_send(f, "JOB", "{\"jobs\":[{\"id\":15,\"attempt\":1,\"type\":\"noop\",\"payload\":{}}]}");
    json_t *d = fake_expect(f, "DONE");
    assert_int_equal(s_int(s_only_job(d), "id"), 15);
    json_decref(d);
    s_free(fx);
}

static void test_handler_failure_reported(void **state)
{
    (void)state;
    fixture_t *fx = s_fixture(1, 1);
    s_start(fx);
    fake_t *f = &fx->fc[0];
    s_register(f, 1000);
    fake_send(f, "JOB", "{\"jobs\":[{\"id\":5,\"attempt\":2,\"type\":\"fail\","
                        "\"payload\":{\"message\":\"disk \\\"full\\\"\",\"permanent\":true}}]}");
    json_t *b = fake_expect(f, "FAIL");
    json_t *j = s_only_job(b);
    assert_int_equal(s_int(j, "id"), 5);
    assert_int_equal(s_int(j, "attempt"), 2);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "disk \"full\"");
    assert_true(json_is_true(json_object_get(j, "permanent")));
    json_decref(b);
    s_free(fx);
}

#define SLEEP_JOB                                                                                  \
    "{\"jobs\":[{\"id\":%d,\"attempt\":1,\"type\":\"sleep\",\"payload\":{\"ms\":%d},"              \
    "\"timeout_ms\":%d}]}"

static void test_cancel_sleep(void **state)
{
    (void)state;
    fixture_t *fx = s_fixture(2, 1);
    s_start(fx);
    fake_t *f = &fx->fc[0];
    s_register(f, 1000);
    fake_sendf(f, "JOB", SLEEP_JOB, 7, 86400000, 86400000);
    /* wait until it runs: sleep reports progress right away */
    json_t *p = fake_expect(f, "PROGRESS");
    assert_int_equal(s_int(p, "id"), 7);
    assert_int_equal(s_int(p, "attempt"), 1);
    json_int_t pct = s_int(p, "percent");
    assert_true(pct >= 0 && pct <= 100);
    json_decref(p);
    fake_send(f, "CANCEL", "{\"id\":7,\"attempt\":1,\"reason\":\"cancelled by operator\"}");
    json_t *b = fake_expect(f, "FAIL");
    json_t *j = s_only_job(b);
    assert_int_equal(s_int(j, "id"), 7);
    assert_true(json_is_true(json_object_get(j, "cancelled")));
    assert_true(json_is_false(json_object_get(j, "permanent")));
    json_decref(b);
    /* a CANCEL for a job the worker does not hold is ignored */
    fake_send(f, "CANCEL", "{\"id\":999,\"attempt\":1}");
    fake_send(f, "JOB", "{\"jobs\":[{\"id\":8,\"attempt\":1,\"type\":\"noop\",\"payload\":{}}]}");
    json_t *d = fake_expect(f, "DONE");
    assert_int_equal(s_int(s_only_job(d), "id"), 8);
    json_decref(d);
    s_free(fx);
}

static void test_deadline_enforced(void **state)
{
    (void)state;
    fixture_t *fx = s_fixture(1, 1);
    s_start(fx);
    fake_t *f = &fx->fc[0];
    s_register(f, 1000);
    fake_sendf(f, "JOB", SLEEP_JOB, 9, 86400000, 50);
    json_t *b = fake_expect(f, "FAIL");
    json_t *j = s_only_job(b);
    assert_int_equal(s_int(j, "id"), 9);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "timed out after 50 ms");
    assert_true(json_is_false(json_object_get(j, "cancelled")));
    assert_true(json_is_false(json_object_get(j, "permanent")));
    json_decref(b);
    s_free(fx);
}

static void test_no_free_slot(void **state)
{
    (void)state;
    fixture_t *fx = s_fixture(2, 1);
    s_start(fx);
    fake_t *f = &fx->fc[0];
    s_register(f, 1000);
    fake_send(f, "JOB", "{\"jobs\":["
                        "{\"id\":1,\"attempt\":1,\"type\":\"sleep\",\"payload\":{\"ms\":86400000}},"
                        "{\"id\":2,\"attempt\":1,\"type\":\"sleep\",\"payload\":{\"ms\":86400000}},"
                        "{\"id\":3,\"attempt\":1,\"type\":\"noop\",\"payload\":{}}]}");
    json_t *b = fake_expect(f, "FAIL");
    json_t *j = s_only_job(b);
    assert_int_equal(s_int(j, "id"), 3);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "worker has no free slot");
    assert_true(json_is_false(json_object_get(j, "permanent")));
    json_decref(b);
    s_free(fx);
}

static void test_error_reconnect_rehellos_with_running(void **state)
{
    (void)state;
    fixture_t *fx = s_fixture(2, 1);
    s_start(fx);
    fake_t *f = &fx->fc[0];
    s_register(f, 1000);
    fake_sendf(f, "JOB", SLEEP_JOB, 21, 86400000, 86400000);
    fake_send(f, "ERROR", "{\"code\":\"reconnect\",\"message\":\"unknown worker\"}");
    json_t *h = fake_expect(f, "HELLO");
    json_t *running = json_object_get(h, "running");
    assert_int_equal(json_array_size(running), 1);
    assert_int_equal(s_int(json_array_get(running, 0), "id"), 21);
    assert_int_equal(s_int(json_array_get(running, 0), "attempt"), 1);
    assert_string_equal(json_string_value(json_object_get(h, "name")), "test-worker");
    json_decref(h);

    /* Cancel it before WELCOME: the outcome is held, not sent, while the
     * worker is unregistered ... */
    fake_send(f, "CANCEL", "{\"id\":21,\"attempt\":1}");
    char cmd[32];
    json_t *early = fake_recv(f, cmd, 300);
    if (early)
        fail_msg("worker sent %s before WELCOME", cmd);
    /* ... and listed as running if asked again, then sent after WELCOME */
    fake_send(f, "ERROR", "{\"code\":\"reconnect\"}");
    h = fake_expect(f, "HELLO");
    assert_int_equal(json_array_size(json_object_get(h, "running")), 1);
    json_decref(h);
    fake_send(f, "WELCOME", "{\"heartbeat_ms\":1000,\"liveness\":100}");
    json_t *b = fake_expect(f, "FAIL");
    json_t *j = s_only_job(b);
    assert_int_equal(s_int(j, "id"), 21);
    assert_true(json_is_true(json_object_get(j, "cancelled")));
    json_decref(b);
    s_free(fx);
}

static void test_heartbeat_when_idle(void **state)
{
    (void)state;
    fixture_t *fx = s_fixture(1, 1);
    s_start(fx);
    fake_t *f = &fx->fc[0];
    s_register(f, 20);
    char cmd[32];
    json_t *b = fake_recv(f, cmd, RECV_TIMEOUT_MS);
    assert_non_null(b);
    assert_string_equal(cmd, "HEARTBEAT");
    assert_int_equal(json_object_size(b), 0);
    json_decref(b);
    s_free(fx);
}

static void test_failover_after_silence(void **state)
{
    (void)state;
    fixture_t *fx = s_fixture(1, 2);
    fx->cfg->heartbeat_interval_ms = 20;
    fx->cfg->heartbeat_liveness = 2;
    s_start(fx);
    /* the first coordinator takes HELLO and never answers */
    json_decref(fake_expect(&fx->fc[0], "HELLO"));
    /* so the worker gives up on it and registers with the second */
    json_t *h = fake_expect(&fx->fc[1], "HELLO");
    assert_string_equal(json_string_value(json_object_get(h, "name")), "test-worker");
    json_decref(h);
    fake_send(&fx->fc[1], "WELCOME", "{\"heartbeat_ms\":1000,\"liveness\":100}");
    fake_send(&fx->fc[1], "JOB",
              "{\"jobs\":[{\"id\":31,\"attempt\":1,\"type\":\"noop\",\"payload\":{}}]}");
    json_t *d = fake_expect(&fx->fc[1], "DONE");
    assert_int_equal(s_int(s_only_job(d), "id"), 31);
    json_decref(d);
    s_free(fx);
}

static void test_drain(void **state)
{
    (void)state;
    fixture_t *fx = s_fixture(2, 1);
    s_start(fx);
    fake_t *f = &fx->fc[0];
    s_register(f, 1000);
    fake_sendf(f, "JOB", SLEEP_JOB, 41, 300, 60000);
    json_decref(fake_expect(f, "PROGRESS")); /* it runs */
    worker_stop(fx->w);
    json_t *bye = fake_expect(f, "BYE");
    assert_true(json_is_true(json_object_get(bye, "drain")));
    json_decref(bye);
    /* a job that still arrives is refused, not run */
    fake_send(f, "JOB", "{\"jobs\":[{\"id\":42,\"attempt\":1,\"type\":\"noop\",\"payload\":{}}]}");
    json_t *b = fake_expect(f, "FAIL");
    json_t *j = s_only_job(b);
    assert_int_equal(s_int(j, "id"), 42);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "worker is draining");
    assert_true(json_is_false(json_object_get(j, "permanent")));
    json_decref(b);
    /* the running job finishes and is reported, then the final BYE */
    json_t *d = fake_expect(f, "DONE");
    assert_int_equal(s_int(s_only_job(d), "id"), 41);
    json_decref(d);
    bye = fake_expect(f, "BYE");
    assert_int_equal(json_object_size(bye), 0);
    json_decref(bye);
    assert_int_equal(s_join(fx), 0);
    s_free(fx);
}

static void test_second_stop_is_immediate(void **state)
{
    (void)state;
    fixture_t *fx = s_fixture(1, 1);
    s_start(fx);
    fake_t *f = &fx->fc[0];
    s_register(f, 1000);
    fake_sendf(f, "JOB", SLEEP_JOB, 51, 86400000, 86400000);
    json_decref(fake_expect(f, "PROGRESS"));
    worker_stop(fx->w);
    json_t *bye = fake_expect(f, "BYE");
    assert_true(json_is_true(json_object_get(bye, "drain")));
    json_decref(bye);
    worker_stop(fx->w);
    bye = fake_expect(f, "BYE");
    assert_int_equal(json_object_size(bye), 0);
    json_decref(bye);
    assert_int_equal(s_join(fx), ORCH_ETIMEOUT); /* it left a job running */
    s_free(fx);                                  /* destroy cancels and joins it */
}

static void test_type_slot_limit_parks_jobs(void **state)
{
    (void)state;
    fixture_t *fx = s_fixture(3, 1);
    s_section(fx->cfg, "sleep")->slots = 1; /* one sleep at a time */
    s_start(fx);
    fake_t *f = &fx->fc[0];
    s_register(f, 1000);
    fake_send(f, "JOB", "{\"jobs\":["
                        "{\"id\":61,\"attempt\":1,\"type\":\"sleep\",\"payload\":{\"ms\":86400000}},"
                        "{\"id\":62,\"attempt\":1,\"type\":\"sleep\",\"payload\":{\"ms\":5}},"
                        "{\"id\":63,\"attempt\":1,\"type\":\"noop\",\"payload\":{}}]}");
    /* noop is not limited and completes while 62 waits behind 61 */
    json_t *d = fake_expect(f, "DONE");
    assert_int_equal(s_int(s_only_job(d), "id"), 63);
    json_decref(d);
    /* a parked job counts as running */
    fake_send(f, "ERROR", "{\"code\":\"reconnect\"}");
    json_t *h = fake_expect(f, "HELLO");
    assert_int_equal(json_array_size(json_object_get(h, "running")), 2);
    json_decref(h);
    fake_send(f, "WELCOME", "{\"heartbeat_ms\":1000,\"liveness\":100}");
    /* freeing the sleep slot starts 62 */
    fake_send(f, "CANCEL", "{\"id\":61,\"attempt\":1}");
    json_t *b = fake_expect(f, "FAIL");
    assert_int_equal(s_int(s_only_job(b), "id"), 61);
    json_decref(b);
    d = fake_expect(f, "DONE");
    assert_int_equal(s_int(s_only_job(d), "id"), 62);
    assert_int_equal(s_int(json_object_get(s_only_job(d), "result"), "slept_ms"), 5);
    json_decref(d);
    s_free(fx);
}

/* Sorted ids of a DONE or FAIL body, at most 8. */
static size_t s_ids(const json_t *body, json_int_t ids[8])
{
    size_t k, n = 0;
    json_t *e;
    json_array_foreach(json_object_get(body, "jobs"), k, e) {
        assert_true(n < 8);
        json_int_t id = s_int(e, "id");
        size_t at = n++;
        for (; at > 0 && ids[at - 1] > id; at--)
            ids[at] = ids[at - 1];
        ids[at] = id;
    }
    return n;
}

/* noop and fail run inline, on the loop's thread, in the turn their JOB
 * arrived in: every outcome of the JOB goes out in that turn's one DONE
 * and one FAIL, whatever the slot threads do meanwhile. */
static void test_inline_jobs_answered_in_their_turn(void **state)
{
    (void)state;
    assert_true(handler_find("noop")->runs_inline);
    assert_true(handler_find("fail")->runs_inline);
    assert_false(handler_find("sleep")->runs_inline); /* it blocks: a slot thread's */
    fixture_t *fx = s_fixture(4, 1);
    s_start(fx);
    fake_t *f = &fx->fc[0];
    s_register(f, 1000);
    fake_send(f, "JOB", "{\"jobs\":["
                        "{\"id\":81,\"attempt\":1,\"type\":\"noop\",\"payload\":{}},"
                        "{\"id\":82,\"attempt\":1,\"type\":\"fail\",\"payload\":{}},"
                        "{\"id\":83,\"attempt\":1,\"type\":\"noop\",\"payload\":{}},"
                        "{\"id\":84,\"attempt\":1,\"type\":\"noop\",\"payload\":{}}]}");
    json_int_t ids[8];
    json_t *d = fake_expect(f, "DONE");
    assert_int_equal(s_ids(d, ids), 3);
    assert_int_equal(ids[0], 81);
    assert_int_equal(ids[1], 83);
    assert_int_equal(ids[2], 84);
    json_decref(d);
    json_t *b = fake_expect(f, "FAIL");
    assert_int_equal(s_int(s_only_job(b), "id"), 82);
    assert_string_equal(json_string_value(json_object_get(s_only_job(b), "error")),
                        "failed on purpose");
    json_decref(b);
    s_free(fx);
}

/* A type's slot limit holds for inline jobs too: the parked ones start one
 * after the other as each frees its slot, still within the turn. */
static void test_inline_jobs_respect_type_limit(void **state)
{
    (void)state;
    fixture_t *fx = s_fixture(3, 1);
    s_section(fx->cfg, "noop")->slots = 1;
    s_start(fx);
    fake_t *f = &fx->fc[0];
    s_register(f, 1000);
    fake_send(f, "JOB", "{\"jobs\":["
                        "{\"id\":91,\"attempt\":1,\"type\":\"noop\",\"payload\":{}},"
                        "{\"id\":92,\"attempt\":1,\"type\":\"noop\",\"payload\":{}},"
                        "{\"id\":93,\"attempt\":1,\"type\":\"noop\",\"payload\":{}}]}");
    json_int_t ids[8];
    json_t *d = fake_expect(f, "DONE");
    assert_int_equal(s_ids(d, ids), 3);
    assert_int_equal(ids[0], 91);
    assert_int_equal(ids[2], 93);
    json_decref(d);
    /* every slot is free again: three more fit */
    fake_send(f, "JOB", "{\"jobs\":["
                        "{\"id\":94,\"attempt\":1,\"type\":\"noop\",\"payload\":{}},"
                        "{\"id\":95,\"attempt\":1,\"type\":\"noop\",\"payload\":{}},"
                        "{\"id\":96,\"attempt\":1,\"type\":\"noop\",\"payload\":{}}]}");
    d = fake_expect(f, "DONE");
    assert_int_equal(s_ids(d, ids), 3);
    assert_int_equal(ids[0], 94);
    json_decref(d);
    s_free(fx);
}

static void test_malformed_messages_ignored(void **state)
{
    (void)state;
    fixture_t *fx = s_fixture(1, 1);
    s_start(fx);
    fake_t *f = &fx->fc[0];
    s_register(f, 1000);
    fake_send(f, "JOB", "not json");
    fake_send(f, "JOB", "[1,2]");
    fake_send(f, "JOB", "{\"jobs\":5}");
    fake_send(f, "BOGUS", "{}");
    fake_send(f, "CANCEL", "{\"id\":\"x\"}");
    fake_send(f, "ERROR", "{\"code\":\"other\"}");
    zmq_send(f->sock, f->id, f->id_len, ZMQ_SNDMORE);
    zmq_send(f->sock, "ORCHW1", 6, 0); /* too few frames */
    fake_send(f, "JOB", "{\"jobs\":[{\"id\":71,\"attempt\":1,\"type\":\"noop\",\"payload\":{}}]}");
    json_t *d = fake_expect(f, "DONE");
    assert_int_equal(s_int(s_only_job(d), "id"), 71);
    json_decref(d);
    s_free(fx);
}

/* Not a benchmark with a threshold: it checks that a long credit-based
 * stream of jobs all come back exactly once, and prints the rate. */
static void test_throughput_stream(void **state)
{
    (void)state;
    const int slots = 16, total = 20000;
    fixture_t *fx = s_fixture(slots, 1);
    s_start(fx);
    fake_t *f = &fx->fc[0];
    s_register(f, 1000);
    unsigned char *seen = calloc((size_t)total + 1, 1);
    int next = 1, done = 0;
    char *body = malloc(64 * 1024);
    int64_t t0 = clock_mono_us();
    int credit = slots;
    while (done < total) {
        if (credit > 0 && next <= total) {
            int len = snprintf(body, 64 * 1024, "{\"jobs\":[");
            for (int k = 0; k < credit && next <= total; k++, next++)
                len += snprintf(body + len, (size_t)(64 * 1024 - len),
                                "%s{\"id\":%d,\"attempt\":1,\"queue\":\"default\",\"type\":"
                                "\"noop\",\"payload\":{\"t\":%d},\"timeout_ms\":60000}",
                                k ? "," : "", next, next);
            snprintf(body + len, (size_t)(64 * 1024 - len), "]}");
            credit = 0;
            fake_send(f, "JOB", body);
        }
        json_t *d = fake_expect(f, "DONE");
        size_t k;
        json_t *e;
        json_array_foreach(json_object_get(d, "jobs"), k, e) {
            json_int_t id = s_int(e, "id");
            assert_true(id >= 1 && id <= total);
            assert_int_equal(seen[id], 0);
            assert_int_equal(s_int(json_object_get(e, "result"), "t"), id);
            seen[id] = 1;
            done++;
            credit++;
        }
        json_decref(d);
    }
    int64_t us = clock_mono_us() - t0;
    print_message("throughput: %d noop jobs through %d slots in %.3f s = %.0f jobs/s\n", total,
                  slots, (double)us / 1e6, total / ((double)us / 1e6));
    free(body);
    free(seen);
    s_free(fx);
}

/* ---- results kept until acknowledged ---- */

/* The coordinator acknowledges results; the worker re-sends after 1 s (the
 * floor: 100 ms x 10) or, with the second, only after a WELCOME (100 s). */
#define WELCOME_ACKS_FAST "{\"heartbeat_ms\":100,\"liveness\":10,\"acks\":true}"
#define WELCOME_ACKS_SLOW "{\"heartbeat_ms\":1000,\"liveness\":100,\"acks\":true}"
#define NOOP_JOB "{\"jobs\":[{\"id\":%d,\"attempt\":%d,\"type\":\"noop\",\"payload\":{\"t\":%d}}]}"

/* The one entry of a DONE is (id, attempt). */
static void s_expect_done(fake_t *f, int id, int attempt, bool beating)
{
    json_t *d = beating ? fake_expect_beating(f, "DONE") : fake_expect(f, "DONE");
    json_t *j = s_only_job(d);
    assert_int_equal(s_int(j, "id"), id);
    assert_int_equal(s_int(j, "attempt"), attempt);
    assert_int_equal(s_int(json_object_get(j, "result"), "t"), id); /* noop echoes t */
    json_decref(d);
}

/* HELLO's running list is exactly the attempt (id, attempt), or empty when
 * id is 0. */
static void s_expect_hello_running(fake_t *f, int id, int attempt)
{
    json_t *h = fake_expect_beating(f, "HELLO");
    json_t *running = json_object_get(h, "running");
    assert_int_equal(json_array_size(running), id ? 1 : 0);
    if (id) {
        assert_int_equal(s_int(json_array_get(running, 0), "id"), id);
        assert_int_equal(s_int(json_array_get(running, 0), "attempt"), attempt);
    }
    json_decref(h);
}

static void test_results_kept_until_ack(void **state)
{
    (void)state;
    fixture_t *fx = s_fixture(2, 1);
    s_start(fx);
    fake_t *f = &fx->fc[0];
    json_decref(fake_expect(f, "HELLO"));
    fake_send(f, "WELCOME", WELCOME_ACKS_FAST);
    fake_sendf(f, "JOB", NOOP_JOB, 81, 2, 81);
    s_expect_done(f, 81, 2, true);
    /* no ACK: the same result again after the resend interval */
    s_expect_done(f, 81, 2, true);

    /* registering again: HELLO lists the attempt as running, and the
     * result goes out again right after WELCOME (not after 100 s) */
    fake_send(f, "ERROR", "{\"code\":\"reconnect\"}");
    s_expect_hello_running(f, 81, 2);
    fake_send(f, "WELCOME", WELCOME_ACKS_SLOW);
    s_expect_done(f, 81, 2, false);

    /* ACKs of other attempts, and malformed ones, forget nothing */
    fake_send(f, "ACK", "{\"jobs\":[{\"id\":999,\"attempt\":1},{\"id\":81,\"attempt\":1}]}");
    fake_send(f, "ACK", "{\"jobs\":[{\"id\":81,\"attempt\":2},{\"id\":0,\"attempt\":1}]}");
    fake_send(f, "ACK", "{\"jobs\":[]}");
    fake_send(f, "ACK", "{\"jobs\":[{\"id\":81,\"attempt\":2,\"result\":null}]}");
    fake_send(f, "ERROR", "{\"code\":\"reconnect\"}");
    s_expect_hello_running(f, 81, 2);
    fake_send(f, "WELCOME", WELCOME_ACKS_SLOW);
    s_expect_done(f, 81, 2, false);

    /* acknowledged: forgotten, not listed, not sent again */
    fake_send(f, "ACK", "{\"jobs\":[{\"id\":81,\"attempt\":2}]}");
    fake_send(f, "ERROR", "{\"code\":\"reconnect\"}");
    s_expect_hello_running(f, 0, 0);
    fake_send(f, "WELCOME", WELCOME_ACKS_SLOW);
    fake_sendf(f, "JOB", NOOP_JOB, 82, 1, 82);
    s_expect_done(f, 82, 1, false); /* a re-sent 81 would have come first */
    s_free(fx);
}

/* A coordinator that does not announce acks gets today's behaviour: a
 * result is forgotten once sent, and an ACK (it should not send one)
 * changes nothing. */
static void test_no_retention_without_acks(void **state)
{
    (void)state;
    fixture_t *fx = s_fixture(1, 1);
    s_start(fx);
    fake_t *f = &fx->fc[0];
    s_register(f, 1000);
    fake_sendf(f, "JOB", NOOP_JOB, 91, 1, 91);
    s_expect_done(f, 91, 1, false);
    fake_send(f, "ACK", "{\"jobs\":[{\"id\":91,\"attempt\":1}]}");
    fake_send(f, "ERROR", "{\"code\":\"reconnect\"}");
    s_expect_hello_running(f, 0, 0);
    fake_send(f, "WELCOME", "{\"heartbeat_ms\":1000,\"liveness\":100}");
    fake_sendf(f, "JOB", NOOP_JOB, 92, 1, 92);
    s_expect_done(f, 92, 1, false);
    s_free(fx);
}

/* Issue 12: the coordinator restarts after the worker sent its result. The
 * new one does not know the connection: it answers ERROR reconnect to
 * whatever arrives first (a heartbeat, or the result itself, which it does
 * not record), the worker registers listing the attempt as running, and
 * the result follows WELCOME. */
static void test_results_survive_coordinator_restart(void **state)
{
    (void)state;
    fixture_t *fx = s_fixture(1, 1);
    s_start(fx);
    fake_t *f = &fx->fc[0];
    json_decref(fake_expect(f, "HELLO"));
    fake_send(f, "WELCOME", WELCOME_ACKS_FAST);
    fake_sendf(f, "JOB", NOOP_JOB, 101, 3, 101);
    s_expect_done(f, 101, 3, true);

    char ep[sizeof f->ep];
    snprintf(ep, sizeof ep, "%s", f->ep);
    fake_close(f);
    fake_open(f, fx->ctx, ep);
    json_t *h = NULL;
    while (!h) {
        char cmd[32];
        json_t *b = fake_recv(f, cmd, RECV_TIMEOUT_MS);
        if (!b)
            fail_msg("the worker did not come back");
        if (strcmp(cmd, "HELLO") == 0)
            h = b; /* it gave up on the old connection by itself */
        else
            json_decref(b);
        if (!h)
            fake_send(f, "ERROR", "{\"code\":\"reconnect\",\"message\":\"unknown worker\"}");
    }
    json_t *running = json_object_get(h, "running");
    assert_int_equal(json_array_size(running), 1);
    assert_int_equal(s_int(json_array_get(running, 0), "id"), 101);
    assert_int_equal(s_int(json_array_get(running, 0), "attempt"), 3);
    json_decref(h);
    fake_send(f, "WELCOME", WELCOME_ACKS_SLOW);
    s_expect_done(f, 101, 3, false);
    fake_send(f, "ACK", "{\"jobs\":[{\"id\":101,\"attempt\":3}]}");
    fake_send(f, "ERROR", "{\"code\":\"reconnect\"}");
    s_expect_hello_running(f, 0, 0);
    s_free(fx);
}

/* Draining against a coordinator with acks: the worker leaves once its
 * last result is acknowledged, not once it is sent. */
static void test_drain_waits_for_ack(void **state)
{
    (void)state;
    fixture_t *fx = s_fixture(1, 1);
    s_start(fx);
    fake_t *f = &fx->fc[0];
    json_decref(fake_expect(f, "HELLO"));
    fake_send(f, "WELCOME", WELCOME_ACKS_SLOW);
    fake_sendf(f, "JOB", SLEEP_JOB, 111, 200, 60000);
    json_decref(fake_expect(f, "PROGRESS"));
    worker_stop(fx->w);
    json_t *bye = fake_expect(f, "BYE");
    assert_true(json_is_true(json_object_get(bye, "drain")));
    json_decref(bye);
    json_t *d = fake_expect(f, "DONE");
    assert_int_equal(s_int(s_only_job(d), "id"), 111);
    json_decref(d);
    fake_quiet(f, 300); /* still there: the result is not acknowledged */
    fake_send(f, "ACK", "{\"jobs\":[{\"id\":111,\"attempt\":1}]}");
    bye = fake_expect(f, "BYE");
    assert_int_equal(json_object_size(bye), 0);
    json_decref(bye);
    assert_int_equal(s_join(fx), 0);
    s_free(fx);
}

/* ... within its drain timeout: an ACK that never comes does not keep it. */
static void test_drain_timeout_without_ack(void **state)
{
    (void)state;
    fixture_t *fx = s_fixture(1, 1);
    fx->cfg->drain_timeout_ms = 200;
    s_start(fx);
    fake_t *f = &fx->fc[0];
    json_decref(fake_expect(f, "HELLO"));
    fake_send(f, "WELCOME", WELCOME_ACKS_SLOW);
    fake_sendf(f, "JOB", NOOP_JOB, 121, 1, 121);
    s_expect_done(f, 121, 1, false);
    worker_stop(fx->w);
    json_t *bye = fake_expect(f, "BYE");
    assert_true(json_is_true(json_object_get(bye, "drain")));
    json_decref(bye);
    bye = fake_expect(f, "BYE");
    assert_int_equal(json_object_size(bye), 0);
    json_decref(bye);
    assert_int_equal(s_join(fx), 0); /* no handler left running */
    s_free(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_fields),
        cmocka_unit_test(test_types_restricted),
        cmocka_unit_test(test_job_done),
        cmocka_unit_test(test_bad_jobs_fail),
        cmocka_unit_test(test_handler_failure_reported),
        cmocka_unit_test(test_cancel_sleep),
        cmocka_unit_test(test_deadline_enforced),
        cmocka_unit_test(test_no_free_slot),
        cmocka_unit_test(test_error_reconnect_rehellos_with_running),
        cmocka_unit_test(test_heartbeat_when_idle),
        cmocka_unit_test(test_failover_after_silence),
        cmocka_unit_test(test_drain),
        cmocka_unit_test(test_second_stop_is_immediate),
        cmocka_unit_test(test_type_slot_limit_parks_jobs),
        cmocka_unit_test(test_inline_jobs_answered_in_their_turn),
        cmocka_unit_test(test_inline_jobs_respect_type_limit),
        cmocka_unit_test(test_malformed_messages_ignored),
        cmocka_unit_test(test_results_kept_until_ack),
        cmocka_unit_test(test_no_retention_without_acks),
        cmocka_unit_test(test_results_survive_coordinator_restart),
        cmocka_unit_test(test_drain_waits_for_ack),
        cmocka_unit_test(test_drain_timeout_without_ack),
        cmocka_unit_test(test_throughput_stream),
    };
    return cmocka_run_group_tests(tests, s_setup, NULL);
}
