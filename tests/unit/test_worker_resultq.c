/* The worker's outgoing result batches (resultq) and UTF-8 hygiene (utf8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "orch_error.h"
#include "proto.h"
#include "resultq.h"
#include "utf8.h"
#include <jansson.h>
#include <string.h>
#include <zmq.h>

/* ---- utf8 ---- */

static void s_check_sanitize(const char *in, size_t len, const char *want)
{
    char buf[64];
    memcpy(buf, in, len);
    size_t n = utf8_sanitize(buf, len);
    buf[n] = '\0';
    assert_int_equal(n, strlen(want));
    assert_memory_equal(buf, want, n);
}

static void test_utf8_sanitize(void **state)
{
    (void)state;
    s_check_sanitize("plain", 5, "plain");
    s_check_sanitize("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14,
                     "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    s_check_sanitize("a\xff" "b", 3, "a?b");            /* invalid lead byte */
    s_check_sanitize("a\x80" "b", 3, "a?b");            /* stray continuation */
    s_check_sanitize("\xc0\xaf", 2, "??");              /* overlong */
    s_check_sanitize("\xe0\x80\xaf", 3, "???");         /* overlong, 3 bytes */
    s_check_sanitize("\xed\xa0\x80", 3, "???");         /* surrogate */
    s_check_sanitize("\xf4\x90\x80\x80", 4, "????");    /* above U+10FFFF */
    s_check_sanitize("ab\xe2\x82", 4, "ab");            /* cut at the end: dropped */
    s_check_sanitize("ab\xc3" "x", 4, "ab?x");          /* cut in the middle: replaced */
    s_check_sanitize("", 0, "");
}

/* ---- resultq, flushed through an inproc PAIR ---- */

typedef struct {
    void *ctx, *tx, *rx;
} pair_t;

static int s_setup(void **state)
{
    static int n;
    char ep[64];
    pair_t *p = calloc(1, sizeof *p);
    snprintf(ep, sizeof ep, "inproc://resultq-%d", n++);
    p->ctx = zmq_ctx_new();
    p->rx = zmq_socket(p->ctx, ZMQ_PAIR);
    p->tx = zmq_socket(p->ctx, ZMQ_PAIR);
    assert_int_equal(zmq_bind(p->rx, ep), 0);
    assert_int_equal(zmq_connect(p->tx, ep), 0);
    *state = p;
    return 0;
}

static int s_teardown(void **state)
{
    pair_t *p = *state;
    zmq_close(p->tx);
    zmq_close(p->rx);
    zmq_ctx_term(p->ctx);
    free(p);
    return 0;
}

/* Receives one [ORCHW1][cmd][body] message; returns the parsed body. */
static json_t *s_recv(pair_t *p, const char *cmd)
{
    char buf[1 << 16];
    int more;
    size_t sz = sizeof more;
    int n = zmq_recv(p->rx, buf, sizeof buf, ZMQ_DONTWAIT);
    assert_int_equal(n, 6);
    assert_memory_equal(buf, "ORCHW1", 6);
    n = zmq_recv(p->rx, buf, sizeof buf, 0);
    assert_int_equal(n, (int)strlen(cmd));
    assert_memory_equal(buf, cmd, (size_t)n);
    n = zmq_recv(p->rx, buf, sizeof buf, 0);
    assert_true(n > 0 && n < (int)sizeof buf);
    zmq_getsockopt(p->rx, ZMQ_RCVMORE, &more, &sz);
    assert_int_equal(more, 0);
    json_error_t e;
    json_t *body = json_loadb(buf, (size_t)n, 0, &e);
    assert_non_null(body);
    return body;
}

static void s_assert_empty(pair_t *p)
{
    char c;
    assert_int_equal(zmq_recv(p->rx, &c, 1, ZMQ_DONTWAIT), -1);
}

static void test_done_batch(void **state)
{
    pair_t *p = *state;
    resultq_t *q = resultq_new("DONE");
    assert_int_equal(resultq_flush(q, p->tx, 100, 1 << 20), 0); /* nothing queued */
    resultq_add_done(q, 1, 1, "{\"a\":[1,2]}", 11);
    resultq_add_done(q, 9007199254740991LL, 3, "null", 4);
    resultq_add_done(q, 3, 2, "\"s\"", 3);
    assert_int_equal(resultq_count(q), 3);
    assert_int_equal(resultq_refs(q)[1].id, 9007199254740991LL);
    assert_int_equal(resultq_refs(q)[1].attempt, 3);
    assert_int_equal(resultq_flush(q, p->tx, 100, 1 << 20), 1);
    assert_int_equal(resultq_count(q), 0);
    json_t *b = s_recv(p, "DONE");
    json_t *expect = json_loads("{\"jobs\":[{\"id\":1,\"attempt\":1,\"result\":{\"a\":[1,2]}},"
                                "{\"id\":9007199254740991,\"attempt\":3,\"result\":null},"
                                "{\"id\":3,\"attempt\":2,\"result\":\"s\"}]}", 0, NULL);
    assert_true(json_equal(b, expect));
    json_decref(b);
    json_decref(expect);
    s_assert_empty(p);
    resultq_destroy(&q);
    assert_null(q);
}

static void test_fail_entries_escaped(void **state)
{
    pair_t *p = *state;
    resultq_t *q = resultq_new("FAIL");
    resultq_add_fail(q, 5, 1, "quote \" backslash \\ newline \n tab \t bell \a", true, false);
    resultq_add_fail(q, 6, 2, "cancelled", false, true);
    assert_int_equal(resultq_flush(q, p->tx, 100, 1 << 20), 1);
    json_t *b = s_recv(p, "FAIL");
    json_t *jobs = json_object_get(b, "jobs");
    assert_int_equal(json_array_size(jobs), 2);
    json_t *j0 = json_array_get(jobs, 0), *j1 = json_array_get(jobs, 1);
    assert_string_equal(json_string_value(json_object_get(j0, "error")),
                        "quote \" backslash \\ newline \n tab \t bell \a");
    assert_true(json_is_true(json_object_get(j0, "permanent")));
    assert_true(json_is_false(json_object_get(j0, "cancelled")));
    assert_int_equal(json_integer_value(json_object_get(j1, "id")), 6);
    assert_int_equal(json_integer_value(json_object_get(j1, "attempt")), 2);
    assert_true(json_is_false(json_object_get(j1, "permanent")));
    assert_true(json_is_true(json_object_get(j1, "cancelled")));
    json_decref(b);
    resultq_destroy(&q);
}

static void test_fail_error_truncated_on_character_boundary(void **state)
{
    pair_t *p = *state;
    /* 4095 ASCII bytes then a 2-byte character straddling the 4096 limit */
    char msg[PROTO_ERROR_MAX + 16];
    memset(msg, 'x', PROTO_ERROR_MAX - 1);
    memcpy(msg + PROTO_ERROR_MAX - 1, "\xc3\xa9tail", 7);
    msg[PROTO_ERROR_MAX - 1 + 7] = '\0';
    resultq_t *q = resultq_new("FAIL");
    resultq_add_fail(q, 1, 1, msg, false, false);
    assert_int_equal(resultq_flush(q, p->tx, 100, 1 << 20), 1);
    json_t *b = s_recv(p, "FAIL"); /* parses: still valid UTF-8 */
    const char *e = json_string_value(json_object_get(json_array_get(json_object_get(b, "jobs"), 0),
                                                      "error"));
    assert_int_equal(strlen(e), PROTO_ERROR_MAX - 1);
    json_decref(b);
    resultq_destroy(&q);
}

static void test_split_by_count_and_size(void **state)
{
    pair_t *p = *state;
    resultq_t *q = resultq_new("DONE");
    for (int i = 1; i <= 5; i++)
        resultq_add_done(q, i, 1, "{}", 2);
    assert_int_equal(resultq_flush(q, p->tx, 2, 1 << 20), 3); /* 2 + 2 + 1 */
    int seen = 0;
    for (int m = 0; m < 3; m++) {
        json_t *b = s_recv(p, "DONE");
        json_t *jobs = json_object_get(b, "jobs");
        assert_int_equal(json_array_size(jobs), m < 2 ? 2 : 1);
        for (size_t k = 0; k < json_array_size(jobs); k++)
            assert_int_equal(json_integer_value(json_object_get(json_array_get(jobs, k), "id")),
                             ++seen);
        json_decref(b);
    }
    s_assert_empty(p);

    /* size: each entry is ~40 bytes; a 100-byte budget fits one or two */
    char big[200];
    memset(big, 'a', sizeof big);
    big[0] = '"';
    big[sizeof big - 1] = '"';
    resultq_add_done(q, 1, 1, "{}", 2);
    resultq_add_done(q, 2, 1, big, sizeof big); /* larger than the budget: goes alone */
    resultq_add_done(q, 3, 1, "{}", 2);
    int sent = resultq_flush(q, p->tx, 100, 100);
    assert_int_equal(sent, 3);
    for (int m = 0; m < sent; m++) {
        json_t *b = s_recv(p, "DONE");
        assert_int_equal(json_array_size(json_object_get(b, "jobs")), 1);
        assert_int_equal(json_integer_value(json_object_get(
                             json_array_get(json_object_get(b, "jobs"), 0), "id")), m + 1);
        json_decref(b);
    }
    resultq_destroy(&q);
}

static void test_failed_send_keeps_entries(void **state)
{
    pair_t *p = *state;
    resultq_t *q = resultq_new("DONE");
    resultq_add_done(q, 1, 1, "{}", 2);
    resultq_add_done(q, 2, 1, "{}", 2);
    /* a PUSH with no peer and SNDTIMEO 0 refuses to queue */
    void *dead = zmq_socket(p->ctx, ZMQ_PUSH);
    int zero = 0;
    zmq_setsockopt(dead, ZMQ_SNDTIMEO, &zero, sizeof zero);
    assert_int_equal(resultq_flush(q, dead, 100, 1 << 20), ORCH_EIO);
    zmq_close(dead);
    assert_int_equal(resultq_count(q), 2);
    assert_int_equal(resultq_flush(q, p->tx, 100, 1 << 20), 1);
    json_t *b = s_recv(p, "DONE");
    assert_int_equal(json_array_size(json_object_get(b, "jobs")), 2);
    json_decref(b);
    resultq_destroy(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_sanitize),
        cmocka_unit_test_setup_teardown(test_done_batch, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_fail_entries_escaped, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_fail_error_truncated_on_character_boundary, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_split_by_count_and_size, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_failed_send_keeps_entries, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
