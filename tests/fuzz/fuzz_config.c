/* libFuzzer driver for the YAML config loader (orch_config_load and
 * worker_config_load, through cfgtab).
 *
 * Input: the whole config file. It is written to one temporary file
 * (mkstemp in /tmp, rewritten each iteration, unlinked at exit) because the
 * loaders take a path; both loaders read it. The ORCH_* override variables
 * are removed from the environment once, so that the file alone decides the
 * outcome and a developer's shell cannot change what a corpus input does;
 * the driver never sets any.
 *
 * A rejected file must give ORCH_ECONFIG, a NULL config and a message that
 * starts with the file name and fits the buffer (the error buffer is sized
 * exactly, and small for some inputs, so that ASan sees an overrun). An
 * accepted file must give a config that keeps every promise of config.h:
 * ranges, validated names and endpoints, cross-key rules, schedule payloads
 * that are JSON objects within limits.max_payload_bytes. A violated
 * invariant aborts, which the fuzzer reports. */
#include "config.h"
#include "cron.h"
#include "log.h"
#include "orch_error.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_config: invariant failed at line %d: %s\n", __LINE__, #cond);    \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define ERRLEN 512
#define ERRLEN_SMALL 24 /* shorter than the file name: messages are cut */

#define SEC 1000LL
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
#define KIB 1024LL
#define MIB (1024 * KIB)
#define GIB (1024 * MIB)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char s_path[] = "/tmp/fuzz_config.XXXXXX";
static int s_fd = -1;

/* The variables config.h lists as overrides. */
static const char *const s_env_vars[] = {
    "ORCH_DATABASE_URL",   "ORCH_WORKER_ENDPOINT",  "ORCH_CLIENT_ENDPOINT",
    "ORCH_EVENT_ENDPOINT", "ORCH_WORKER_ENDPOINTS", "ORCH_LOG_LEVEL",
    "ORCH_MEILI_API_KEY",  "ORCH_OLLAMA_URL",       "ORCH_MEILI_URL",
};

static void s_cleanup(void)
{
    if (s_fd >= 0) {
        close(s_fd);
        unlink(s_path);
        s_fd = -1;
    }
}

/* Lazily, since the replay runner has no LLVMFuzzerInitialize. */
static void s_init(void)
{
    if (s_fd >= 0)
        return;
    for (size_t i = 0; i < sizeof s_env_vars / sizeof s_env_vars[0]; i++)
        unsetenv(s_env_vars[i]);
    /* a *_file key naming /dev/stdin must not block the fuzzer */
    if (!freopen("/dev/null", "r", stdin))
        perror("fuzz_config: /dev/null");
    s_fd = mkstemp(s_path);
    if (s_fd < 0) {
        perror("fuzz_config: mkstemp");
        abort();
    }
    atexit(s_cleanup);
}

static void s_write(const uint8_t *data, size_t size)
{
    CHECK(ftruncate(s_fd, 0) == 0);
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite(s_fd, data + done, size - done, (off_t)done);
        CHECK(n > 0);
        done += (size_t)n;
    }
}

/* ---- the validators of cfgtab, restated ------------------------------ */

static bool s_name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n >= 1 && n <= 64 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-") == n;
}

static bool s_after_prefix(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(s, prefix, n) == 0 && s[n] != '\0';
}

static bool s_endpoint_ok(const char *s)
{
    return s && (s_after_prefix(s, "tcp://") || s_after_prefix(s, "ipc://") ||
                 s_after_prefix(s, "inproc://"));
}

static bool s_http_ok(const char *s)
{
    return s && (s_after_prefix(s, "http://") || s_after_prefix(s, "https://"));
}

static bool s_nonempty(const char *s)
{
    return s && s[0] != '\0';
}

static bool s_in(int64_t v, int64_t lo, int64_t hi)
{
    return v >= lo && v <= hi;
}

/* A list of valid, distinct strings of n elements within lo..hi. */
static void s_check_list(char **list, size_t n, size_t lo, size_t hi, bool (*ok)(const char *))
{
    CHECK(n >= lo && n <= hi);
    CHECK(n == 0 || list != NULL);
    for (size_t i = 0; i < n; i++) {
        CHECK(ok(list[i]));
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(list[i], list[j]) != 0);
    }
}

/* ---- orchestratord ---------------------------------------------------- */

static void s_check_policy(const queue_policy_t *p)
{
    CHECK(s_in(p->priority, 0, 9));
    CHECK(s_in(p->max_attempts, 1, 1000));
    CHECK(s_in(p->timeout_ms, 100, 30 * DAY));
    CHECK(s_in(p->backoff_base_ms, 1, 7 * DAY));
    CHECK(s_in(p->backoff_max_ms, 1, 7 * DAY));
    CHECK(p->backoff_max_ms >= p->backoff_base_ms);
    CHECK(s_in(p->concurrency, 0, 1000000));
    CHECK(isfinite(p->rate_limit) && p->rate_limit >= 0 && p->rate_limit <= 1000000);
    CHECK(s_in(p->rate_burst, 1, 1000000));
}

static void s_check_schedule(const orch_config_t *cfg, size_t i)
{
    const schedule_config_t *s = &cfg->schedules[i];
    CHECK(s_name_ok(s->name) && s_name_ok(s->queue) && s_name_ok(s->type));
    for (size_t j = 0; j < i; j++)
        CHECK(strcmp(cfg->schedules[j].name, s->name) != 0);
    char err[256];
    cron_t *c = NULL;
    CHECK(s->cron && cron_parse(s->cron, &c, err, sizeof err) == 0);
    cron_destroy(&c);
    CHECK(s->payload && strlen(s->payload) <= cfg->max_payload_bytes);
    json_error_t je;
    json_t *v = json_loads(s->payload, JSON_REJECT_DUPLICATES, &je);
    if (!v)
        fprintf(stderr, "fuzz_config: payload is not JSON: %.200s: %s\n", s->payload, je.text);
    CHECK(json_is_object(v));
    json_decref(v);
    CHECK(s->priority == -1 || s_in(s->priority, 0, 9));
    CHECK(s->max_attempts == 0 || s_in(s->max_attempts, 1, 1000));
}

static void s_check_orch(const orch_config_t *cfg)
{
    CHECK(!cfg->db_url || s_nonempty(cfg->db_url));
    CHECK(!cfg->db_url_file || cfg->db_url); /* the file was read */
    CHECK(s_in(cfg->db_reconnect_max_ms, 10, HOUR));
    CHECK(s_endpoint_ok(cfg->listen_workers) && s_endpoint_ok(cfg->listen_clients) &&
          s_endpoint_ok(cfg->listen_events));
    CHECK(s_in(cfg->heartbeat_interval_ms, 10, 10 * MIN));
    CHECK(s_in(cfg->heartbeat_liveness, 1, 100));
    CHECK(s_in((int64_t)cfg->max_payload_bytes, KIB, GIB));
    CHECK(s_in((int64_t)cfg->max_message_bytes, 4 * KIB, GIB));
    CHECK(cfg->max_payload_bytes <= cfg->max_message_bytes);
    CHECK(s_in((int64_t)cfg->max_batch_jobs, 1, 1000000));
    CHECK(s_in(cfg->ready_window, 16, 1000000));
    CHECK(s_in(cfg->refill_batch, 1, 1000000));
    CHECK(s_in(cfg->max_commit_jobs, 1, 1000000));
    CHECK(s_in(cfg->priority_aging_ms, 0, 7 * DAY));
    CHECK(s_in(cfg->idempotency_window_ms, 0, 365 * DAY));
    CHECK(s_in(cfg->cancel_grace_ms, 0, DAY));
    CHECK(s_in(cfg->log_level, LOG_LEVEL_DEBUG, LOG_LEVEL_ERROR));
    CHECK(cfg->defaults.name == NULL);
    s_check_policy(&cfg->defaults);
    CHECK(orch_config_policy(cfg, NULL) == &cfg->defaults);
    CHECK(cfg->nqueues == 0 || cfg->queues != NULL);
    for (size_t i = 0; i < cfg->nqueues; i++) {
        const queue_policy_t *q = &cfg->queues[i];
        CHECK(s_name_ok(q->name));
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(cfg->queues[j].name, q->name) != 0);
        s_check_policy(q);
        CHECK(orch_config_policy(cfg, q->name) == q);
    }
    CHECK(cfg->nschedules == 0 || cfg->schedules != NULL);
    for (size_t i = 0; i < cfg->nschedules; i++)
        s_check_schedule(cfg, i);
}

/* ---- orch-worker ------------------------------------------------------ */

static bool s_abs_path(const char *s)
{
    return s && s[0] == '/';
}

static void s_check_handlers(const worker_config_t *cfg)
{
    const handler_toggle_t *h[] = {&cfg->h_noop,  &cfg->h_sleep,   &cfg->h_fail,  &cfg->h_embed,
                                   &cfg->h_index, &cfg->h_compact, &cfg->h_backup};
    for (size_t i = 0; i < sizeof h / sizeof h[0]; i++)
        CHECK(s_in(h[i]->slots, 0, 1024));
    CHECK(s_http_ok(cfg->embed.url) && s_nonempty(cfg->embed.model));
    CHECK(s_in(cfg->embed.batch_size, 1, 4096));
    CHECK(s_in(cfg->embed.timeout_ms, 100, HOUR));
    CHECK(!cfg->h_embed.enabled || s_nonempty(cfg->embed.database_url));
    CHECK(s_http_ok(cfg->index.url));
    CHECK(!cfg->index.api_key || s_nonempty(cfg->index.api_key));
    CHECK(!cfg->h_index.enabled || !cfg->index.api_key_file || cfg->index.api_key);
    CHECK(s_in((int64_t)cfg->index.max_request_bytes, KIB, GIB));
    CHECK(s_in(cfg->index.timeout_ms, 100, HOUR));
    CHECK(s_in(cfg->index.poll_initial_ms, 1, MIN));
    CHECK(s_in(cfg->index.poll_max_ms, 1, 10 * MIN));
    CHECK(cfg->index.poll_initial_ms <= cfg->index.poll_max_ms);
    CHECK(!cfg->h_compact.enabled || s_nonempty(cfg->compact.database_url));
    CHECK(s_in(cfg->compact.retention_ms, 0, 365 * DAY));
    s_check_list(cfg->backup.allowed_roots, cfg->backup.nallowed_roots, 0, 64, s_abs_path);
    CHECK(!cfg->h_backup.enabled ||
          (s_nonempty(cfg->backup.database_url) && cfg->backup.nallowed_roots >= 1));
    CHECK(s_abs_path(cfg->backup.bin_dir));
    CHECK(s_in(cfg->backup.timeout_ms, SEC, DAY));
}

static void s_check_worker(const worker_config_t *cfg)
{
    CHECK(s_name_ok(cfg->name));
    s_check_list(cfg->endpoints, cfg->nendpoints, 1, 64, s_endpoint_ok);
    CHECK(s_in(cfg->slots, 1, 1024));
    s_check_list(cfg->queues, cfg->nqueues, 1, 1024, s_name_ok);
    CHECK(s_in(cfg->heartbeat_interval_ms, 10, 10 * MIN));
    CHECK(s_in(cfg->heartbeat_liveness, 1, 100));
    CHECK(s_in(cfg->reconnect_min_ms, 1, HOUR));
    CHECK(s_in(cfg->reconnect_max_ms, 1, DAY));
    CHECK(cfg->reconnect_min_ms <= cfg->reconnect_max_ms);
    CHECK(s_in(cfg->drain_timeout_ms, 0, DAY));
    CHECK(s_in((int64_t)cfg->max_message_bytes, 4 * KIB, GIB));
    CHECK(s_in(cfg->log_level, LOG_LEVEL_DEBUG, LOG_LEVEL_ERROR));
    s_check_handlers(cfg);
}

/* ---- both ------------------------------------------------------------- */

/* A failed load: ORCH_ECONFIG, no config, a terminated message that names
 * the file first (as far as the buffer holds it). */
static void s_check_failure(int rc, const void *out, const char *err, size_t errlen)
{
    CHECK(rc == ORCH_ECONFIG);
    CHECK(out == NULL);
    CHECK(memchr(err, '\0', errlen) != NULL);
    size_t plen = strlen(s_path);
    size_t want = plen < errlen - 1 ? plen : errlen - 1;
    CHECK(strlen(err) >= want && strncmp(err, s_path, want) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_init();
    s_write(data, size);
    /* Exactly sized and not terminated beforehand: a message that runs past
     * the buffer or is never written shows up under ASan. */
    size_t errlen = size % 4 == 3 ? ERRLEN_SMALL : ERRLEN;
    char *err = malloc(errlen);
    CHECK(err != NULL);

    memset(err, 'x', errlen);
    orch_config_t *oc = (orch_config_t *)&s_fd; /* must be overwritten */
    int rc = orch_config_load(s_path, &oc, err, errlen);
    if (rc == 0) {
        CHECK(oc != NULL);
        s_check_orch(oc);
        orch_config_destroy(&oc);
        CHECK(oc == NULL);
    } else {
        s_check_failure(rc, oc, err, errlen);
    }

    memset(err, 'x', errlen);
    worker_config_t *wc = (worker_config_t *)&s_fd;
    rc = worker_config_load(s_path, &wc, err, errlen);
    if (rc == 0) {
        CHECK(wc != NULL);
        s_check_worker(wc);
        worker_config_destroy(&wc);
        CHECK(wc == NULL);
    } else {
        s_check_failure(rc, wc, err, errlen);
    }
    free(err);
    return 0;
}
