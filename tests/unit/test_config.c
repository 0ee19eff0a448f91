/* Unit tests of config/: defaults, the example files, every error class with
 * its file:line:column and key, environment overrides, secrets kept out of
 * messages, durations and sizes, queue policy inheritance (rate limits
 * included), schedules and their YAML-to-JSON payloads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config.h"
#include "handler.h"
#include "handler_backup_verify.h"
#include "handler_compact.h"
#include "handler_embed.h"
#include "handler_index.h"
#include "strbuf.h"
#include "log.h"
#include "orch_error.h"

#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char s_dir[64];   /* per-run temporary directory */
static char s_path[256]; /* the last file written by s_write */
static char s_err[512];

static const char *s_env_vars[] = {
    "ORCH_DATABASE_URL",   "ORCH_WORKER_ENDPOINT",  "ORCH_CLIENT_ENDPOINT",
    "ORCH_EVENT_ENDPOINT", "ORCH_WORKER_ENDPOINTS", "ORCH_LOG_LEVEL",
    "ORCH_OLLAMA_URL",     "ORCH_MEILI_URL",        "ORCH_MEILI_API_KEY",
};

/* ---- helpers ----------------------------------------------------------- */

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        if (!strstr((hay), (needle))) {                                                            \
            print_error("expected \"%s\" in \"%s\"\n", (needle), (hay));                           \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

#define assert_lacks(hay, needle)                                                                  \
    do {                                                                                           \
        if (strstr((hay), (needle))) {                                                             \
            print_error("did not expect \"%s\" in \"%s\"\n", (needle), (hay));                     \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

static int s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int s_setup_group(void **state)
{
    (void)state;
    snprintf(s_dir, sizeof s_dir, "/tmp/test_config.XXXXXX");
    return mkdtemp(s_dir) ? 0 : -1;
}

static int s_teardown_group(void **state)
{
    (void)state;
    return nftw(s_dir, s_rm, 8, FTW_DEPTH | FTW_PHYS);
}

static int s_setup(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_env_vars / sizeof s_env_vars[0]; i++)
        unsetenv(s_env_vars[i]);
    s_err[0] = '\0';
    return 0;
}

/* Writes text to name inside the temporary directory; returns its path. */
static const char *s_write(const char *name, const char *text)
{
    snprintf(s_path, sizeof s_path, "%s/%s", s_dir, name);
    FILE *f = fopen(s_path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return s_path;
}

/* The repository root: ORCH_SOURCE_DIR (set by CTest) or derived from this file. */
static void s_src(const char *rel, char *buf, size_t len)
{
    const char *root = getenv("ORCH_SOURCE_DIR");
    if (root) {
        snprintf(buf, len, "%s/%s", root, rel);
        return;
    }
    const char *me = __FILE__;
    const char *cut = strstr(me, "tests/unit/test_config.c");
    snprintf(buf, len, "%.*s%s", cut ? (int)(cut - me) : 0, me, rel);
}

/* The section of type in c (the built-in handlers' schemas come from the
 * registry, handler_types) and the typed structs of the four handlers with
 * keys. */
static const worker_section_t *s_sec(const worker_config_t *c, const char *type)
{
    const worker_section_t *sec = worker_config_section(c, type);
    assert_non_null(sec);
    return sec;
}

static const embed_config_t *s_embed(const worker_config_t *c)
{
    return s_sec(c, "embed")->conf;
}

static const index_config_t *s_index(const worker_config_t *c)
{
    return s_sec(c, "index")->conf;
}

static const compact_config_t *s_compact(const worker_config_t *c)
{
    return s_sec(c, "compact")->conf;
}

static const backup_config_t *s_backup(const worker_config_t *c)
{
    return s_sec(c, "backup_verify")->conf;
}

/* Loads yaml as an orchestrator config; returns the rc, cfg in *out. */
static int s_orch(const char *yaml, orch_config_t **out)
{
    const char *path = s_write("orch.yaml", yaml);
    return orch_config_load(path, out, s_err, sizeof s_err);
}

static int s_worker(const char *yaml, worker_config_t **out)
{
    const char *path = s_write("worker.yaml", yaml);
    return worker_config_load(path, handler_types, out, s_err, sizeof s_err);
}

/* Expects yaml to fail with exactly "<file>:<where>" followed by msg. */
static void s_orch_fails(const char *yaml, const char *where_msg)
{
    orch_config_t *cfg = (orch_config_t *)0x1;
    assert_int_equal(s_orch(yaml, &cfg), ORCH_ECONFIG);
    assert_null(cfg);
    char expect[512];
    snprintf(expect, sizeof expect, "%s:%s", s_path, where_msg);
    assert_string_equal(s_err, expect);
}

static void s_worker_fails(const char *yaml, const char *where_msg)
{
    worker_config_t *cfg = (worker_config_t *)0x1;
    assert_int_equal(s_worker(yaml, &cfg), ORCH_ECONFIG);
    assert_null(cfg);
    char expect[512];
    snprintf(expect, sizeof expect, "%s:%s", s_path, where_msg);
    assert_string_equal(s_err, expect);
}

/* ---- defaults ---------------------------------------------------------- */

/* Every default except the queue list, which the example file fills. */
static void s_assert_orch_scalars(const orch_config_t *c)
{
    assert_null(c->db_url);
    assert_null(c->db_url_file);
    assert_int_equal(c->db_reconnect_max_ms, 5000);
    assert_string_equal(c->listen_workers, "tcp://127.0.0.1:5555");
    assert_string_equal(c->listen_clients, "tcp://127.0.0.1:5556");
    assert_string_equal(c->listen_events, "tcp://127.0.0.1:5557");
    assert_int_equal(c->heartbeat_interval_ms, 1000);
    assert_int_equal(c->heartbeat_liveness, 3);
    assert_int_equal(c->max_payload_bytes, 1048576);
    assert_int_equal(c->max_message_bytes, 16777216);
    assert_int_equal(c->max_batch_jobs, 10000);
    assert_int_equal(c->ready_window, 4096);
    assert_int_equal(c->waiting_window, 100000);
    assert_int_equal(c->refill_batch, 1024);
    assert_int_equal(c->max_commit_jobs, 20000);
    assert_int_equal(c->priority_aging_ms, 0);
    assert_int_equal(c->idempotency_window_ms, 86400000);
    assert_int_equal(c->cancel_grace_ms, 30000);
    assert_null(c->defaults.name);
    assert_int_equal(c->defaults.priority, 5);
    assert_int_equal(c->defaults.max_attempts, 5);
    assert_int_equal(c->defaults.timeout_ms, 300000);
    assert_int_equal(c->defaults.backoff_base_ms, 1000);
    assert_int_equal(c->defaults.backoff_max_ms, 300000);
    assert_int_equal(c->defaults.concurrency, 0);
    assert_true(c->defaults.rate_limit == 0.0);
    assert_int_equal(c->defaults.rate_burst, 1);
    assert_int_equal(c->log_level, LOG_LEVEL_INFO);
}

static void s_assert_orch_defaults(const orch_config_t *c)
{
    s_assert_orch_scalars(c);
    assert_int_equal(c->nqueues, 0);
    assert_null(c->queues);
    assert_int_equal(c->nschedules, 0);
    assert_null(c->schedules);
}

static void test_orch_defaults(void **state)
{
    (void)state;
    orch_config_t *cfg = NULL;
    assert_int_equal(orch_config_load(NULL, &cfg, s_err, sizeof s_err), 0);
    s_assert_orch_defaults(cfg);
    assert_ptr_equal(orch_config_policy(cfg, "anything"), &cfg->defaults);
    assert_ptr_equal(orch_config_policy(cfg, NULL), &cfg->defaults);
    orch_config_destroy(&cfg);
    assert_null(cfg);
    orch_config_destroy(&cfg); /* NULL is fine */
    orch_config_destroy(NULL);
}

static void test_empty_files_are_defaults(void **state)
{
    (void)state;
    static const char *empties[] = {"", "# only a comment\n", "---\n", "---\n...\n", "~\n"};
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        orch_config_t *cfg = NULL;
        assert_int_equal(s_orch(empties[i], &cfg), 0);
        s_assert_orch_defaults(cfg);
        orch_config_destroy(&cfg);
        worker_config_t *w = NULL;
        assert_int_equal(s_worker(empties[i], &w), 0);
        assert_int_equal(w->slots, 4);
        worker_config_destroy(&w);
    }
}

static void test_worker_defaults(void **state)
{
    (void)state;
    worker_config_t *c = NULL;
    assert_int_equal(worker_config_load(NULL, handler_types, &c, s_err, sizeof s_err), 0);
    char suffix[32];
    snprintf(suffix, sizeof suffix, "-%ld", (long)getpid());
    size_t n = strlen(c->name), m = strlen(suffix);
    assert_true(n > m && n <= 64);
    assert_string_equal(c->name + n - m, suffix);
    assert_int_equal(c->nendpoints, 1);
    assert_string_equal(c->endpoints[0], "tcp://127.0.0.1:5555");
    assert_int_equal(c->slots, 4);
    assert_int_equal(c->nqueues, 1);
    assert_string_equal(c->queues[0], "default");
    assert_int_equal(c->heartbeat_interval_ms, 1000);
    assert_int_equal(c->heartbeat_liveness, 3);
    assert_int_equal(c->reconnect_min_ms, 250);
    assert_int_equal(c->reconnect_max_ms, 32000);
    assert_int_equal(c->drain_timeout_ms, 30000);
    assert_int_equal(c->max_message_bytes, 16777216);
    assert_int_equal(c->log_level, LOG_LEVEL_INFO);
    assert_true(s_sec(c, "noop")->enabled && s_sec(c, "sleep")->enabled &&
                s_sec(c, "fail")->enabled);
    assert_false(s_sec(c, "embed")->enabled || s_sec(c, "index")->enabled ||
                 s_sec(c, "compact")->enabled || s_sec(c, "backup_verify")->enabled);
    assert_int_equal(s_sec(c, "noop")->slots, 0);
    assert_string_equal(s_embed(c)->url, "http://127.0.0.1:11434");
    assert_string_equal(s_embed(c)->model, "nomic-embed-text");
    assert_int_equal(s_embed(c)->batch_size, 32);
    assert_int_equal(s_embed(c)->timeout_ms, 30000);
    assert_null(s_embed(c)->database_url);
    assert_string_equal(s_index(c)->url, "http://127.0.0.1:7700");
    assert_null(s_index(c)->api_key);
    assert_null(s_index(c)->api_key_file);
    assert_int_equal(s_index(c)->max_request_bytes, 10485760);
    assert_int_equal(s_index(c)->timeout_ms, 30000);
    assert_int_equal(s_index(c)->poll_initial_ms, 50);
    assert_int_equal(s_index(c)->poll_max_ms, 2000);
    assert_null(s_compact(c)->database_url);
    assert_int_equal(s_compact(c)->retention_ms, 86400000);
    assert_int_equal(s_backup(c)->nallowed_roots, 0);
    assert_null(s_backup(c)->database_url);
    assert_string_equal(s_backup(c)->bin_dir, "/usr/lib/postgresql/15/bin");
    assert_int_equal(s_backup(c)->timeout_ms, 600000);
    worker_config_destroy(&c);
    assert_null(c);
    worker_config_destroy(NULL);
}

/* ---- example files ----------------------------------------------------- */

static void test_example_orchestrator_loads(void **state)
{
    (void)state;
    char path[512];
    s_src("config/orchestrator.yaml", path, sizeof path);
    orch_config_t *cfg = NULL;
    int rc = orch_config_load(path, &cfg, s_err, sizeof s_err);
    if (rc)
        print_error("%s\n", s_err);
    assert_int_equal(rc, 0);
    /* the example spells out the built-in defaults */
    s_assert_orch_scalars(cfg);
    assert_int_equal(cfg->nqueues, 3);
    const queue_policy_t *p = orch_config_policy(cfg, "embeddings");
    assert_string_equal(p->name, "embeddings");
    assert_int_equal(p->priority, 6);
    assert_int_equal(p->timeout_ms, 120000);
    assert_int_equal(p->backoff_max_ms, 600000);
    assert_int_equal(p->max_attempts, 5);       /* inherited */
    assert_int_equal(p->backoff_base_ms, 1000); /* inherited */
    assert_int_equal(p->concurrency, 0);
    assert_int_equal(p->rate_burst, 1);
    p = orch_config_policy(cfg, "maintenance");
    assert_int_equal(p->max_attempts, 3);
    assert_int_equal(p->timeout_ms, 3600000);
    assert_int_equal(p->concurrency, 2);
    assert_true(p->rate_limit == 0.0);
    /* the platform's default schedules */
    assert_int_equal(cfg->nschedules, 2);
    const schedule_config_t *s = &cfg->schedules[0];
    assert_string_equal(s->name, "compact-hourly");
    assert_string_equal(s->cron, "@hourly");
    assert_string_equal(s->queue, "maintenance");
    assert_string_equal(s->type, "compact");
    assert_string_equal(s->payload, "{\"all\":true,\"older_than\":\"1h\"}");
    assert_int_equal(s->priority, -1);
    assert_int_equal(s->max_attempts, 0);
    assert_false(s->paused);
    assert_int_equal(s->nthen, 0);
    /* the nightly backup, verified by its follow-up job */
    s = &cfg->schedules[1];
    assert_string_equal(s->name, "basebackup-daily");
    assert_string_equal(s->cron, "0 3 * * *");
    assert_string_equal(s->type, "backup");
    assert_string_equal(s->payload, "{\"kind\":\"basebackup\"}");
    assert_int_equal(s->nthen, 1);
    assert_string_equal(s->then[0].type, "backup_verify");
    assert_null(s->then[0].queue); /* the schedule's: maintenance */
    assert_string_equal(s->then[0].payload,
                        "{\"kind\":\"basebackup\",\"path\":\"/var/backups/postgresql/latest\"}");
    assert_int_equal(s->then[0].priority, -1);
    assert_int_equal(s->then[0].max_attempts, 0);
    orch_config_destroy(&cfg);
}

static void test_example_worker_loads(void **state)
{
    (void)state;
    char path[512];
    s_src("config/worker.yaml", path, sizeof path);
    worker_config_t *cfg = NULL;
    int rc = worker_config_load(path, handler_types, &cfg, s_err, sizeof s_err);
    if (rc)
        print_error("%s\n", s_err);
    assert_int_equal(rc, 0);
    assert_int_equal(cfg->nendpoints, 1);
    assert_string_equal(cfg->endpoints[0], "tcp://127.0.0.1:5555");
    assert_int_equal(cfg->slots, 4);
    assert_true(s_sec(cfg, "noop")->enabled && s_sec(cfg, "sleep")->enabled &&
                s_sec(cfg, "fail")->enabled);
    assert_false(s_sec(cfg, "embed")->enabled || s_sec(cfg, "index")->enabled ||
                 s_sec(cfg, "compact")->enabled || s_sec(cfg, "backup_verify")->enabled);
    worker_config_destroy(&cfg);
}

/* The commented-out handler sections of worker.yaml, uncommented, load too
 * (with ORCH_DATABASE_URL filling the database_url keys). */
static void test_example_worker_handlers_uncommented(void **state)
{
    (void)state;
    char path[512], line[512];
    s_src("config/worker.yaml", path, sizeof path);
    FILE *in = fopen(path, "r");
    assert_non_null(in);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    bool on = false;
    while (fgets(line, sizeof line, in)) {
        if (strncmp(line, "  # embed:", 10) == 0)
            on = true;
        if (on && strncmp(line, "  # ", 4) == 0)
            fprintf(out, "  %s", line + 4);
        else if (on && strncmp(line, "  #", 3) == 0)
            fputs("\n", out);
        else
            fputs(line, out);
    }
    fclose(in);
    fclose(out);
    setenv("ORCH_DATABASE_URL", "postgresql:///orch?host=/tmp", 1);
    worker_config_t *cfg = NULL;
    int rc = s_worker(text, &cfg);
    free(text);
    if (rc)
        print_error("%s\n", s_err);
    assert_int_equal(rc, 0);
    assert_true(s_sec(cfg, "embed")->enabled && s_sec(cfg, "index")->enabled &&
                s_sec(cfg, "compact")->enabled && s_sec(cfg, "backup_verify")->enabled);
    assert_int_equal(s_sec(cfg, "compact")->slots, 1);
    assert_string_equal(s_embed(cfg)->database_url, "postgresql:///orch?host=/tmp");
    assert_string_equal(s_compact(cfg)->database_url, "postgresql:///orch?host=/tmp");
    assert_string_equal(s_backup(cfg)->database_url, "postgresql:///orch?host=/tmp");
    assert_int_equal(s_backup(cfg)->nallowed_roots, 1);
    assert_string_equal(s_backup(cfg)->allowed_roots[0], "/var/backups/postgresql");
    assert_null(s_index(cfg)->api_key);
    worker_config_destroy(&cfg);
}

/* ---- error classes ----------------------------------------------------- */

static void test_error_unknown_key(void **state)
{
    (void)state;
    s_orch_fails("log:\n  level: info\nheartbeat:\n  intervl: 1s\n",
                 "4:3: unknown key \"heartbeat.intervl\"");
    s_orch_fails("databse:\n  url: x\n", "1:1: unknown key \"databse\"");
    /* a dotted key is not a shorthand for nesting */
    s_orch_fails("heartbeat.interval: 1s\n", "1:1: unknown key \"heartbeat.interval\"");
    /* a leaf is not a section */
    s_orch_fails("log:\n  level:\n    x: 1\n",
                 "3:5: \"log.level\": expected one of debug, info, warn, error, got a mapping");
    s_orch_fails("queues:\n  - name: a\n    prio: 1\n", "3:5: unknown key \"queues[0].prio\"");
    s_worker_fails("handlers:\n  ollama: {}\n",
                   "2:3: unknown key \"handlers.ollama\" (job types: noop, sleep, fail, embed, "
                   "index, compact, backup, backup_verify, exec, http)");
    s_worker_fails("handlers:\n  embed:\n    modle: x\n",
                   "3:5: unknown key \"handlers.embed.modle\"");
}

static void test_error_wrong_type(void **state)
{
    (void)state;
    s_worker_fails("worker:\n  name: w1\n  queues: [a]\n  slots: many\n",
                   "4:10: \"worker.slots\": expected an integer 1..1024, got \"many\"");
    s_worker_fails("worker:\n  slots: [1]\n",
                   "2:10: \"worker.slots\": expected an integer 1..1024, got a list");
    s_worker_fails("worker:\n  slots:\n",
                   "2:9: \"worker.slots\": expected an integer 1..1024, got null");
    s_worker_fails("worker:\n  endpoints: tcp://127.0.0.1:1\n",
                   "2:14: \"worker.endpoints\": expected a list of strings, got a scalar");
    s_worker_fails("worker: [1, 2]\n", "1:9: \"worker\": expected a mapping, got a list");
    s_worker_fails("handlers:\n  noop: {enabled: maybe}\n",
                   "2:19: \"handlers.noop.enabled\": expected true or false, got \"maybe\"");
    s_worker_fails("handlers:\n  embed: yes\n",
                   "2:10: \"handlers.embed\": expected a mapping, got \"yes\"");
    s_orch_fails("log: {level: loud}\n",
                 "1:14: \"log.level\": expected one of debug, info, warn, error, got \"loud\"");
    s_orch_fails("heartbeat:\n  interval: fast\n",
                 "2:13: \"heartbeat.interval\": expected a duration 10ms..10m (e.g. \"250ms\", "
                 "\"30s\", \"5m\"), got \"fast\"");
    s_orch_fails("limits:\n  max_message_bytes: 1MB\n",
                 "2:22: \"limits.max_message_bytes\": expected a size 4KiB..1GiB (bytes, or "
                 "e.g. \"512KiB\", \"16MiB\"), got \"1MB\"");
    s_orch_fails("listen:\n  workers: 127.0.0.1:5555\n",
                 "2:12: \"listen.workers\": expected a ZeroMQ endpoint (tcp://host:port, "
                 "ipc://path or inproc://name), got \"127.0.0.1:5555\"");
    s_orch_fails("listen:\n  workers: \"\"\n",
                 "2:12: \"listen.workers\": expected a non-empty string, got \"\"");
    s_orch_fails("queues: {name: a}\n",
                 "1:9: \"queues\": expected a list of mappings, got a mapping");
    s_orch_fails("queues:\n  - default\n", "2:5: \"queues[0]\": expected a mapping with a name");
    s_orch_fails("? [a]\n: 1\n", "1:3: expected a plain key, got a list");
}

static void test_error_out_of_range(void **state)
{
    (void)state;
    s_orch_fails("heartbeat:\n  liveness: 0\n",
                 "2:13: \"heartbeat.liveness\": expected an integer 1..100, got \"0\"");
    s_orch_fails("heartbeat:\n  liveness: 101\n",
                 "2:13: \"heartbeat.liveness\": expected an integer 1..100, got \"101\"");
    s_orch_fails("scheduler:\n  ready_window: 15\n",
                 "2:17: \"scheduler.ready_window\": expected an integer 16..1000000, got \"15\"");
    s_orch_fails("defaults:\n  priority: 10\n",
                 "2:13: \"defaults.priority\": expected an integer 0..9, got \"10\"");
    s_orch_fails("defaults:\n  max_attempts: 0\n",
                 "2:17: \"defaults.max_attempts\": expected an integer 1..1000, got \"0\"");
    s_orch_fails("queues:\n  - {name: q, priority: -1}\n",
                 "2:25: \"queues[0].priority\": expected an integer 0..9, got \"-1\"");
    s_orch_fails("queues:\n  - name: \"no spaces\"\n",
                 "2:11: \"queues[0].name\": expected a name of 1..64 characters "
                 "[A-Za-z0-9_.:-], got \"no spaces\"");
    s_worker_fails("worker:\n  slots: 1025\n",
                   "2:10: \"worker.slots\": expected an integer 1..1024, got \"1025\"");
    s_worker_fails("worker:\n  slots: 99999999999999999999\n",
                   "2:10: \"worker.slots\": expected an integer 1..1024, got "
                   "\"99999999999999999999\"");
    s_worker_fails("worker:\n  endpoints: []\n",
                   "2:14: \"worker.endpoints\": expected 1..64 elements, got 0");
    s_worker_fails("worker:\n  queues: [a, b, a]\n",
                   "2:18: \"worker.queues[2]\": repeats an earlier element");
    s_worker_fails("handlers:\n  backup_verify:\n    allowed_roots: [var/backups]\n",
                   "3:21: \"handlers.backup_verify.allowed_roots[0]\": expected an absolute "
                   "path, got \"var/backups\"");
}

static void test_error_duplicate_key(void **state)
{
    (void)state;
    s_orch_fails("listen:\n  workers: tcp://a:1\nlisten:\n  clients: tcp://a:2\n",
                 "3:1: duplicate key \"listen\"");
    s_orch_fails("heartbeat:\n  interval: 1s\n  liveness: 3\n  interval: 2s\n",
                 "4:3: duplicate key \"heartbeat.interval\"");
    s_orch_fails("queues:\n  - {name: a, priority: 1, priority: 2}\n",
                 "2:28: duplicate key \"queues[0].priority\"");
    s_orch_fails("queues:\n  - name: a\n  - name: b\n  - name: a\n",
                 "4:11: \"queues[2].name\": queue \"a\" is already defined");
}

static void test_error_structure(void **state)
{
    (void)state;
    s_orch_fails("- a\n- b\n", "1:1: top level must be a mapping, got a list");
    s_orch_fails("just a string\n", "1:1: top level must be a mapping, got a scalar");
    s_orch_fails("log:\n  level: info\n  x: y: z\n",
                 "3:7: invalid YAML: mapping values are not allowed in this context");
    s_orch_fails("log: [info\n", "2:1: invalid YAML: did not find expected ',' or ']'");
    s_orch_fails("log:\n\tlevel: info\n",
                 "2:1: invalid YAML: found character that cannot start any token");
    s_orch_fails("log: {level: info}\n---\nlog: {level: warn}\n",
                 "3:1: expected a single YAML document");
    s_orch_fails("queues:\n  - priority: 1\n", "2:5: \"queues[0]\": missing required key \"name\"");
    s_orch_fails("log:\n  level: \xff\xfe\n", "2:10: invalid YAML: invalid leading UTF-8 octet");
    s_orch_fails("log:\n  level: a\x01b\n",
                 "2:11: invalid YAML: control characters are not allowed");
}

static void test_error_cannot_open(void **state)
{
    (void)state;
    orch_config_t *cfg = (orch_config_t *)0x1;
    assert_int_equal(orch_config_load("x.yaml", &cfg, s_err, sizeof s_err), ORCH_ECONFIG);
    assert_null(cfg);
    assert_string_equal(s_err, "cannot open \"x.yaml\": No such file or directory");
    worker_config_t *w = (worker_config_t *)0x1;
    assert_int_equal(
        worker_config_load("/nonexistent/w.yaml", handler_types, &w, s_err, sizeof s_err),
        ORCH_ECONFIG);
    assert_null(w);
    assert_string_equal(s_err, "cannot open \"/nonexistent/w.yaml\": No such file or directory");
    /* a directory opens but cannot be read */
    assert_int_equal(orch_config_load(s_dir, &cfg, s_err, sizeof s_err), ORCH_ECONFIG);
    assert_contains(s_err, s_dir);
    /* no err buffer is fine */
    assert_int_equal(orch_config_load("x.yaml", &cfg, NULL, 0), ORCH_ECONFIG);
}

static void test_error_cross_field(void **state)
{
    (void)state;
    s_orch_fails("limits:\n  max_message_bytes: 64KiB\n  max_payload_bytes: 128KiB\n",
                 "3:22: \"limits.max_payload_bytes\": limits.max_payload_bytes (131072) must not "
                 "exceed limits.max_message_bytes (65536)");
    /* the payload limit left at its default: blame the key the file set */
    s_orch_fails("limits:\n  max_message_bytes: 64KiB\n",
                 "2:22: \"limits.max_message_bytes\": limits.max_payload_bytes (1048576) must "
                 "not exceed limits.max_message_bytes (65536)");
    s_orch_fails("defaults:\n  backoff_base: 1m\n  backoff_max: 30s\n",
                 "3:16: \"defaults.backoff_max\": must be at least backoff_base (1m)");
    s_orch_fails("defaults:\n  backoff_base: 10m\n",
                 "2:17: \"defaults.backoff_base\": must not exceed backoff_max (5m)");
    /* a queue raising its base above the inherited cap */
    s_orch_fails("queues:\n  - name: q\n    backoff_base: 10m\n",
                 "3:19: \"queues[0].backoff_base\": must not exceed backoff_max (5m)");
    s_worker_fails("worker:\n  reconnect_min: 1m\n  reconnect_max: 30s\n",
                   "3:18: \"worker.reconnect_max\": must be at least worker.reconnect_min (1m)");
    s_worker_fails("handlers:\n  index:\n    poll_initial: 5s\n",
                   "3:19: \"handlers.index.poll_initial\": must not exceed "
                   "handlers.index.poll_max (2s)");
    s_worker_fails("handlers:\n  embed: {}\n",
                   " \"handlers.embed.database_url\": required when the embed handler is "
                   "enabled (or set ORCH_DATABASE_URL)");
    s_worker_fails("handlers:\n  compact:\n",
                   " \"handlers.compact.database_url\": required when the compact handler is "
                   "enabled (or set ORCH_DATABASE_URL)");
    s_worker_fails("handlers:\n  backup_verify: {database_url: \"dbname=x\"}\n",
                   " \"handlers.backup_verify.allowed_roots\": at least one root (or a stanza) is "
                   "required "
                   "when the backup_verify handler is enabled");
    s_worker_fails("handlers:\n  index:\n    api_key: k\n    api_key_file: key.txt\n",
                   "4:19: \"handlers.index.api_key_file\": cannot be combined with "
                   "handlers.index.api_key: set one of them");
    s_orch_fails("database:\n  url: dbname=x\n  url_file: url.txt\n",
                 "3:13: \"database.url_file\": cannot be combined with database.url: set one "
                 "of them");
}

/* ---- environment ------------------------------------------------------- */

static void test_env_orch(void **state)
{
    (void)state;
    setenv("ORCH_DATABASE_URL", "postgresql://u@h/db", 1);
    setenv("ORCH_WORKER_ENDPOINT", "ipc:///tmp/w.sock", 1);
    setenv("ORCH_CLIENT_ENDPOINT", "tcp://127.0.0.1:6000", 1);
    setenv("ORCH_EVENT_ENDPOINT", "inproc://events", 1);
    setenv("ORCH_LOG_LEVEL", "debug", 1);
    orch_config_t *cfg = NULL;
    assert_int_equal(s_orch("database: {url: dbname=file}\nlisten: {workers: tcp://a:1}\n"
                            "log: {level: error}\nsecurity: {insecure: true}\n",
                            &cfg),
                     0);
    assert_string_equal(cfg->db_url, "postgresql://u@h/db");
    assert_string_equal(cfg->listen_workers, "ipc:///tmp/w.sock");
    assert_string_equal(cfg->listen_clients, "tcp://127.0.0.1:6000");
    assert_string_equal(cfg->listen_events, "inproc://events");
    assert_int_equal(cfg->log_level, LOG_LEVEL_DEBUG);
    orch_config_destroy(&cfg);
    /* defaults only still applies the environment */
    assert_int_equal(orch_config_load(NULL, &cfg, s_err, sizeof s_err), 0);
    assert_string_equal(cfg->db_url, "postgresql://u@h/db");
    assert_int_equal(cfg->log_level, LOG_LEVEL_DEBUG);
    orch_config_destroy(&cfg);
    /* empty counts as unset */
    setenv("ORCH_LOG_LEVEL", "", 1);
    setenv("ORCH_DATABASE_URL", "", 1);
    assert_int_equal(orch_config_load(NULL, &cfg, s_err, sizeof s_err), 0);
    assert_null(cfg->db_url);
    assert_int_equal(cfg->log_level, LOG_LEVEL_INFO);
    orch_config_destroy(&cfg);
}

static void test_env_invalid(void **state)
{
    (void)state;
    orch_config_t *cfg = (orch_config_t *)0x1;
    setenv("ORCH_LOG_LEVEL", "loud", 1);
    assert_int_equal(orch_config_load(NULL, &cfg, s_err, sizeof s_err), ORCH_ECONFIG);
    assert_null(cfg);
    assert_string_equal(s_err,
                        "ORCH_LOG_LEVEL: expected one of debug, info, warn, error, got \"loud\"");
    unsetenv("ORCH_LOG_LEVEL");
    setenv("ORCH_CLIENT_ENDPOINT", "localhost:5556", 1);
    assert_int_equal(s_orch("log: {level: warn}\n", &cfg), ORCH_ECONFIG);
    assert_contains(s_err, "ORCH_CLIENT_ENDPOINT: expected a ZeroMQ endpoint");
    unsetenv("ORCH_CLIENT_ENDPOINT");

    worker_config_t *w = (worker_config_t *)0x1;
    setenv("ORCH_WORKER_ENDPOINTS", "tcp://a:1,,tcp://b:2", 1);
    assert_int_equal(worker_config_load(NULL, handler_types, &w, s_err, sizeof s_err),
                     ORCH_ECONFIG);
    assert_null(w);
    assert_string_equal(s_err, "ORCH_WORKER_ENDPOINTS: expected a non-empty string, got "
                               "\"tcp://a:1,,tcp://b:2\"");
    setenv("ORCH_WORKER_ENDPOINTS", "tcp://a:1,tcp://a:1", 1);
    assert_int_equal(worker_config_load(NULL, handler_types, &w, s_err, sizeof s_err),
                     ORCH_ECONFIG);
    assert_contains(s_err, "ORCH_WORKER_ENDPOINTS: expected a list without repeated elements");
    unsetenv("ORCH_WORKER_ENDPOINTS");
    setenv("ORCH_MEILI_URL", "meili:7700", 1);
    assert_int_equal(worker_config_load(NULL, handler_types, &w, s_err, sizeof s_err),
                     ORCH_ECONFIG);
    assert_string_equal(s_err, "ORCH_MEILI_URL: expected an http:// or https:// URL");
}

static void test_env_worker(void **state)
{
    (void)state;
    setenv("ORCH_WORKER_ENDPOINTS", " tcp://10.0.0.1:5555 , tcp://10.0.0.2:5555", 1);
    setenv("ORCH_OLLAMA_URL", "http://ollama:11434", 1);
    setenv("ORCH_MEILI_URL", "https://meili.example", 1);
    setenv("ORCH_MEILI_API_KEY", "env-key", 1);
    setenv("ORCH_DATABASE_URL", "dbname=envdb", 1);
    setenv("ORCH_LOG_LEVEL", "warn", 1);
    worker_config_t *c = NULL;
    int rc = s_worker("worker:\n  endpoints: [tcp://file:1]\n"
                      "handlers:\n"
                      "  embed: {url: \"http://file:1\"}\n"
                      "  index: {api_key: file-key}\n"
                      "  compact: {database_url: \"dbname=filedb\"}\n",
                      &c);
    if (rc)
        print_error("%s\n", s_err);
    assert_int_equal(rc, 0);
    assert_int_equal(c->nendpoints, 2);
    assert_string_equal(c->endpoints[0], "tcp://10.0.0.1:5555");
    assert_string_equal(c->endpoints[1], "tcp://10.0.0.2:5555");
    assert_string_equal(s_embed(c)->url, "http://ollama:11434");
    assert_string_equal(s_index(c)->url, "https://meili.example");
    assert_string_equal(s_index(c)->api_key, "env-key");
    /* ORCH_DATABASE_URL is only the default of the handlers' database_url */
    assert_string_equal(s_embed(c)->database_url, "dbname=envdb");
    assert_string_equal(s_compact(c)->database_url, "dbname=filedb");
    assert_string_equal(s_backup(c)->database_url, "dbname=envdb");
    assert_int_equal(c->log_level, LOG_LEVEL_WARN);
    assert_true(s_sec(c, "embed")->enabled && s_sec(c, "index")->enabled &&
                s_sec(c, "compact")->enabled);
    assert_false(s_sec(c, "backup_verify")->enabled);
    worker_config_destroy(&c);
}

/* ---- secrets ----------------------------------------------------------- */

static void test_secrets_not_in_messages(void **state)
{
    (void)state;
    orch_config_t *o = NULL;
    worker_config_t *w = NULL;
    /* an error elsewhere in a file holding a password */
    assert_int_equal(s_orch("database:\n  url: postgresql://app:hunter2@db/orch\n"
                            "heartbeat: {liveness: 0}\n",
                            &o),
                     ORCH_ECONFIG);
    assert_contains(s_err, "heartbeat.liveness");
    assert_lacks(s_err, "hunter2");
    /* the secret itself malformed */
    assert_int_equal(s_orch("database:\n  url: [postgresql://app:hunter2@db/orch]\n", &o),
                     ORCH_ECONFIG);
    assert_contains(s_err, "\"database.url\": expected a non-empty string, got a list");
    assert_lacks(s_err, "hunter2");
    assert_int_equal(s_worker("handlers:\n  index: {api_key: [hunter2]}\n", &w), ORCH_ECONFIG);
    assert_contains(s_err, "\"handlers.index.api_key\"");
    assert_lacks(s_err, "hunter2");
    assert_int_equal(s_worker("handlers:\n  embed: {url: \"ftp://u:hunter2@h\"}\n", &w),
                     ORCH_ECONFIG);
    assert_string_equal(s_err + strlen(s_path),
                        ":2:16: \"handlers.embed.url\": expected an http:// or https:// URL");
    assert_int_equal(s_worker("handlers:\n  index:\n    api_key: hunter2\n"
                              "    api_key_file: /k\n",
                              &w),
                     ORCH_ECONFIG);
    assert_lacks(s_err, "hunter2");
    setenv("ORCH_OLLAMA_URL", "ftp://u:hunter2@h", 1);
    assert_int_equal(worker_config_load(NULL, handler_types, &w, s_err, sizeof s_err),
                     ORCH_ECONFIG);
    assert_contains(s_err, "ORCH_OLLAMA_URL");
    assert_lacks(s_err, "hunter2");
    unsetenv("ORCH_OLLAMA_URL");
    /* a key file that fails to load: the path, never the content */
    s_write("bad_key.txt", "   \n\t\n");
    assert_int_equal(s_worker("handlers:\n  index: {api_key_file: bad_key.txt}\n", &w),
                     ORCH_ECONFIG);
    assert_contains(s_err, "\"handlers.index.api_key_file\": ");
    assert_contains(s_err, "bad_key.txt\" is empty");
    const char *nul_path = s_write("nul_key.txt", "");
    FILE *f = fopen(nul_path, "wb");
    assert_non_null(f);
    fwrite("hunter2\0x\n", 1, 10, f);
    fclose(f);
    assert_int_equal(s_worker("handlers:\n  index: {api_key_file: nul_key.txt}\n", &w),
                     ORCH_ECONFIG);
    assert_contains(s_err, "nul_key.txt\" contains a NUL byte");
    assert_lacks(s_err, "hunter2");
}

static void test_secret_files(void **state)
{
    (void)state;
    char fixtures[512], path[600];
    s_src("tests/unit/configs", fixtures, sizeof fixtures);
    /* relative *_file paths are taken from the config file's directory */
    snprintf(path, sizeof path, "%s/orch_url_file.yaml", fixtures);
    orch_config_t *o = NULL;
    int rc = orch_config_load(path, &o, s_err, sizeof s_err);
    if (rc)
        print_error("%s\n", s_err);
    assert_int_equal(rc, 0);
    assert_string_equal(o->db_url, "postgresql://orch:s3cret@db.internal/orch");
    assert_string_equal(o->db_url_file, "db_url.txt");
    orch_config_destroy(&o);
    /* ORCH_DATABASE_URL wins; the file is then not read */
    setenv("ORCH_DATABASE_URL", "dbname=env", 1);
    assert_int_equal(s_orch("database: {url_file: /nonexistent/url}\n", &o), 0);
    assert_string_equal(o->db_url, "dbname=env");
    orch_config_destroy(&o);
    unsetenv("ORCH_DATABASE_URL");
    s_orch_fails("database:\n  url_file: /nonexistent/url\n",
                 "2:13: \"database.url_file\": cannot open \"/nonexistent/url\": No such file "
                 "or directory");

    snprintf(path, sizeof path, "%s/worker_all.yaml", fixtures);
    worker_config_t *w = NULL;
    rc = worker_config_load(path, handler_types, &w, s_err, sizeof s_err);
    if (rc)
        print_error("%s\n", s_err);
    assert_int_equal(rc, 0);
    assert_string_equal(s_index(w)->api_key, "masterKey-123");
    assert_string_equal(s_index(w)->api_key_file, "meili_key.txt");
    worker_config_destroy(&w);
    /* the key file of a disabled handler is not read */
    assert_int_equal(s_worker("handlers:\n  index: {enabled: false, api_key_file: /nope}\n", &w),
                     0);
    assert_null(s_index(w)->api_key);
    worker_config_destroy(&w);
}

/* A fixture that sets every key of the worker file. */
static void test_worker_fixture_all_keys(void **state)
{
    (void)state;
    char path[600];
    s_src("tests/unit/configs/worker_all.yaml", path, sizeof path);
    worker_config_t *c = NULL;
    assert_int_equal(worker_config_load(path, handler_types, &c, s_err, sizeof s_err), 0);
    assert_string_equal(c->name, "w-1");
    assert_int_equal(c->nendpoints, 2);
    assert_string_equal(c->endpoints[1], "ipc:///run/orch/workers.sock");
    assert_int_equal(c->slots, 16);
    assert_int_equal(c->nqueues, 2);
    assert_string_equal(c->queues[1], "bulk");
    assert_int_equal(c->heartbeat_interval_ms, 500);
    assert_int_equal(c->heartbeat_liveness, 5);
    assert_int_equal(c->reconnect_min_ms, 100);
    assert_int_equal(c->reconnect_max_ms, 10000);
    assert_int_equal(c->drain_timeout_ms, 60000);
    assert_int_equal(c->max_message_bytes, 8 << 20);
    assert_int_equal(c->log_level, LOG_LEVEL_DEBUG);
    assert_false(s_sec(c, "noop")->enabled);
    assert_true(s_sec(c, "sleep")->enabled);
    assert_int_equal(s_sec(c, "sleep")->slots, 2);
    assert_true(s_sec(c, "fail")->enabled);
    assert_true(s_sec(c, "embed")->enabled);
    assert_int_equal(s_sec(c, "embed")->slots, 4);
    assert_string_equal(s_embed(c)->url, "http://127.0.0.1:11500");
    assert_string_equal(s_embed(c)->model, "all-minilm");
    assert_int_equal(s_embed(c)->batch_size, 64);
    assert_int_equal(s_embed(c)->timeout_ms, 10000);
    assert_string_equal(s_embed(c)->database_url, "dbname=vectors");
    assert_true(s_sec(c, "index")->enabled);
    assert_string_equal(s_index(c)->url, "http://127.0.0.1:7800");
    assert_int_equal(s_index(c)->max_request_bytes, 512 << 10);
    assert_int_equal(s_index(c)->timeout_ms, 5000);
    assert_int_equal(s_index(c)->poll_initial_ms, 20);
    assert_int_equal(s_index(c)->poll_max_ms, 1000);
    assert_false(s_sec(c, "compact")->enabled); /* section present but disabled */
    assert_string_equal(s_compact(c)->database_url, "dbname=crdt");
    assert_int_equal(s_compact(c)->retention_ms, 2 * 3600000);
    assert_true(s_sec(c, "backup_verify")->enabled);
    assert_int_equal(s_backup(c)->nallowed_roots, 2);
    assert_string_equal(s_backup(c)->allowed_roots[0], "/srv/backups");
    assert_string_equal(s_backup(c)->database_url, "dbname=scratch");
    assert_string_equal(s_backup(c)->bin_dir, "/usr/lib/postgresql/16/bin");
    assert_int_equal(s_backup(c)->timeout_ms, 86400000);
    worker_config_destroy(&c);
}

/* ---- durations and sizes ----------------------------------------------- */

static void test_durations(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t ms;
    } ok[] = {
        {"250ms", 250}, {"30s", 30000},     {"5m", 300000},   {"2h", 7200000}, {"1d", 86400000},
        {"1500", 1500}, {"\"1500\"", 1500}, {"'10s'", 10000}, {"0ms", 0},      {"007s", 7000},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char yaml[128];
        snprintf(yaml, sizeof yaml, "worker:\n  drain_timeout: %s\n", ok[i].text);
        worker_config_t *c = NULL;
        int rc = s_worker(yaml, &c);
        if (rc)
            print_error("%s: %s\n", ok[i].text, s_err);
        assert_int_equal(rc, 0);
        assert_int_equal(c->drain_timeout_ms, ok[i].ms);
        worker_config_destroy(&c);
    }
    static const char *bad[] = {"1.5s",
                                "-1s",
                                "s",
                                "10 s",
                                "1w",
                                "5M",
                                "1S",
                                "ms",
                                "99999999999999999999d",
                                "9999999999999999d",
                                "2d",
                                "+5s",
                                ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char yaml[128];
        snprintf(yaml, sizeof yaml, "worker:\n  drain_timeout: \"%s\"\n", bad[i]);
        worker_config_t *c = (worker_config_t *)0x1;
        assert_int_equal(s_worker(yaml, &c), ORCH_ECONFIG);
        assert_null(c);
        assert_contains(s_err, ":2:18: \"worker.drain_timeout\": expected a duration 0ms..1d");
    }
    /* below the minimum */
    s_orch_fails("heartbeat: {interval: 5ms}\n",
                 "1:23: \"heartbeat.interval\": expected a duration 10ms..10m (e.g. \"250ms\", "
                 "\"30s\", \"5m\"), got \"5ms\"");
}

static void test_sizes(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        size_t bytes;
    } ok[] = {
        {"4096", 4096},    {"512KiB", 512 << 10}, {"1MiB", 1 << 20}, {"16MiB", 16 << 20},
        {"1GiB", 1 << 30}, {"\"65536\"", 65536},  {"8192B", 8192},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char yaml[128];
        snprintf(yaml, sizeof yaml, "limits:\n  max_message_bytes: %s\n  max_payload_bytes: 1KiB\n",
                 ok[i].text);
        orch_config_t *c = NULL;
        int rc = s_orch(yaml, &c);
        if (rc)
            print_error("%s: %s\n", ok[i].text, s_err);
        assert_int_equal(rc, 0);
        assert_int_equal(c->max_message_bytes, ok[i].bytes);
        orch_config_destroy(&c);
    }
    static const char *bad[] = {"1MB",
                                "1mib",
                                "1.5MiB",
                                "-1",
                                "1 MiB",
                                "2GiB",
                                "4095",
                                "0",
                                "KiB",
                                "99999999999999999999",
                                "9999999999999GiB",
                                "0x1000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char yaml[128];
        snprintf(yaml, sizeof yaml, "limits:\n  max_message_bytes: \"%s\"\n", bad[i]);
        orch_config_t *c = (orch_config_t *)0x1;
        assert_int_equal(s_orch(yaml, &c), ORCH_ECONFIG);
        assert_null(c);
        assert_contains(s_err, ":2:22: \"limits.max_message_bytes\": expected a size 4KiB..1GiB");
    }
    /* counts take no unit */
    s_orch_fails("limits:\n  max_batch_jobs: 10KiB\n",
                 "2:19: \"limits.max_batch_jobs\": expected an integer 1..1000000, got \"10KiB\"");
}

static void test_bools(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool v;
    } cases[] = {
        {"true", true}, {"false", false}, {"yes", true},  {"no", false},
        {"on", true},   {"off", false},   {"True", true}, {"FALSE", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[128];
        snprintf(yaml, sizeof yaml, "handlers:\n  sleep: {enabled: %s}\n", cases[i].text);
        worker_config_t *c = NULL;
        assert_int_equal(s_worker(yaml, &c), 0);
        assert_int_equal(s_sec(c, "sleep")->enabled, cases[i].v);
        worker_config_destroy(&c);
    }
    s_worker_fails("handlers:\n  sleep: {enabled: 1}\n",
                   "2:20: \"handlers.sleep.enabled\": expected true or false, got \"1\"");
}

/* ---- queues and handlers ----------------------------------------------- */

static void test_queue_inheritance(void **state)
{
    (void)state;
    /* defaults: after queues: still applies to them */
    orch_config_t *c = NULL;
    int rc = s_orch("queues:\n"
                    "  - name: fast\n"
                    "    priority: 1\n"
                    "    backoff_max: 1m\n"
                    "  - name: plain\n"
                    "  - {name: \"q:with.odd-chars_1\", max_attempts: 1, timeout: 10s,"
                    " backoff_base: 2s, backoff_max: 2s}\n"
                    "defaults:\n"
                    "  priority: 7\n"
                    "  max_attempts: 9\n"
                    "  timeout: 1h\n"
                    "  backoff_base: 500ms\n"
                    "  backoff_max: 2h\n",
                    &c);
    if (rc)
        print_error("%s\n", s_err);
    assert_int_equal(rc, 0);
    assert_int_equal(c->nqueues, 3);
    const queue_policy_t *p = orch_config_policy(c, "fast");
    assert_ptr_equal(p, &c->queues[0]);
    assert_string_equal(p->name, "fast");
    assert_int_equal(p->priority, 1);
    assert_int_equal(p->max_attempts, 9);
    assert_int_equal(p->timeout_ms, 3600000);
    assert_int_equal(p->backoff_base_ms, 500);
    assert_int_equal(p->backoff_max_ms, 60000);
    p = orch_config_policy(c, "plain");
    assert_ptr_equal(p, &c->queues[1]);
    assert_int_equal(p->priority, 7);
    assert_int_equal(p->max_attempts, 9);
    assert_int_equal(p->timeout_ms, 3600000);
    assert_int_equal(p->backoff_base_ms, 500);
    assert_int_equal(p->backoff_max_ms, 7200000);
    p = orch_config_policy(c, "q:with.odd-chars_1");
    assert_ptr_equal(p, &c->queues[2]);
    assert_int_equal(p->priority, 7);
    assert_int_equal(p->max_attempts, 1);
    assert_int_equal(p->timeout_ms, 10000);
    assert_int_equal(p->backoff_base_ms, 2000);
    assert_int_equal(p->backoff_max_ms, 2000);
    /* an unknown queue gets the defaults */
    p = orch_config_policy(c, "other");
    assert_ptr_equal(p, &c->defaults);
    assert_null(p->name);
    assert_int_equal(p->priority, 7);
    assert_int_equal(p->backoff_max_ms, 7200000);
    assert_ptr_equal(orch_config_policy(c, "Fast"), &c->defaults); /* names are exact */
    orch_config_destroy(&c);
    /* an empty list and a null are no queues */
    assert_int_equal(s_orch("queues: []\n", &c), 0);
    assert_int_equal(c->nqueues, 0);
    orch_config_destroy(&c);
    assert_int_equal(s_orch("queues:\n", &c), 0);
    assert_int_equal(c->nqueues, 0);
    orch_config_destroy(&c);
}

/* ---- rate limits and concurrency ---------------------------------------- */

static void test_queue_rate_inheritance(void **state)
{
    (void)state;
    orch_config_t *c = NULL;
    int rc = s_orch("defaults:\n"
                    "  concurrency: 8\n"
                    "  rate_limit: 2.5\n"
                    "queues:\n"
                    "  - name: plain\n"
                    "  - {name: fast, rate_limit: 10}\n"
                    "  - {name: slow, rate_limit: 0.2}\n"
                    "  - {name: bursty, rate_burst: 7, concurrency: 0}\n"
                    "  - {name: free, rate_limit: 0}\n",
                    &c);
    if (rc)
        print_error("%s\n", s_err);
    assert_int_equal(rc, 0);
    assert_int_equal(c->defaults.concurrency, 8);
    assert_true(c->defaults.rate_limit == 2.5);
    assert_int_equal(c->defaults.rate_burst, 3); /* ceil(2.5) */
    const queue_policy_t *p = orch_config_policy(c, "plain");
    assert_int_equal(p->concurrency, 8);
    assert_true(p->rate_limit == 2.5);
    assert_int_equal(p->rate_burst, 3);
    p = orch_config_policy(c, "fast");
    assert_true(p->rate_limit == 10.0);
    assert_int_equal(p->rate_burst, 10); /* follows the queue's own rate */
    p = orch_config_policy(c, "slow");
    assert_true(p->rate_limit == 0.2);
    assert_int_equal(p->rate_burst, 1);
    p = orch_config_policy(c, "bursty");
    assert_int_equal(p->concurrency, 0);
    assert_true(p->rate_limit == 2.5);
    assert_int_equal(p->rate_burst, 7);
    p = orch_config_policy(c, "free");
    assert_true(p->rate_limit == 0.0);
    assert_int_equal(p->rate_burst, 1);
    orch_config_destroy(&c);

    /* an explicit defaults.rate_burst is inherited like any other key */
    rc = s_orch("queues:\n"
                "  - {name: a, rate_limit: 100}\n"
                "  - {name: b, rate_limit: 100, rate_burst: 20}\n"
                "defaults: {rate_limit: 50, rate_burst: 5}\n",
                &c);
    assert_int_equal(rc, 0);
    assert_int_equal(c->defaults.rate_burst, 5);
    assert_int_equal(orch_config_policy(c, "a")->rate_burst, 5);
    assert_int_equal(orch_config_policy(c, "b")->rate_burst, 20);
    orch_config_destroy(&c);
}

static void test_rate_limit_numbers(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        double v;
        int burst;
    } ok[] = {
        {"0", 0, 1},
        {"3", 3, 3},
        {"0.5", 0.5, 1},
        {".5", 0.5, 1},
        {"2.", 2, 2},
        {"1e2", 100, 100},
        {"1.5E1", 15, 15},
        {"\"2.5\"", 2.5, 3},
        {"1000000", 1e6, 1000000},
        {"999999.5", 999999.5, 1000000},
        {"0.000001", 1e-6, 1},
        {"-0", 0, 1},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char yaml[128];
        snprintf(yaml, sizeof yaml, "defaults:\n  rate_limit: %s\n", ok[i].text);
        orch_config_t *c = NULL;
        int rc = s_orch(yaml, &c);
        if (rc)
            print_error("%s: %s\n", ok[i].text, s_err);
        assert_int_equal(rc, 0);
        assert_true(c->defaults.rate_limit == ok[i].v);
        assert_int_equal(c->defaults.rate_burst, ok[i].burst);
        orch_config_destroy(&c);
    }
    static const char *bad[] = {"-1",  "1000001", "1e7", "fast", "nan", ".inf", "0x10",
                                "1,5", "2.5/s",   "e3",  ".",    "1e",  "",     "1 000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char yaml[128], want[256];
        snprintf(yaml, sizeof yaml, "defaults:\n  rate_limit: \"%s\"\n", bad[i]);
        snprintf(want, sizeof want,
                 "2:15: \"defaults.rate_limit\": expected a number 0..1000000 (e.g. \"10\", "
                 "\"2.5\"), got \"%s\"",
                 bad[i]);
        s_orch_fails(yaml, want);
    }
    s_orch_fails("queues:\n  - {name: q, rate_limit: [1]}\n",
                 "2:27: \"queues[0].rate_limit\": expected a number 0..1000000 (e.g. \"10\", "
                 "\"2.5\"), got a list");
    s_orch_fails("defaults:\n  concurrency: -1\n",
                 "2:16: \"defaults.concurrency\": expected an integer 0..1000000, got \"-1\"");
    s_orch_fails("queues:\n  - {name: q, concurrency: 1000001}\n",
                 "2:28: \"queues[0].concurrency\": expected an integer 0..1000000, got "
                 "\"1000001\"");
    s_orch_fails("queues:\n  - {name: q, concurrency: 1.5}\n",
                 "2:28: \"queues[0].concurrency\": expected an integer 0..1000000, got \"1.5\"");
    s_orch_fails("defaults:\n  rate_burst: 0\n",
                 "2:15: \"defaults.rate_burst\": expected an integer 1..1000000, got \"0\"");
    s_orch_fails("queues:\n  - {name: q, rate_burst: 2.5}\n",
                 "2:27: \"queues[0].rate_burst\": expected an integer 1..1000000, got \"2.5\"");
}

static void test_scheduler_durations(void **state)
{
    (void)state;
    orch_config_t *c = NULL;
    int rc = s_orch("scheduler:\n"
                    "  priority_aging: 30s\n"
                    "  idempotency_window: 0\n"
                    "  cancel_grace: 1d\n",
                    &c);
    assert_int_equal(rc, 0);
    assert_int_equal(c->priority_aging_ms, 30000);
    assert_int_equal(c->idempotency_window_ms, 0);
    assert_int_equal(c->cancel_grace_ms, 86400000);
    orch_config_destroy(&c);
    rc = s_orch("scheduler: {priority_aging: 7d, idempotency_window: 365d, cancel_grace: 0}\n", &c);
    assert_int_equal(rc, 0);
    assert_int_equal(c->priority_aging_ms, 7 * 86400000LL);
    assert_int_equal(c->idempotency_window_ms, 365 * 86400000LL);
    assert_int_equal(c->cancel_grace_ms, 0);
    orch_config_destroy(&c);
    s_orch_fails("scheduler:\n  priority_aging: 8d\n",
                 "2:19: \"scheduler.priority_aging\": expected a duration 0ms..7d (e.g. "
                 "\"250ms\", \"30s\", \"5m\"), got \"8d\"");
    s_orch_fails("scheduler:\n  idempotency_window: 366d\n",
                 "2:23: \"scheduler.idempotency_window\": expected a duration 0ms..365d (e.g. "
                 "\"250ms\", \"30s\", \"5m\"), got \"366d\"");
    s_orch_fails("scheduler:\n  cancel_grace: -1s\n",
                 "2:17: \"scheduler.cancel_grace\": expected a duration 0ms..1d (e.g. "
                 "\"250ms\", \"30s\", \"5m\"), got \"-1s\"");
}

/* ---- schedules --------------------------------------------------------- */

static void test_schedules(void **state)
{
    (void)state;
    orch_config_t *c = NULL;
    int rc = s_orch("schedules:\n"
                    "  - name: nightly\n"
                    "    cron: 0 3 * * *\n"
                    "    queue: maintenance\n"
                    "    type: compact\n"
                    "    payload: {all: true}\n"
                    "    priority: 0\n"
                    "    max_attempts: 1000\n"
                    "    paused: yes\n"
                    "  - {name: \"tick:10m\", cron: \"@every 10m\", queue: q, type: noop}\n"
                    "  - {name: weekdays, cron: \"*/15 9-17 * * mon-fri\", queue: q, type: noop,"
                    " payload: ~, paused: false}\n",
                    &c);
    if (rc)
        print_error("%s\n", s_err);
    assert_int_equal(rc, 0);
    assert_int_equal(c->nschedules, 3);
    const schedule_config_t *s = &c->schedules[0];
    assert_string_equal(s->name, "nightly");
    assert_string_equal(s->cron, "0 3 * * *");
    assert_string_equal(s->queue, "maintenance");
    assert_string_equal(s->type, "compact");
    assert_string_equal(s->payload, "{\"all\":true}");
    assert_int_equal(s->priority, 0);
    assert_int_equal(s->max_attempts, 1000);
    assert_true(s->paused);
    s = &c->schedules[1];
    assert_string_equal(s->name, "tick:10m");
    assert_string_equal(s->cron, "@every 10m");
    assert_string_equal(s->payload, "{}");
    assert_int_equal(s->priority, -1);    /* the queue's */
    assert_int_equal(s->max_attempts, 0); /* the queue's */
    assert_false(s->paused);
    s = &c->schedules[2];
    assert_string_equal(s->cron, "*/15 9-17 * * mon-fri");
    assert_string_equal(s->payload, "{}");
    assert_false(s->paused);
    orch_config_destroy(&c);
    /* an empty list and a null are no schedules */
    assert_int_equal(s_orch("schedules: []\n", &c), 0);
    assert_int_equal(c->nschedules, 0);
    orch_config_destroy(&c);
    assert_int_equal(s_orch("schedules:\n", &c), 0);
    assert_int_equal(c->nschedules, 0);
    orch_config_destroy(&c);
}

#define SCHED "schedules:\n  - name: s\n    queue: q\n    type: t\n"

static void test_schedule_errors(void **state)
{
    (void)state;
    /* the cron module's own message, at the value's position */
    s_orch_fails(SCHED "    cron: 61 * * * *\n",
                 "5:11: \"schedules[0].cron\": cron: minute field \"61\" out of range 0-59");
    s_orch_fails(SCHED "    cron: \"* * * *\"\n",
                 "5:11: \"schedules[0].cron\": cron: expected 5 fields, got 4");
    s_orch_fails(SCHED "    cron: \"@sometimes\"\n",
                 "5:11: \"schedules[0].cron\": cron: unknown macro \"@sometimes\"");
    s_orch_fails(SCHED "    cron: \"@every 100ms\"\n",
                 "5:11: \"schedules[0].cron\": cron: @every duration \"100ms\" out of range "
                 "1s-366d");
    s_orch_fails(SCHED "    cron: 0 0 30 2 *\n",
                 "5:11: \"schedules[0].cron\": cron: day-of-month field \"30\" never matches in "
                 "month field \"2\"");
    s_orch_fails(SCHED "    cron: \"\"\n",
                 "5:11: \"schedules[0].cron\": expected a non-empty string, got \"\"");
    /* required keys */
    s_orch_fails(SCHED, "2:5: \"schedules[0]\": missing required key \"cron\"");
    s_orch_fails("schedules:\n  - {cron: \"@daily\", queue: q, type: t}\n",
                 "2:5: \"schedules[0]\": missing required key \"name\"");
    s_orch_fails("schedules:\n  - {name: a, cron: \"@daily\", type: t}\n",
                 "2:5: \"schedules[0]\": missing required key \"queue\"");
    s_orch_fails("schedules:\n  - {name: a, cron: \"@daily\", queue: q}\n",
                 "2:5: \"schedules[0]\": missing required key \"type\"");
    /* names */
    s_orch_fails("schedules:\n  - {name: a, cron: \"@daily\", queue: q, type: t}\n"
                 "  - {name: b, cron: \"@daily\", queue: q, type: t}\n"
                 "  - {name: a, cron: \"@hourly\", queue: q, type: t}\n",
                 "4:12: \"schedules[2].name\": schedule \"a\" is already defined");
    s_orch_fails("schedules:\n  - {name: \"a b\", cron: \"@daily\", queue: q, type: t}\n",
                 "2:12: \"schedules[0].name\": expected a name of 1..64 characters "
                 "[A-Za-z0-9_.:-], got \"a b\"");
    s_orch_fails("schedules:\n  - {name: a, cron: \"@daily\", queue: \"q/1\", type: t}\n",
                 "2:38: \"schedules[0].queue\": expected a name of 1..64 characters "
                 "[A-Za-z0-9_.:-], got \"q/1\"");
    /* ranges and types */
    s_orch_fails(SCHED "    cron: \"@daily\"\n    priority: 10\n",
                 "6:15: \"schedules[0].priority\": expected an integer 0..9, got \"10\"");
    s_orch_fails(SCHED "    cron: \"@daily\"\n    max_attempts: 0\n",
                 "6:19: \"schedules[0].max_attempts\": expected an integer 1..1000, got \"0\"");
    s_orch_fails(SCHED "    cron: \"@daily\"\n    paused: maybe\n",
                 "6:13: \"schedules[0].paused\": expected true or false, got \"maybe\"");
    s_orch_fails(SCHED "    cron: \"@daily\"\n    every: 1h\n",
                 "6:5: unknown key \"schedules[0].every\"");
    s_orch_fails(SCHED "    cron: \"@daily\"\n    cron: \"@hourly\"\n",
                 "6:5: duplicate key \"schedules[0].cron\"");
    /* structure */
    s_orch_fails("schedules: {name: a}\n",
                 "1:12: \"schedules\": expected a list of mappings, got a mapping");
    s_orch_fails("schedules:\n  - nightly\n",
                 "2:5: \"schedules[0]\": expected a mapping with name, cron, queue and type");
    s_orch_fails(SCHED "    cron: \"@daily\"\n    payload: x\n",
                 "6:14: \"schedules[0].payload\": expected a mapping (the job's JSON object), "
                 "got a scalar");
    s_orch_fails(SCHED "    cron: \"@daily\"\n    payload: [1, 2]\n",
                 "6:14: \"schedules[0].payload\": expected a mapping (the job's JSON object), "
                 "got a list");
    /* the payload counts against limits.max_payload_bytes */
    char yaml[4096] = "limits: {max_payload_bytes: 1KiB}\n" SCHED "    cron: \"@daily\"\n"
                      "    payload:\n      text: ";
    size_t n = strlen(yaml);
    memset(yaml + n, 'x', 1100);
    strcpy(yaml + n + 1100, "\n");
    s_orch_fails(yaml, "8:7: \"schedules[0].payload\": 1111 bytes as JSON exceed "
                       "limits.max_payload_bytes (1024)");
}

/* A payload is one JSON object to an independent parser, with the values
 * the YAML meant. */
static json_t *s_payload_parses(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &e);
    if (!j)
        print_error("not JSON: %s: %s\n", e.text, text);
    assert_non_null(j);
    assert_true(json_is_object(j));
    return j;
}

/* YAML values of a payload become JSON values: quoted scalars are strings,
 * plain ones are typed as YAML 1.2's core schema reads them. */
/* then: one follow-up job (a mapping) or a list of them, each walked like
 * a schedule entry; errors point at the entry or the value. */
static void test_schedule_then(void **state)
{
    (void)state;
    orch_config_t *c = NULL;
    int rc = s_orch(SCHED "    cron: \"@daily\"\n"
                          "    then:\n"
                          "      type: backup_verify\n"
                          "      payload: {path: /var/backups/postgresql/latest}\n",
                    &c);
    if (rc)
        print_error("%s\n", s_err);
    assert_int_equal(rc, 0);
    const schedule_config_t *s = &c->schedules[0];
    assert_int_equal(s->nthen, 1);
    assert_string_equal(s->then[0].type, "backup_verify");
    assert_null(s->then[0].queue); /* the schedule's */
    assert_string_equal(s->then[0].payload, "{\"path\":\"/var/backups/postgresql/latest\"}");
    assert_int_equal(s->then[0].priority, -1);
    assert_int_equal(s->then[0].max_attempts, 0);
    orch_config_destroy(&c);
    rc = s_orch(SCHED "    cron: \"@daily\"\n"
                      "    then:\n"
                      "      - {type: a}\n"
                      "      - {type: b, queue: other, priority: 0, max_attempts: 2}\n",
                &c);
    assert_int_equal(rc, 0);
    s = &c->schedules[0];
    assert_int_equal(s->nthen, 2);
    assert_string_equal(s->then[0].payload, "{}");
    assert_string_equal(s->then[1].type, "b");
    assert_string_equal(s->then[1].queue, "other");
    assert_int_equal(s->then[1].priority, 0);
    assert_int_equal(s->then[1].max_attempts, 2);
    orch_config_destroy(&c);
    /* none */
    assert_int_equal(s_orch(SCHED "    cron: \"@daily\"\n    then: ~\n", &c), 0);
    assert_int_equal(c->schedules[0].nthen, 0);
    orch_config_destroy(&c);

    s_orch_fails(SCHED "    cron: \"@daily\"\n    then:\n      queue: q\n",
                 "7:7: \"schedules[0].then[0]\": missing required key \"type\"");
    s_orch_fails(SCHED
                 "    cron: \"@daily\"\n    then:\n      - {type: ok}\n      - {type: \"a b\"}\n",
                 "8:16: \"schedules[0].then[1].type\": expected a name of 1..64 characters "
                 "[A-Za-z0-9_.:-], got \"a b\"");
    s_orch_fails(SCHED "    cron: \"@daily\"\n    then: backup_verify\n",
                 "6:11: \"schedules[0].then\": expected a mapping or a list of mappings, got a "
                 "scalar");
    s_orch_fails(SCHED "    cron: \"@daily\"\n    then: []\n",
                 "6:11: \"schedules[0].then\": expected 1..8 jobs, got 0");
    s_orch_fails(SCHED "    cron: \"@daily\"\n    then:\n      - backup_verify\n",
                 "7:9: \"schedules[0].then[0]\": expected a mapping with a type, got a scalar");
    s_orch_fails(SCHED "    cron: \"@daily\"\n    then: {type: v, priority: 10}\n",
                 "6:31: \"schedules[0].then[0].priority\": expected an integer 0..9, got \"10\"");
    s_orch_fails(SCHED "    cron: \"@daily\"\n    then: {type: v, payload: [1]}\n",
                 "6:30: \"schedules[0].then[0].payload\": expected a mapping (the job's JSON "
                 "object), got a list");
    s_orch_fails(SCHED "    cron: \"@daily\"\n    then: {type: v, after: 1}\n",
                 "6:21: unknown key \"schedules[0].then[0].after\"");
}

static void test_schedule_payload_json(void **state)
{
    (void)state;
    orch_config_t *c = NULL;
    int rc = s_orch(SCHED "    cron: \"@daily\"\n"
                          "    payload:\n"
                          "      s: hello world\n"
                          "      q: \"42\"\n"
                          "      sq: 'true'\n"
                          "      i: 42\n"
                          "      neg: -7\n"
                          "      plus: +3\n"
                          "      lead: 007\n"
                          "      hex: 0x1F\n"
                          "      oct: 0o17\n"
                          "      big: 9223372036854775807\n"
                          "      f: 2.5\n"
                          "      e: 1e3\n"
                          "      dot: .5\n"
                          "      fneg: -0.25\n"
                          "      tenth: 0.1\n"
                          "      three: 3.0\n"
                          "      t: true\n"
                          "      F: False\n"
                          "      yes: yes\n"
                          "      n: null\n"
                          "      tilde: ~\n"
                          "      empty:\n"
                          "      nested: {a: [1, \"two\", 3.0, {b: null}], c: {}}\n"
                          "      list: []\n"
                          "      date: 2025-01-01\n"
                          "      ver: 1.2.3\n"
                          "      inf: .inf\n"
                          "      esc: \"quote \\\" backslash \\\\ tab \\t nl \\n ctrl \\x01 "
                          "\xc3\xa9\"\n"
                          "      block: |\n"
                          "        line1\n"
                          "        line2\n"
                          "      \"key with \\\"quotes\\\"\": 1\n"
                          "      7: seven\n",
                    &c);
    if (rc)
        print_error("%s\n", s_err);
    assert_int_equal(rc, 0);
    assert_string_equal(c->schedules[0].payload,
                        "{\"s\":\"hello world\",\"q\":\"42\",\"sq\":\"true\",\"i\":42,\"neg\":-7,"
                        "\"plus\":3,\"lead\":7,\"hex\":31,\"oct\":15,"
                        "\"big\":9223372036854775807,\"f\":2.5,\"e\":1000.0,\"dot\":0.5,"
                        "\"fneg\":-0.25,\"tenth\":0.1,\"three\":3.0,\"t\":true,\"F\":false,"
                        "\"yes\":\"yes\",\"n\":null,\"tilde\":null,\"empty\":null,"
                        "\"nested\":{\"a\":[1,\"two\",3.0,{\"b\":null}],\"c\":{}},\"list\":[],"
                        "\"date\":\"2025-01-01\",\"ver\":\"1.2.3\",\"inf\":\".inf\","
                        "\"esc\":\"quote \\\" backslash \\\\ tab \\t nl \\n ctrl \\u0001 "
                        "\xc3\xa9\",\"block\":\"line1\\nline2\\n\","
                        "\"key with \\\"quotes\\\"\":1,\"7\":\"seven\"}");
    json_t *j = s_payload_parses(c->schedules[0].payload);
    assert_true(json_is_integer(json_object_get(j, "big")));
    assert_true(json_integer_value(json_object_get(j, "big")) == INT64_MAX);
    assert_true(json_is_real(json_object_get(j, "e")));
    assert_true(json_real_value(json_object_get(j, "tenth")) == 0.1);
    assert_true(json_is_real(json_object_get(j, "three")));
    assert_true(json_is_false(json_object_get(j, "F")));
    assert_string_equal(json_string_value(json_object_get(j, "esc")),
                        "quote \" backslash \\ tab \t nl \n ctrl \x01 \xc3\xa9");
    assert_string_equal(json_string_value(json_object_get(j, "block")), "line1\nline2\n");
    json_decref(j);
    orch_config_destroy(&c);
    /* anchors and aliases are expanded */
    rc = s_orch(SCHED "    cron: \"@daily\"\n"
                      "    payload: {a: &x [1, {k: v}], b: *x}\n",
                &c);
    assert_int_equal(rc, 0);
    assert_string_equal(c->schedules[0].payload,
                        "{\"a\":[1,{\"k\":\"v\"}],\"b\":[1,{\"k\":\"v\"}]}");
    orch_config_destroy(&c);
}

/* types: per job type timeout; precedence type > queue > defaults. */
static void test_type_timeouts(void **state)
{
    (void)state;
    orch_config_t *cfg = NULL;
    assert_int_equal(s_orch("defaults:\n  timeout: 1m\n"
                            "queues:\n  - name: slow\n    timeout: 10m\n"
                            "types:\n  - name: embed\n    timeout: 2h\n  - name: noop\n",
                            &cfg),
                     ORCH_OK);
    assert_int_equal(cfg->ntypes, 2);
    assert_int_equal(orch_config_timeout(cfg, "default", "embed"), 2 * 3600 * 1000);
    assert_int_equal(orch_config_timeout(cfg, "slow", "embed"), 2 * 3600 * 1000);
    assert_int_equal(orch_config_timeout(cfg, "slow", "noop"), 10 * 60 * 1000); /* no timeout set */
    assert_int_equal(orch_config_timeout(cfg, "default", "other"), 60 * 1000);
    orch_config_destroy(&cfg);
    s_orch_fails("types:\n  - timeout: 1s\n", "2:5: \"types[0]\": missing required key \"name\"");
    s_orch_fails("types:\n  - name: a\n  - name: a\n",
                 "3:11: \"types[1].name\": type \"a\" is already defined");
    s_orch_fails("types:\n  - name: a\n    timeout: forever\n",
                 "3:14: \"types[0].timeout\": expected a duration 100ms..30d (e.g. \"250ms\", "
                 "\"30s\", \"5m\"), got \"forever\"");
    s_orch_fails("types: {a: 1}\n", "1:8: \"types\": expected a list of mappings, got a mapping");
}

/* Aliases can repeat one large payload in many schedules: the JSON built
 * for one file is bounded in total, not only per payload. */
static void test_schedule_payload_alias_budget(void **state)
{
    (void)state;
    strbuf_t y;
    strbuf_init(&y);
    strbuf_puts(&y, "schedules:\n");
    for (int i = 0; i < 8; i++) {
        strbuf_printf(&y, "  - name: s%d\n    cron: \"@daily\"\n    queue: q\n    type: t\n", i);
        if (i > 0) {
            strbuf_puts(&y, "    payload: *p\n");
            continue;
        }
        strbuf_puts(&y, "    payload: &p\n");
        for (int k = 0; k < 700; k++)
            strbuf_printf(&y, "      k%d: \"%0900d\"\n", k, 0);
    }
    /* 640 KB each: the seventh copy crosses 4 MiB; an alias reports its anchor's place */
    s_orch_fails(y.data, "6:14: \"schedules[6].payload\": the file's JSON values exceed "
                         "4194304 bytes in total");
    strbuf_fini(&y);
}

static void test_schedule_payload_errors(void **state)
{
    (void)state;
    const char *head = SCHED "    cron: \"@daily\"\n    payload:\n";
    char yaml[4096];
#define PAYLOAD(text) (snprintf(yaml, sizeof yaml, "%s%s", head, (text)), yaml)
    s_orch_fails(PAYLOAD("      big: 9223372036854775808\n"),
                 "7:12: \"schedules[0].payload.big\": integer \"9223372036854775808\" does not "
                 "fit in 64 bits");
    s_orch_fails(PAYLOAD("      x: {y: [1, 0x10000000000000000]}\n"),
                 "7:18: \"schedules[0].payload.x.y[1]\": integer \"0x10000000000000000\" does "
                 "not fit in 64 bits");
    s_orch_fails(PAYLOAD("      huge: 1e999\n"),
                 "7:13: \"schedules[0].payload.huge\": number \"1e999\" is out of range");
    s_orch_fails(PAYLOAD("      a: 1\n      b: 2\n      a: 3\n"),
                 "9:7: duplicate key \"schedules[0].payload.a\"");
    s_orch_fails(PAYLOAD("      x: [{k: 1, k: 2}]\n"),
                 "7:18: duplicate key \"schedules[0].payload.x[0].k\"");
    s_orch_fails(PAYLOAD("      ? [a]\n      : 1\n"),
                 "7:9: \"schedules[0].payload\": expected a plain key, got a list");
    s_orch_fails(PAYLOAD("      s: \"a\\0b\"\n"),
                 "7:10: \"schedules[0].payload.s\": a string cannot contain a NUL byte");
    s_orch_fails(PAYLOAD("      \"a\\0b\": 1\n"),
                 "7:7: \"schedules[0].payload\": a key cannot contain a NUL byte");
    /* a sequence that contains itself */
    s_orch_fails(PAYLOAD("      loop: &l [*l]\n"),
                 "7:13: \"schedules[0].payload.loop[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]"
                 "[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]\": nested deeper than 32 "
                 "levels");
    /* aliases multiplying a small file: stopped at 1MiB of JSON */
    s_orch_fails(PAYLOAD("      l0: &a [xxxxxxxxxxxxxxxx, xxxxxxxxxxxxxxxx, xxxxxxxxxxxxxxxx]\n"
                         "      l1: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                         "      l2: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                         "      l3: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                         "      l4: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                         "      l5: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"),
                 "7:7: \"schedules[0].payload\": larger than 1048576 bytes as JSON");
#undef PAYLOAD
}

static void test_handler_sections(void **state)
{
    (void)state;
    worker_config_t *c = NULL;
    setenv("ORCH_DATABASE_URL", "dbname=x", 1);
    /* a section enables; enabled: false in it disables; a null section enables */
    int rc = s_worker("handlers:\n"
                      "  noop: {enabled: false}\n"
                      "  embed:\n"
                      "  index: {slots: 3}\n"
                      "  compact: {enabled: false}\n",
                      &c);
    if (rc)
        print_error("%s\n", s_err);
    assert_int_equal(rc, 0);
    assert_false(s_sec(c, "noop")->enabled);
    assert_true(s_sec(c, "sleep")->enabled && s_sec(c, "fail")->enabled);
    assert_true(s_sec(c, "embed")->enabled);
    assert_true(s_sec(c, "index")->enabled);
    assert_int_equal(s_sec(c, "index")->slots, 3);
    assert_false(s_sec(c, "compact")->enabled);
    assert_false(s_sec(c, "backup_verify")->enabled);
    worker_config_destroy(&c);
    s_worker_fails("handlers:\n  fail: {slots: 2000}\n",
                   "2:17: \"handlers.fail.slots\": expected an integer 0..1024, got \"2000\"");
    s_worker_fails("handlers:\n  noop: {}\n  noop: {}\n", "3:3: duplicate key \"handlers.noop\"");
}

/* Anchors and aliases are plain YAML; they must not confuse the walk. */
/* Collections nested deeper than 64 levels are refused with their position,
 * before the document is built (the loader is quadratic in depth: a 400 kB
 * file of 200,000 levels took 20 s); 64 levels still load. */
static void test_nesting_limit(void **state)
{
    (void)state;
    size_t levels = 200000;
    char *deep = malloc(2 * levels + 64);
    assert_non_null(deep);
    char *p = deep + sprintf(deep, "log: ");
    for (size_t i = 0; i < levels; i++)
        *p++ = '[';
    for (size_t i = 0; i < levels; i++)
        *p++ = ']';
    *p++ = '\n';
    *p = '\0';
    orch_config_t *cfg = NULL;
    assert_int_equal(s_orch(deep, &cfg), ORCH_ECONFIG);
    assert_null(cfg);
    assert_non_null(strstr(s_err, "deeper than 64 levels"));
    assert_non_null(strstr(s_err, "orch.yaml:1:"));
    free(deep);
    /* 64 levels (the top mapping is one) parse: the error is about the value */
    char ok[256];
    p = ok + sprintf(ok, "log: ");
    for (int i = 0; i < 63; i++)
        *p++ = '[';
    for (int i = 0; i < 63; i++)
        *p++ = ']';
    strcpy(p, "\n");
    assert_int_equal(s_orch(ok, &cfg), ORCH_ECONFIG);
    assert_null(strstr(s_err, "levels"));
}

static void test_yaml_features(void **state)
{
    (void)state;
    orch_config_t *c = NULL;
    int rc = s_orch("x-policy: &p {priority: 2, max_attempts: 4}\n", &c);
    assert_int_equal(rc, ORCH_ECONFIG); /* no extension keys */
    assert_contains(s_err, "1:1: unknown key \"x-policy\"");
    rc = s_orch("defaults: &d\n  priority: 2\nqueues:\n  - name: a\n    priority: 3\n", &c);
    assert_int_equal(rc, 0);
    assert_int_equal(orch_config_policy(c, "a")->priority, 3);
    orch_config_destroy(&c);
    rc = s_orch("listen:\n  workers: &ep tcp://h:1\n  clients: *ep\nsecurity: {insecure: true}\n",
                &c);
    assert_int_equal(rc, 0);
    assert_string_equal(c->listen_clients, "tcp://h:1");
    orch_config_destroy(&c);
    rc = s_orch("log: {level: !!str debug}\n", &c);
    assert_int_equal(rc, 0);
    assert_int_equal(c->log_level, LOG_LEVEL_DEBUG);
    orch_config_destroy(&c);
    /* a truncated error buffer is still terminated */
    char small[16];
    rc = orch_config_load(s_write("o2.yaml", "nope: 1\n"), &c, small, sizeof small);
    assert_int_equal(rc, ORCH_ECONFIG);
    assert_int_equal(strlen(small), sizeof small - 1);
}

/* Deterministic mutations of the example files: every outcome is a config
 * or ORCH_ECONFIG with a message that starts with the file name; never a
 * crash, a leak or undefined behaviour (the tests run under ASan/UBSan). */
static uint64_t s_rng = 0x9e3779b97f4a7c15ULL;

static uint64_t s_next(void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return s_rng;
}

static char *s_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(1 << 16);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    buf[*len] = '\0';
    return buf;
}

static void s_mutate(char *buf, size_t *len, size_t cap)
{
    static const char specials[] = ":-[]{},#&*!|>'\"%@` \n\t~?0123456789.";
    int edits = 1 + (int)(s_next() % 4);
    for (int e = 0; e<edits && * len> 0; e++) {
        size_t at = (size_t)(s_next() % *len);
        switch (s_next() % 4) {
        case 0: /* replace */
            buf[at] = specials[s_next() % (sizeof specials - 1)];
            break;
        case 1: /* delete */
            memmove(buf + at, buf + at + 1, *len - at);
            (*len)--;
            break;
        case 2: /* insert */
            if (*len + 1 < cap) {
                memmove(buf + at + 1, buf + at, *len - at + 1);
                buf[at] = specials[s_next() % (sizeof specials - 1)];
                (*len)++;
            }
            break;
        default: /* truncate */
            *len = at;
            buf[at] = '\0';
            break;
        }
    }
}

static void s_fuzz_file(const char *rel, bool worker)
{
    char src[512];
    s_src(rel, src, sizeof src);
    size_t orig_len = 0;
    char *orig = s_slurp(src, &orig_len);
    char *buf = malloc(1 << 16);
    assert_non_null(buf);
    int ok = 0, bad = 0;
    for (int i = 0; i < 600; i++) {
        size_t len = orig_len;
        memcpy(buf, orig, orig_len + 1);
        s_mutate(buf, &len, 1 << 16);
        const char *path = s_write(worker ? "fuzz_w.yaml" : "fuzz_o.yaml", buf);
        int rc;
        if (worker) {
            worker_config_t *c = (worker_config_t *)0x1;
            rc = worker_config_load(path, handler_types, &c, s_err, sizeof s_err);
            assert_true(rc == 0 ? c != NULL : c == NULL);
            worker_config_destroy(&c);
        } else {
            orch_config_t *c = (orch_config_t *)0x1;
            rc = orch_config_load(path, &c, s_err, sizeof s_err);
            assert_true(rc == 0 ? c != NULL : c == NULL);
            orch_config_destroy(&c);
        }
        if (rc == 0) {
            ok++;
            continue;
        }
        bad++;
        assert_int_equal(rc, ORCH_ECONFIG);
        if (strncmp(s_err, path, strlen(path)) != 0) {
            print_error("message without the file name: %s\n", s_err);
            fail();
        }
    }
    /* the mutations exercise both outcomes */
    assert_true(ok > 0 && bad > 0);
    free(buf);
    free(orig);
}

static void test_mutated_files(void **state)
{
    (void)state;
    setenv("ORCH_DATABASE_URL", "dbname=x", 1);
    s_fuzz_file("config/orchestrator.yaml", false);
    s_fuzz_file("config/worker.yaml", true);
    s_write("meili_key.txt", "k\n"); /* worker_all.yaml's api_key_file, relative */
    s_fuzz_file("tests/unit/configs/worker_all.yaml", true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_orch_defaults, s_setup),
        cmocka_unit_test_setup(test_empty_files_are_defaults, s_setup),
        cmocka_unit_test_setup(test_worker_defaults, s_setup),
        cmocka_unit_test_setup(test_example_orchestrator_loads, s_setup),
        cmocka_unit_test_setup(test_example_worker_loads, s_setup),
        cmocka_unit_test_setup(test_example_worker_handlers_uncommented, s_setup),
        cmocka_unit_test_setup(test_error_unknown_key, s_setup),
        cmocka_unit_test_setup(test_error_wrong_type, s_setup),
        cmocka_unit_test_setup(test_error_out_of_range, s_setup),
        cmocka_unit_test_setup(test_error_duplicate_key, s_setup),
        cmocka_unit_test_setup(test_error_structure, s_setup),
        cmocka_unit_test_setup(test_error_cannot_open, s_setup),
        cmocka_unit_test_setup(test_error_cross_field, s_setup),
        cmocka_unit_test_setup(test_env_orch, s_setup),
        cmocka_unit_test_setup(test_env_invalid, s_setup),
        cmocka_unit_test_setup(test_env_worker, s_setup),
        cmocka_unit_test_setup(test_secrets_not_in_messages, s_setup),
        cmocka_unit_test_setup(test_secret_files, s_setup),
        cmocka_unit_test_setup(test_worker_fixture_all_keys, s_setup),
        cmocka_unit_test_setup(test_durations, s_setup),
        cmocka_unit_test_setup(test_sizes, s_setup),
        cmocka_unit_test_setup(test_bools, s_setup),
        cmocka_unit_test_setup(test_queue_inheritance, s_setup),
        cmocka_unit_test_setup(test_queue_rate_inheritance, s_setup),
        cmocka_unit_test_setup(test_rate_limit_numbers, s_setup),
        cmocka_unit_test_setup(test_scheduler_durations, s_setup),
        cmocka_unit_test_setup(test_schedules, s_setup),
        cmocka_unit_test_setup(test_schedule_errors, s_setup),
        cmocka_unit_test_setup(test_schedule_then, s_setup),
        cmocka_unit_test_setup(test_schedule_payload_json, s_setup),
        cmocka_unit_test_setup(test_schedule_payload_errors, s_setup),
        cmocka_unit_test_setup(test_schedule_payload_alias_budget, s_setup),
        cmocka_unit_test_setup(test_type_timeouts, s_setup),
        cmocka_unit_test_setup(test_handler_sections, s_setup),
        cmocka_unit_test_setup(test_yaml_features, s_setup),
        cmocka_unit_test_setup(test_nesting_limit, s_setup),
        cmocka_unit_test_setup(test_mutated_files, s_setup),
    };
    return cmocka_run_group_tests(tests, s_setup_group, s_teardown_group);
}
