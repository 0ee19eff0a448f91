/* orch-worker's Prometheus metrics: the exposition text of a snapshot
 * (cumulative histogram buckets ending in +Inf, _sum and _count, escaped
 * label values, number formatting), the counters behind it (bucket
 * boundaries, outcomes, external error reasons, concurrent writers), the
 * /metrics listener over loopback, and the worker.metrics_* config keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "config.h"
#include "handler.h"
#include "orch_error.h"
#include "strbuf.h"
#include "worker_metrics.h"
#include "worker_metrics_http.h"
#include "worker_metrics_render.h"
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- rendering ---- */

static char *s_render(const worker_metrics_snapshot_t *s)
{
    strbuf_t out;
    strbuf_init(&out);
    worker_metrics_render(s, &out);
    return strbuf_detach(&out);
}

/* text holds line as a whole line. */
static void s_has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++) {
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return;
    }
    fail_msg("line not found: %s\n--- in ---\n%s", line, text);
}

static int s_count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void test_render_histogram_cumulative(void **state)
{
    (void)state;
    worker_metrics_type_t t = {.name = "noop", .jobs = {3, 1, 0, 2}};
    /* 2 at <= 1ms, 1 at <= 50ms, 1 above 300s */
    t.duration.buckets[0] = 2;
    t.duration.buckets[3] = 1;
    t.duration.buckets[WORKER_METRICS_NBUCKETS] = 1;
    t.duration.sum = 400.0625;
    worker_metrics_snapshot_t s = {.slots = 4, .slots_busy = 1, .types = &t, .ntypes = 1};
    char *text = s_render(&s);

    const char *name = "orch_worker_handler_duration_seconds";
    s_has_line(text, "# HELP orch_worker_handler_duration_seconds How long the handler ran, "
                     "per job attempt, by job type.");
    s_has_line(text, "# TYPE orch_worker_handler_duration_seconds histogram");
    static const char *const want[] = {
        "_bucket{type=\"noop\",le=\"0.001\"} 2", "_bucket{type=\"noop\",le=\"0.005\"} 2",
        "_bucket{type=\"noop\",le=\"0.01\"} 2",  "_bucket{type=\"noop\",le=\"0.05\"} 3",
        "_bucket{type=\"noop\",le=\"0.1\"} 3",   "_bucket{type=\"noop\",le=\"0.5\"} 3",
        "_bucket{type=\"noop\",le=\"1\"} 3",     "_bucket{type=\"noop\",le=\"5\"} 3",
        "_bucket{type=\"noop\",le=\"10\"} 3",    "_bucket{type=\"noop\",le=\"60\"} 3",
        "_bucket{type=\"noop\",le=\"300\"} 3",   "_bucket{type=\"noop\",le=\"+Inf\"} 4",
        "_sum{type=\"noop\"} 400.0625",          "_count{type=\"noop\"} 4",
    };
    /* in this order, one after the other */
    const char *at = strstr(text, "orch_worker_handler_duration_seconds_bucket");
    assert_non_null(at);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char line[160];
        snprintf(line, sizeof line, "%s%s\n", name, want[i]);
        assert_true(strncmp(at, line, strlen(line)) == 0);
        at += strlen(line);
    }
    s_has_line(text, "orch_worker_jobs_total{type=\"noop\",outcome=\"succeeded\"} 3");
    s_has_line(text, "orch_worker_jobs_total{type=\"noop\",outcome=\"failed_retryable\"} 1");
    s_has_line(text, "orch_worker_jobs_total{type=\"noop\",outcome=\"failed_permanent\"} 0");
    s_has_line(text, "orch_worker_jobs_total{type=\"noop\",outcome=\"cancelled\"} 2");
    s_has_line(text, "orch_worker_slots 4");
    s_has_line(text, "orch_worker_slots_busy 1");
    free(text);
}

static void test_render_families_and_external(void **state)
{
    (void)state;
    worker_metrics_type_t t = {.name = "embed"};
    worker_metrics_snapshot_t s = {.slots = 2,
                                   .types = &t,
                                   .ntypes = 1,
                                   .connected = true,
                                   .reconnects = 7,
                                   .results_unacked = 5,
                                   .resident_bytes = 1048576,
                                   .start_time_seconds = 1700000000.5};
    s.external[WORKER_METRICS_OLLAMA].buckets[1] = 2;
    s.external[WORKER_METRICS_OLLAMA].sum = 0.006;
    s.external_errors[WORKER_METRICS_MEILISEARCH][WORKER_METRICS_HTTP_429] = 3;
    char *text = s_render(&s);
    s_has_line(text, "orch_worker_external_request_duration_seconds_bucket{downstream=\"ollama\","
                     "le=\"0.001\"} 0");
    s_has_line(text, "orch_worker_external_request_duration_seconds_bucket{downstream=\"ollama\","
                     "le=\"+Inf\"} 2");
    s_has_line(text,
               "orch_worker_external_request_duration_seconds_count{downstream=\"ollama\"} 2");
    s_has_line(text,
               "orch_worker_external_request_duration_seconds_count{downstream=\"meilisearch\"} 0");
    s_has_line(text, "orch_worker_external_errors_total{downstream=\"meilisearch\","
                     "reason=\"http_429\"} 3");
    s_has_line(text,
               "orch_worker_external_errors_total{downstream=\"ollama\",reason=\"timeout\"} 0");
    s_has_line(text, "# TYPE orch_worker_external_errors_total counter");
    s_has_line(text, "orch_worker_connected 1");
    s_has_line(text, "orch_worker_reconnects_total 7");
    s_has_line(text, "# TYPE orch_worker_reconnects_total counter");
    s_has_line(text, "orch_worker_results_unacked 5");
    s_has_line(text, "process_resident_memory_bytes 1048576");
    s_has_line(text, "process_start_time_seconds 1700000000.5");
    /* every family: one HELP and one TYPE line, the HELP first */
    static const char *const families[] = {"orch_worker_slots",
                                           "orch_worker_slots_busy",
                                           "orch_worker_jobs_total",
                                           "orch_worker_handler_duration_seconds",
                                           "orch_worker_external_request_duration_seconds",
                                           "orch_worker_external_errors_total",
                                           "orch_worker_results_unacked",
                                           "orch_worker_connected",
                                           "orch_worker_reconnects_total",
                                           "process_resident_memory_bytes",
                                           "process_start_time_seconds"};
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        char help[128], type[128];
        snprintf(help, sizeof help, "# HELP %s ", families[i]);
        snprintf(type, sizeof type, "# TYPE %s ", families[i]);
        assert_int_equal(s_count(text, help), 1);
        assert_int_equal(s_count(text, type), 1);
        assert_true(strstr(text, help) < strstr(text, type));
    }
    assert_int_equal(s_count(text, "# TYPE"), 11);
    assert_int_equal(text[strlen(text) - 1], '\n');
    free(text);

    /* unknown process figures: their lines are left out */
    s.resident_bytes = 0;
    s.start_time_seconds = 0;
    text = s_render(&s);
    assert_null(strstr(text, "process_"));
    free(text);
}

static void test_render_label_escaping(void **state)
{
    (void)state;
    worker_metrics_type_t t = {.name = "a\"b\\c\nd{e}=,f", .jobs = {1}};
    worker_metrics_snapshot_t s = {.slots = 1, .types = &t, .ntypes = 1};
    char *text = s_render(&s);
    s_has_line(text,
               "orch_worker_jobs_total{type=\"a\\\"b\\\\c\\nd{e}=,f\",outcome=\"succeeded\"} 1");
    s_has_line(text,
               "orch_worker_handler_duration_seconds_count{type=\"a\\\"b\\\\c\\nd{e}=,f\"} 0");
    /* the raw newline never reaches the output: every line is a sample or a comment */
    for (const char *line = text; *line; line = strchr(line, '\n') + 1)
        assert_true(line[0] == '#' || strncmp(line, "orch_worker_", 12) == 0 ||
                    strncmp(line, "process_", 8) == 0);
    free(text);

    strbuf_t out;
    strbuf_init(&out);
    worker_metrics_render_label(&out, "");
    worker_metrics_render_label(&out, "caf\xc3\xa9");
    assert_string_equal(out.data, "\"\"\"caf\xc3\xa9\"");
    strbuf_fini(&out);
}

static void s_check_double(double v, const char *want)
{
    strbuf_t out;
    strbuf_init(&out);
    worker_metrics_render_double(&out, v);
    assert_string_equal(out.data, want);
    strbuf_fini(&out);
}

static void test_render_numbers(void **state)
{
    (void)state;
    s_check_double(0, "0");
    s_check_double(0.001, "0.001");
    s_check_double(0.1, "0.1");
    s_check_double(10, "10");
    s_check_double(300, "300");
    s_check_double(1.5, "1.5");
    s_check_double(123456, "123456");
    s_check_double(1e7, "1e+07");
    s_check_double(0.1 + 0.2, "0.30000000000000004");
    s_check_double(1700000000.25, "1700000000.25");
    s_check_double(INFINITY, "+Inf");
    s_check_double(-INFINITY, "-Inf");
    s_check_double(NAN, "NaN");
}

/* ---- counters ---- */

static worker_metrics_t *s_new(void)
{
    const char *types[] = {"noop", "embed"};
    return worker_metrics_new(types, 2, 3);
}

static void test_counters_jobs(void **state)
{
    (void)state;
    worker_metrics_t *m = s_new();
    worker_metrics_job(m, 0, WORKER_METRICS_SUCCEEDED, 1000000); /* exactly 1ms: le 0.001 */
    worker_metrics_job(m, 0, WORKER_METRICS_SUCCEEDED, 1000001); /* just above: le 0.005 */
    worker_metrics_job(m, 0, WORKER_METRICS_FAILED_PERMANENT, 0);
    worker_metrics_job(m, 1, WORKER_METRICS_CANCELLED, -1); /* never ran: no observation */
    worker_metrics_job(m, 1, WORKER_METRICS_FAILED_RETRYABLE, 400000000000LL); /* 400s: +Inf */
    worker_metrics_job(m, 2, WORKER_METRICS_SUCCEEDED, 1);    /* no such type: ignored */
    worker_metrics_job(NULL, 0, WORKER_METRICS_SUCCEEDED, 1); /* no metrics: ignored */
    worker_metrics_set_busy(m, 2);
    worker_metrics_set_unacked(m, 9);
    worker_metrics_set_connected(m, true);
    worker_metrics_reconnect(m);
    worker_metrics_reconnect(m);

    worker_metrics_snapshot_t s;
    worker_metrics_snapshot(m, &s);
    assert_int_equal(s.slots, 3);
    assert_int_equal(s.slots_busy, 2);
    assert_int_equal(s.results_unacked, 9);
    assert_true(s.connected);
    assert_int_equal(s.reconnects, 2);
    assert_int_equal(s.ntypes, 2);
    assert_string_equal(s.types[0].name, "noop");
    assert_int_equal(s.types[0].jobs[WORKER_METRICS_SUCCEEDED], 2);
    assert_int_equal(s.types[0].jobs[WORKER_METRICS_FAILED_PERMANENT], 1);
    assert_int_equal(s.types[0].duration.buckets[0], 2); /* 0 and exactly 1ms */
    assert_int_equal(s.types[0].duration.buckets[1], 1);
    assert_true(fabs(s.types[0].duration.sum - 0.002000001) < 1e-12);
    assert_int_equal(s.types[1].jobs[WORKER_METRICS_CANCELLED], 1);
    assert_int_equal(s.types[1].jobs[WORKER_METRICS_FAILED_RETRYABLE], 1);
    assert_int_equal(s.types[1].duration.buckets[WORKER_METRICS_NBUCKETS], 1);
    uint64_t n = 0;
    for (size_t b = 0; b <= WORKER_METRICS_NBUCKETS; b++)
        n += s.types[1].duration.buckets[b];
    assert_int_equal(n, 1);
    assert_true(s.start_time_seconds > 1.5e9);
    assert_true(s.resident_bytes > 0);
    worker_metrics_snapshot_fini(&s);
    worker_metrics_destroy(&m);
    assert_null(m);
    worker_metrics_destroy(&m);
}

static void test_counters_external_reasons(void **state)
{
    (void)state;
    worker_metrics_t *m = s_new();
    const worker_metrics_downstream_t O = WORKER_METRICS_OLLAMA, M = WORKER_METRICS_MEILISEARCH;
    worker_metrics_external(m, O, 2000000, 0, 200);
    worker_metrics_external(m, O, 2000000, ORCH_ETIMEOUT, 0);
    worker_metrics_external(m, O, 2000000, ORCH_EUNAVAIL, 0);
    worker_metrics_external(m, O, 2000000, ORCH_EIO, 0);
    worker_metrics_external(m, O, 2000000, ORCH_ECANCELLED, 0); /* the job's doing */
    worker_metrics_external(m, O, 2000000, ORCH_ETOOBIG, 200);  /* the job's limit */
    worker_metrics_external(m, M, 1000, 0, 429);
    worker_metrics_external(m, M, 1000, 0, 404);
    worker_metrics_external(m, M, 1000, 0, 408);
    worker_metrics_external(m, M, 1000, 0, 503);
    worker_metrics_external(m, M, 1000, 0, 202);
    worker_metrics_snapshot_t s;
    worker_metrics_snapshot(m, &s);
    const uint64_t(*e)[WORKER_METRICS_NREASONS] = s.external_errors;
    assert_int_equal(s.external[O].buckets[1], 6); /* 2ms: le 0.005, every request timed */
    assert_int_equal(e[O][WORKER_METRICS_TIMEOUT], 1);
    assert_int_equal(e[O][WORKER_METRICS_CONNECT], 2);
    assert_int_equal(e[O][WORKER_METRICS_HTTP_4XX] + e[O][WORKER_METRICS_HTTP_5XX] +
                         e[O][WORKER_METRICS_HTTP_429],
                     0);
    assert_int_equal(s.external[M].buckets[0], 5);
    assert_int_equal(e[M][WORKER_METRICS_HTTP_429], 1);
    assert_int_equal(e[M][WORKER_METRICS_HTTP_4XX], 2);
    assert_int_equal(e[M][WORKER_METRICS_HTTP_5XX], 1);
    assert_int_equal(e[M][WORKER_METRICS_TIMEOUT] + e[M][WORKER_METRICS_CONNECT], 0);
    worker_metrics_snapshot_fini(&s);
    worker_metrics_destroy(&m);
}

#define S_THREADS 4
#define S_PER_THREAD 20000

static void *s_writer(void *arg)
{
    worker_metrics_t *m = arg;
    for (int i = 0; i < S_PER_THREAD; i++) {
        worker_metrics_external(m, WORKER_METRICS_OLLAMA, i % 3 ? 1000 : 20000000, 0, 500);
        worker_metrics_job(m, 1, WORKER_METRICS_SUCCEEDED, 1000);
    }
    return NULL;
}

/* Slot threads record at once, a reader snapshots meanwhile: no update is
 * lost, and _count (the buckets' sum) never runs ahead of the buckets. */
static void test_counters_concurrent(void **state)
{
    (void)state;
    worker_metrics_t *m = s_new();
    pthread_t th[S_THREADS];
    for (int i = 0; i < S_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, s_writer, m), 0);
    for (int k = 0; k < 50; k++) {
        worker_metrics_snapshot_t s;
        worker_metrics_snapshot(m, &s);
        strbuf_t out;
        strbuf_init(&out);
        worker_metrics_render(&s, &out);
        strbuf_fini(&out);
        worker_metrics_snapshot_fini(&s);
    }
    for (int i = 0; i < S_THREADS; i++)
        pthread_join(th[i], NULL);
    worker_metrics_snapshot_t s;
    worker_metrics_snapshot(m, &s);
    uint64_t n = 0;
    for (size_t b = 0; b <= WORKER_METRICS_NBUCKETS; b++)
        n += s.external[WORKER_METRICS_OLLAMA].buckets[b];
    assert_int_equal(n, S_THREADS * S_PER_THREAD);
    assert_int_equal(s.external_errors[WORKER_METRICS_OLLAMA][WORKER_METRICS_HTTP_5XX],
                     S_THREADS * S_PER_THREAD);
    assert_int_equal(s.types[1].jobs[WORKER_METRICS_SUCCEEDED], S_THREADS * S_PER_THREAD);
    worker_metrics_snapshot_fini(&s);
    worker_metrics_destroy(&m);
}

/* ---- the listener ---- */

/* One request over loopback; returns the whole response (caller frees). */
static char *s_http(int port, const char *request)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(write(fd, request, strlen(request)), (ssize_t)strlen(request));
    strbuf_t out;
    strbuf_init(&out);
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        strbuf_append(&out, buf, (size_t)n);
    close(fd);
    return strbuf_detach(&out);
}

static void test_http_serves_metrics(void **state)
{
    (void)state;
    worker_metrics_t *m = s_new();
    worker_metrics_job(m, 0, WORKER_METRICS_SUCCEEDED, 5);
    char err[256] = "";
    worker_metrics_http_t *h = worker_metrics_http_start("127.0.0.1", 0, m, err, sizeof err);
    assert_non_null(h);
    int port = worker_metrics_http_port(h);
    assert_true(port > 0);

    char *r = s_http(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_true(strncmp(r, "HTTP/1.1 200", 12) == 0);
    assert_non_null(strstr(r, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    assert_non_null(strstr(r, "\norch_worker_jobs_total{type=\"noop\",outcome=\"succeeded\"} 1\n"));
    assert_non_null(strstr(r, "\norch_worker_slots 3\n"));
    free(r);
    r = s_http(port, "GET /other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_true(strncmp(r, "HTTP/1.1 404", 12) == 0);
    free(r);
    r = s_http(port, "DELETE /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_true(strncmp(r, "HTTP/1.1 405", 12) == 0);
    assert_non_null(strstr(r, "Allow: GET, HEAD\r\n"));
    free(r);

    /* the port is taken now: a second listener says so */
    worker_metrics_http_t *h2 = worker_metrics_http_start("127.0.0.1", port, m, err, sizeof err);
    assert_null(h2);
    assert_non_null(strstr(err, "could not listen"));
    assert_null(worker_metrics_http_start("no-such-host", 1, m, err, sizeof err));
    worker_metrics_http_stop(&h);
    assert_null(h);
    worker_metrics_http_stop(&h);
    worker_metrics_destroy(&m);
}

/* ---- config: worker.metrics_listen, worker.metrics_insecure ---- */

static int s_load(const char *yaml, worker_config_t **cfg, char *err, size_t errlen)
{
    char path[] = "/tmp/test_worker_metrics_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    int rc = worker_config_load(path, handler_types, cfg, err, errlen);
    unlink(path);
    return rc;
}

static void test_config_keys(void **state)
{
    (void)state;
    char err[1024];
    worker_config_t *cfg = NULL;
    unsetenv("ORCH_WORKER_METRICS_LISTEN");
    assert_int_equal(s_load("worker: {slots: 1}\n", &cfg, err, sizeof err), 0);
    assert_null(cfg->metrics_host); /* off by default */
    worker_config_destroy(&cfg);

    assert_int_equal(
        s_load("worker: {metrics_listen: \"127.0.0.1:9464\"}\n", &cfg, err, sizeof err), 0);
    assert_string_equal(cfg->metrics_host, "127.0.0.1");
    assert_int_equal(cfg->metrics_port, 9464);
    worker_config_destroy(&cfg);

    assert_int_equal(s_load("worker: {metrics_listen: \"[::1]:9464\"}\n", &cfg, err, sizeof err),
                     0);
    assert_string_equal(cfg->metrics_host, "::1");
    worker_config_destroy(&cfg);

    assert_int_equal(s_load("worker: {metrics_listen: \"off\"}\n", &cfg, err, sizeof err), 0);
    assert_null(cfg->metrics_host);
    worker_config_destroy(&cfg);

    /* other hosts: refused unless insecure, with the position of the key */
    assert_int_equal(s_load("worker:\n  metrics_listen: \"0.0.0.0:9464\"\n", &cfg, err, sizeof err),
                     ORCH_ECONFIG);
    assert_non_null(strstr(err, ":2:19:"));
    assert_non_null(strstr(err, "not a loopback address"));
    assert_non_null(strstr(err, "worker.metrics_insecure"));
    assert_int_equal(s_load("worker: {metrics_listen: \"0.0.0.0:9464\", metrics_insecure: true}\n",
                            &cfg, err, sizeof err),
                     0);
    assert_string_equal(cfg->metrics_host, "0.0.0.0");
    worker_config_destroy(&cfg);

    /* a host name cannot be bound as given; a malformed address is an error */
    static const char *const bad[] = {"example.com:9464", "127.0.0.1", "127.0.0.1:99999", ":9464",
                                      "[::1:9464"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char yaml[256];
        snprintf(yaml, sizeof yaml, "worker: {metrics_listen: \"%s\", metrics_insecure: true}\n",
                 bad[i]);
        assert_int_equal(s_load(yaml, &cfg, err, sizeof err), ORCH_ECONFIG);
        assert_non_null(strstr(err, "expected HOST:PORT"));
    }

    /* the environment overrides the file */
    setenv("ORCH_WORKER_METRICS_LISTEN", "localhost:9465", 1);
    assert_int_equal(
        s_load("worker: {metrics_listen: \"127.0.0.1:9464\"}\n", &cfg, err, sizeof err), 0);
    assert_string_equal(cfg->metrics_host, "localhost");
    assert_int_equal(cfg->metrics_port, 9465);
    worker_config_destroy(&cfg);
    setenv("ORCH_WORKER_METRICS_LISTEN", "10.1.2.3:9464", 1);
    assert_int_equal(s_load("worker: {}\n", &cfg, err, sizeof err), ORCH_ECONFIG);
    assert_non_null(strstr(err, "ORCH_WORKER_METRICS_LISTEN"));
    unsetenv("ORCH_WORKER_METRICS_LISTEN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_histogram_cumulative),
        cmocka_unit_test(test_render_families_and_external),
        cmocka_unit_test(test_render_label_escaping),
        cmocka_unit_test(test_render_numbers),
        cmocka_unit_test(test_counters_jobs),
        cmocka_unit_test(test_counters_external_reasons),
        cmocka_unit_test(test_counters_concurrent),
        cmocka_unit_test(test_http_serves_metrics),
        cmocka_unit_test(test_config_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
