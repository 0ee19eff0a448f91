/* liborch against a fake coordinator in the test process (a ROUTER on an
 * ipc:// endpoint, served by a thread): replies matched by "req" whatever
 * their order, timeouts, failover to the next endpoint, statuses mapped to
 * codes, malformed replies, local checks, and the event watch against a
 * PUB socket. */
#include "orch_client.h"
#include "clock.h"

#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include <cmocka.h>

/* ---------------------------------------------------------------------- */
/* fake coordinator                                                        */

typedef enum {
    FAKE_ANSWER,   /* answer every request at once (see fake_answer) */
    FAKE_SILENT,   /* receive, never answer */
    FAKE_REVERSE,  /* hold the first `hold` requests, answer them last first */
    FAKE_GARBAGE,  /* answer with a body that is not JSON */
} fake_mode_t;

#define FAKE_MAX 64

typedef struct {
    void *ctx;
    void *sock;
    char endpoint[128];
    char path[96];
    fake_mode_t mode;
    int status;        /* FAKE_ANSWER: status of every reply */
    size_t hold;
    pthread_t thread;
    atomic_bool stop;
    atomic_size_t nreq;
    char *cmd[FAKE_MAX];
    char *raw[FAKE_MAX];
    zmq_msg_t held_id[FAKE_MAX];
    json_t *held_body[FAKE_MAX];
    size_t nheld;
} fake_t;

static int s_counter;

static void fake_reply(fake_t *f, zmq_msg_t *id, const json_t *req_body, const char *cmd)
{
    json_t *reply = json_pack("{s:i}", "status", f->status);
    const json_t *req = json_object_get(req_body, "req");
    if (req)
        json_object_set(reply, "req", (json_t *)req);
    if (f->status != 200) {
        json_object_set_new(reply, "error", json_string("no such job 7"));
    } else if (strcmp(cmd, "SUBMIT") == 0) {
        /* ids tell which request they answer: 1000 * (req or 0) + index */
        json_t *ids = json_array();
        size_t n = json_array_size(json_object_get(req_body, "jobs"));
        for (size_t i = 0; i < n; i++)
            json_array_append_new(ids, json_integer(1000 * (req ? json_integer_value(req) : 0)
                                                    + (json_int_t)i + 1));
        json_object_set_new(reply, "ids", ids);
    } else if (strcmp(cmd, "GET") == 0) {
        json_object_set_new(reply, "job", json_pack("{s:O,s:s}", "id",
                                                    json_object_get(req_body, "id"), "state",
                                                    "queued"));
        if (json_is_true(json_object_get(req_body, "history")))
            json_object_set_new(reply, "history", json_array());
    } else if (strcmp(cmd, "STATS") == 0) {
        json_object_set_new(reply, "queues", json_pack("{s:{s:i}}", "q", "queued", 3));
    } else if (strcmp(cmd, "CANCEL") == 0) {
        json_object_set_new(reply, "state", json_string("cancelled"));
    } else if (strcmp(cmd, "LIST") == 0) {
        /* a full page of one job below the cursor, and the next cursor */
        json_int_t before = json_integer_value(json_object_get(req_body, "before"));
        json_int_t jid = before ? before - 1 : 50;
        json_object_set_new(reply, "jobs", json_pack("[{s:I}]", "id", jid));
        if (jid > 48)
            json_object_set_new(reply, "next_before", json_integer(jid));
    }
    char *text = f->mode == FAKE_GARBAGE ? strdup("not json") : json_dumps(reply, JSON_COMPACT);
    zmq_msg_send(id, f->sock, ZMQ_SNDMORE);
    zmq_send(f->sock, "ORCHC1", 6, ZMQ_SNDMORE);
    zmq_send(f->sock, "REPLY", 5, ZMQ_SNDMORE);
    zmq_send(f->sock, text, strlen(text), 0);
    free(text);
    json_decref(reply);
}

static void fake_handle(fake_t *f)
{
    zmq_msg_t parts[4];
    size_t n = 0;
    for (bool more = true; more && n < 4; n++) {
        zmq_msg_init(&parts[n]);
        zmq_msg_recv(&parts[n], f->sock, 0);
        more = zmq_msg_more(&parts[n]);
    }
    assert_int_equal(n, 4);
    size_t idx = atomic_load(&f->nreq);
    char *cmd = strndup(zmq_msg_data(&parts[2]), zmq_msg_size(&parts[2]));
    char *raw = strndup(zmq_msg_data(&parts[3]), zmq_msg_size(&parts[3]));
    json_t *body = json_loads(raw, 0, NULL);
    if (idx < FAKE_MAX) {
        f->cmd[idx] = cmd;
        f->raw[idx] = raw;
    }
    atomic_fetch_add(&f->nreq, 1);
    if (f->mode == FAKE_REVERSE && f->nheld < f->hold) {
        zmq_msg_init(&f->held_id[f->nheld]);
        zmq_msg_copy(&f->held_id[f->nheld], &parts[0]);
        f->held_body[f->nheld++] = json_incref(body);
        if (f->nheld == f->hold) {
            for (size_t i = f->hold; i-- > 0;) {
                fake_reply(f, &f->held_id[i], f->held_body[i], "SUBMIT");
                zmq_msg_close(&f->held_id[i]);
                json_decref(f->held_body[i]);
            }
        }
    } else if (f->mode != FAKE_SILENT) {
        fake_reply(f, &parts[0], body, cmd);
    }
    json_decref(body);
    if (idx >= FAKE_MAX) {
        free(cmd);
        free(raw);
    }
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&parts[i]);
}

static void *fake_main(void *arg)
{
    fake_t *f = arg;
    while (!atomic_load(&f->stop)) {
        zmq_pollitem_t item = {.socket = f->sock, .events = ZMQ_POLLIN};
        if (zmq_poll(&item, 1, 20) > 0)
            fake_handle(f);
    }
    return NULL;
}

static fake_t *fake_start(fake_mode_t mode, int status)
{
    fake_t *f = calloc(1, sizeof *f);
    snprintf(f->path, sizeof f->path, "/tmp/liborch-test-%d-%d.sock", (int)getpid(), s_counter++);
    snprintf(f->endpoint, sizeof f->endpoint, "ipc://%s", f->path);
    unlink(f->path);
    f->mode = mode;
    f->status = status;
    f->ctx = zmq_ctx_new();
    f->sock = zmq_socket(f->ctx, ZMQ_ROUTER);
    int zero = 0;
    zmq_setsockopt(f->sock, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_bind(f->sock, f->endpoint), 0);
    assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
    return f;
}

static void fake_stop(fake_t **fp)
{
    fake_t *f = *fp;
    atomic_store(&f->stop, true);
    pthread_join(f->thread, NULL);
    for (size_t i = 0; f->nheld < f->hold && i < f->nheld; i++) { /* never answered */
        zmq_msg_close(&f->held_id[i]);
        json_decref(f->held_body[i]);
    }
    zmq_close(f->sock);
    zmq_ctx_term(f->ctx);
    unlink(f->path);
    for (size_t i = 0; i < atomic_load(&f->nreq) && i < FAKE_MAX; i++) {
        free(f->cmd[i]);
        free(f->raw[i]);
    }
    free(f);
    *fp = NULL;
}

static orch_client_t *client_for(const char *const *endpoints, size_t n, int64_t timeout_ms)
{
    orch_client_opts_t o;
    orch_client_opts_init(&o);
    o.endpoints = endpoints;
    o.nendpoints = n;
    o.timeout_ms = timeout_ms;
    orch_client_t *cl = NULL;
    char err[256];
    assert_int_equal(orch_client_new(&cl, &o, err, sizeof err), 0);
    return cl;
}

static void nobody(char *buf, size_t len)
{
    snprintf(buf, len, "ipc:///tmp/liborch-test-%d-nobody-%d.sock", (int)getpid(), s_counter++);
}

/* ---------------------------------------------------------------------- */
/* synchronous calls                                                       */

static void test_get_sync_untagged(void **state)
{
    (void)state;
    fake_t *f = fake_start(FAKE_ANSWER, 200);
    const char *ep = f->endpoint;
    orch_client_t *cl = client_for(&ep, 1, 2000);
    json_t *job = NULL, *history = NULL;
    assert_int_equal(orch_client_get(cl, 42, true, &job, &history), 0);
    assert_int_equal(json_integer_value(json_object_get(job, "id")), 42);
    assert_true(json_is_array(history));
    assert_int_equal(orch_client_status(cl), 200);
    /* nothing else in flight: the body goes out exactly as the codec wrote it */
    assert_string_equal(f->cmd[0], "GET");
    assert_string_equal(f->raw[0], "{\"id\":42,\"history\":true}");
    json_decref(job);
    json_decref(history);
    orch_client_destroy(&cl);
    assert_null(cl);
    fake_stop(&f);
}

/* Cursor paging: the filter's fields go out as LIST's, next_before comes
 * back, and 0 says the last page. */
static void test_list_pages(void **state)
{
    (void)state;
    fake_t *f = fake_start(FAKE_ANSWER, 200);
    const char *ep = f->endpoint;
    orch_client_t *cl = client_for(&ep, 1, 2000);
    orch_list_filter_t flt = {.state = "dead", .type = "index", .error = "timeout", .limit = 1};
    int64_t seen[4], next = -1;
    int pages = 0;
    do {
        json_t *jobs = NULL;
        assert_int_equal(orch_client_list_page(cl, &flt, &jobs, &next), 0);
        assert_int_equal(json_array_size(jobs), 1);
        seen[pages++] = json_integer_value(json_object_get(json_array_get(jobs, 0), "id"));
        json_decref(jobs);
        flt.before = next;
    } while (next && pages < 4);
    assert_int_equal(pages, 3);
    assert_int_equal(seen[0], 50);
    assert_int_equal(seen[1], 49);
    assert_int_equal(seen[2], 48);
    assert_string_equal(f->raw[0], "{\"state\":\"dead\",\"type\":\"index\",\"error\":\"timeout\","
                                   "\"limit\":1}");
    assert_string_equal(f->raw[1], "{\"state\":\"dead\",\"type\":\"index\",\"error\":\"timeout\","
                                   "\"limit\":1,\"before\":50}");
    json_t *jobs = NULL;
    flt.type = "bad name!";
    assert_int_equal(orch_client_list_page(cl, &flt, &jobs, &next), ORCH_EINVAL);
    assert_null(jobs);
    orch_client_destroy(&cl);
    fake_stop(&f);
}

static void test_status_mapped_to_code(void **state)
{
    (void)state;
    fake_t *f = fake_start(FAKE_ANSWER, 404);
    const char *ep = f->endpoint;
    orch_client_t *cl = client_for(&ep, 1, 2000);
    json_t *reply = NULL;
    assert_int_equal(orch_client_cancel(cl, 7, &reply), ORCH_ENOTFOUND);
    assert_null(reply);
    assert_int_equal(orch_client_status(cl), 404);
    assert_string_equal(orch_client_error(cl), "no such job 7");
    /* the raw request hands out any well-formed reply */
    assert_int_equal(orch_client_request(cl, "CANCEL", "{\"id\":7}", 8, &reply), 0);
    assert_int_equal(json_integer_value(json_object_get(reply, "status")), 404);
    json_decref(reply);
    orch_client_destroy(&cl);
    fake_stop(&f);
}

static void test_timeout_nobody_listening(void **state)
{
    (void)state;
    char ep[128];
    nobody(ep, sizeof ep);
    const char *eps[] = {ep};
    orch_client_t *cl = client_for(eps, 1, 200);
    json_t *stats = NULL;
    int64_t t0 = clock_mono_ms();
    assert_int_equal(orch_client_stats(cl, &stats), ORCH_ETIMEOUT);
    int64_t took = clock_mono_ms() - t0;
    assert_true(took >= 200 && took < 2000);
    assert_string_equal(orch_client_error(cl), "no reply within 200ms");
    assert_int_equal(orch_client_status(cl), 0);
    orch_client_destroy(&cl);
}

static void test_failover_unreachable_first(void **state)
{
    (void)state;
    fake_t *f = fake_start(FAKE_ANSWER, 200);
    char dead[128];
    nobody(dead, sizeof dead);
    const char *eps[] = {dead, f->endpoint};
    orch_client_t *cl = client_for(eps, 2, 300);
    /* CANCEL is not safe to repeat, but it was never sent: it fails over */
    json_t *reply = NULL;
    assert_int_equal(orch_client_cancel(cl, 5, &reply), 0);
    assert_string_equal(json_string_value(json_object_get(reply, "state")), "cancelled");
    assert_null(json_object_get(reply, "status"));
    assert_string_equal(orch_client_endpoint(cl), f->endpoint);
    json_decref(reply);
    orch_client_destroy(&cl);
    fake_stop(&f);
}

static void test_failover_after_silence(void **state)
{
    (void)state;
    fake_t *silent = fake_start(FAKE_SILENT, 200);
    fake_t *good = fake_start(FAKE_ANSWER, 200);
    const char *eps[] = {silent->endpoint, good->endpoint};
    orch_client_t *cl = client_for(eps, 2, 300);
    /* a read is repeated on the next endpoint */
    json_t *job = NULL;
    assert_int_equal(orch_client_get(cl, 9, false, &job, NULL), 0);
    assert_int_equal(json_integer_value(json_object_get(job, "id")), 9);
    json_decref(job);
    assert_int_equal(atomic_load(&silent->nreq), 1);
    assert_int_equal(atomic_load(&good->nreq), 1);
    orch_client_destroy(&cl);

    /* a CANCEL that was sent and not answered is not sent again */
    const char *eps2[] = {silent->endpoint, good->endpoint};
    cl = client_for(eps2, 2, 300);
    assert_int_equal(orch_client_cancel(cl, 9, NULL), ORCH_ETIMEOUT);
    assert_non_null(strstr(orch_client_error(cl), "no reply within 300ms"));
    assert_int_equal(atomic_load(&silent->nreq), 2);
    assert_int_equal(atomic_load(&good->nreq), 1);
    /* ... but the client moved on: the next call goes to the live one */
    assert_string_equal(orch_client_endpoint(cl), good->endpoint);
    orch_client_destroy(&cl);
    fake_stop(&silent);
    fake_stop(&good);
}

static void test_malformed_reply(void **state)
{
    (void)state;
    fake_t *f = fake_start(FAKE_GARBAGE, 200);
    const char *ep = f->endpoint;
    orch_client_t *cl = client_for(&ep, 1, 2000);
    json_t *stats = NULL;
    assert_int_equal(orch_client_stats(cl, &stats), ORCH_EPROTO);
    assert_non_null(strstr(orch_client_error(cl), "malformed reply from coordinator: "));
    orch_client_destroy(&cl);
    fake_stop(&f);
}

static void test_submit_checked_locally(void **state)
{
    (void)state;
    fake_t *f = fake_start(FAKE_ANSWER, 200);
    const char *ep = f->endpoint;
    orch_client_t *cl = client_for(&ep, 1, 2000);
    orch_job_t jobs[2];
    orch_job_init(&jobs[0]);
    orch_job_init(&jobs[1]);
    jobs[0].queue = jobs[1].queue = "q";
    jobs[0].type = jobs[1].type = "noop";
    jobs[1].priority = 12;
    orch_ids_t ids;
    assert_int_equal(orch_client_submit(cl, jobs, 2, &ids), ORCH_EINVAL);
    assert_non_null(strstr(orch_client_error(cl), "jobs[1].priority"));
    jobs[1].priority = 0;
    jobs[1].payload = "[1]";
    assert_int_equal(orch_client_submit(cl, jobs, 2, &ids), ORCH_EINVAL);
    assert_string_equal(orch_client_error(cl), "jobs[1].payload: expected a JSON object");
    assert_int_equal(atomic_load(&f->nreq), 0);

    jobs[1].payload = "{\"a\":1}";
    int64_t dep = -1;
    jobs[1].depends_on = &dep;
    jobs[1].ndepends = 1;
    jobs[1].idempotency_key = "k1";
    assert_int_equal(orch_client_submit(cl, jobs, 2, &ids), 0);
    assert_int_equal(ids.n, 2);
    assert_int_equal(ids.ids[0], 1);
    assert_int_equal(ids.ids[1], 2);
    orch_ids_fini(&ids);
    json_t *sent = json_loads(f->raw[0], 0, NULL);
    json_t *j1 = json_array_get(json_object_get(sent, "jobs"), 1);
    assert_int_equal(json_integer_value(json_object_get(j1, "priority")), 0);
    assert_string_equal(json_string_value(json_object_get(j1, "idempotency_key")), "k1");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(j1, "depends_on"), 0)), -1);
    json_decref(sent);
    orch_client_destroy(&cl);
    fake_stop(&f);
}

/* ---------------------------------------------------------------------- */
/* pipelining                                                              */

typedef struct {
    int calls;
    int64_t first_id[8]; /* per request index: the first id its callback saw */
    int rc[8];
} seen_t;

typedef struct {
    seen_t *seen;
    int index;
} ticket_t;

static void on_done(orch_client_t *cl, const orch_result_t *res, void *userdata)
{
    (void)cl;
    ticket_t *t = userdata;
    t->seen->calls++;
    t->seen->rc[t->index] = res->rc;
    t->seen->first_id[t->index] = res->rc == 0 && res->nids > 0 ? res->ids[0] : -1;
}

static void test_async_replies_matched_by_req(void **state)
{
    (void)state;
    fake_t *f = fake_start(FAKE_REVERSE, 200);
    f->hold = 4;
    const char *ep = f->endpoint;
    orch_client_t *cl = client_for(&ep, 1, 3000);
    seen_t seen = {0};
    ticket_t t[4];
    orch_job_t job;
    orch_job_init(&job);
    job.queue = "q";
    job.type = "noop";
    for (int i = 0; i < 4; i++) {
        t[i] = (ticket_t){&seen, i};
        assert_int_equal(orch_client_submit_async(cl, &job, 1, on_done, &t[i]), 0);
    }
    assert_int_equal(seen.calls, 0); /* never from inside the submit */
    assert_int_equal(orch_client_inflight(cl), 4);
    for (int i = 0; i < 50 && orch_client_inflight(cl) > 0; i++)
        assert_true(orch_client_poll(cl, 100) >= 0);
    assert_int_equal(seen.calls, 4);
    /* the fake answered in reverse order; ids name the req they answer,
     * and each callback got its own request's reply */
    int64_t reqs[4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(seen.rc[i], 0);
        reqs[i] = seen.first_id[i] / 1000;
        assert_true(reqs[i] >= 1);
        if (i > 0)
            assert_int_equal(reqs[i], reqs[i - 1] + 1);
    }
    for (int i = 0; i < 4; i++) {
        json_t *sent = json_loads(f->raw[i], 0, NULL);
        assert_int_equal(json_integer_value(json_object_get(sent, "req")), reqs[i]);
        json_decref(sent);
    }
    orch_client_destroy(&cl);
    fake_stop(&f);
}

/* orch_client_set_tenant: the tenant goes out with every job submitted and
 * as LIST's filter; a bad name changes nothing; NULL clears it. */
static void test_tenant(void **state)
{
    (void)state;
    fake_t *f = fake_start(FAKE_ANSWER, 200);
    const char *ep = f->endpoint;
    orch_client_t *cl = client_for(&ep, 1, 2000);
    assert_int_equal(orch_client_set_tenant(cl, "acme"), 0);
    assert_int_equal(orch_client_set_tenant(cl, "not a name"), ORCH_EINVAL);
    assert_non_null(strstr(orch_client_error(cl), "invalid tenant name 'not a name'"));
    orch_job_t jobs[2];
    orch_job_init(&jobs[0]);
    jobs[0].queue = "default";
    jobs[0].type = "noop";
    jobs[1] = jobs[0];
    orch_ids_t ids;
    assert_int_equal(orch_client_submit(cl, jobs, 2, &ids), 0);
    orch_ids_fini(&ids);
    json_t *doc = json_loads(f->raw[0], 0, NULL);
    json_t *sent = json_object_get(doc, "jobs");
    assert_int_equal(json_array_size(sent), 2);
    for (size_t i = 0; i < 2; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(sent, i), "tenant")),
                            "acme");
    json_decref(doc);
    json_t *list = NULL;
    orch_list_filter_t flt = {.state = "dead"};
    assert_int_equal(orch_client_list(cl, &flt, &list), 0);
    json_decref(list);
    assert_string_equal(f->raw[1], "{\"state\":\"dead\",\"tenant\":\"acme\"}");
    /* a page without a filter, and an asynchronous submission */
    int64_t next = 0;
    assert_int_equal(orch_client_list_page(cl, NULL, &list, &next), 0);
    json_decref(list);
    assert_string_equal(f->raw[2], "{\"tenant\":\"acme\"}");
    seen_t seen = {0};
    ticket_t t = {&seen, 0};
    assert_int_equal(orch_client_submit_async(cl, jobs, 1, on_done, &t), 0);
    for (int i = 0; i < 50 && orch_client_inflight(cl) > 0; i++)
        assert_true(orch_client_poll(cl, 100) >= 0);
    assert_int_equal(seen.calls, 1);
    doc = json_loads(f->raw[3], 0, NULL);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(doc, "jobs"), 0), "tenant")),
                        "acme");
    json_decref(doc);
    assert_int_equal(orch_client_set_tenant(cl, NULL), 0);
    assert_int_equal(orch_client_list(cl, &flt, &list), 0);
    json_decref(list);
    assert_string_equal(f->raw[4], "{\"state\":\"dead\"}");
    orch_client_destroy(&cl);
    fake_stop(&f);
}

static void test_async_timeout(void **state)
{
    (void)state;
    fake_t *f = fake_start(FAKE_SILENT, 200);
    const char *ep = f->endpoint;
    orch_client_t *cl = client_for(&ep, 1, 200);
    seen_t seen = {0};
    ticket_t t = {&seen, 0};
    assert_int_equal(orch_client_request_async(cl, "STATS", NULL, 0, on_done, &t), 0);
    int64_t t0 = clock_mono_ms();
    while (orch_client_inflight(cl) > 0 && clock_mono_ms() - t0 < 3000)
        orch_client_poll(cl, -1);
    assert_int_equal(seen.calls, 1);
    assert_int_equal(seen.rc[0], ORCH_ETIMEOUT);
    assert_true(clock_mono_ms() - t0 >= 200);
    /* a synchronous call afterwards still works on the same client */
    json_t *stats = NULL;
    assert_int_equal(orch_client_stats(cl, &stats), ORCH_ETIMEOUT);
    orch_client_destroy(&cl);
    fake_stop(&f);
}

static void test_bad_endpoint(void **state)
{
    (void)state;
    const char *eps[] = {"ipc:///tmp/x.sock", "nonsense://x"};
    orch_client_opts_t o;
    orch_client_opts_init(&o);
    o.endpoints = eps;
    o.nendpoints = 2;
    orch_client_t *cl = (orch_client_t *)&o; /* must be nulled */
    char err[256];
    assert_int_equal(orch_client_new(&cl, &o, err, sizeof err), ORCH_EINVAL);
    assert_null(cl);
    assert_string_equal(err, "invalid endpoint 'nonsense://x': expected tcp://HOST:PORT or ipc://PATH");
    o.nendpoints = 0;
    assert_int_equal(orch_client_new(&cl, &o, err, sizeof err), ORCH_EINVAL);
}

/* ---------------------------------------------------------------------- */
/* events                                                                  */

static void pub_event(void *pub, const char *topic, const char *body)
{
    zmq_send(pub, topic, strlen(topic), ZMQ_SNDMORE);
    zmq_send(pub, "ORCHE1", 6, ZMQ_SNDMORE);
    zmq_send(pub, body, strlen(body), 0);
}

#define EV(id, q, type, event) \
    "{\"id\":" #id ",\"queue\":\"" q "\",\"type\":\"" type "\",\"event\":\"" event \
    "\",\"state\":\"queued\",\"attempt\":0,\"at_us\":1}"

static void test_watch_filters(void **state)
{
    (void)state;
    char ep[128];
    snprintf(ep, sizeof ep, "ipc:///tmp/liborch-test-%d-events.sock", (int)getpid());
    void *ctx = zmq_ctx_new();
    void *pub = zmq_socket(ctx, ZMQ_XPUB);
    assert_int_equal(zmq_bind(pub, ep), 0);
    const char *queues[] = {"bulk"};
    const char *types[] = {"index"};
    orch_watch_opts_t o;
    orch_watch_opts_init(&o);
    o.endpoint = ep;
    o.queues = queues;
    o.nqueues = 1;
    o.types = types;
    o.ntypes = 1;
    o.job = 7;
    orch_watch_t *w = NULL;
    char err[256];
    assert_int_equal(orch_watch_new(&w, &o, err, sizeof err), 0);
    /* wait for the subscription to reach the publisher */
    zmq_msg_t sub;
    zmq_msg_init(&sub);
    zmq_pollitem_t it = {.socket = pub, .events = ZMQ_POLLIN};
    assert_int_equal(zmq_poll(&it, 1, 2000), 1);
    zmq_msg_recv(&sub, pub, 0);
    zmq_msg_close(&sub);

    pub_event(pub, "bulk2", EV(7, "bulk2", "index", "submitted")); /* prefix match: dropped */
    pub_event(pub, "bulk", EV(7, "bulk", "embed", "submitted"));   /* other type */
    pub_event(pub, "bulk", EV(8, "bulk", "index", "submitted"));   /* other job */
    pub_event(pub, "bulk", "{\"id\":7}");                          /* malformed */
    pub_event(pub, "bulk", EV(7, "bulk", "index", "queued"));
    orch_event_t ev;
    assert_int_equal(orch_watch_next(w, &ev, 2000), ORCH_EPROTO);
    assert_true(strlen(orch_watch_error(w)) > 0);
    assert_int_equal(orch_watch_next(w, &ev, 2000), 0);
    assert_int_equal(ev.id, 7);
    assert_string_equal(ev.queue, "bulk");
    assert_string_equal(ev.event, "queued");
    assert_null(ev.worker);
    assert_true(json_is_object(ev.body));
    assert_int_equal(orch_watch_next(w, &ev, 100), ORCH_ETIMEOUT);
    orch_watch_destroy(&w);
    assert_null(w);
    zmq_close(pub);
    zmq_ctx_term(ctx);
}

static void test_events_endpoint(void **state)
{
    (void)state;
    char out[128];
    assert_int_equal(orch_events_endpoint("tcp://127.0.0.1:5556", out, sizeof out), 0);
    assert_string_equal(out, "tcp://127.0.0.1:5557");
    assert_int_equal(orch_events_endpoint("ipc:///run/orch/clients.sock", out, sizeof out), 0);
    assert_string_equal(out, "ipc:///run/orch/events.sock");
    assert_int_equal(orch_events_endpoint("tcp://h:65535", out, sizeof out), ORCH_EINVAL);
    assert_int_equal(orch_events_endpoint("tcp://h: 5", out, sizeof out), ORCH_EINVAL);
    assert_int_equal(orch_events_endpoint("inproc://x", out, sizeof out), ORCH_EINVAL);
    assert_string_equal(orch_strerror(ORCH_ETIMEOUT), orch_strerror(-8));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_sync_untagged),
        cmocka_unit_test(test_list_pages),
        cmocka_unit_test(test_tenant),
        cmocka_unit_test(test_status_mapped_to_code),
        cmocka_unit_test(test_timeout_nobody_listening),
        cmocka_unit_test(test_failover_unreachable_first),
        cmocka_unit_test(test_failover_after_silence),
        cmocka_unit_test(test_malformed_reply),
        cmocka_unit_test(test_submit_checked_locally),
        cmocka_unit_test(test_async_replies_matched_by_req),
        cmocka_unit_test(test_async_timeout),
        cmocka_unit_test(test_bad_endpoint),
        cmocka_unit_test(test_watch_filters),
        cmocka_unit_test(test_events_endpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
