/* Unit tests of the codec's encoders: every message encoded and decoded
 * again gives what was put in (both protocols and the event stream), the
 * exact text where peers depend on it, and hostile input to both sides:
 * text that is not UTF-8, control characters, libpq messages, bodies that
 * break the rules of PROTOCOL.md. test_proto.c covers the decoders alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "orch_error.h"
#include "proto.h"
#include "proto_io.h"
#include "strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERRLEN 512

/* ---- helpers ---- */

typedef struct {
    strbuf_t sb;
    char err[ERRLEN];
} fx_t;

static int s_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    strbuf_init(&fx->sb);
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    fx_t *fx = *state;
    strbuf_fini(&fx->sb);
    free(fx);
    return 0;
}

/* What the encoder wrote, parsed as the peer's proto_decode would. */
static json_t *s_load(const strbuf_t *sb)
{
    json_error_t e;
    json_t *v = json_loadb(sb->data, sb->len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
    if (!v) {
        print_error("encoder wrote invalid json: %s (%s)\n", sb->data, e.text);
        fail();
    }
    return v;
}

static json_t *s_json(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &e);
    if (!v) {
        print_error("bad test json %s: %s\n", text, e.text);
        fail();
    }
    return v;
}

/* The JSON string the encoder wrote for s, decoded. */
static char *s_string_back(strbuf_t *sb)
{
    json_t *v = s_load(sb);
    assert_true(json_is_string(v));
    char *out = strdup(json_string_value(v));
    json_decref(v);
    return out;
}

static void s_expect(int rc, int want, const char *err, const char *sub, int line)
{
    if (rc != want || !strstr(err, sub)) {
        print_error("line %d: rc=%d (want %d) err=\"%s\" (want \"%s\")\n", line, rc, want, err,
                    sub);
        fail();
    }
}
#define expect_err(rc, want, err, sub) s_expect((rc), (want), (err), (sub), __LINE__)

/* ---- strings ---- */

static void test_string_escapes(void **state)
{
    fx_t *fx = *state;
    static const struct {
        const char *in;
        size_t len;
        const char *json; /* exact text */
    } cases[] = {
        {"plain name-1", 12, "\"plain name-1\""},
        {"q\"b\\s", 5, "\"q\\\"b\\\\s\""},
        {"\n\r\t\x01\x1f\x7f", 6, "\"\\n\\r\\t\\u0001\\u001f\x7f\""},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""},
        {"a\0b", 3, "\"a\\ufffdb\""},                      /* NUL: parsers refuse \u0000 */
        {"\xc3", 1, "\"\\ufffd\""},                         /* cut sequence */
        {"\xc0\xaf", 2, "\"\\ufffd\\ufffd\""},             /* overlong '/' */
        {"\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\""}, /* surrogate */
        {"\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\""}, /* past U+10FFFF */
        {"\xff\xfe", 2, "\"\\ufffd\\ufffd\""},
        {"", 0, "\"\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        strbuf_reset(&fx->sb);
        proto_put_string(&fx->sb, cases[i].in, cases[i].len);
        if (strcmp(fx->sb.data, cases[i].json) != 0) {
            print_error("case %zu: %s\n", i, fx->sb.data);
            fail();
        }
        json_decref(s_load(&fx->sb));
    }
    strbuf_reset(&fx->sb);
    proto_put_string(&fx->sb, NULL, 5);
    assert_string_equal(fx->sb.data, "\"\"");
}

/* Texts for people: one line, no trailing white space, cut at a character
 * boundary, whatever libpq or a handler wrote. */
static void test_message_flattened(void **state)
{
    fx_t *fx = *state;
    proto_put_message(&fx->sb, "could not commit: ERROR:  duplicate key\nDETAIL:  Key (id)=(1)\n\n",
                      PROTO_ERROR_MAX);
    char *m = s_string_back(&fx->sb);
    assert_string_equal(m, "could not commit: ERROR:  duplicate key DETAIL:  Key (id)=(1)");
    free(m);

    strbuf_reset(&fx->sb);
    proto_put_message(&fx->sb, "x\xe2\x82\xac\xe2\x82\xac", 5); /* 5 bytes would split a euro */
    m = s_string_back(&fx->sb);
    assert_string_equal(m, "x\xe2\x82\xac");
    free(m);

    strbuf_reset(&fx->sb);
    proto_put_message(&fx->sb, "bad \xff byte \"quoted\"\t", 100);
    m = s_string_back(&fx->sb);
    assert_string_equal(m, "bad \xef\xbf\xbd byte \"quoted\"");
    free(m);

    strbuf_reset(&fx->sb);
    proto_put_message(&fx->sb, NULL, 10);
    assert_string_equal(fx->sb.data, "\"\"");
}

/* ---- req ---- */

static void test_req_echo(void **state)
{
    fx_t *fx = *state;
    static const char *const bodies[] = {
        "{\"id\":1,\"req\":{\"n\":[1,\"x\"]}}", "{\"req\":\"caf\\u00e9\"}", "{\"req\":7}",
        "{\"req\":null}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        json_t *b = s_json(bodies[i]);
        char *req = proto_req_dump(b);
        assert_non_null(req);
        proto_reply_error(&fx->sb, 400, "id: must be an integer >= 1", req);
        json_t *r = s_load(&fx->sb);
        assert_true(json_equal(json_object_get(r, "req"), json_object_get(b, "req")));
        proto_reply_ok(&fx->sb, req);
        json_decref(r);
        r = s_load(&fx->sb);
        assert_true(json_equal(json_object_get(r, "req"), json_object_get(b, "req")));
        json_decref(r);
        free(req);
        json_decref(b);
    }
    json_t *b = s_json("{\"id\":1}");
    assert_null(proto_req_dump(b));
    assert_null(proto_req_dump(NULL));
    json_decref(b);

    /* a request tagged by a pipelining client */
    strbuf_reset(&fx->sb);
    proto_empty_encode(&fx->sb);
    proto_put_req(&fx->sb, "\"r1\"");
    assert_string_equal(fx->sb.data, "{\"req\":\"r1\"}");
    strbuf_reset(&fx->sb);
    proto_jobid_encode(&fx->sb, 5);
    proto_put_req(&fx->sb, "[1]");
    proto_put_req(&fx->sb, NULL);
    assert_string_equal(fx->sb.data, "{\"id\":5,\"req\":[1]}");
    int64_t id = 0;
    json_t *v = s_load(&fx->sb);
    assert_int_equal(proto_jobid_parse(v, &id, fx->err, ERRLEN), 0);
    assert_int_equal(id, 5);
    json_decref(v);
}

/* ---- worker protocol ---- */

static void test_hello_roundtrip(void **state)
{
    fx_t *fx = *state;
    char *queues[] = {"default", "bulk"};
    char *types[] = {"noop", "sleep", "embed"};
    proto_jobref_t running[] = {{42, 1}, {9007199254740991LL, 2147483647}};
    proto_hello_t h = {.name = "host-1", .version = "0.1.0", .queues = queues, .nqueues = 2,
                       .types = types, .ntypes = 3, .slots = 4, .running = running,
                       .nrunning = 2};
    proto_hello_encode(&fx->sb, &h);
    assert_string_equal(fx->sb.data,
                        "{\"name\":\"host-1\",\"version\":\"0.1.0\",\"queues\":[\"default\",\"bulk\"],"
                        "\"types\":[\"noop\",\"sleep\",\"embed\"],\"slots\":4,\"running\":[{\"id\":42,"
                        "\"attempt\":1},{\"id\":9007199254740991,\"attempt\":2147483647}]}");
    json_t *b = s_load(&fx->sb);
    proto_hello_t g;
    assert_int_equal(proto_hello_parse(b, &g, fx->err, ERRLEN), 0);
    assert_string_equal(g.name, "host-1");
    assert_string_equal(g.version, "0.1.0");
    assert_int_equal(g.nqueues, 2);
    assert_string_equal(g.types[2], "embed");
    assert_int_equal(g.nrunning, 2);
    assert_int_equal(g.running[1].id, 9007199254740991LL);
    assert_int_equal(g.running[1].attempt, 2147483647);
    proto_hello_fini(&g);
    json_decref(b);

    /* no version, nothing running: "running":[] */
    h.version = NULL;
    h.nrunning = 0;
    strbuf_reset(&fx->sb);
    proto_hello_encode(&fx->sb, &h);
    assert_null(strstr(fx->sb.data, "version"));
    assert_non_null(strstr(fx->sb.data, "\"running\":[]"));
    b = s_load(&fx->sb);
    assert_int_equal(proto_hello_parse(b, &g, fx->err, ERRLEN), 0);
    assert_null(g.version);
    assert_int_equal(g.nrunning, 0);
    proto_hello_fini(&g);
    json_decref(b);
}

static void test_welcome(void **state)
{
    fx_t *fx = *state;
    proto_welcome_t w = {.heartbeat_ms = 1000, .liveness = 3, .max_message_bytes = 16777216};
    proto_welcome_encode(&fx->sb, &w);
    assert_string_equal(fx->sb.data,
                        "{\"heartbeat_ms\":1000,\"liveness\":3,\"max_message_bytes\":16777216}");
    json_t *b = s_load(&fx->sb);
    proto_welcome_t g;
    assert_int_equal(proto_welcome_parse(b, &g, fx->err, ERRLEN), 0);
    assert_int_equal(g.heartbeat_ms, 1000);
    assert_int_equal(g.liveness, 3);
    assert_int_equal(g.max_message_bytes, 16777216);
    json_decref(b);

    /* every field optional: the worker keeps its own */
    strbuf_reset(&fx->sb);
    proto_welcome_encode(&fx->sb, &(proto_welcome_t){0});
    assert_string_equal(fx->sb.data, "{}");
    b = s_load(&fx->sb);
    assert_int_equal(proto_welcome_parse(b, &g, fx->err, ERRLEN), 0);
    assert_int_equal(g.heartbeat_ms + g.liveness + g.max_message_bytes, 0);
    assert_false(g.acks);
    json_decref(b);

    /* acks: sent only when true, so an older worker never sees the key */
    strbuf_reset(&fx->sb);
    proto_welcome_encode(&fx->sb, &(proto_welcome_t){.heartbeat_ms = 500, .acks = true});
    assert_string_equal(fx->sb.data, "{\"heartbeat_ms\":500,\"acks\":true}");
    b = s_load(&fx->sb);
    assert_int_equal(proto_welcome_parse(b, &g, fx->err, ERRLEN), 0);
    assert_true(g.acks);
    assert_int_equal(g.heartbeat_ms, 500);
    json_decref(b);
    strbuf_reset(&fx->sb);
    proto_welcome_encode(&fx->sb, &(proto_welcome_t){.acks = true});
    assert_string_equal(fx->sb.data, "{\"acks\":true}");
    b = s_json("{\"acks\":false}");
    g.acks = true;
    assert_int_equal(proto_welcome_parse(b, &g, fx->err, ERRLEN), 0);
    assert_false(g.acks);
    json_decref(b);

    static const struct {
        const char *body, *sub;
    } bad[] = {
        {"{\"heartbeat_ms\":9}", "heartbeat_ms: must be an integer 10..600000"},
        {"{\"heartbeat_ms\":1000.0}", "heartbeat_ms: must be an integer"},
        {"{\"liveness\":0}", "liveness: must be an integer 1..100"},
        {"{\"liveness\":null}", "liveness: must be an integer"},
        {"{\"max_message_bytes\":4095}", "max_message_bytes: must be an integer 4096..1073741824"},
        {"{\"heartbeat\":1000}", "unknown field \"heartbeat\""},
        {"{\"acks\":1}", "acks: must be a boolean"},
        {"{\"acks\":null}", "acks: must be a boolean"},
        {"{\"acks\":\"true\"}", "acks: must be a boolean"},
        {"[]", "body must be a json object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *v = json_loads(bad[i].body, JSON_DECODE_ANY, NULL);
        expect_err(proto_welcome_parse(v, &g, fx->err, ERRLEN), ORCH_EPROTO, fx->err, bad[i].sub);
        json_decref(v);
    }
}

/* ACK: the coordinator's acknowledgements, appended like DONE entries. */
static void test_ack_roundtrip(void **state)
{
    fx_t *fx = *state;
    proto_jobs_open(&fx->sb);
    proto_ack_add(&fx->sb, 42, 1);
    proto_ack_add(&fx->sb, 9007199254740991LL, INT32_MAX);
    proto_jobs_close(&fx->sb);
    assert_string_equal(fx->sb.data, "{\"jobs\":[{\"id\":42,\"attempt\":1},"
                                     "{\"id\":9007199254740991,\"attempt\":2147483647}]}");
    json_t *b = s_load(&fx->sb);
    proto_jobref_t *r = NULL;
    size_t n = 0;
    assert_int_equal(proto_ack_parse(b, NULL, &r, &n, fx->err, ERRLEN), 0);
    json_decref(b);
    assert_int_equal(n, 2);
    assert_true(r[0].id == 42 && r[0].attempt == 1);
    assert_true(r[1].id == 9007199254740991LL && r[1].attempt == INT32_MAX);
    free(r);

    /* "req" is allowed at the top level like in every body; a full batch */
    proto_limits_t lim;
    proto_limits_default(&lim);
    lim.max_batch_jobs = 3;
    b = s_json("{\"req\":1,\"jobs\":[{\"id\":1,\"attempt\":1},{\"id\":1,\"attempt\":1},"
               "{\"id\":2,\"attempt\":5}]}");
    assert_int_equal(proto_ack_parse(b, &lim, &r, &n, fx->err, ERRLEN), 0);
    assert_int_equal(n, 3);
    free(r);
    json_decref(b);
}

static void test_ack_hostile(void **state)
{
    fx_t *fx = *state;
    static const struct {
        const char *body, *sub;
        int rc;
    } bad[] = {
        {"{}", "jobs: is required", ORCH_EPROTO},
        {"{\"jobs\":[]}", "jobs: must be a non-empty array", ORCH_EPROTO},
        {"{\"jobs\":{}}", "jobs: must be a non-empty array", ORCH_EPROTO},
        {"{\"jobs\":null}", "jobs: must be a non-empty array", ORCH_EPROTO},
        {"{\"jobs\":[{\"id\":1,\"attempt\":1}],\"x\":1}", "unknown field \"x\"", ORCH_EPROTO},
        {"{\"jobs\":[[1,1]]}", "jobs[0]: must be a json object", ORCH_EPROTO},
        {"{\"jobs\":[{\"id\":1}]}", "jobs[0].attempt: is required", ORCH_EPROTO},
        {"{\"jobs\":[{\"attempt\":1}]}", "jobs[0].id: is required", ORCH_EPROTO},
        {"{\"jobs\":[{\"id\":1,\"attempt\":1},{\"id\":0,\"attempt\":1}]}",
         "jobs[1].id: must be an integer >= 1", ORCH_EPROTO},
        {"{\"jobs\":[{\"id\":1,\"attempt\":0}]}", "jobs[0].attempt: must be an integer",
         ORCH_EPROTO},
        {"{\"jobs\":[{\"id\":1,\"attempt\":2147483648}]}", "jobs[0].attempt: must be an integer",
         ORCH_EPROTO},
        {"{\"jobs\":[{\"id\":1.0,\"attempt\":1}]}", "jobs[0].id: must be an integer",
         ORCH_EPROTO},
        {"{\"jobs\":[{\"id\":\"1\",\"attempt\":1}]}", "jobs[0].id: must be an integer",
         ORCH_EPROTO},
        {"{\"jobs\":[{\"id\":1,\"attempt\":1,\"result\":1}]}",
         "jobs[0]: unknown field \"result\"", ORCH_EPROTO},
        {"{\"jobs\":[{\"id\":1,\"attempt\":1,\"req\":1}]}", "jobs[0]: unknown field \"req\"",
         ORCH_EPROTO},
        {"{\"jobs\":[{\"id\":1,\"attempt\":1},{\"id\":2,\"attempt\":1},"
         "{\"id\":3,\"attempt\":1},{\"id\":4,\"attempt\":1}]}",
         "jobs: 4 jobs, limit 3", ORCH_ETOOBIG},
        {"[]", "body must be a json object", ORCH_EPROTO},
    };
    proto_limits_t lim;
    proto_limits_default(&lim);
    lim.max_batch_jobs = 3;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *b = json_loads(bad[i].body, JSON_DECODE_ANY, NULL);
        assert_non_null(b);
        proto_jobref_t *r = (proto_jobref_t *)&lim; /* must come back NULL */
        size_t n = 99;
        fx->err[0] = '\0';
        expect_err(proto_ack_parse(b, &lim, &r, &n, fx->err, ERRLEN), bad[i].rc, fx->err,
                   bad[i].sub);
        assert_null(r);
        assert_int_equal(n, 0);
        json_decref(b);
    }
}

/* The coordinator's JOB: entries appended to one body, payloads verbatim. */
static void test_job_roundtrip(void **state)
{
    fx_t *fx = *state;
    proto_jobs_open(&fx->sb);
    proto_job_add(&fx->sb, 42, 1, "default", "noop", "{\"text\":\"caf\xc3\xa9\",\"n\":[1,2.5]}",
                  300000);
    proto_job_add(&fx->sb, 43, 2, NULL, "sleep", NULL, 0);
    proto_jobs_close(&fx->sb);
    assert_string_equal(fx->sb.data,
                        "{\"jobs\":[{\"id\":42,\"attempt\":1,\"queue\":\"default\",\"type\":\"noop\","
                        "\"payload\":{\"text\":\"caf\xc3\xa9\",\"n\":[1,2.5]},\"timeout_ms\":300000},"
                        "{\"id\":43,\"attempt\":2,\"type\":\"sleep\",\"payload\":{}}]}");
    json_t *b = s_load(&fx->sb);
    proto_job_t *j = NULL;
    size_t n = 0;
    assert_int_equal(proto_jobs_parse(b, NULL, &j, &n, fx->err, ERRLEN), 0);
    json_decref(b);
    assert_int_equal(n, 2);
    assert_null(j[0].error);
    assert_string_equal(j[0].queue, "default");
    assert_string_equal(json_string_value(json_object_get(j[0].payload, "text")), "caf\xc3\xa9");
    assert_int_equal(j[0].timeout_ms, 300000);
    assert_null(j[1].error);
    assert_null(j[1].queue);
    assert_int_equal(j[1].timeout_ms, 0);
    assert_int_equal(json_object_size(j[1].payload), 0);
    proto_jobs_free(j, n);

    /* a name that is not a name goes out escaped and comes back refused */
    proto_jobs_open(&fx->sb);
    proto_job_add(&fx->sb, 7, 1, "q", "bad\"type\n", "{}", 10);
    proto_jobs_close(&fx->sb);
    b = s_load(&fx->sb);
    assert_int_equal(proto_jobs_parse(b, NULL, &j, &n, fx->err, ERRLEN), 0);
    assert_int_equal(j[0].id, 7);
    assert_string_equal(j[0].error, "job \"type\" is missing or not a valid name");
    proto_jobs_free(j, n);
    json_decref(b);
}

/* Tens of thousands of jobs a second go through proto_job_add: a full
 * batch is one body that decodes to every job. */
static void test_job_full_batch(void **state)
{
    fx_t *fx = *state;
    proto_limits_t lim;
    proto_limits_default(&lim);
    proto_jobs_open(&fx->sb);
    for (size_t i = 1; i <= lim.max_batch_jobs; i++)
        proto_job_add(&fx->sb, (int64_t)i, 1, "default", "noop", "{\"k\":1}", 60000);
    proto_jobs_close(&fx->sb);
    json_t *b = s_load(&fx->sb);
    proto_job_t *j = NULL;
    size_t n = 0;
    assert_int_equal(proto_jobs_parse(b, &lim, &j, &n, fx->err, ERRLEN), 0);
    assert_int_equal(n, lim.max_batch_jobs);
    for (size_t i = 0; i < n; i++)
        assert_true(j[i].id == (int64_t)i + 1 && j[i].error == NULL);
    proto_jobs_free(j, n);
    json_decref(b);
}

static void test_progress_roundtrip(void **state)
{
    fx_t *fx = *state;
    proto_progress_t p = {.id = 42, .attempt = 1, .percent = 40, .message = "embedded 40/100"};
    proto_progress_encode(&fx->sb, &p);
    assert_string_equal(fx->sb.data,
                        "{\"id\":42,\"attempt\":1,\"percent\":40,\"message\":\"embedded 40/100\"}");
    json_t *b = s_load(&fx->sb);
    proto_progress_t g;
    assert_int_equal(proto_progress_parse(b, &g, fx->err, ERRLEN), 0);
    assert_string_equal(g.message, "embedded 40/100");
    proto_progress_fini(&g);
    json_decref(b);

    /* 300 bytes of two-byte characters: cut to 256 on a character boundary */
    char msg[301];
    for (int i = 0; i < 300; i += 2)
        memcpy(msg + i, "\xc3\xa9", 2);
    msg[300] = '\0';
    p.message = msg;
    strbuf_reset(&fx->sb);
    proto_progress_encode(&fx->sb, &p);
    b = s_load(&fx->sb);
    assert_int_equal(proto_progress_parse(b, &g, fx->err, ERRLEN), 0);
    assert_int_equal(strlen(g.message), 256);
    proto_progress_fini(&g);
    json_decref(b);

    p.message = "";
    strbuf_reset(&fx->sb);
    proto_progress_encode(&fx->sb, &p);
    assert_string_equal(fx->sb.data, "{\"id\":42,\"attempt\":1,\"percent\":40}");
}

static void test_results_roundtrip(void **state)
{
    fx_t *fx = *state;
    proto_jobs_open(&fx->sb);
    proto_done_add(&fx->sb, 1, 1, "{\"a\":[1,2]}", 11);
    proto_done_add(&fx->sb, 2, 3, NULL, 0);
    proto_done_add(&fx->sb, 3, 1, "\"s\"", 3);
    proto_jobs_close(&fx->sb);
    assert_string_equal(fx->sb.data, "{\"jobs\":[{\"id\":1,\"attempt\":1,\"result\":{\"a\":[1,2]}},"
                                     "{\"id\":2,\"attempt\":3},{\"id\":3,\"attempt\":1,"
                                     "\"result\":\"s\"}]}");
    json_t *b = s_load(&fx->sb);
    proto_result_t *r = NULL;
    size_t n = 0;
    assert_int_equal(proto_results_parse(PROTO_W_DONE, b, NULL, &r, &n, fx->err, ERRLEN), 0);
    assert_int_equal(n, 3);
    assert_string_equal(r[0].result, "{\"a\":[1,2]}");
    assert_null(r[1].result);
    assert_string_equal(r[2].result, "\"s\"");
    proto_results_free(r, n);
    json_decref(b);

    /* FAIL: a handler's text, bytes that are not UTF-8 and all, cut at 4096 */
    char *long_err = malloc(PROTO_ERROR_MAX + 100);
    memset(long_err, 'e', PROTO_ERROR_MAX + 99);
    long_err[PROTO_ERROR_MAX - 1] = '\xc3'; /* a two-byte character across the limit */
    long_err[PROTO_ERROR_MAX] = '\xa9';
    long_err[PROTO_ERROR_MAX + 99] = '\0';
    proto_jobs_open(&fx->sb);
    proto_fail_add(&fx->sb, 5, 2, "disk \"full\"\nline 2 \xff", true, false);
    proto_fail_add(&fx->sb, 6, 1, long_err, false, true);
    proto_fail_add(&fx->sb, 7, 1, NULL, false, false);
    proto_jobs_close(&fx->sb);
    free(long_err);
    b = s_load(&fx->sb);
    assert_int_equal(proto_results_parse(PROTO_W_FAIL, b, NULL, &r, &n, fx->err, ERRLEN), 0);
    assert_string_equal(r[0].error, "disk \"full\"\nline 2 \xef\xbf\xbd");
    assert_true(r[0].permanent && !r[0].cancelled);
    assert_int_equal(strlen(r[1].error), PROTO_ERROR_MAX - 1);
    assert_true(!r[1].permanent && r[1].cancelled);
    assert_string_equal(r[2].error, "");
    proto_results_free(r, n);
    json_decref(b);

    /* entries kept as a comma-separated run (the worker's result queue) */
    strbuf_reset(&fx->sb);
    proto_done_add(&fx->sb, 1, 1, "1", 1);
    proto_fail_add(&fx->sb, 2, 1, "x", false, false);
    assert_string_equal(fx->sb.data, "{\"id\":1,\"attempt\":1,\"result\":1},{\"id\":2,\"attempt\":1,"
                                     "\"error\":\"x\",\"permanent\":false,\"cancelled\":false}");
}

/* "call" on DONE and FAIL entries: encoded only when there is one,
 * decoded strictly (each bad field named), merged worst-first. */
static void test_results_call(void **state)
{
    fx_t *fx = *state;
    proto_call_t call = {.outcome = PROTO_CALL_THROTTLED, .ms = 12, .retry_after_ms = 1000};
    snprintf(call.downstream, sizeof call.downstream, "http://127.0.0.1:11434");
    proto_jobs_open(&fx->sb);
    proto_done_add_call(&fx->sb, 1, 1, "{}", 2, &(proto_call_t){.outcome = PROTO_CALL_OK,
                                                                 .downstream = "http://o", .ms = 5});
    proto_fail_add_call(&fx->sb, 2, 1, "429", false, false, &call);
    proto_done_add_call(&fx->sb, 3, 1, NULL, 0, &(proto_call_t){0});
    proto_jobs_close(&fx->sb);
    assert_non_null(strstr(fx->sb.data, "\"call\":{\"downstream\":\"http://o\",\"outcome\":\"ok\","
                                        "\"ms\":5}}"));
    assert_non_null(strstr(fx->sb.data, "\"cancelled\":false,\"call\":{\"downstream\":"
                                        "\"http://127.0.0.1:11434\",\"outcome\":\"throttled\","
                                        "\"ms\":12,\"retry_after_ms\":1000}}"));
    assert_non_null(strstr(fx->sb.data, "{\"id\":3,\"attempt\":1}"));
    json_t *b = NULL;
    proto_result_t *r = NULL;
    size_t n = 0;
    strbuf_reset(&fx->sb);
    proto_jobs_open(&fx->sb);
    proto_fail_add_call(&fx->sb, 2, 1, "429", false, false, &call);
    proto_fail_add(&fx->sb, 4, 1, "x", false, false);
    proto_jobs_close(&fx->sb);
    b = s_load(&fx->sb);
    assert_int_equal(proto_results_parse(PROTO_W_FAIL, b, NULL, &r, &n, fx->err, ERRLEN), 0);
    assert_int_equal(r[0].call.outcome, PROTO_CALL_THROTTLED);
    assert_string_equal(r[0].call.downstream, "http://127.0.0.1:11434");
    assert_int_equal(r[0].call.ms, 12);
    assert_int_equal(r[0].call.retry_after_ms, 1000);
    assert_int_equal(r[1].call.outcome, PROTO_CALL_NONE);
    proto_results_free(r, n);
    json_decref(b);

    static const struct {
        const char *call, *err;
    } bad[] = {
        {"1", "jobs[0].call: must be an object"},
        {"{\"downstream\":\"d\",\"outcome\":\"ok\",\"ms\":1,\"x\":1}",
         "jobs[0].call: unknown field \"x\""},
        {"{\"outcome\":\"ok\",\"ms\":1}", "jobs[0].call.downstream: must be a string"},
        {"{\"downstream\":\"\",\"outcome\":\"ok\",\"ms\":1}",
         "jobs[0].call.downstream: must be a string"},
        {"{\"downstream\":\"d\",\"outcome\":\"slow\",\"ms\":1}",
         "jobs[0].call.outcome: must be one of"},
        {"{\"downstream\":\"d\",\"outcome\":\"none\",\"ms\":1}",
         "jobs[0].call.outcome: must be one of"},
        {"{\"downstream\":\"d\",\"outcome\":\"ok\"}", "jobs[0].call.ms: is required"},
        {"{\"downstream\":\"d\",\"outcome\":\"ok\",\"ms\":-1}", "jobs[0].call.ms: must be an integer"},
        {"{\"downstream\":\"d\",\"outcome\":\"ok\",\"ms\":1,\"retry_after_ms\":\"1\"}",
         "jobs[0].call.retry_after_ms: must be an integer"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "{\"jobs\":[{\"id\":1,\"attempt\":1,\"call\":%s}]}",
                 bad[i].call);
        b = json_loads(text, 0, NULL);
        assert_non_null(b);
        assert_int_equal(proto_results_parse(PROTO_W_DONE, b, NULL, &r, &n, fx->err, ERRLEN),
                         ORCH_EPROTO);
        if (!strstr(fx->err, bad[i].err)) {
            print_error("expected \"%s\" in \"%s\"\n", bad[i].err, fx->err);
            fail();
        }
        json_decref(b);
    }

    proto_call_t sum = {0};
    proto_call_merge(&sum, &(proto_call_t){.outcome = PROTO_CALL_OK, .ms = 30});
    proto_call_merge(&sum, &(proto_call_t){.outcome = PROTO_CALL_OK, .ms = 50});
    assert_int_equal(sum.ms, 50);
    proto_call_merge(&sum, &(proto_call_t){.outcome = PROTO_CALL_THROTTLED, .ms = 1,
                                            .retry_after_ms = 2000});
    proto_call_merge(&sum, &(proto_call_t){.outcome = PROTO_CALL_ERROR, .ms = 90});
    assert_int_equal(sum.outcome, PROTO_CALL_THROTTLED);
    assert_int_equal(sum.ms, 1);
    assert_int_equal(sum.retry_after_ms, 2000);
}

static void test_cancel_error_bye(void **state)
{
    fx_t *fx = *state;
    proto_cancel_encode(&fx->sb, 42, 1, "cancelled by operator");
    assert_string_equal(fx->sb.data, "{\"id\":42,\"attempt\":1,\"reason\":\"cancelled by operator\"}");
    json_t *b = s_load(&fx->sb);
    proto_cancel_t c;
    assert_int_equal(proto_cancel_parse(b, &c, fx->err, ERRLEN), 0);
    assert_int_equal(c.id, 42);
    assert_string_equal(c.reason, "cancelled by operator");
    proto_cancel_fini(&c);
    json_decref(b);

    strbuf_reset(&fx->sb);
    proto_cancel_encode(&fx->sb, 3, 2, NULL);
    assert_string_equal(fx->sb.data, "{\"id\":3,\"attempt\":2}");
    strbuf_reset(&fx->sb);
    proto_cancel_encode(&fx->sb, 3, 2, "attempt no longer\nholds the job\n");
    b = s_load(&fx->sb);
    assert_int_equal(proto_cancel_parse(b, &c, fx->err, ERRLEN), 0);
    assert_string_equal(c.reason, "attempt no longer holds the job");
    proto_cancel_fini(&c);
    json_decref(b);

    strbuf_reset(&fx->sb);
    proto_error_encode(&fx->sb, PROTO_ERROR_RECONNECT, "unknown worker, send HELLO");
    assert_string_equal(fx->sb.data,
                        "{\"code\":\"reconnect\",\"message\":\"unknown worker, send HELLO\"}");
    b = s_load(&fx->sb);
    proto_error_t e;
    assert_int_equal(proto_error_parse(b, &e, fx->err, ERRLEN), 0);
    assert_string_equal(e.code, "reconnect");
    assert_string_equal(e.message, "unknown worker, send HELLO");
    proto_error_fini(&e);
    json_decref(b);

    bool drain = false;
    strbuf_reset(&fx->sb);
    proto_bye_encode(&fx->sb, true);
    b = s_load(&fx->sb);
    assert_int_equal(proto_bye_parse(b, &drain, fx->err, ERRLEN), 0);
    assert_true(drain);
    json_decref(b);
    strbuf_reset(&fx->sb);
    proto_bye_encode(&fx->sb, false);
    assert_string_equal(fx->sb.data, "{}");
    b = s_load(&fx->sb);
    assert_int_equal(proto_bye_parse(b, &drain, fx->err, ERRLEN), 0);
    assert_false(drain);
    assert_int_equal(proto_empty_parse(b, fx->err, ERRLEN), 0);
    json_decref(b);
}

static void test_worker_bodies_hostile(void **state)
{
    fx_t *fx = *state;
    static const struct {
        int which; /* 0 CANCEL, 1 ERROR, 2 BYE, 3 HEARTBEAT */
        const char *body, *sub;
    } bad[] = {
        {0, "{\"id\":42}", "attempt: is required"},
        {0, "{\"id\":\"x\",\"attempt\":1}", "id: must be an integer >= 1"},
        {0, "{\"id\":1,\"attempt\":1,\"reason\":5}", "reason: must be a string"},
        {0, "{\"id\":1,\"attempt\":1,\"why\":\"x\"}", "unknown field \"why\""},
        {1, "{}", "code: is required"},
        {1, "{\"code\":\"Re-connect\"}", "code: must be 1..64 characters of [a-z0-9_]"},
        {1, "{\"code\":\"reconnect\",\"message\":null}", "message: must be a string"},
        {2, "{\"drain\":1}", "drain: must be a boolean"},
        {2, "{\"drain\":true,\"now\":1}", "unknown field \"now\""},
        {3, "{\"x\":1}", "unknown field \"x\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *b = s_json(bad[i].body);
        int rc;
        fx->err[0] = '\0';
        if (bad[i].which == 0) {
            proto_cancel_t c;
            rc = proto_cancel_parse(b, &c, fx->err, ERRLEN);
            assert_null(c.reason);
        } else if (bad[i].which == 1) {
            proto_error_t e;
            rc = proto_error_parse(b, &e, fx->err, ERRLEN);
            assert_null(e.code);
        } else if (bad[i].which == 2) {
            bool d;
            rc = proto_bye_parse(b, &d, fx->err, ERRLEN);
        } else {
            rc = proto_empty_parse(b, fx->err, ERRLEN);
        }
        expect_err(rc, ORCH_EPROTO, fx->err, bad[i].sub);
        json_decref(b);
    }
    json_t *b = s_json("{\"req\":1}");
    assert_int_equal(proto_empty_parse(b, fx->err, ERRLEN), 0);
    json_decref(b);
}

/* ---- client protocol ---- */

/* orchctl's SUBMIT: fields in the documented order, a delay kept as given,
 * in-batch references renumbered for a later request. */
static void test_submit_encode(void **state)
{
    fx_t *fx = *state;
    json_t *b = s_json("{\"jobs\":[{\"idempotency_key\":\"k\",\"depends_on\":[9,-2],\"delay_ms\":1000,"
                       "\"payload\":{\"a\":1},\"priority\":1,\"timeout_ms\":5,\"max_attempts\":3,"
                       "\"type\":\"t\",\"queue\":\"q\"},{\"queue\":\"q\",\"type\":\"u\","
                       "\"run_at_us\":1795341600000000,\"payload\":{}}]}");
    proto_jobspec_t *s = NULL;
    size_t n = 0;
    assert_int_equal(proto_submit_parse(b, NULL, &s, &n, fx->err, ERRLEN), 0);
    json_decref(b);
    assert_int_equal(s[0].delay_ms, 1000);
    assert_true(s[0].run_at_us > 0);
    assert_int_equal(s[1].delay_ms, -1);
    proto_jobs_open(&fx->sb);
    proto_submit_add(&fx->sb, &s[0]);
    proto_submit_add(&fx->sb, &s[1]);
    proto_jobs_close(&fx->sb);
    assert_string_equal(fx->sb.data,
                        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"priority\":1,\"max_attempts\":3,"
                        "\"timeout_ms\":5,\"payload\":{\"a\":1},\"delay_ms\":1000,"
                        "\"depends_on\":[9,-2],\"idempotency_key\":\"k\"},{\"queue\":\"q\","
                        "\"type\":\"u\",\"run_at_us\":1795341600000000}]}");
    json_t *again = s_load(&fx->sb);
    proto_jobspec_t *g = NULL;
    size_t m = 0;
    assert_int_equal(proto_submit_parse(again, NULL, &g, &m, fx->err, ERRLEN), 0);
    assert_int_equal(m, 2);
    assert_string_equal(g[0].payload, "{\"a\":1}");
    assert_int_equal(g[0].depends_on[1], -2);
    assert_int_equal(g[1].run_at_us, 1795341600000000LL);
    proto_jobspecs_free(g, m);
    json_decref(again);

    /* the 3rd job of the input, sent as the 1st of a request starting at 2 */
    strbuf_reset(&fx->sb);
    int64_t deps[] = {-3, 7};
    proto_jobspec_t r = {.queue = "q", .type = "t", .priority = -1, .delay_ms = -1,
                         .depends_on = deps, .ndepends = 2};
    proto_jobspec_encode(&fx->sb, &r, 2);
    assert_string_equal(fx->sb.data, "{\"queue\":\"q\",\"type\":\"t\",\"depends_on\":[-1,7]}");
    proto_jobspecs_free(s, n);
}

static void test_requests_roundtrip(void **state)
{
    fx_t *fx = *state;
    proto_get_encode(&fx->sb, &(proto_get_t){.id = 101, .history = true});
    assert_string_equal(fx->sb.data, "{\"id\":101,\"history\":true}");
    json_t *b = s_load(&fx->sb);
    proto_get_t g;
    assert_int_equal(proto_get_parse(b, &g, fx->err, ERRLEN), 0);
    assert_true(g.id == 101 && g.history);
    json_decref(b);

    proto_list_t l = {.state = proto_state_index("dead"), .queue = "bulk", .limit = 5}, l2;
    strbuf_reset(&fx->sb);
    proto_list_encode(&fx->sb, &l);
    assert_string_equal(fx->sb.data, "{\"state\":\"dead\",\"queue\":\"bulk\",\"limit\":5}");
    b = s_load(&fx->sb);
    assert_int_equal(proto_list_parse(b, &l2, fx->err, ERRLEN), 0);
    assert_true(l2.state == l.state && l2.limit == 5 && strcmp(l2.queue, "bulk") == 0);
    proto_list_fini(&l2);
    json_decref(b);
    strbuf_reset(&fx->sb);
    proto_list_encode(&fx->sb, &(proto_list_t){.state = -1});
    assert_string_equal(fx->sb.data, "{}");

    char *q = NULL;
    strbuf_reset(&fx->sb);
    proto_queue_encode(&fx->sb, "default");
    assert_string_equal(fx->sb.data, "{\"queue\":\"default\"}");
    b = s_load(&fx->sb);
    assert_int_equal(proto_queue_parse(b, &q, fx->err, ERRLEN), 0);
    assert_string_equal(q, "default");
    free(q);
    json_decref(b);

    static const struct {
        int which; /* 0 GET, 1 LIST, 2 CANCEL/RETRY, 3 PAUSE/RESUME */
        const char *body, *sub;
    } bad[] = {
        {0, "{\"id\":0}", "id: must be an integer >= 1"},
        {0, "{\"id\":1,\"history\":\"yes\"}", "history: must be a boolean"},
        {1, "{\"state\":\"lost\"}", "state: must be one of waiting, scheduled"},
        {1, "{\"limit\":10001}", "limit: must be an integer 1..10000"},
        {1, "{\"queue\":\"a b\"}", "queue: must be a name"},
        {2, "{}", "id: is required"},
        {2, "{\"id\":1,\"force\":true}", "unknown field \"force\""},
        {3, "{\"queue\":\"\"}", "queue: must be a name"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        b = s_json(bad[i].body);
        int rc;
        int64_t id;
        fx->err[0] = '\0';
        if (bad[i].which == 0) {
            rc = proto_get_parse(b, &g, fx->err, ERRLEN);
        } else if (bad[i].which == 1) {
            rc = proto_list_parse(b, &l2, fx->err, ERRLEN);
            assert_null(l2.queue);
        } else if (bad[i].which == 2) {
            rc = proto_jobid_parse(b, &id, fx->err, ERRLEN);
        } else {
            rc = proto_queue_parse(b, &q, fx->err, ERRLEN);
            assert_null(q);
        }
        expect_err(rc, ORCH_EPROTO, fx->err, bad[i].sub);
        json_decref(b);
    }
}

static void test_schedules_roundtrip(void **state)
{
    fx_t *fx = *state;
    proto_sched_req_t s = {.action = PROTO_SCHED_ADD, .name = "nightly", .cron = "0 3 * * *",
                           .queue = "maintenance", .type = "compact",
                           .payload = "{\"older_than\":\"1h\"}", .priority = 7, .max_attempts = 2,
                           .paused = true};
    proto_sched_req_encode(&fx->sb, &s);
    assert_string_equal(fx->sb.data,
                        "{\"action\":\"add\",\"name\":\"nightly\",\"cron\":\"0 3 * * *\",\"queue\":"
                        "\"maintenance\",\"type\":\"compact\",\"payload\":{\"older_than\":\"1h\"},"
                        "\"priority\":7,\"max_attempts\":2,\"paused\":true}");
    json_t *b = s_load(&fx->sb);
    proto_sched_req_t g;
    assert_int_equal(proto_sched_req_parse(b, NULL, &g, fx->err, ERRLEN), 0);
    assert_int_equal(g.action, PROTO_SCHED_ADD);
    assert_string_equal(g.cron, "0 3 * * *");
    assert_string_equal(g.payload, "{\"older_than\":\"1h\"}");
    assert_true(g.priority == 7 && g.max_attempts == 2 && g.paused);
    proto_sched_req_fini(&g);
    json_decref(b);

    for (int a = PROTO_SCHED_LIST; a <= PROTO_SCHED_RESUME; a++) {
        if (a == PROTO_SCHED_ADD)
            continue;
        proto_sched_req_t r = {.action = a, .priority = -1,
                               .name = a == PROTO_SCHED_LIST ? NULL : "nightly"};
        strbuf_reset(&fx->sb);
        proto_sched_req_encode(&fx->sb, &r);
        b = s_load(&fx->sb);
        assert_int_equal(proto_sched_req_parse(b, NULL, &g, fx->err, ERRLEN), 0);
        assert_int_equal((int)g.action, a);
        assert_true(a == PROTO_SCHED_LIST ? g.name == NULL : strcmp(g.name, "nightly") == 0);
        proto_sched_req_fini(&g);
        json_decref(b);
    }
    b = s_json("{}"); /* no action: list */
    assert_int_equal(proto_sched_req_parse(b, NULL, &g, fx->err, ERRLEN), 0);
    assert_int_equal(g.action, PROTO_SCHED_LIST);
    json_decref(b);

    proto_limits_t lim;
    proto_limits_default(&lim);
    lim.max_payload_bytes = 8;
    static const struct {
        const char *body, *sub;
        int rc;
    } bad[] = {
        {"{\"action\":\"drop\"}", "action: must be one of list, add, remove, pause, resume",
         ORCH_EPROTO},
        {"{\"action\":\"remove\"}", "name: is required", ORCH_EPROTO},
        {"{\"action\":\"remove\",\"name\":\"n\",\"cron\":\"@daily\"}", "unknown field \"cron\"",
         ORCH_EPROTO},
        {"{\"action\":\"list\",\"name\":\"n\"}", "unknown field \"name\"", ORCH_EPROTO},
        {"{\"action\":\"add\",\"name\":\"n\",\"cron\":\"0 25 * * *\",\"queue\":\"q\","
         "\"type\":\"t\"}",
         "cron: ", ORCH_EPROTO},
        {"{\"action\":\"add\",\"name\":\"n\",\"queue\":\"q\",\"type\":\"t\"}", "cron: is required",
         ORCH_EPROTO},
        {"{\"action\":\"add\",\"name\":\"n\",\"cron\":\"@daily\",\"queue\":\"q\",\"type\":\"t\","
         "\"payload\":{\"long\":\"xxxx\"}}",
         "payload: serialised size exceeds the limit of 8 bytes", ORCH_ETOOBIG},
        {"{\"action\":\"add\",\"name\":\"n\",\"cron\":\"@daily\",\"queue\":\"q\",\"type\":\"t\","
         "\"priority\":10}",
         "priority: must be an integer 0..9", ORCH_EPROTO},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        b = s_json(bad[i].body);
        fx->err[0] = '\0';
        expect_err(proto_sched_req_parse(b, &lim, &g, fx->err, ERRLEN), bad[i].rc, fx->err,
                   bad[i].sub);
        assert_null(g.name);
        json_decref(b);
    }
}

/* ---- REPLY ---- */

static void test_reply_builders(void **state)
{
    fx_t *fx = *state;
    int64_t ids[] = {101, 102};
    bool existing[] = {false, true};
    proto_reply_ids(&fx->sb, ids, existing, 2, "\"r\"");
    assert_string_equal(fx->sb.data,
                        "{\"status\":200,\"ids\":[101,102],\"existing\":[false,true],\"req\":\"r\"}");
    json_t *b = s_load(&fx->sb);
    proto_reply_t r;
    assert_int_equal(proto_reply_parse(b, &r, fx->err, ERRLEN), 0);
    assert_true(r.status == 200 && r.has_ids && r.nids == 2 && r.ids[1] == 102);
    assert_true(r.existing && r.existing[1] && !r.existing[0]);
    assert_null(r.error);
    proto_reply_fini(&r);
    json_decref(b);

    proto_reply_ids(&fx->sb, ids, NULL, 1, NULL);
    assert_string_equal(fx->sb.data, "{\"status\":200,\"ids\":[101]}");

    proto_reply_state(&fx->sb, "running", true, NULL);
    assert_string_equal(fx->sb.data,
                        "{\"status\":200,\"state\":\"running\",\"cancel_requested\":true}");
    proto_reply_state(&fx->sb, "cancelled", false, "1");
    assert_string_equal(fx->sb.data, "{\"status\":200,\"state\":\"cancelled\",\"req\":1}");

    proto_reply_open(&fx->sb, 200);
    proto_reply_bool(&fx->sb, "paused", true);
    proto_reply_raw(&fx->sb, "workers", "[{\"name\":\"w\"}]", 14);
    proto_reply_int(&fx->sb, "n", -5);
    proto_reply_str(&fx->sb, "s", NULL);
    proto_reply_close(&fx->sb, NULL);
    assert_string_equal(fx->sb.data, "{\"status\":200,\"paused\":true,\"workers\":[{\"name\":"
                                     "\"w\"}],\"n\":-5,\"s\":null}");
    json_decref(s_load(&fx->sb));

    const char *names[] = {"default", "b\"ulk"};
    proto_queue_counts_t counts[2] = {{.counts = {0, 1, 3, 1, 10, 0, 2}, .paused = false},
                                      {.counts = {5}, .paused = true}};
    proto_reply_stats(&fx->sb, names, counts, 2, true, NULL);
    b = s_load(&fx->sb);
    assert_string_equal(json_string_value(json_object_get(b, "database")), "up");
    proto_queue_counts_t c;
    assert_int_equal(proto_reply_stats_queue(b, "default", &c, fx->err, ERRLEN), 1);
    assert_int_equal(c.counts[proto_state_index("succeeded")], 10);
    assert_int_equal(c.counts[proto_state_index("cancelled")], 2);
    assert_false(c.paused);
    assert_int_equal(proto_reply_stats_queue(b, "b\"ulk", &c, fx->err, ERRLEN), 1);
    assert_true(c.paused && c.counts[0] == 5);
    assert_int_equal(proto_reply_stats_queue(b, "other", &c, fx->err, ERRLEN), 0);
    json_decref(b);
}

/* What the coordinator pastes into replies today: a libpq message with
 * newlines and the server's encoding, a name a client sent. The reply is
 * valid JSON, one line, and still echoes req. */
static void test_reply_error_hostile(void **state)
{
    fx_t *fx = *state;
    const char *pg = "could not commit: ERROR:  invalid byte sequence for encoding \"UTF8\": 0xe9\n"
                     "CONTEXT:  COPY jobs, line 1: \"caf\xe9\"\n";
    proto_reply_error(&fx->sb, PROTO_STATUS_UNAVAILABLE, pg, "{\"k\":\"v\"}");
    json_t *b = s_load(&fx->sb);
    proto_reply_t r;
    assert_int_equal(proto_reply_parse(b, &r, fx->err, ERRLEN), 0);
    assert_int_equal(r.status, 503);
    assert_null(strchr(r.error, '\n'));
    assert_non_null(strstr(r.error, "CONTEXT:  COPY jobs, line 1: \"caf\xef\xbf\xbd\""));
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "req"), "k")), "v");
    proto_reply_fini(&r);
    json_decref(b);

    char *huge = malloc(3 * PROTO_ERROR_MAX);
    memset(huge, 'x', 3 * PROTO_ERROR_MAX - 1);
    huge[3 * PROTO_ERROR_MAX - 1] = '\0';
    proto_reply_error(&fx->sb, 400, huge, NULL);
    free(huge);
    b = s_load(&fx->sb);
    assert_int_equal(strlen(json_string_value(json_object_get(b, "error"))), PROTO_ERROR_MAX);
    json_decref(b);
}

static void test_reply_decode_hostile(void **state)
{
    fx_t *fx = *state;
    static const struct {
        const char *body, *sub;
    } bad[] = {
        {"{\"ok\":true}", "no integer \"status\""},
        {"{\"status\":\"200\"}", "no integer \"status\""},
        {"{\"status\":200.0}", "no integer \"status\""},
        {"{\"status\":99}", "no integer \"status\""},
        {"{\"status\":600}", "no integer \"status\""},
        {"{\"status\":400,\"error\":7}", "\"error\" is not a string"},
        {"{\"status\":200,\"ids\":{}}", "\"ids\" is not an array of job ids"},
        {"{\"status\":200,\"ids\":[1,0]}", "\"ids\" is not an array of job ids"},
        {"{\"status\":200,\"ids\":[1,\"2\"]}", "\"ids\" is not an array of job ids"},
        {"{\"status\":200,\"ids\":[7],\"existing\":[1]}", "\"existing\" is not one boolean per id"},
        {"{\"status\":200,\"ids\":[7],\"existing\":[true,false]}",
         "\"existing\" is not one boolean per id"},
        {"{\"status\":200,\"existing\":[]}", "\"existing\" is not one boolean per id"},
        {"[200]", "body must be a json object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *b = json_loads(bad[i].body, JSON_DECODE_ANY, NULL);
        assert_non_null(b);
        proto_reply_t r;
        fx->err[0] = '\0';
        expect_err(proto_reply_parse(b, &r, fx->err, ERRLEN), ORCH_EPROTO, fx->err, bad[i].sub);
        assert_true(r.error == NULL && r.ids == NULL && r.existing == NULL);
        json_decref(b);
    }
    /* members it does not know are the client's to read; a missing error
     * on a failure is tolerated */
    json_t *b = s_json("{\"status\":503,\"job\":{\"id\":1},\"whatever\":[1]}");
    proto_reply_t r;
    assert_int_equal(proto_reply_parse(b, &r, fx->err, ERRLEN), 0);
    assert_true(r.status == 503 && !r.error && !r.has_ids);
    json_decref(b);
    b = s_json("{\"status\":200,\"queues\":{\"q\":{\"queued\":-1}}}");
    proto_queue_counts_t c;
    expect_err(proto_reply_stats_queue(b, "q", &c, fx->err, ERRLEN), ORCH_EPROTO, fx->err,
               "queues.q: must be an object of counts");
    json_decref(b);
    b = s_json("{\"status\":200,\"queues\":{\"q\":{\"queued\":4}}}"); /* others read as 0 */
    assert_int_equal(proto_reply_stats_queue(b, "q", &c, fx->err, ERRLEN), 1);
    assert_true(c.counts[proto_state_index("queued")] == 4 && !c.paused);
    json_decref(b);
    b = s_json("{\"status\":200}");
    expect_err(proto_reply_stats_queue(b, "q", &c, fx->err, ERRLEN), ORCH_EPROTO, fx->err,
               "no \"queues\" object");
    json_decref(b);
}

/* ---- events ---- */

static int s_event_frames(const strbuf_t *sb, const char *topic, const char *proto,
                          proto_event_t *e, char *err)
{
    proto_frame_t f[3] = {{topic, strlen(topic)}, {proto, strlen(proto)}, {sb->data, sb->len}};
    err[0] = '\0';
    return proto_event_decode(NULL, f, 3, e, err, ERRLEN);
}

static void test_event_roundtrip(void **state)
{
    fx_t *fx = *state;
    proto_event_t e = {.id = 42, .queue = "bulk", .type = "index", .event = "started",
                       .state = "running", .attempt = 1, .at_us = 1795341600123456LL,
                       .worker = "host-1"};
    proto_event_encode(&fx->sb, &e);
    assert_string_equal(fx->sb.data,
                        "{\"id\":42,\"queue\":\"bulk\",\"type\":\"index\",\"event\":\"started\","
                        "\"state\":\"running\",\"attempt\":1,\"at_us\":1795341600123456,"
                        "\"worker\":\"host-1\"}");
    proto_event_t g;
    assert_int_equal(s_event_frames(&fx->sb, "bulk", "ORCHE1", &g, fx->err), 0);
    assert_true(g.id == 42 && g.attempt == 1 && g.at_us == 1795341600123456LL);
    assert_string_equal(g.event, "started");
    assert_string_equal(g.worker, "host-1");
    assert_non_null(g.body);
    assert_null(g.tenant);
    proto_event_fini(&g);
    assert_null(g.body);

    /* a tenant goes out as given and comes back; one that is no name is
     * malformed */
    e.tenant = "acme";
    strbuf_reset(&fx->sb);
    proto_event_encode(&fx->sb, &e);
    assert_non_null(strstr(fx->sb.data, ",\"tenant\":\"acme\"}"));
    assert_int_equal(s_event_frames(&fx->sb, "bulk", "ORCHE1", &g, fx->err), 0);
    assert_string_equal(g.tenant, "acme");
    proto_event_fini(&g);
    e.tenant = "no such name!";
    strbuf_reset(&fx->sb);
    proto_event_encode(&fx->sb, &e);
    assert_int_equal(s_event_frames(&fx->sb, "bulk", "ORCHE1", &g, fx->err), ORCH_EPROTO);
    assert_non_null(strstr(fx->err, "tenant"));
    e.tenant = NULL;

    /* no worker; a worker shown escaped rather than refused */
    e.worker = NULL;
    e.attempt = 0;
    e.event = "submitted";
    e.state = "queued";
    strbuf_reset(&fx->sb);
    proto_event_encode(&fx->sb, &e);
    assert_int_equal(s_event_frames(&fx->sb, "bulk", "ORCHE1", &g, fx->err), 0);
    assert_null(g.worker);
    proto_event_fini(&g);
    e.worker = "host\x1b" "1";
    strbuf_reset(&fx->sb);
    proto_event_encode(&fx->sb, &e);
    assert_int_equal(s_event_frames(&fx->sb, "bulk", "ORCHE1", &g, fx->err), 0);
    assert_string_equal(g.worker, "host\x1b" "1");
    proto_event_fini(&g);

    expect_err(s_event_frames(&fx->sb, "bulk2", "ORCHE1", &g, fx->err), ORCH_EPROTO, fx->err,
               "topic \"bulk2\" is not the event's queue");
    assert_null(g.body);
    expect_err(s_event_frames(&fx->sb, "bulk", "ORCHX9", &g, fx->err), ORCH_EPROTO, fx->err,
               "unknown protocol frame");
    proto_frame_t two[2] = {{"bulk", 4}, {"ORCHE1", 6}};
    expect_err(proto_event_decode(NULL, two, 2, &g, fx->err, ERRLEN), ORCH_EPROTO, fx->err,
               "not 3 frames");
    proto_limits_t lim;
    proto_limits_default(&lim);
    lim.max_body_bytes = 16;
    proto_frame_t f[3] = {{"bulk", 4}, {"ORCHE1", 6}, {fx->sb.data, fx->sb.len}};
    expect_err(proto_event_decode(&lim, f, 3, &g, fx->err, ERRLEN), ORCH_ETOOBIG, fx->err,
               "body is");
}

static void test_event_hostile(void **state)
{
    fx_t *fx = *state;
    static const struct {
        const char *body, *sub;
    } bad[] = {
        {"[1]", "body is not a JSON object"},
        {"{\"id\":", "body is not valid json"},
        {"{\"queue\":\"bulk\"}", "id: is required"},
        {"{\"id\":1,\"queue\":\"bulk\",\"type\":\"t\",\"event\":\"started\",\"state\":\"lost\","
         "\"attempt\":1,\"at_us\":1}",
         "state: must be a job state"},
        {"{\"id\":1,\"queue\":\"bulk\",\"type\":\"t\",\"event\":\"Started!\",\"state\":\"queued\","
         "\"attempt\":1,\"at_us\":1}",
         "event: must be 1..32 characters of [a-z_]"},
        {"{\"id\":1,\"queue\":\"bulk\",\"type\":\"t\",\"event\":\"started\",\"state\":\"queued\","
         "\"attempt\":-1,\"at_us\":1}",
         "attempt: must be an integer 0..2147483647"},
        {"{\"id\":1,\"queue\":\"bulk\",\"type\":\"t\",\"event\":\"started\",\"state\":\"queued\","
         "\"attempt\":1,\"at_us\":1,\"worker\":\"\"}",
         "worker: must be a string of 1..64 bytes"},
        {"{\"id\":1,\"queue\":\"bulk\",\"type\":\"t\",\"event\":\"started\",\"state\":\"queued\","
         "\"attempt\":1,\"at_us\":1,\"detail\":{}}",
         "unknown field \"detail\""},
        {"{\"id\":1,\"id\":2}", "body is not valid json"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        strbuf_reset(&fx->sb);
        strbuf_puts(&fx->sb, bad[i].body);
        proto_event_t e;
        expect_err(s_event_frames(&fx->sb, "bulk", "ORCHE1", &e, fx->err), ORCH_EPROTO, fx->err,
                   bad[i].sub);
        assert_null(e.body);
    }
}

/* The PUB side: [queue][ORCHE1][body] through a real socket pair. */
static void test_event_send(void **state)
{
    fx_t *fx = *state;
    void *ctx = zmq_ctx_new();
    void *pub = zmq_socket(ctx, ZMQ_XPUB), *sub = zmq_socket(ctx, ZMQ_SUB);
    int timeo = 5000, zero = 0;
    zmq_setsockopt(sub, ZMQ_RCVTIMEO, &timeo, sizeof timeo);
    zmq_setsockopt(pub, ZMQ_RCVTIMEO, &timeo, sizeof timeo);
    zmq_setsockopt(pub, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(sub, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_bind(pub, "inproc://test-proto-events"), 0);
    assert_int_equal(zmq_connect(sub, "inproc://test-proto-events"), 0);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "bulk", 4);
    char subscription[16];
    assert_true(zmq_recv(pub, subscription, sizeof subscription, 0) > 0); /* it listens */
    proto_event_t e = {.id = 7, .queue = "bulk", .type = "noop", .event = "succeeded",
                       .state = "succeeded", .attempt = 2, .at_us = 5};
    proto_event_encode(&fx->sb, &e);
    assert_int_equal(proto_send_event(pub, e.queue, fx->sb.data, fx->sb.len), 0);
    proto_rawmsg_t m;
    assert_int_equal(proto_recv_raw(sub, 0, false, &m), 0);
    proto_frame_t f[PROTO_MAX_PARTS];
    size_t nf = proto_rawmsg_frames(&m, f, PROTO_MAX_PARTS);
    proto_event_t g;
    assert_int_equal(proto_event_decode(NULL, f, nf, &g, fx->err, ERRLEN), 0);
    assert_true(g.id == 7 && g.attempt == 2 && strcmp(g.state, "succeeded") == 0);
    proto_event_fini(&g);
    proto_rawmsg_close(&m);
    zmq_close(sub);
    zmq_close(pub);
    zmq_ctx_term(ctx);
}

/* Every _fini accepts NULL and a struct a failed decoder left behind. */
static void test_fini_null(void **state)
{
    (void)state;
    proto_cancel_fini(NULL);
    proto_error_fini(NULL);
    proto_list_fini(NULL);
    proto_sched_req_fini(NULL);
    proto_reply_fini(NULL);
    proto_event_fini(NULL);
    proto_cancel_t c;
    proto_error_t e;
    proto_list_t l;
    proto_sched_req_t s;
    proto_reply_t r;
    proto_event_t ev;
    json_t *b = s_json("{\"bogus\":1}");
    assert_true(proto_cancel_parse(b, &c, NULL, 0) < 0);
    assert_true(proto_error_parse(b, &e, NULL, 0) < 0);
    assert_true(proto_list_parse(b, &l, NULL, 0) < 0);
    assert_true(proto_sched_req_parse(b, NULL, &s, NULL, 0) < 0);
    assert_true(proto_reply_parse(b, &r, NULL, 0) < 0);
    assert_true(proto_event_parse(b, &ev, NULL, 0) < 0);
    proto_cancel_fini(&c);
    proto_error_fini(&e);
    proto_list_fini(&l);
    proto_sched_req_fini(&s);
    proto_reply_fini(&r);
    proto_event_fini(&ev);
    json_decref(b);
}

#define T(f) cmocka_unit_test_setup_teardown(f, s_setup, s_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_string_escapes),     T(test_message_flattened),   T(test_req_echo),
        T(test_hello_roundtrip),    T(test_welcome),             T(test_ack_roundtrip),
        T(test_ack_hostile),        T(test_job_roundtrip),
        T(test_job_full_batch),     T(test_progress_roundtrip),  T(test_results_roundtrip),
        T(test_results_call),
        T(test_cancel_error_bye),   T(test_worker_bodies_hostile), T(test_submit_encode),
        T(test_requests_roundtrip), T(test_schedules_roundtrip), T(test_reply_builders),
        T(test_reply_error_hostile), T(test_reply_decode_hostile), T(test_event_roundtrip),
        T(test_event_hostile),      T(test_event_send),            T(test_fini_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
