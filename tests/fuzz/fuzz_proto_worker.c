/* fuzz_proto, worker protocol: every decoder of an ORCHW1 body, the
 * invariants its callers rely on, and the round trip through its encoder
 * (decode, encode, decode again: the same value). */
#include "fuzz_check.h"

static void s_hello(const json_t *body)
{
    char err[FUZZ_ERRLEN] = "";
    proto_hello_t h;
    int rc = proto_hello_parse(body, &h, err, sizeof err);
    if (rc != 0) {
        fuzz_check_err(rc, err);
        CHECK(h.name == NULL && h.queues == NULL && h.types == NULL && h.running == NULL);
        return;
    }
    CHECK(proto_name_valid(h.name));
    CHECK(h.nqueues >= 1 && h.nqueues <= 256 && h.ntypes >= 1 && h.ntypes <= 256);
    for (size_t i = 0; i < h.nqueues; i++)
        CHECK(proto_name_valid(h.queues[i]));
    for (size_t i = 0; i < h.ntypes; i++)
        CHECK(proto_name_valid(h.types[i]));
    CHECK(h.slots >= 1 && h.slots <= PROTO_MAX_SLOTS);
    CHECK(!h.version || (strlen(h.version) <= PROTO_VERSION_MAX && fuzz_utf8_ok(h.version)));
    for (size_t i = 0; i < h.nrunning; i++)
        CHECK(h.running[i].id >= 1 && h.running[i].attempt >= 1);

    strbuf_t sb;
    strbuf_init(&sb);
    proto_hello_encode(&sb, &h);
    json_t *again = fuzz_load(&sb, true);
    proto_hello_t g;
    CHECK(proto_hello_parse(again, &g, err, sizeof err) == 0);
    CHECK(strcmp(g.name, h.name) == 0 && fuzz_streq(g.version, h.version));
    CHECK(g.nqueues == h.nqueues && g.ntypes == h.ntypes && g.slots == h.slots);
    for (size_t i = 0; i < h.nqueues; i++)
        CHECK(strcmp(g.queues[i], h.queues[i]) == 0);
    for (size_t i = 0; i < h.ntypes; i++)
        CHECK(strcmp(g.types[i], h.types[i]) == 0);
    CHECK(g.nrunning == h.nrunning);
    for (size_t i = 0; i < h.nrunning; i++)
        CHECK(g.running[i].id == h.running[i].id && g.running[i].attempt == h.running[i].attempt);
    proto_hello_fini(&g);
    json_decref(again);
    strbuf_fini(&sb);
    proto_hello_fini(&h);
}

static void s_results_again(int cmd, const proto_result_t *r, size_t n, const proto_limits_t *lim)
{
    strbuf_t sb;
    strbuf_init(&sb);
    proto_jobs_open(&sb);
    for (size_t i = 0; i < n; i++) {
        if (cmd == PROTO_W_DONE)
            proto_done_add_call(&sb, r[i].id, r[i].attempt, r[i].result,
                                r[i].result ? strlen(r[i].result) : 0, &r[i].call);
        else
            proto_fail_add_call(&sb, r[i].id, r[i].attempt, r[i].error, r[i].permanent,
                                r[i].cancelled, &r[i].call);
    }
    proto_jobs_close(&sb);
    json_t *again = fuzz_load(&sb, true);
    proto_result_t *g = NULL;
    size_t m = 0;
    char err[FUZZ_ERRLEN] = "";
    /* a result's compact text can be longer than its source: no size limit here */
    proto_limits_t big = *lim;
    big.max_body_bytes = SIZE_MAX / 2;
    CHECK(proto_results_parse(cmd, again, &big, &g, &m, err, sizeof err) == 0);
    CHECK(m == n);
    for (size_t i = 0; i < n; i++) {
        CHECK(g[i].id == r[i].id && g[i].attempt == r[i].attempt);
        CHECK(fuzz_streq(g[i].result, r[i].result) && fuzz_streq(g[i].error, r[i].error));
        CHECK(g[i].permanent == r[i].permanent && g[i].cancelled == r[i].cancelled);
        CHECK(g[i].call.outcome == r[i].call.outcome && g[i].call.ms == r[i].call.ms &&
              g[i].call.retry_after_ms == r[i].call.retry_after_ms &&
              strcmp(g[i].call.downstream, r[i].call.downstream) == 0);
    }
    proto_results_free(g, m);
    json_decref(again);
    strbuf_fini(&sb);
}

static void s_results(int cmd, const json_t *body, const proto_limits_t *lim)
{
    char err[FUZZ_ERRLEN] = "";
    proto_result_t *r = NULL;
    size_t n = 0;
    int rc = proto_results_parse(cmd, body, lim, &r, &n, err, sizeof err);
    if (rc != 0) {
        fuzz_check_err(rc, err);
        CHECK(r == NULL && n == 0);
        return;
    }
    CHECK(n >= 1 && n <= lim->max_batch_jobs);
    for (size_t i = 0; i < n; i++) {
        CHECK(r[i].id >= 1 && r[i].attempt >= 1);
        if (cmd == PROTO_W_DONE) {
            CHECK(r[i].error == NULL && !r[i].permanent && !r[i].cancelled);
        } else {
            CHECK(r[i].result == NULL && r[i].error != NULL);
            CHECK(strlen(r[i].error) <= PROTO_ERROR_MAX && fuzz_utf8_ok(r[i].error));
        }
    }
    s_results_again(cmd, r, n, lim);
    proto_results_free(r, n);
}

/* Runnable entries go out again through proto_job_add; the others must
 * keep their verdict. */
static void s_jobs_again(const proto_job_t *j, size_t n, const proto_limits_t *lim)
{
    strbuf_t sb;
    strbuf_init(&sb);
    proto_jobs_open(&sb);
    size_t runnable = 0;
    for (size_t i = 0; i < n; i++) {
        if (j[i].error)
            continue;
        char *payload = json_dumps(j[i].payload, JSON_COMPACT);
        CHECK(payload != NULL);
        proto_job_add(&sb, j[i].id, j[i].attempt, j[i].queue, j[i].type, payload,
                      j[i].timeout_ms);
        free(payload);
        runnable++;
    }
    proto_jobs_close(&sb);
    if (runnable == 0) {
        strbuf_fini(&sb);
        return;
    }
    json_t *again = fuzz_load(&sb, true);
    proto_job_t *g = NULL;
    size_t m = 0;
    char err[FUZZ_ERRLEN] = "";
    CHECK(proto_jobs_parse(again, lim, &g, &m, err, sizeof err) == 0 && m == runnable);
    for (size_t i = 0, k = 0; i < n; i++) {
        if (j[i].error)
            continue;
        CHECK(g[k].error == NULL && g[k].id == j[i].id && g[k].attempt == j[i].attempt);
        CHECK(fuzz_streq(g[k].queue, j[i].queue) && strcmp(g[k].type, j[i].type) == 0);
        CHECK(g[k].timeout_ms == j[i].timeout_ms && json_equal(g[k].payload, j[i].payload));
        k++;
    }
    proto_jobs_free(g, m);
    json_decref(again);
    strbuf_fini(&sb);
}

static void s_jobs(const json_t *body, const proto_limits_t *lim)
{
    char err[FUZZ_ERRLEN] = "";
    proto_job_t *j = NULL;
    size_t n = 0;
    int rc = proto_jobs_parse(body, lim, &j, &n, err, sizeof err);
    if (rc != 0) {
        fuzz_check_err(rc, err);
        CHECK(j == NULL && n == 0);
        return;
    }
    CHECK(n >= 1 && n <= lim->max_batch_jobs);
    for (size_t i = 0; i < n; i++) {
        if (j[i].id == 0) {
            CHECK(j[i].error != NULL && j[i].payload == NULL);
            continue;
        }
        CHECK(j[i].id >= 1 && j[i].attempt >= 1);
        if (j[i].error) {
            CHECK(j[i].payload == NULL && j[i].error[0] != '\0' && fuzz_utf8_ok(j[i].error));
            continue;
        }
        CHECK(proto_name_valid(j[i].type) && (!j[i].queue || proto_name_valid(j[i].queue)));
        CHECK(json_is_object(j[i].payload));
        CHECK(j[i].timeout_ms >= 0 && j[i].timeout_ms <= INT32_MAX);
    }
    s_jobs_again(j, n, lim);
    proto_jobs_free(j, n);
}

static void s_progress(const json_t *body)
{
    char err[FUZZ_ERRLEN] = "";
    proto_progress_t p;
    int rc = proto_progress_parse(body, &p, err, sizeof err);
    if (rc != 0) {
        fuzz_check_err(rc, err);
        CHECK(p.message == NULL);
        return;
    }
    CHECK(p.id >= 1 && p.attempt >= 1 && p.percent >= 0 && p.percent <= 100);
    CHECK(!p.message || (strlen(p.message) <= PROTO_MESSAGE_MAX && fuzz_utf8_ok(p.message)));
    strbuf_t sb;
    strbuf_init(&sb);
    proto_progress_encode(&sb, &p);
    json_t *again = fuzz_load(&sb, true);
    proto_progress_t g;
    CHECK(proto_progress_parse(again, &g, err, sizeof err) == 0);
    CHECK(g.id == p.id && g.attempt == p.attempt && g.percent == p.percent);
    /* an empty message is left out */
    CHECK(fuzz_streq(g.message, p.message && p.message[0] ? p.message : NULL));
    proto_progress_fini(&g);
    json_decref(again);
    strbuf_fini(&sb);
    proto_progress_fini(&p);
}

static void s_welcome(const json_t *body)
{
    char err[FUZZ_ERRLEN] = "";
    proto_welcome_t w;
    int rc = proto_welcome_parse(body, &w, err, sizeof err);
    if (rc != 0) {
        fuzz_check_err(rc, err);
        return;
    }
    CHECK(w.heartbeat_ms == 0 ||
          (w.heartbeat_ms >= PROTO_HEARTBEAT_MIN_MS && w.heartbeat_ms <= PROTO_HEARTBEAT_MAX_MS));
    CHECK(w.liveness >= 0 && w.liveness <= PROTO_LIVENESS_MAX);
    CHECK(w.max_message_bytes == 0 || (w.max_message_bytes >= PROTO_MESSAGE_BYTES_MIN &&
                                       w.max_message_bytes <= PROTO_MESSAGE_BYTES_MAX));
    strbuf_t sb;
    strbuf_init(&sb);
    proto_welcome_encode(&sb, &w);
    json_t *again = fuzz_load(&sb, true);
    proto_welcome_t g;
    CHECK(proto_welcome_parse(again, &g, err, sizeof err) == 0);
    CHECK(g.heartbeat_ms == w.heartbeat_ms && g.liveness == w.liveness &&
          g.max_message_bytes == w.max_message_bytes && g.acks == w.acks);
    json_decref(again);
    strbuf_fini(&sb);
}

static void s_ack(const json_t *body, const proto_limits_t *lim)
{
    char err[FUZZ_ERRLEN] = "";
    proto_jobref_t *r = NULL;
    size_t n = 0;
    int rc = proto_ack_parse(body, lim, &r, &n, err, sizeof err);
    if (rc != 0) {
        fuzz_check_err(rc, err);
        CHECK(r == NULL && n == 0);
        return;
    }
    CHECK(r != NULL && n >= 1 && n <= lim->max_batch_jobs);
    strbuf_t sb;
    strbuf_init(&sb);
    proto_jobs_open(&sb);
    for (size_t i = 0; i < n; i++) {
        CHECK(r[i].id >= 1 && r[i].attempt >= 1);
        proto_ack_add(&sb, r[i].id, r[i].attempt);
    }
    proto_jobs_close(&sb);
    json_t *again = fuzz_load(&sb, true);
    proto_jobref_t *g = NULL;
    size_t m = 0;
    CHECK(proto_ack_parse(again, lim, &g, &m, err, sizeof err) == 0 && m == n);
    for (size_t i = 0; i < n; i++)
        CHECK(g[i].id == r[i].id && g[i].attempt == r[i].attempt);
    free(g);
    json_decref(again);
    strbuf_fini(&sb);
    free(r);
}

/* What proto_put_message keeps of a text that is already one clean line. */
static bool s_one_line(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return n == 0 || (unsigned char)s[n - 1] > 0x20;
}

static void s_cancel(const json_t *body)
{
    char err[FUZZ_ERRLEN] = "";
    proto_cancel_t c;
    int rc = proto_cancel_parse(body, &c, err, sizeof err);
    if (rc != 0) {
        fuzz_check_err(rc, err);
        CHECK(c.reason == NULL);
        return;
    }
    CHECK(c.id >= 1 && c.attempt >= 1);
    CHECK(!c.reason || (strlen(c.reason) <= PROTO_MESSAGE_MAX && fuzz_utf8_ok(c.reason)));
    strbuf_t sb;
    strbuf_init(&sb);
    proto_cancel_encode(&sb, c.id, c.attempt, c.reason);
    json_t *again = fuzz_load(&sb, true);
    proto_cancel_t g;
    CHECK(proto_cancel_parse(again, &g, err, sizeof err) == 0);
    CHECK(g.id == c.id && g.attempt == c.attempt && (c.reason != NULL) == (g.reason != NULL));
    CHECK(!c.reason || !s_one_line(c.reason) || strcmp(g.reason, c.reason) == 0);
    proto_cancel_fini(&g);
    json_decref(again);
    strbuf_fini(&sb);
    proto_cancel_fini(&c);
}

static void s_error(const json_t *body)
{
    char err[FUZZ_ERRLEN] = "";
    proto_error_t e;
    int rc = proto_error_parse(body, &e, err, sizeof err);
    if (rc != 0) {
        fuzz_check_err(rc, err);
        CHECK(e.code == NULL && e.message == NULL);
        return;
    }
    CHECK(strlen(e.code) >= 1 && strlen(e.code) <= PROTO_CODE_MAX);
    CHECK(!e.message || (strlen(e.message) <= PROTO_ERROR_MAX && fuzz_utf8_ok(e.message)));
    strbuf_t sb;
    strbuf_init(&sb);
    proto_error_encode(&sb, e.code, e.message);
    json_t *again = fuzz_load(&sb, true);
    proto_error_t g;
    CHECK(proto_error_parse(again, &g, err, sizeof err) == 0);
    CHECK(strcmp(g.code, e.code) == 0 && (e.message != NULL) == (g.message != NULL));
    CHECK(!e.message || !s_one_line(e.message) || strcmp(g.message, e.message) == 0);
    proto_error_fini(&g);
    json_decref(again);
    strbuf_fini(&sb);
    proto_error_fini(&e);
}

static void s_bye_empty(const json_t *body)
{
    char err[FUZZ_ERRLEN] = "";
    bool drain = false;
    strbuf_t sb;
    strbuf_init(&sb);
    int rc = proto_bye_parse(body, &drain, err, sizeof err);
    if (rc != 0) {
        fuzz_check_err(rc, err);
    } else {
        proto_bye_encode(&sb, drain);
        json_t *again = fuzz_load(&sb, true);
        bool d2 = !drain;
        CHECK(proto_bye_parse(again, &d2, err, sizeof err) == 0 && d2 == drain);
        json_decref(again);
    }
    err[0] = '\0';
    rc = proto_empty_parse(body, err, sizeof err);
    if (rc != 0)
        fuzz_check_err(rc, err);
    else
        CHECK(json_object_size(body) == (json_object_get(body, "req") ? 1u : 0u));
    strbuf_fini(&sb);
}

/* DONE's tree-free path takes only bodies the jansson path accepts, and
 * reads them as it does (body: that path's tree, NULL when it refused). */
void fuzz_done_scan(const proto_frame_t *f, const json_t *body, const proto_limits_t *lim)
{
    proto_result_t *s = NULL, *r = NULL;
    size_t n = 0, m = 0;
    if (!proto_done_scan(f->data, f->size, lim, &s, &n)) {
        CHECK(s == NULL && n == 0);
        return;
    }
    char err[FUZZ_ERRLEN] = "";
    CHECK(body != NULL);
    CHECK(proto_results_parse(PROTO_W_DONE, body, lim, &r, &m, err, sizeof err) == 0 && m == n);
    for (size_t i = 0; i < n; i++) {
        CHECK(s[i].id == r[i].id && s[i].attempt == r[i].attempt);
        CHECK(fuzz_streq(s[i].result, r[i].result));
        CHECK(!s[i].error && !r[i].error && r[i].call.outcome == PROTO_CALL_NONE);
    }
    proto_results_free(s, n);
    proto_results_free(r, m);
}

/* JOB's scan takes only bodies whose every entry the jansson path reads
 * as runnable, and reads them as it does. */
void fuzz_jobs_scan(const proto_frame_t *f, const json_t *body, const proto_limits_t *lim)
{
    proto_job_t *s = NULL, *r = NULL;
    size_t n = 0, m = 0;
    if (!proto_jobs_scan(f->data, f->size, lim, &s, &n)) {
        CHECK(s == NULL && n == 0);
        return;
    }
    char err[FUZZ_ERRLEN] = "";
    CHECK(body != NULL);
    CHECK(proto_jobs_parse(body, lim, &r, &m, err, sizeof err) == 0 && m == n);
    for (size_t i = 0; i < n; i++) {
        CHECK(r[i].error == NULL && s[i].id == r[i].id && s[i].attempt == r[i].attempt);
        CHECK(s[i].timeout_ms == r[i].timeout_ms && fuzz_streq(s[i].queue, r[i].queue));
        CHECK(fuzz_streq(s[i].type, r[i].type) && json_equal(s[i].payload, r[i].payload));
    }
    proto_jobs_free(s, n);
    proto_jobs_free(r, m);
}

void fuzz_worker_bodies(const json_t *body, const proto_limits_t *lim)
{
    s_hello(body);
    s_results(PROTO_W_DONE, body, lim);
    s_results(PROTO_W_FAIL, body, lim);
    s_jobs(body, lim);
    s_progress(body);
    s_welcome(body);
    s_cancel(body);
    s_error(body);
    s_ack(body, lim);
    s_bye_empty(body);
}
