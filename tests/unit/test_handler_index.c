/* Unit tests of the index handler's pure parts and the HTTP helpers it uses:
 * index uid and payload validation, request splitting by serialized size,
 * Meilisearch error classification, status classes, URL escaping and
 * redaction, and the PostgreSQL SQLSTATE classes the handlers retry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "handler_index.h"
#include "httpc.h"
#include "orch_error.h"
#include "pgconn.h"

#include <stdlib.h>
#include <string.h>

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        if (!strstr((hay), (needle))) {                                                            \
            print_error("expected \"%s\" in \"%s\"\n", (needle), (hay));                           \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

static json_t *s_json(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    if (!j)
        fail_msg("bad test json: %s", e.text);
    return j;
}

static void test_uid(void **state)
{
    (void)state;
    assert_true(index_uid_valid("movies"));
    assert_true(index_uid_valid("A-b_9"));
    assert_false(index_uid_valid(""));
    assert_false(index_uid_valid(NULL));
    assert_false(index_uid_valid("a/b"));
    assert_false(index_uid_valid("a b"));
    assert_false(index_uid_valid("..%2f"));
    assert_false(index_uid_valid("a?x=1"));
    char longest[INDEX_UID_MAX + 2];
    memset(longest, 'a', sizeof longest);
    longest[INDEX_UID_MAX] = '\0';
    assert_true(index_uid_valid(longest));
    longest[INDEX_UID_MAX] = 'a';
    longest[INDEX_UID_MAX + 1] = '\0';
    assert_false(index_uid_valid(longest));
}

static void test_payload(void **state)
{
    (void)state;
    index_request_t r;
    handler_error_t err;
    json_t *p = s_json("{\"index\":\"movies\",\"action\":\"update\",\"primary_key\":\"mid\","
                       "\"documents\":[{\"mid\":1}]}");
    assert_int_equal(index_parse_payload(p, &r, &err), 0);
    assert_string_equal(r.uid, "movies");
    assert_int_equal(r.action, INDEX_UPDATE);
    assert_string_equal(r.primary_key, "mid");
    assert_int_equal(json_array_size(r.items), 1);
    json_decref(p);
    p = s_json("{\"index\":\"movies\",\"action\":\"delete\",\"ids\":[\"a\",2]}");
    assert_int_equal(index_parse_payload(p, &r, &err), 0);
    assert_int_equal(r.action, INDEX_DELETE);
    assert_null(r.primary_key);
    json_decref(p);

    struct {
        const char *payload;
        const char *needle;
    } bad[] = {
        {"{\"action\":\"add\",\"documents\":[{}]}", "\"index\""},
        {"{\"index\":\"a/b\",\"action\":\"add\",\"documents\":[{}]}", "\"index\""},
        {"{\"index\":\"m\",\"action\":\"upsert\",\"documents\":[{}]}", "\"action\""},
        {"{\"index\":\"m\",\"action\":\"add\"}", "\"documents\""},
        {"{\"index\":\"m\",\"action\":\"add\",\"documents\":[]}", "\"documents\""},
        {"{\"index\":\"m\",\"action\":\"add\",\"documents\":[1]}", "documents[0] must be an object"},
        {"{\"index\":\"m\",\"action\":\"delete\",\"documents\":[{}]}", "\"ids\""},
        {"{\"index\":\"m\",\"action\":\"delete\",\"ids\":[{}]}", "ids[0] must be a string"},
        {"{\"index\":\"m\",\"action\":\"add\",\"primary_key\":5,\"documents\":[{}]}", "primary_key"},
        {"[1]", "json object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = s_json(bad[i].payload);
        assert_int_equal(index_parse_payload(p, &r, &err), ORCH_EINVAL);
        assert_contains(err.message, bad[i].needle);
        json_decref(p);
    }
}

static void test_split(void **state)
{
    (void)state;
    /* each document serializes to {"id":N} = 8 bytes for one digit */
    json_t *docs = s_json("[{\"id\":1},{\"id\":2},{\"id\":3},{\"id\":4},{\"id\":5}]");
    index_chunk_t *c;
    size_t n;
    handler_error_t err;
    /* everything fits */
    assert_int_equal(index_split(docs, 1000, &c, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(c[0].body, "[{\"id\":1},{\"id\":2},{\"id\":3},{\"id\":4},{\"id\":5}]");
    assert_int_equal(c[0].count, 5);
    assert_int_equal(c[0].len, strlen(c[0].body));
    index_chunks_free(c, n);
    /* two per request: [a,b] = 1 + 8 + 1 + 8 + 1 = 19 bytes */
    assert_int_equal(index_split(docs, 19, &c, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(c[0].body, "[{\"id\":1},{\"id\":2}]");
    assert_string_equal(c[1].body, "[{\"id\":3},{\"id\":4}]");
    assert_string_equal(c[2].body, "[{\"id\":5}]");
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(c[i].len <= 19);
        json_t *back = s_json(c[i].body); /* every chunk is valid JSON */
        total += json_array_size(back);
        assert_int_equal(json_array_size(back), c[i].count);
        json_decref(back);
    }
    assert_int_equal(total, 5);
    index_chunks_free(c, n);
    /* 18 bytes: one per request */
    assert_int_equal(index_split(docs, 18, &c, &n, &err), 0);
    assert_int_equal(n, 5);
    index_chunks_free(c, n);
    /* a document alone too large */
    assert_int_equal(index_split(docs, 9, &c, &n, &err), ORCH_ETOOBIG);
    assert_contains(err.message, "item 0 is 8 bytes");
    assert_null(c);
    assert_int_equal(n, 0);
    json_decref(docs);
    /* ids (scalars) */
    json_t *ids = s_json("[\"a\",2]");
    assert_int_equal(index_split(ids, 100, &c, &n, &err), 0);
    assert_string_equal(c[0].body, "[\"a\",2]");
    index_chunks_free(c, n);
    json_decref(ids);
}

static void test_error_classes(void **state)
{
    (void)state;
    /* failed tasks (http_status 0) */
    assert_false(index_error_retryable("missing_document_id", "invalid_request", 0));
    assert_false(index_error_retryable("invalid_document_id", "invalid_request", 0));
    assert_false(index_error_retryable("index_not_found", "invalid_request", 0));
    assert_false(index_error_retryable("index_primary_key_no_candidate_found", "invalid_request", 0));
    assert_true(index_error_retryable("internal", "internal", 0));
    assert_true(index_error_retryable("database_size_limit_reached", "internal", 0));
    assert_true(index_error_retryable("no_space_left_on_device", "system", 0));
    assert_true(index_error_retryable("io_error", "system", 0));
    assert_false(index_error_retryable("something_new", NULL, 0));
    /* HTTP answers */
    assert_false(index_error_retryable("missing_authorization_header", "auth", 401));
    assert_false(index_error_retryable("invalid_api_key", "auth", 403));
    assert_false(index_error_retryable("payload_too_large", "invalid_request", 413));
    assert_false(index_error_retryable("invalid_content_type", "invalid_request", 415));
    assert_false(index_error_retryable("invalid_index_uid", "invalid_request", 400));
    assert_true(index_error_retryable("too_many_search_requests", "system", 503));
    assert_true(index_error_retryable("task_not_found", "invalid_request", 404));
    assert_true(index_error_retryable(NULL, NULL, 502)); /* a proxy's HTML error page */
    assert_true(index_error_retryable(NULL, NULL, 429));
    /* a 429 is "later" whatever its type (Meilisearch Cloud: rate_limited, invalid_request) */
    assert_true(index_error_retryable("rate_limited", "invalid_request", 429));
    assert_false(index_error_retryable(NULL, NULL, 404));
}

static void test_http_helpers(void **state)
{
    (void)state;
    assert_int_equal(httpc_classify_status(200), HTTPC_CLASS_OK);
    assert_int_equal(httpc_classify_status(202), HTTPC_CLASS_OK);
    assert_int_equal(httpc_classify_status(400), HTTPC_CLASS_PERMANENT);
    assert_int_equal(httpc_classify_status(404), HTTPC_CLASS_PERMANENT);
    assert_int_equal(httpc_classify_status(408), HTTPC_CLASS_RETRY);
    assert_int_equal(httpc_classify_status(429), HTTPC_CLASS_RETRY);
    assert_int_equal(httpc_classify_status(500), HTTPC_CLASS_RETRY);
    assert_int_equal(httpc_classify_status(503), HTTPC_CLASS_RETRY);
    assert_int_equal(httpc_classify_status(301), HTTPC_CLASS_PERMANENT);

    strbuf_t sb;
    strbuf_init(&sb);
    httpc_url_escape(&sb, "id");
    assert_string_equal(sb.data, "id");
    strbuf_reset(&sb);
    httpc_url_escape(&sb, "a b&c=d/é~_.-");
    assert_string_equal(sb.data, "a%20b%26c%3Dd%2F%C3%A9~_.-");
    strbuf_fini(&sb);

    char out[128];
    httpc_redact_url("http://user:secret@meili:7700/x", out, sizeof out);
    assert_string_equal(out, "http://meili:7700/x");
    httpc_redact_url("http://127.0.0.1:7700", out, sizeof out);
    assert_string_equal(out, "http://127.0.0.1:7700");
    httpc_redact_url("http://h/path@notuser", out, sizeof out);
    assert_string_equal(out, "http://h/path@notuser");
}

static void test_sqlstate_classes(void **state)
{
    (void)state;
    assert_true(pgconn_sqlstate_retryable(NULL));      /* connection lost */
    assert_true(pgconn_sqlstate_retryable("08006"));   /* connection_failure */
    assert_true(pgconn_sqlstate_retryable("40001"));   /* serialization_failure */
    assert_true(pgconn_sqlstate_retryable("40P01"));   /* deadlock_detected */
    assert_true(pgconn_sqlstate_retryable("57014"));   /* query_canceled (statement_timeout) */
    assert_true(pgconn_sqlstate_retryable("57P01"));   /* admin_shutdown */
    assert_true(pgconn_sqlstate_retryable("53300"));   /* too_many_connections */
    assert_true(pgconn_sqlstate_retryable("42P01"));   /* undefined_table: migrations pending */
    assert_false(pgconn_sqlstate_retryable("23505"));  /* unique_violation */
    assert_false(pgconn_sqlstate_retryable("22P02"));  /* invalid_text_representation */
    assert_false(pgconn_sqlstate_retryable("42601"));  /* syntax_error */
    assert_false(pgconn_sqlstate_retryable("42501"));  /* insufficient_privilege */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uid),
        cmocka_unit_test(test_payload),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_error_classes),
        cmocka_unit_test(test_http_helpers),
        cmocka_unit_test(test_sqlstate_classes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
