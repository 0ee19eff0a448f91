/* The worker's outgoing result batches (resultq): batching, retention until
 * the coordinator's ACK, re-sending; and UTF-8 hygiene (utf8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "orch_error.h"
#include "proto.h"
#include "resultq.h"
#include "utf8.h"
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
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

static json_t *s_only(json_t *body)
{
    json_t *jobs = json_object_get(body, "jobs");
    assert_int_equal(json_array_size(jobs), 1);
    return json_array_get(jobs, 0);
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
    assert_int_equal(resultq_flush(q, p->tx, 100, 1 << 20, 0, -1), 0); /* nothing queued */
    resultq_add_done(q, 1, 1, "{\"a\":[1,2]}", 11, NULL);
    resultq_add_done(q, 9007199254740991LL, 3, "null", 4, NULL);
    resultq_add_done(q, 3, 2, "\"s\"", 3, NULL);
    assert_int_equal(resultq_count(q), 3);
    proto_jobref_t refs[4];
    assert_int_equal(resultq_refs(q, refs, 4), 3);
    assert_int_equal(refs[1].id, 9007199254740991LL);
    assert_int_equal(refs[1].attempt, 3);
    assert_int_equal(resultq_refs(q, refs, 1), 1); /* at most cap */
    assert_false(resultq_retains(q));
    assert_int_equal(resultq_flush(q, p->tx, 100, 1 << 20, 0, -1), 1);
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
    resultq_add_fail(q, 5, 1, "quote \" backslash \\ newline \n tab \t bell \a", true, false,
                     NULL);
    resultq_add_fail(q, 6, 2, "cancelled", false, true, NULL);
    assert_int_equal(resultq_flush(q, p->tx, 100, 1 << 20, 0, -1), 1);
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
    resultq_add_fail(q, 1, 1, msg, false, false, NULL);
    assert_int_equal(resultq_flush(q, p->tx, 100, 1 << 20, 0, -1), 1);
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
        resultq_add_done(q, i, 1, "{}", 2, NULL);
    assert_int_equal(resultq_flush(q, p->tx, 2, 1 << 20, 0, -1), 3); /* 2 + 2 + 1 */
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
    resultq_add_done(q, 1, 1, "{}", 2, NULL);
    resultq_add_done(q, 2, 1, big, sizeof big, NULL); /* larger than the budget: goes alone */
    resultq_add_done(q, 3, 1, "{}", 2, NULL);
    int sent = resultq_flush(q, p->tx, 100, 100, 0, -1);
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
    resultq_add_done(q, 1, 1, "{}", 2, NULL);
    resultq_add_done(q, 2, 1, "{}", 2, NULL);
    /* a PUSH with no peer and SNDTIMEO 0 refuses to queue */
    void *dead = zmq_socket(p->ctx, ZMQ_PUSH);
    int zero = 0;
    zmq_setsockopt(dead, ZMQ_SNDTIMEO, &zero, sizeof zero);
    assert_int_equal(resultq_flush(q, dead, 100, 1 << 20, 0, -1), ORCH_EIO);
    zmq_close(dead);
    assert_int_equal(resultq_count(q), 2);
    assert_int_equal(resultq_flush(q, p->tx, 100, 1 << 20, 0, -1), 1);
    json_t *b = s_recv(p, "DONE");
    assert_int_equal(json_array_size(json_object_get(b, "jobs")), 2);
    json_decref(b);
    resultq_destroy(&q);
}

/* ---- retention until ACK ---- */

/* The ids of one received message's entries, in order, as a string like
 * "1,3". */
static void s_recv_ids(pair_t *p, const char *cmd, char *out, size_t outlen)
{
    json_t *b = s_recv(p, cmd);
    json_t *jobs = json_object_get(b, "jobs");
    size_t k;
    json_t *e;
    out[0] = '\0';
    json_array_foreach(jobs, k, e) {
        size_t len = strlen(out);
        snprintf(out + len, outlen - len, "%s%lld", k ? "," : "",
                 (long long)json_integer_value(json_object_get(e, "id")));
    }
    json_decref(b);
}

static void test_retained_until_ack(void **state)
{
    pair_t *p = *state;
    char ids[256];
    resultq_t *q = resultq_new("DONE");
    resultq_set_retain(q, true);
    assert_true(resultq_retains(q));
    resultq_add_done(q, 1, 1, "1", 1, NULL);
    resultq_add_done(q, 2, 1, "2", 1, NULL);
    resultq_add_done(q, 3, 1, "3", 1, NULL);
    assert_int_equal(resultq_unsent(q), 3);
    assert_int_equal(resultq_next_resend(q), INT64_MAX);
    assert_int_equal(resultq_flush(q, p->tx, 100, 1 << 20, 5000, 1000), 1);
    s_recv_ids(p, "DONE", ids, sizeof ids);
    assert_string_equal(ids, "1,2,3");
    /* sent, still held */
    assert_int_equal(resultq_count(q), 3);
    assert_int_equal(resultq_unsent(q), 0);
    assert_int_equal(resultq_next_resend(q), 6000);
    /* nothing is due before the interval */
    assert_int_equal(resultq_flush(q, p->tx, 100, 1 << 20, 5999, 1000), 0);
    s_assert_empty(p);

    assert_true(resultq_ack(q, 2, 1));
    assert_false(resultq_ack(q, 2, 1)); /* acknowledged twice: harmless */
    assert_false(resultq_ack(q, 1, 2)); /* another attempt of a held job */
    assert_false(resultq_ack(q, 99, 1));
    assert_int_equal(resultq_count(q), 2);
    proto_jobref_t refs[4];
    assert_int_equal(resultq_refs(q, refs, 4), 2);
    assert_true(refs[0].id == 1 && refs[1].id == 3);

    /* due again: both in one message; a new entry goes with them */
    resultq_add_done(q, 4, 1, "4", 1, NULL);
    assert_int_equal(resultq_flush(q, p->tx, 100, 1 << 20, 6000, 1000), 1);
    s_recv_ids(p, "DONE", ids, sizeof ids);
    assert_string_equal(ids, "1,3,4");
    assert_int_equal(resultq_next_resend(q), 7000);
    assert_true(resultq_ack(q, 1, 1));
    assert_true(resultq_ack(q, 3, 1));
    assert_true(resultq_ack(q, 4, 1));
    assert_int_equal(resultq_count(q), 0);
    assert_int_equal(resultq_next_resend(q), INT64_MAX);
    assert_int_equal(resultq_flush(q, p->tx, 100, 1 << 20, 99999, 1000), 0);
    s_assert_empty(p);
    resultq_destroy(&q);
}

/* After a WELCOME everything held goes out at once, due or not; a
 * negative interval never re-sends on its own; and no entry goes out twice
 * in one flush, even with an interval of 0. */
static void test_unsend_all_and_intervals(void **state)
{
    pair_t *p = *state;
    char ids[256];
    resultq_t *q = resultq_new("FAIL");
    resultq_set_retain(q, true);
    resultq_add_fail(q, 7, 1, "a", false, false, NULL);
    resultq_add_fail(q, 8, 2, "b", true, false, NULL);
    assert_int_equal(resultq_flush(q, p->tx, 100, 1 << 20, 100, -1), 1);
    s_recv_ids(p, "FAIL", ids, sizeof ids);
    assert_string_equal(ids, "7,8");
    assert_int_equal(resultq_next_resend(q), INT64_MAX);
    assert_int_equal(resultq_flush(q, p->tx, 100, 1 << 20, 1000000, -1), 0);
    resultq_unsend_all(q);
    assert_int_equal(resultq_unsent(q), 2);
    assert_int_equal(resultq_flush(q, p->tx, 1, 1 << 20, 100, 1000), 2); /* max_jobs 1 */
    s_recv_ids(p, "FAIL", ids, sizeof ids);
    assert_string_equal(ids, "7");
    s_recv_ids(p, "FAIL", ids, sizeof ids);
    assert_string_equal(ids, "8");
    assert_int_equal(resultq_flush(q, p->tx, 1, 1 << 20, 200, 0), 2);
    s_recv_ids(p, "FAIL", ids, sizeof ids);
    s_recv_ids(p, "FAIL", ids, sizeof ids);
    s_assert_empty(p);
    assert_int_equal(resultq_count(q), 2);
    resultq_destroy(&q);
}

/* Without retention (a coordinator that sends no ACK) a result is
 * forgotten once sent, and an ACK changes nothing. */
static void test_no_retention(void **state)
{
    pair_t *p = *state;
    char ids[256];
    resultq_t *q = resultq_new("DONE");
    resultq_add_done(q, 1, 1, "1", 1, NULL);
    resultq_add_done(q, 2, 1, "2", 1, NULL);
    assert_true(resultq_ack(q, 1, 1)); /* an unsent entry can be acknowledged too */
    assert_int_equal(resultq_flush(q, p->tx, 100, 1 << 20, 0, 1000), 1);
    s_recv_ids(p, "DONE", ids, sizeof ids);
    assert_string_equal(ids, "2");
    assert_int_equal(resultq_count(q), 0);
    assert_false(resultq_ack(q, 2, 1));
    resultq_unsend_all(q);
    assert_int_equal(resultq_flush(q, p->tx, 100, 1 << 20, 5000, 1000), 0);
    assert_int_equal(resultq_next_resend(q), INT64_MAX);

    /* retention turned off with results held: sent once more, then gone */
    resultq_set_retain(q, true);
    resultq_add_done(q, 3, 1, "3", 1, NULL);
    assert_int_equal(resultq_flush(q, p->tx, 100, 1 << 20, 0, 1000), 1);
    s_recv_ids(p, "DONE", ids, sizeof ids);
    resultq_set_retain(q, false);
    assert_int_equal(resultq_next_resend(q), INT64_MAX);
    assert_int_equal(resultq_flush(q, p->tx, 100, 1 << 20, 5000, 1000), 0); /* no resend */
    assert_int_equal(resultq_count(q), 1);
    resultq_unsend_all(q);
    assert_int_equal(resultq_flush(q, p->tx, 100, 1 << 20, 5000, 1000), 1);
    s_recv_ids(p, "DONE", ids, sizeof ids);
    assert_string_equal(ids, "3");
    assert_int_equal(resultq_count(q), 0);
    s_assert_empty(p);
    resultq_destroy(&q);
}

/* Two attempts of one job held at once: an ACK names one of them. */
static void test_ack_names_the_attempt(void **state)
{
    pair_t *p = *state;
    (void)p;
    resultq_t *q = resultq_new("FAIL");
    resultq_set_retain(q, true);
    resultq_add_fail(q, 5, 1, "first", false, false, NULL);
    resultq_add_fail(q, 6, 1, "other", false, false, NULL);
    resultq_add_fail(q, 5, 2, "second", false, false, NULL);
    resultq_add_fail(q, 5, 3, "third", false, false, NULL);
    assert_true(resultq_ack(q, 5, 2)); /* in the middle of its job's chain */
    proto_jobref_t refs[4];
    assert_int_equal(resultq_refs(q, refs, 4), 3);
    assert_true(refs[0].id == 5 && refs[0].attempt == 1);
    assert_true(refs[1].id == 6);
    assert_true(refs[2].id == 5 && refs[2].attempt == 3);
    assert_true(resultq_ack(q, 5, 3)); /* the newest */
    assert_true(resultq_ack(q, 5, 1)); /* the last */
    assert_false(resultq_ack(q, 5, 1));
    assert_int_equal(resultq_refs(q, refs, 4), 1);
    assert_int_equal(refs[0].id, 6);
    resultq_destroy(&q);
}

/* A thousand held, acknowledged out of order in batches: what is left is
 * re-sent in order with its own text (entries move when the queue is
 * compacted), and the index still finds every entry. */
static void test_many_acks_out_of_order(void **state)
{
    pair_t *p = *state;
    enum { N = 1000 }; /* one message under s_recv's 64 KiB */
    resultq_t *q = resultq_new("DONE");
    resultq_set_retain(q, true);
    char text[32];
    for (int i = 1; i <= N; i++) {
        int len = snprintf(text, sizeof text, "{\"n\":%d}", i);
        resultq_add_done(q, i, 1 + i % 3, text, (size_t)len, NULL);
    }
    assert_int_equal(resultq_flush(q, p->tx, N, 1 << 20, 0, 10), 1);
    json_decref(s_recv(p, "DONE"));
    /* acknowledge every id not divisible by 7, newest first */
    size_t left = N;
    for (int i = N; i >= 1; i--) {
        if (i % 7 == 0)
            continue;
        assert_true(resultq_ack(q, i, 1 + i % 3));
        left--;
        if (i % 100 == 0) /* the queue compacts itself as it goes */
            assert_int_equal(resultq_count(q), left);
    }
    assert_int_equal(resultq_count(q), N / 7);
    assert_int_equal(resultq_flush(q, p->tx, N, 1 << 20, 10, 10), 1);
    json_t *b = s_recv(p, "DONE");
    json_t *jobs = json_object_get(b, "jobs");
    assert_int_equal(json_array_size(jobs), N / 7);
    size_t k;
    json_t *e;
    json_array_foreach(jobs, k, e) {
        int id = 7 * (int)(k + 1);
        assert_int_equal(json_integer_value(json_object_get(e, "id")), id);
        assert_int_equal(json_integer_value(json_object_get(e, "attempt")), 1 + id % 3);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(e, "result"), "n")),
                         id);
    }
    json_decref(b);
    /* new entries after a compaction are indexed and sent like the others */
    resultq_add_done(q, N + 1, 1, "null", 4, NULL);
    for (int i = 7; i <= N; i += 7)
        assert_true(resultq_ack(q, i, 1 + i % 3));
    assert_int_equal(resultq_count(q), 1);
    assert_int_equal(resultq_flush(q, p->tx, N, 1 << 20, 20, 10), 1);
    b = s_recv(p, "DONE");
    assert_int_equal(json_integer_value(json_object_get(s_only(b), "id")), N + 1);
    json_decref(b);
    assert_true(resultq_ack(q, N + 1, 1));
    assert_int_equal(resultq_count(q), 0);
    resultq_destroy(&q);
}

static void test_failed_send_with_retention(void **state)
{
    pair_t *p = *state;
    char ids[256];
    resultq_t *q = resultq_new("DONE");
    resultq_set_retain(q, true);
    resultq_add_done(q, 1, 1, "{}", 2, NULL);
    void *dead = zmq_socket(p->ctx, ZMQ_PUSH);
    int zero = 0;
    zmq_setsockopt(dead, ZMQ_SNDTIMEO, &zero, sizeof zero);
    assert_int_equal(resultq_flush(q, dead, 100, 1 << 20, 0, 1000), ORCH_EIO);
    zmq_close(dead);
    assert_int_equal(resultq_unsent(q), 1); /* not marked sent */
    assert_int_equal(resultq_next_resend(q), INT64_MAX);
    assert_int_equal(resultq_flush(q, p->tx, 100, 1 << 20, 1, 1000), 1);
    s_recv_ids(p, "DONE", ids, sizeof ids);
    assert_string_equal(ids, "1");
    assert_int_equal(resultq_count(q), 1);
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
        cmocka_unit_test_setup_teardown(test_retained_until_ack, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_unsend_all_and_intervals, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_no_retention, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_ack_names_the_attempt, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_many_acks_out_of_order, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_failed_send_with_retention, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
