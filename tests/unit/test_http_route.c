/* Unit tests of the HTTP API's route table and translations
 * (orchestrator/http/http_route.c): which method and path is which
 * command, 404 vs 405 with Allow, path parameters (decoded), how requests
 * become command bodies (single job vs batch, Idempotency-Key, list
 * filters and cursor, bulk filters), and how REPLY bodies become answers
 * (201 vs 200 on SUBMIT, next_cursor, problem+json). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_route.h"
#include "proto.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *keys[8];
    const char *vals[8];
} s_query_t;

static const char *s_q(void *arg, const char *key, int i)
{
    s_query_t *q = arg;
    for (int k = 0; q && k < 8 && q->keys[k]; k++)
        if (strcmp(q->keys[k], key) == 0 && i-- == 0)
            return q->vals[k];
    return NULL;
}

static void s_find(const char *method, const char *path, int want_rc, http_kind_t kind, int cmd,
                   const char *param)
{
    http_match_t m;
    char allow[64];
    int rc = http_route_find(method, path, &m, allow, sizeof allow);
    if (rc != want_rc) {
        print_error("%s %s: rc %d, want %d\n", method, path, rc, want_rc);
        fail();
    }
    if (rc)
        return;
    assert_int_equal(m.kind, kind);
    assert_int_equal(m.cmd, cmd);
    assert_string_equal(m.param, param);
}

static void test_find(void **state)
{
    (void)state;
    s_find("POST", "/v1/jobs", 0, HTTP_R_COMMAND, PROTO_C_SUBMIT, "");
    s_find("GET", "/v1/jobs", 0, HTTP_R_COMMAND, PROTO_C_LIST, "");
    s_find("GET", "/v1/jobs/", 0, HTTP_R_COMMAND, PROTO_C_LIST, "");
    s_find("GET", "/v1/jobs/42", 0, HTTP_R_COMMAND, PROTO_C_GET, "42");
    s_find("HEAD", "/v1/jobs/42", 0, HTTP_R_COMMAND, PROTO_C_GET, "42");
    s_find("POST", "/v1/jobs/42/cancel", 0, HTTP_R_COMMAND, PROTO_C_CANCEL, "42");
    s_find("POST", "/v1/jobs/42/retry", 0, HTTP_R_COMMAND, PROTO_C_RETRY, "42");
    s_find("POST", "/v1/jobs:retry", 0, HTTP_R_BULK, PROTO_C_RETRY, "");
    s_find("POST", "/v1/jobs:cancel", 0, HTTP_R_BULK, PROTO_C_CANCEL, "");
    s_find("POST", "/v1/queues/bulk.emails/pause", 0, HTTP_R_COMMAND, PROTO_C_PAUSE, "bulk.emails");
    s_find("POST", "/v1/queues/a%3Ab/resume", 0, HTTP_R_COMMAND, PROTO_C_RESUME, "a:b");
    s_find("DELETE", "/v1/schedules/nightly", 0, HTTP_R_COMMAND, PROTO_C_SCHEDULES, "nightly");
    s_find("GET", "/v1/events", 0, HTTP_R_EVENTS, PROTO_C_EVENTS, "");
    s_find("GET", "/healthz", 0, HTTP_R_HEALTH, 0, "");
    s_find("GET", "/readyz", 0, HTTP_R_READY, 0, "");
    s_find("GET", "/v1/nope", 404, 0, 0, "");
    s_find("GET", "/v1/jobs/42/cancel/x", 404, 0, 0, "");
    s_find("GET", "/v1/jobs//cancel", 404, 0, 0, "");
    /* a decoded NUL would cut the name short: refused */
    s_find("POST", "/v1/queues/a%00b/pause", 404, 0, 0, "");

    http_match_t m;
    char allow[64];
    assert_int_equal(http_route_find("DELETE", "/v1/jobs", &m, allow, sizeof allow), 405);
    assert_string_equal(allow, "POST, GET");
    assert_int_equal(http_route_find("GET", "/v1/jobs/1/cancel", &m, allow, sizeof allow), 405);
    assert_string_equal(allow, "POST");
    /* health needs no token; the API does */
    assert_int_equal(http_route_find("GET", "/healthz", &m, allow, sizeof allow), 0);
    assert_false(m.auth);
    assert_int_equal(http_route_find("GET", "/v1/stats", &m, allow, sizeof allow), 0);
    assert_true(m.auth);
    assert_string_equal(m.name, "GET /v1/stats");
}

/* Builds the command body of method path with body text and query q. */
static int s_body(const char *method, const char *path, const char *body, const char *idem,
                  s_query_t *q, json_t **out, char *err)
{
    static http_match_t m;
    char allow[64];
    assert_int_equal(http_route_find(method, path, &m, allow, sizeof allow), 0);
    http_request_t req = {&m, s_q, q, body, body ? strlen(body) : 0, idem};
    return http_route_body(&req, out, err, 256);
}

static void s_expect_json(json_t *got, const char *want_text)
{
    json_t *want = json_loads(want_text, 0, NULL);
    assert_non_null(want);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
        print_error("got %s, want %s\n", g, want_text);
        free(g);
        json_decref(want);
        fail();
    }
    json_decref(want);
}

static void test_bodies(void **state)
{
    (void)state;
    json_t *b = NULL;
    char err[256];
    /* one job becomes a batch of one; the header sets its key */
    assert_int_equal(s_body("POST", "/v1/jobs", "{\"queue\":\"q\",\"type\":\"t\"}", "k-1", NULL,
                            &b, err),
                     0);
    s_expect_json(b, "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"idempotency_key\":\"k-1\"}]}");
    json_decref(b);
    /* a key in the body wins over the header */
    assert_int_equal(s_body("POST", "/v1/jobs",
                            "{\"queue\":\"q\",\"type\":\"t\",\"idempotency_key\":\"mine\"}", "k-1",
                            NULL, &b, err),
                     0);
    s_expect_json(b, "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"idempotency_key\":\"mine\"}]}");
    json_decref(b);
    /* a batch passes as it is; with the header it is refused */
    assert_int_equal(s_body("POST", "/v1/jobs", "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\"}]}",
                            NULL, NULL, &b, err),
                     0);
    s_expect_json(b, "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\"}]}");
    json_decref(b);
    assert_int_equal(s_body("POST", "/v1/jobs", "{\"jobs\":[]}", "k", NULL, &b, err), 400);
    assert_non_null(strstr(err, "Idempotency-Key header: only with a single job"));
    assert_int_equal(s_body("POST", "/v1/jobs", "[1,2]", NULL, NULL, &b, err), 400);
    assert_non_null(strstr(err, "must be a JSON object"));
    assert_int_equal(s_body("POST", "/v1/jobs", "{\"queue\":", NULL, NULL, &b, err), 400);
    assert_non_null(strstr(err, "not valid json"));

    /* path ids */
    assert_int_equal(s_body("POST", "/v1/jobs/17/cancel", NULL, NULL, NULL, &b, err), 0);
    s_expect_json(b, "{\"id\":17}");
    json_decref(b);
    assert_int_equal(s_body("POST", "/v1/jobs/x7/retry", NULL, NULL, NULL, &b, err), 400);
    assert_non_null(strstr(err, "job id \"x7\" in the path"));
    s_query_t hist = {{"history"}, {"1"}};
    assert_int_equal(s_body("GET", "/v1/jobs/5", NULL, NULL, &hist, &b, err), 0);
    s_expect_json(b, "{\"id\":5,\"history\":true}");
    json_decref(b);

    /* list: filters, the cursor is LIST's "before" */
    s_query_t lq = {{"state", "queue", "type", "limit", "cursor"},
                    {"dead", "q", "t", "50", "1234"}};
    assert_int_equal(s_body("GET", "/v1/jobs", NULL, NULL, &lq, &b, err), 0);
    s_expect_json(b, "{\"state\":\"dead\",\"queue\":\"q\",\"type\":\"t\",\"limit\":50,"
                     "\"before\":1234}");
    json_decref(b);
    s_query_t bad = {{"limit"}, {"0"}};
    assert_int_equal(s_body("GET", "/v1/jobs", NULL, NULL, &bad, &b, err), 400);
    assert_non_null(strstr(err, "query parameter limit: must be an integer 1..10000"));

    /* bulk: the LIST that selects; defaults state and limit */
    assert_int_equal(s_body("POST", "/v1/jobs:retry", "{\"queue\":\"q\",\"dry_run\":true}", NULL,
                            NULL, &b, err),
                     0);
    s_expect_json(b, "{\"queue\":\"q\",\"state\":\"dead\",\"limit\":1000}");
    json_decref(b);
    assert_int_equal(s_body("POST", "/v1/jobs:cancel", "{}", NULL, NULL, &b, err), 0);
    s_expect_json(b, "{\"state\":\"queued\",\"limit\":1000}");
    json_decref(b);
    assert_int_equal(s_body("POST", "/v1/jobs:cancel", "{\"qeueu\":\"x\"}", NULL, NULL, &b, err),
                     400);
    assert_non_null(strstr(err, "unknown field \"qeueu\""));
    assert_int_equal(s_body("POST", "/v1/jobs:retry", "{\"error\":\"disk full\"}", NULL, NULL,
                            &b, err),
                     0);
    s_expect_json(b, "{\"error\":\"disk full\",\"state\":\"dead\",\"limit\":1000}");
    json_decref(b);

    /* schedules */
    assert_int_equal(s_body("POST", "/v1/schedules/nightly/pause", NULL, NULL, NULL, &b, err), 0);
    s_expect_json(b, "{\"action\":\"pause\",\"name\":\"nightly\"}");
    json_decref(b);
    assert_int_equal(s_body("POST", "/v1/schedules", "{\"name\":\"n\",\"action\":\"remove\"}",
                            NULL, NULL, &b, err),
                     400);
}

static void s_answer(int cmd, const char *reply, int want_status, bool want_problem,
                     const char *want_json)
{
    http_match_t m = {.kind = HTTP_R_COMMAND, .cmd = cmd};
    char *out = NULL;
    bool problem = false;
    int st = http_route_answer(&m, reply, strlen(reply), &out, &problem);
    assert_int_equal(st, want_status);
    assert_int_equal(problem, want_problem);
    json_t *got = json_loads(out, 0, NULL);
    assert_non_null(got);
    s_expect_json(got, want_json);
    json_decref(got);
    free(out);
}

static void test_answers(void **state)
{
    (void)state;
    s_answer(PROTO_C_SUBMIT, "{\"status\":200,\"ids\":[3,4],\"req\":9}", 201, false,
             "{\"ids\":[3,4]}");
    s_answer(PROTO_C_SUBMIT, "{\"status\":200,\"ids\":[3],\"existing\":[true]}", 200, false,
             "{\"ids\":[3],\"existing\":[true]}");
    s_answer(PROTO_C_SUBMIT, "{\"status\":200,\"ids\":[3,4],\"existing\":[true,false]}", 201,
             false, "{\"ids\":[3,4],\"existing\":[true,false]}");
    s_answer(PROTO_C_LIST, "{\"status\":200,\"jobs\":[],\"next_before\":77}", 200, false,
             "{\"jobs\":[],\"next_cursor\":\"77\"}");
    s_answer(PROTO_C_LIST, "{\"status\":200,\"jobs\":[]}", 200, false,
             "{\"jobs\":[],\"next_cursor\":null}");
    s_answer(PROTO_C_CANCEL, "{\"status\":409,\"error\":\"cannot cancel job 5: it is already "
                             "succeeded\"}",
             409, true,
             "{\"type\":\"about:blank\",\"title\":\"Conflict\",\"status\":409,"
             "\"detail\":\"cannot cancel job 5: it is already succeeded\"}");
    s_answer(PROTO_C_GET, "{\"status\":503}", 503, true,
             "{\"type\":\"about:blank\",\"title\":\"Service Unavailable\",\"status\":503,"
             "\"detail\":\"request failed\"}");
    s_answer(PROTO_C_GET, "not json", 502, true,
             "{\"type\":\"about:blank\",\"title\":\"Bad Gateway\",\"status\":502,"
             "\"detail\":\"the coordinator's reply could not be read\"}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
