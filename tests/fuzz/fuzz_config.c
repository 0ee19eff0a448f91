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
 * that are JSON objects within limits.max_payload_bytes, and handler
 * sections (here of the stand-in types of s_types) that keep their
 * tables' and check hooks' promises. A violated invariant aborts, which
 * the fuzzer reports. */
#include "cfgsection.h"
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

/* The job types the worker side is loaded with. The real handlers declare
 * their keys in workers/ (not linked here; tests/unit/test_config.c loads
 * them); these exercise the same section machinery: three key-less types
 * enabled by default, as noop, sleep and fail are, and "probe" with a key
 * of every kind, an environment default and a check hook. */
typedef struct {
    char *url, *secret, *secret_file, *db;
    int count;
    bool flag;
    int64_t min_ms, max_ms, nested_ms;
    size_t bytes, n;
    double ratio;
    char **roots;
    size_t nroots;
} s_probe_t;

#define POFF(field) offsetof(s_probe_t, field)
static const cfgtab_key_t s_probe_keys[] = {
    CFGTAB_K_STR("url", POFF(url), "http://127.0.0.1:1", CFGTAB_SECRET, NULL,
                 cfgtab_check_http_url),
    CFGTAB_K_STR("secret", POFF(secret), NULL, CFGTAB_SECRET | CFGTAB_NULLABLE, NULL, NULL),
    CFGTAB_K_STR("secret_file", POFF(secret_file), NULL, CFGTAB_NULLABLE, NULL, NULL),
    CFGTAB_K_STR("database_url", POFF(db), NULL,
                 CFGTAB_SECRET | CFGTAB_NULLABLE | CFGTAB_ENV_DEFAULT, "ORCH_DATABASE_URL", NULL),
    CFGTAB_K_INT("count", POFF(count), "32", 1, 4096),
    CFGTAB_K_BOOL("flag", POFF(flag), "false"),
    CFGTAB_K_DUR("min", POFF(min_ms), "50ms", 1, CFGTAB_MINUTE),
    CFGTAB_K_DUR("max", POFF(max_ms), "2s", 1, 10 * CFGTAB_MINUTE),
    CFGTAB_K_DUR("nested.timeout", POFF(nested_ms), "30s", 100, CFGTAB_HOUR),
    CFGTAB_K_SIZE("bytes", POFF(bytes), "10MiB", CFGTAB_KIB, CFGTAB_GIB),
    CFGTAB_K_COUNT("n", POFF(n), "3", 0, 1000),
    CFGTAB_K_NUM("ratio", POFF(ratio), "0.5", 0, 1),
    CFGTAB_K_LIST("roots", POFF(roots), POFF(nroots), NULL, 0, 64, NULL, cfgtab_check_abs_path),
};

static int s_probe_check(cfgsection_ctx_t *cx, void *conf)
{
    s_probe_t *p = conf;
    int rc = cfgsection_check_order(cx, "min", p->min_ms, "max", p->max_ms);
    if (rc == 0 && cfgsection_in_file(cx, "secret") && cfgsection_in_file(cx, "secret_file"))
        rc = cfgsection_fail(cx, "secret_file", "cannot be combined with %ssecret",
                             cfgsection_prefix(cx));
    if (rc == 0 && cfgsection_enabled(cx) && !p->db)
        rc = cfgsection_fail(cx, "database_url", "required when enabled");
    if (rc == 0 && cfgsection_enabled(cx) && !p->secret && p->secret_file)
        rc = cfgsection_read_secret(cx, "secret_file", p->secret_file, &p->secret);
    return rc;
}

static const cfgsection_t s_plain = {.enabled = true};
static const cfgsection_t s_probe = {CFGSECTION_KEYS(s_probe_keys, s_probe_t),
                                     .check = s_probe_check};

static const char *s_types(size_t i, const cfgsection_t **schema)
{
    static const char *const names[] = {"noop", "sleep", "fail", "probe"};
    if (i >= 4)
        return NULL;
    *schema = i < 3 ? &s_plain : &s_probe;
    return names[i];
}

static bool s_abs_path(const char *s)
{
    return s && s[0] == '/';
}

static void s_check_handlers(const worker_config_t *cfg)
{
    CHECK(cfg->nsections == 4);
    for (size_t i = 0; i < cfg->nsections; i++) {
        const worker_section_t *sec = cfg->sections[i];
        const cfgsection_t *schema = NULL;
        CHECK(strcmp(sec->type, s_types(i, &schema)) == 0 && sec->schema == schema);
        CHECK(worker_config_section(cfg, sec->type) == sec);
        CHECK(s_in(sec->slots, 0, 1024));
        CHECK((sec->conf != NULL) == (schema->size > 0));
    }
    const worker_section_t *sec = worker_config_section(cfg, "probe");
    const s_probe_t *p = sec->conf;
    CHECK(s_http_ok(p->url));
    CHECK(!p->secret || s_nonempty(p->secret));
    CHECK(!sec->enabled || !p->secret_file || p->secret);
    CHECK(!sec->enabled || s_nonempty(p->db));
    CHECK(s_in(p->count, 1, 4096));
    CHECK(s_in(p->min_ms, 1, MIN) && s_in(p->max_ms, 1, 10 * MIN) && p->min_ms <= p->max_ms);
    CHECK(s_in(p->nested_ms, 100, HOUR));
    CHECK(s_in((int64_t)p->bytes, KIB, GIB));
    CHECK(p->n <= 1000);
    CHECK(p->ratio >= 0 && p->ratio <= 1);
    s_check_list(p->roots, p->nroots, 0, 64, s_abs_path);
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
    rc = worker_config_load(s_path, s_types, &wc, err, errlen);
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
