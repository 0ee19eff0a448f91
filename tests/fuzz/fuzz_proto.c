/* libFuzzer driver for the wire protocol decoder and every typed parser.
 *
 * Input layout: byte 0 picks the protocol and limits ('W'/'C': worker or
 * client with default limits, 'w'/'c': the same with tiny limits so that
 * the size checks are reachable; any other value picks by its low bits).
 * The rest is split at NUL bytes into frames, which go to proto_decode;
 * a decoded body then goes through every typed parser whatever its
 * command, and each result is checked against the invariants the callers
 * rely on. A violated invariant aborts, which the fuzzer reports. */
#include "orch_error.h"
#include "proto.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FRAMES 16
#define ERRLEN 512

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_proto: invariant failed at line %d: %s\n", __LINE__, #cond);    \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Error text ends up in JSON replies and log lines: it must be non-empty,
 * printable ASCII. */
static void s_check_err(int rc, const char *err)
{
    CHECK(rc < 0);
    CHECK(err[0] != '\0');
    for (const char *p = err; *p; p++)
        CHECK(*p >= 0x20 && *p < 0x7f);
}

static bool s_utf8_ok(const char *s)
{
    json_t *v = json_string(s); /* jansson validates UTF-8 */
    bool ok = v != NULL;
    json_decref(v);
    return ok;
}

static void s_check_json_text(const char *text, size_t len, bool object)
{
    json_error_t e;
    json_t *v = json_loadb(text, len, object ? 0 : JSON_DECODE_ANY, &e);
    if (!v)
        fprintf(stderr, "fuzz_proto: cannot parse back %.200s: %s\n", text, e.text);
    CHECK(v != NULL);
    CHECK(!object || json_is_object(v));
    json_decref(v);
}

static void s_hello(const json_t *body)
{
    char err[ERRLEN] = "";
    proto_hello_t h;
    int rc = proto_hello_parse(body, &h, err, sizeof err);
    if (rc != 0) {
        s_check_err(rc, err);
        CHECK(h.name == NULL && h.queues == NULL && h.types == NULL && h.running == NULL);
        return;
    }
    CHECK(proto_name_valid(h.name));
    CHECK(h.nqueues >= 1 && h.nqueues <= 256 && h.ntypes >= 1 && h.ntypes <= 256);
    for (size_t i = 0; i < h.nqueues; i++)
        CHECK(proto_name_valid(h.queues[i]));
    for (size_t i = 0; i < h.ntypes; i++)
        CHECK(proto_name_valid(h.types[i]));
    CHECK(h.slots >= 1 && h.slots <= 1024);
    CHECK(!h.version || (strlen(h.version) <= 64 && s_utf8_ok(h.version)));
    for (size_t i = 0; i < h.nrunning; i++)
        CHECK(h.running[i].id >= 1 && h.running[i].attempt >= 1);
    proto_hello_fini(&h);
}

/* Reference check, quadratic and obviously right: repeatedly release jobs
 * whose in-batch dependencies are all released. */
static bool s_acyclic(const proto_jobspec_t *s, size_t n)
{
    bool *done = calloc(n, sizeof *done);
    size_t left = n;
    for (bool progress = true; progress && left > 0;) {
        progress = false;
        for (size_t i = 0; i < n; i++) {
            bool ready = !done[i];
            for (size_t j = 0; ready && j < s[i].ndepends; j++)
                if (s[i].depends_on[j] < 0 && !done[(size_t)-s[i].depends_on[j] - 1])
                    ready = false;
            if (ready) {
                done[i] = true;
                left--;
                progress = true;
            }
        }
    }
    free(done);
    return left == 0;
}

/* A batch refused for a cycle must have one: parse the jobs one by one
 * (which skips the batch checks) and run the reference check. */
static void s_check_cycle(const json_t *body, const proto_limits_t *lim)
{
    const json_t *arr = json_object_get(body, "jobs");
    size_t n = json_array_size(arr);
    proto_jobspec_t *s = calloc(n, sizeof *s);
    for (size_t i = 0; i < n; i++)
        CHECK(proto_jobspec_parse(json_array_get(arr, i), lim, &s[i], NULL, 0) == 0);
    CHECK(!s_acyclic(s, n));
    proto_jobspecs_free(s, n);
}

static void s_submit(const json_t *body, const proto_limits_t *lim)
{
    char err[ERRLEN] = "";
    proto_jobspec_t *s = NULL;
    size_t n = 0;
    int rc = proto_submit_parse(body, lim, &s, &n, err, sizeof err);
    if (rc != 0) {
        s_check_err(rc, err);
        CHECK(s == NULL && n == 0);
        static const char cyc[] = ".depends_on: dependency cycle within the batch";
        size_t len = strlen(err);
        if (len >= sizeof cyc - 1 && strcmp(err + len - (sizeof cyc - 1), cyc) == 0)
            s_check_cycle(body, lim);
        return;
    }
    CHECK(n >= 1 && n <= lim->max_batch_jobs);
    for (size_t i = 0; i < n; i++) {
        CHECK(proto_name_valid(s[i].queue) && proto_name_valid(s[i].type));
        CHECK(s[i].priority >= -1 && s[i].priority <= PROTO_MAX_PRIORITY);
        CHECK(s[i].max_attempts >= 0 && s[i].max_attempts <= 1000);
        CHECK(s[i].timeout_ms >= 0 && s[i].timeout_ms <= INT32_MAX);
        CHECK(s[i].run_at_us >= 0);
        CHECK(s[i].payload && strlen(s[i].payload) == s[i].payload_len);
        CHECK(s[i].payload_len <= lim->max_payload_bytes);
        s_check_json_text(s[i].payload, s[i].payload_len, true);
        CHECK(!s[i].idempotency_key ||
              (strlen(s[i].idempotency_key) >= 1 && strlen(s[i].idempotency_key) <= 255));
        CHECK(s[i].ndepends <= 1000 && (s[i].ndepends == 0) == (s[i].depends_on == NULL));
        for (size_t j = 0; j < s[i].ndepends; j++) {
            int64_t d = s[i].depends_on[j];
            CHECK(d != 0);
            CHECK(d > 0 || ((uint64_t)-d <= n && (size_t)-d != i + 1));
        }
    }
    CHECK(s_acyclic(s, n));
    /* proto_jobspec_parse on the same job objects must agree */
    const json_t *arr = json_object_get(body, "jobs");
    proto_jobspec_t one;
    CHECK(proto_jobspec_parse(json_array_get(arr, 0), lim, &one, err, sizeof err) == 0);
    CHECK(strcmp(one.queue, s[0].queue) == 0 && strcmp(one.payload, s[0].payload) == 0);
    proto_jobspec_fini(&one);
    proto_jobspecs_free(s, n);
}

static void s_results(int cmd, const json_t *body, const proto_limits_t *lim)
{
    char err[ERRLEN] = "";
    proto_result_t *r = NULL;
    size_t n = 0;
    int rc = proto_results_parse(cmd, body, lim, &r, &n, err, sizeof err);
    if (rc != 0) {
        s_check_err(rc, err);
        CHECK(r == NULL && n == 0);
        return;
    }
    CHECK(n >= 1 && n <= lim->max_batch_jobs);
    for (size_t i = 0; i < n; i++) {
        CHECK(r[i].id >= 1 && r[i].attempt >= 1);
        if (cmd == PROTO_W_DONE) {
            CHECK(r[i].error == NULL && !r[i].permanent && !r[i].cancelled);
            if (r[i].result)
                s_check_json_text(r[i].result, strlen(r[i].result), false);
        } else {
            CHECK(r[i].result == NULL && r[i].error != NULL);
            CHECK(strlen(r[i].error) <= PROTO_ERROR_MAX && s_utf8_ok(r[i].error));
        }
    }
    proto_results_free(r, n);
}

static void s_jobs(const json_t *body, const proto_limits_t *lim)
{
    char err[ERRLEN] = "";
    proto_job_t *j = NULL;
    size_t n = 0;
    int rc = proto_jobs_parse(body, lim, &j, &n, err, sizeof err);
    if (rc != 0) {
        s_check_err(rc, err);
        CHECK(j == NULL && n == 0);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        CHECK(j[i].id >= 1 && j[i].attempt >= 1);
        CHECK(proto_name_valid(j[i].queue) && proto_name_valid(j[i].type));
        CHECK(json_is_object(j[i].payload));
        CHECK(j[i].timeout_ms >= 1 && j[i].timeout_ms <= INT32_MAX);
    }
    proto_jobs_free(j, n);
}

static void s_progress(const json_t *body)
{
    char err[ERRLEN] = "";
    proto_progress_t p;
    int rc = proto_progress_parse(body, &p, err, sizeof err);
    if (rc != 0) {
        s_check_err(rc, err);
        CHECK(p.message == NULL);
        return;
    }
    CHECK(p.id >= 1 && p.attempt >= 1 && p.percent >= 0 && p.percent <= 100);
    CHECK(!p.message || (strlen(p.message) <= 256 && s_utf8_ok(p.message)));
    proto_progress_fini(&p);
}

/* The compact re-serialisation of an accepted body is accepted too. */
static void s_roundtrip(const proto_limits_t *lim, proto_kind_t kind, const proto_frame_t *f,
                        const json_t *body, int cmd)
{
    char *text = json_dumps(body, JSON_COMPACT);
    CHECK(text != NULL);
    size_t len = strlen(text);
    if (len <= lim->max_body_bytes) {
        proto_frame_t g[3] = {f[0], f[1], {text, len}};
        json_t *again = NULL;
        int c2 = 0;
        char err[ERRLEN] = "";
        CHECK(proto_decode(lim, kind, g, 3, &c2, &again, err, sizeof err) == 0);
        CHECK(c2 == cmd && json_equal(body, again));
        json_decref(again);
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    proto_kind_t kind = (sel == 'W' || sel == 'w')   ? PROTO_KIND_WORKER
                        : (sel == 'C' || sel == 'c') ? PROTO_KIND_CLIENT
                        : (sel & 1)                  ? PROTO_KIND_WORKER
                                                     : PROTO_KIND_CLIENT;
    bool small = sel == 'w' || sel == 'c' || (sel != 'W' && sel != 'C' && (sel & 2));
    proto_limits_t lim;
    proto_limits_default(&lim);
    if (small) {
        lim.max_body_bytes = 4096;
        lim.max_payload_bytes = 64;
        lim.max_batch_jobs = 4;
    }

    proto_frame_t f[MAX_FRAMES];
    size_t nf = 0;
    const uint8_t *p = data + 1, *end = data + size;
    while (nf < MAX_FRAMES) {
        const uint8_t *z = memchr(p, 0, (size_t)(end - p));
        const uint8_t *stop = z ? z : end;
        f[nf].data = p;
        f[nf].size = (size_t)(stop - p);
        nf++;
        if (!z)
            break;
        p = z + 1;
    }

    int cmd = 0;
    json_t *body = NULL;
    char err[ERRLEN] = "";
    int rc = proto_decode(&lim, kind, f, nf, &cmd, &body, err, sizeof err);
    if (rc != 0) {
        s_check_err(rc, err);
        CHECK(rc == ORCH_EPROTO || rc == ORCH_ETOOBIG);
        CHECK(body == NULL);
        return 0;
    }
    CHECK(nf == 3 && json_is_object(body));
    CHECK(kind == PROTO_KIND_WORKER ? proto_wcmd_name(cmd) != NULL : proto_ccmd_name(cmd) != NULL);
    s_hello(body);
    s_submit(body, &lim);
    s_results(PROTO_W_DONE, body, &lim);
    s_results(PROTO_W_FAIL, body, &lim);
    s_jobs(body, &lim);
    s_progress(body);
    s_roundtrip(&lim, kind, f, body, cmd);
    json_decref(body);
    return 0;
}
