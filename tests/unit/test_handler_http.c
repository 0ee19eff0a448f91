/* Unit tests of the http handler's pure parts and config: ${VAR} expansion
 * of header values (secrets), the result of a 2xx body (JSON or wrapped
 * text), status descriptions, status classes, and handlers.http.types
 * validation with file:line:column that never echoes a header value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config.h"
#include "handler_http.h"
#include "httpc.h"
#include "orch_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        if (!strstr((hay), (needle))) {                                                            \
            print_error("expected \"%s\" in \"%s\"\n", (needle), (hay));                           \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

static char s_err[1024];
static char s_path[64];

static void test_expand_env(void **state)
{
    (void)state;
    setenv("ORCH_T_TOKEN", "abc123", 1);
    setenv("ORCH_T_OTHER", "x", 1);
    unsetenv("ORCH_T_MISSING");
    setenv("ORCH_T_EMPTY", "", 1);
    strbuf_t sb;
    char *missing = NULL;
    strbuf_init(&sb);
    assert_int_equal(http_expand_env("Bearer ${ORCH_T_TOKEN}", &sb, &missing), 0);
    assert_string_equal(sb.data, "Bearer abc123");
    strbuf_reset(&sb);
    assert_int_equal(http_expand_env("${ORCH_T_TOKEN}${ORCH_T_OTHER}-$HOME $", &sb, &missing), 0);
    assert_string_equal(sb.data, "abc123x-$HOME $");
    strbuf_reset(&sb);
    assert_int_equal(http_expand_env("plain", &sb, &missing), 0);
    assert_string_equal(sb.data, "plain");
    strbuf_reset(&sb);
    assert_int_equal(http_expand_env("a ${ORCH_T_MISSING} b", &sb, &missing), ORCH_ENOTFOUND);
    assert_string_equal(missing, "ORCH_T_MISSING");
    free(missing);
    strbuf_reset(&sb);
    assert_int_equal(http_expand_env("${ORCH_T_EMPTY}", &sb, &missing), ORCH_ENOTFOUND);
    free(missing);
    const char *bad[] = {"${", "${}", "${1A}", "${A", "${A B}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        strbuf_reset(&sb);
        assert_int_equal(http_expand_env(bad[i], &sb, &missing), ORCH_EINVAL);
        assert_null(missing);
    }
    strbuf_fini(&sb);
}

static void s_result_is(const char *body, const char *want)
{
    json_t *r = http_result_of(body, strlen(body));
    assert_non_null(r);
    char *got = json_dumps(r, JSON_COMPACT | JSON_ENCODE_ANY);
    assert_string_equal(got, want);
    free(got);
    json_decref(r);
}

static void test_result_of_body(void **state)
{
    (void)state;
    s_result_is("{\"a\": [1, 2]}", "{\"a\":[1,2]}");
    s_result_is("42", "42");
    s_result_is("\"text\"", "\"text\"");
    s_result_is("", "null");
    s_result_is(" \r\n", "null");
    s_result_is("OK", "{\"body\":\"OK\"}");
    s_result_is("{\"a\":1} trailing", "{\"body\":\"{\\\"a\\\":1} trailing\"}");
    s_result_is("{\"a\":1,\"a\":2}", "{\"body\":\"{\\\"a\\\":1,\\\"a\\\":2}\"}");
    s_result_is("bad \xff byte", "{\"body\":\"bad ? byte\"}");
}

static void test_describe_and_classify(void **state)
{
    (void)state;
    char buf[320];
    http_describe_status(400, "{\"error\":\"no\"}\n", 15, buf, sizeof buf);
    assert_string_equal(buf, "400: {\"error\":\"no\"} ");
    http_describe_status(502, "", 0, buf, sizeof buf);
    assert_string_equal(buf, "502");
    char big[500];
    memset(big, 'z', sizeof big);
    http_describe_status(500, big, sizeof big, buf, sizeof buf);
    assert_int_equal(strlen(buf), strlen("500: ") + 200 + 3);
    assert_string_equal(buf + strlen(buf) - 3, "...");
    assert_int_equal(httpc_classify_status(200), HTTPC_CLASS_OK);
    assert_int_equal(httpc_classify_status(204), HTTPC_CLASS_OK);
    assert_int_equal(httpc_classify_status(429), HTTPC_CLASS_RETRY);
    assert_int_equal(httpc_classify_status(503), HTTPC_CLASS_RETRY);
    assert_int_equal(httpc_classify_status(408), HTTPC_CLASS_RETRY);
    assert_int_equal(httpc_classify_status(400), HTTPC_CLASS_PERMANENT);
    assert_int_equal(httpc_classify_status(404), HTTPC_CLASS_PERMANENT);
    assert_int_equal(httpc_classify_status(301), HTTPC_CLASS_PERMANENT);
}

/* ---- config ---- */

static int s_load(const char *yaml, worker_config_t **cfg)
{
    snprintf(s_path, sizeof s_path, "/tmp/test_http.XXXXXX");
    int fd = mkstemp(s_path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    int rc = worker_config_load(s_path, handler_types, cfg, s_err, sizeof s_err);
    unlink(s_path);
    return rc;
}

static void s_fails(const char *yaml, const char *needle)
{
    worker_config_t *cfg = NULL;
    assert_int_equal(s_load(yaml, &cfg), ORCH_ECONFIG);
    assert_null(cfg);
    assert_contains(s_err, needle);
}

static void test_config_types(void **state)
{
    (void)state;
    setenv("ORCH_T_TOKEN", "tok-secret", 1);
    worker_config_t *cfg = NULL;
    assert_int_equal(s_load("handlers:\n"
                            "  http:\n"
                            "    types:\n"
                            "      summarize:\n"
                            "        url: http://127.0.0.1:9/summarize\n"
                            "        method: PUT\n"
                            "        headers: {Authorization: \"Bearer ${ORCH_T_TOKEN}\", "
                            "X-Tenant: t1}\n"
                            "        connect_timeout: 2s\n"
                            "        timeout: 1m\n"
                            "        max_response: 64KiB\n"
                            "      plain: {url: \"https://example.org/x\"}\n",
                            &cfg),
                     0);
    handler_type_t t;
    assert_true(handler_lookup(cfg, "summarize", &t));
    assert_ptr_equal(t.h, &handler_http);
    const http_type_config_t *c = t.conf;
    assert_string_equal(c->name, "summarize");
    assert_string_equal(c->method, "PUT");
    assert_int_equal(c->nheaders, 2);
    assert_string_equal(c->headers[0], "Authorization");
    assert_string_equal(c->headers[1], "Bearer tok-secret"); /* expanded at load */
    assert_string_equal(c->headers[3], "t1");
    assert_int_equal(c->connect_timeout_ms, 2000);
    assert_int_equal(c->timeout_ms, 60000);
    assert_int_equal(c->max_response, 64 * 1024);
    assert_true(handler_lookup(cfg, "plain", &t));
    c = t.conf;
    assert_string_equal(c->method, "POST");
    assert_int_equal(c->nheaders, 0);
    assert_int_equal(c->connect_timeout_ms, 5000);
    assert_int_equal(c->timeout_ms, 30000);
    assert_int_equal(c->max_response, 1024 * 1024);
    assert_false(handler_enabled(cfg, "http"));
    worker_config_destroy(&cfg);
}

static void test_config_errors(void **state)
{
    (void)state;
    unsetenv("ORCH_T_MISSING");
    s_fails("handlers:\n  http:\n    types:\n      x: {method: POST}\n",
            ":4:7: \"handlers.http.types.x.url\": required");
    s_fails("handlers:\n  http:\n    types:\n      x: {url: ftp://h/x}\n",
            ":4:16: \"handlers.http.types.x.url\": expected an http:// or https:// URL");
    s_fails("handlers:\n  http:\n    types:\n      x: {url: http://h/x, method: GET}\n",
            "\"handlers.http.types.x.method\": expected POST or PUT, got \"GET\"");
    s_fails("handlers:\n  http:\n    types:\n      x: {url: http://h/x, headers: {\"a b\": c}}\n",
            "\"handlers.http.types.x.headers.a?b\": expected a header name");
    /* an unset variable names the header and the variable, never a value */
    s_fails("handlers:\n  http:\n    types:\n      x:\n        url: http://h/x\n"
            "        headers: {X-Key: \"pre-${ORCH_T_MISSING}\"}\n",
            ":6:18: \"handlers.http.types.x.headers\": header \"X-Key\": environment variable "
            "ORCH_T_MISSING is not set");
    assert_null(strstr(s_err, "pre-"));
    /* a value that would split into two header lines */
    setenv("ORCH_T_CRLF", "a\r\nInjected: yes", 1);
    s_fails("handlers:\n  http:\n    types:\n      x: {url: http://h/x, headers: {X: "
            "\"${ORCH_T_CRLF}\"}}\n",
            "header \"X\": a value is one line");
    assert_null(strstr(s_err, "Injected"));
    s_fails("handlers:\n  http:\n    types:\n      x: {url: http://h/x, connect_timeout: 10s, "
            "timeout: 5s}\n",
            "\"handlers.http.types.x.timeout\": must be at least "
            "handlers.http.types.x.connect_timeout (10s)");
    s_fails("handlers:\n  http:\n    types:\n      embed: {url: http://h/x}\n",
            "\"handlers.http.types.embed\": expected a name that is not a built-in job type");
}

/* examples/http/worker.yaml loads (with its token variable set). */
static void test_example_config_loads(void **state)
{
    (void)state;
    const char *src = getenv("ORCH_SOURCE_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/examples/http/worker.yaml", src ? src : ".");
    setenv("TEXTSTATS_TOKEN", "t0k", 1);
    worker_config_t *cfg = NULL;
    int rc = worker_config_load(path, handler_types, &cfg, s_err, sizeof s_err);
    if (rc)
        print_error("%s\n", s_err);
    assert_int_equal(rc, 0);
    handler_type_t t;
    assert_true(handler_lookup(cfg, "textstats_flaky", &t));
    assert_string_equal(((const http_type_config_t *)t.conf)->headers[1], "Bearer t0k");
    worker_config_destroy(&cfg);
    unsetenv("TEXTSTATS_TOKEN");
    assert_int_equal(worker_config_load(path, handler_types, &cfg, s_err, sizeof s_err),
                     ORCH_ECONFIG);
    assert_contains(s_err, "environment variable TEXTSTATS_TOKEN is not set");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expand_env),
        cmocka_unit_test(test_result_of_body),
        cmocka_unit_test(test_describe_and_classify),
        cmocka_unit_test(test_config_types),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_example_config_loads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
