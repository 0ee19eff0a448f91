/* orchestratord's configuration: the key table, the `queues:` list with its
 * inheritance from `defaults:`, the `schedules:` list, and the checks that
 * span several keys. */
#include "config.h"
#include "cfgtab.h"
#include "config_downstreams.h"
#include "config_http.h"
#include "config_security.h"
#include "cron.h"
#include "orch_error.h"
#include "xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OFF(field) offsetof(orch_config_t, field)
#define DEF(field) (offsetof(orch_config_t, defaults) + offsetof(queue_policy_t, field))
#define QOFF(field) offsetof(queue_policy_t, field)
#define SOFF(field) offsetof(schedule_config_t, field)
#define TOFF(field) offsetof(type_policy_t, field)
#define THOFF(field) offsetof(schedule_then_config_t, field)
#define NOFF(field) offsetof(tenant_policy_t, field)

/* Ranges shared by `defaults:` and every `queues:` entry. */
#define R_PRIORITY 0, 9
#define R_ATTEMPTS 1, 1000
#define R_TIMEOUT 100, 30 * CFGTAB_DAY
#define R_BACKOFF 1, 7 * CFGTAB_DAY
#define R_CONCURRENCY 0, 1000000
#define R_RATE 0, 1000000
#define R_BURST 1, 1000000

/* A schedule's payload in the file, as JSON; limits.max_payload_bytes is
 * checked once the whole file is read. */
#define SCHEDULE_PAYLOAD_MAX CFGTAB_MIB

static int s_parse_queues(cfgtab_t *ct, yaml_node_t *node, const char *display, void *base);
static int s_parse_schedules(cfgtab_t *ct, yaml_node_t *node, const char *display, void *base);
static int s_parse_types(cfgtab_t *ct, yaml_node_t *node, const char *display, void *base);
static int s_parse_tenants(cfgtab_t *ct, yaml_node_t *node, const char *display, void *base);
static int s_parse_payload(cfgtab_t *ct, yaml_node_t *node, const char *display, void *base);
static int s_parse_then(cfgtab_t *ct, yaml_node_t *node, const char *display, void *base);
static int s_parse_then_payload(cfgtab_t *ct, yaml_node_t *node, const char *display, void *base);

#define SECRET_URL (CFGTAB_SECRET | CFGTAB_NULLABLE)

/* clang-format off */
static const cfgtab_key_t s_keys[] = {
    CFGTAB_K_STR("database.url", OFF(db_url), NULL, SECRET_URL, "ORCH_DATABASE_URL", NULL),
    CFGTAB_K_STR("database.url_file", OFF(db_url_file), NULL, CFGTAB_NULLABLE, NULL, NULL),
    /* no URL: orchestratord runs a private PostgreSQL under this directory
     * (orchestrator/embedded.c; docs/operations.md, "Embedded PostgreSQL") */
    CFGTAB_K_STR("database.data_dir", OFF(db_data_dir), NULL, CFGTAB_NULLABLE, "ORCH_DATA_DIR",
                 NULL),
    CFGTAB_K_DUR("database.reconnect_max", OFF(db_reconnect_max_ms), "5s", 10, CFGTAB_HOUR),
    CFGTAB_K_STR("listen.workers", OFF(listen_workers), "tcp://127.0.0.1:5555", 0,
                 "ORCH_WORKER_ENDPOINT", cfgtab_check_endpoint),
    CFGTAB_K_STR("listen.clients", OFF(listen_clients), "tcp://127.0.0.1:5556", 0,
                 "ORCH_CLIENT_ENDPOINT", cfgtab_check_endpoint),
    CFGTAB_K_STR("listen.events", OFF(listen_events), "tcp://127.0.0.1:5557", 0,
                 "ORCH_EVENT_ENDPOINT", cfgtab_check_endpoint),
    CFGTAB_K_DUR("heartbeat.interval", OFF(heartbeat_interval_ms), "1s", 10, 10 * CFGTAB_MINUTE),
    CFGTAB_K_INT("heartbeat.liveness", OFF(heartbeat_liveness), "3", 1, 100),
    CFGTAB_K_SIZE("limits.max_payload_bytes", OFF(max_payload_bytes), "1MiB", CFGTAB_KIB,
                  CFGTAB_GIB),
    CFGTAB_K_SIZE("limits.max_message_bytes", OFF(max_message_bytes), "16MiB", 4 * CFGTAB_KIB,
                  CFGTAB_GIB),
    CFGTAB_K_COUNT("limits.max_batch_jobs", OFF(max_batch_jobs), "10000", 1, 1000000),
    CFGTAB_K_INT("scheduler.ready_window", OFF(ready_window), "4096", 16, 1000000),
    CFGTAB_K_INT("scheduler.refill_batch", OFF(refill_batch), "1024", 1, 1000000),
    CFGTAB_K_INT("scheduler.waiting_window", OFF(waiting_window), "100000", 16, 100000000),
    CFGTAB_K_INT("scheduler.max_commit_jobs", OFF(max_commit_jobs), "20000", 1, 1000000),
    CFGTAB_K_DUR("scheduler.priority_aging", OFF(priority_aging_ms), "0", 0, 7 * CFGTAB_DAY),
    CFGTAB_K_DUR("scheduler.idempotency_window", OFF(idempotency_window_ms), "24h", 0,
                 365 * CFGTAB_DAY),
    CFGTAB_K_DUR("scheduler.cancel_grace", OFF(cancel_grace_ms), "30s", 0, CFGTAB_DAY),
    CFGTAB_K_DUR("scheduler.max_schedule_ahead", OFF(max_schedule_ahead_ms), "366d", CFGTAB_MINUTE,
                 100 * 366 * CFGTAB_DAY),
    CFGTAB_K_BOOL("scheduler.accept_unknown_types", OFF(accept_unknown_types), "false"),
    CFGTAB_K_INT("defaults.priority", DEF(priority), "5", R_PRIORITY),
    CFGTAB_K_INT("defaults.max_attempts", DEF(max_attempts), "5", R_ATTEMPTS),
    CFGTAB_K_DUR("defaults.timeout", DEF(timeout_ms), "5m", R_TIMEOUT),
    CFGTAB_K_DUR("defaults.backoff_base", DEF(backoff_base_ms), "1s", R_BACKOFF),
    CFGTAB_K_DUR("defaults.backoff_max", DEF(backoff_max_ms), "5m", R_BACKOFF),
    CFGTAB_K_INT("defaults.concurrency", DEF(concurrency), "0", R_CONCURRENCY),
    CFGTAB_K_NUM("defaults.rate_limit", DEF(rate_limit), "0", R_RATE),
    /* no table default: it follows rate_limit (s_inherit) */
    CFGTAB_K_INT("defaults.rate_burst", DEF(rate_burst), NULL, R_BURST),
    CFGTAB_K_DUR("retention.jobs", DEF(retention_ms), "7d", 0, 3660 * CFGTAB_DAY),
    CFGTAB_K_DUR("retention.events", OFF(retention_events_ms), "30d", CFGTAB_DAY, 3660 * CFGTAB_DAY),
    CFGTAB_K_DUR("retention.dead", OFF(retention_dead_ms), "0", 0, 3660 * CFGTAB_DAY),
    CFGTAB_K_DUR("retention.interval", OFF(retention_interval_ms), "10m", CFGTAB_SEC, CFGTAB_DAY),
    CFGTAB_K_DUR("audit.seal_interval", OFF(audit_seal_interval_ms), "0", 0, CFGTAB_HOUR),
    /* high availability (docs/operations.md, "High availability") */
    CFGTAB_K_DUR("ha.lease", OFF(ha_lease_ms), "3s", 100, CFGTAB_HOUR),
    CFGTAB_K_DUR("ha.renew", OFF(ha_renew_ms), "1s", 10, CFGTAB_HOUR),
    CFGTAB_K_STR("ha.name", OFF(ha_name), NULL, CFGTAB_NULLABLE, "ORCH_HA_NAME", NULL),
    CFGTAB_K_STR("ha.advertise", OFF(ha_advertise), NULL, CFGTAB_NULLABLE, NULL, NULL),
    CFGTAB_K_CUSTOM("queues", s_parse_queues),
    CFGTAB_K_CUSTOM("schedules", s_parse_schedules),
    CFGTAB_K_CUSTOM("types", s_parse_types),
    CFGTAB_K_CUSTOM("tenants", s_parse_tenants),
    CFGTAB_K_CUSTOM("downstreams", config_downstreams_parse),
    CFGTAB_K_LEVEL("log.level", OFF(log_level), "info", "ORCH_LOG_LEVEL"),
    CFGTAB_K_LOGFMT("log.format", OFF(log_format), "text", "ORCH_LOG_FORMAT"),
    CFGTAB_K_STR("security.secret_key_file", OFF(secret_key_file), NULL, CFGTAB_NULLABLE,
                 "ORCH_SECRET_KEY_FILE", NULL),
    CFGTAB_K_CUSTOM("security.keys", config_security_keys),
    CFGTAB_K_BOOL("security.insecure", OFF(insecure), "false"),
    CFGTAB_K_STR("security.tokens_file", OFF(tokens_file), NULL, CFGTAB_NULLABLE,
                 "ORCH_TOKENS_FILE", NULL),
    CFGTAB_K_STR("listen.http", OFF(listen_http), "127.0.0.1:5580", 0, "ORCH_HTTP_LISTEN", NULL),
    CFGTAB_K_STR("http.tls_cert_file", OFF(http_tls_cert_file), NULL, CFGTAB_NULLABLE, NULL, NULL),
    CFGTAB_K_STR("http.tls_key_file", OFF(http_tls_key_file), NULL, CFGTAB_NULLABLE, NULL, NULL),
    CFGTAB_K_INT("http.max_connections", OFF(http_max_connections), "512", 1, 100000),
    CFGTAB_K_DUR("http.timeout", OFF(http_timeout_ms), "60s", CFGTAB_SEC, CFGTAB_DAY),
    CFGTAB_K_DUR("http.request_timeout", OFF(http_request_timeout_ms), "30s", 100, CFGTAB_HOUR),
};
#define NKEYS (sizeof s_keys / sizeof s_keys[0])

/* One `queues:` entry; "name" must stay first (it is not inherited). */
static const cfgtab_key_t s_qkeys[] = {
    CFGTAB_K_STR("name", QOFF(name), NULL, 0, NULL, cfgtab_check_name),
    CFGTAB_K_INT("priority", QOFF(priority), NULL, R_PRIORITY),
    CFGTAB_K_INT("max_attempts", QOFF(max_attempts), NULL, R_ATTEMPTS),
    CFGTAB_K_DUR("timeout", QOFF(timeout_ms), NULL, R_TIMEOUT),
    CFGTAB_K_DUR("backoff_base", QOFF(backoff_base_ms), NULL, R_BACKOFF),
    CFGTAB_K_DUR("backoff_max", QOFF(backoff_max_ms), NULL, R_BACKOFF),
    CFGTAB_K_INT("concurrency", QOFF(concurrency), NULL, R_CONCURRENCY),
    CFGTAB_K_NUM("rate_limit", QOFF(rate_limit), NULL, R_RATE),
    CFGTAB_K_INT("rate_burst", QOFF(rate_burst), NULL, R_BURST),
    CFGTAB_K_DUR("retention", QOFF(retention_ms), NULL, 0, 3660 * CFGTAB_DAY),
};
#define NQKEYS (sizeof s_qkeys / sizeof s_qkeys[0])

/* One `schedules:` entry. */
static const cfgtab_key_t s_skeys[] = {
    CFGTAB_K_STR("name", SOFF(name), NULL, 0, NULL, cfgtab_check_name),
    CFGTAB_K_STR("cron", SOFF(cron), NULL, 0, NULL, NULL),
    CFGTAB_K_STR("queue", SOFF(queue), NULL, 0, NULL, cfgtab_check_name),
    CFGTAB_K_STR("type", SOFF(type), NULL, 0, NULL, cfgtab_check_name),
    CFGTAB_K_CUSTOM("payload", s_parse_payload),
    CFGTAB_K_INT("priority", SOFF(priority), NULL, R_PRIORITY),
    CFGTAB_K_INT("max_attempts", SOFF(max_attempts), NULL, R_ATTEMPTS),
    CFGTAB_K_BOOL("paused", SOFF(paused), NULL),
    CFGTAB_K_CUSTOM("then", s_parse_then),
    CFGTAB_K_STR("tenant", SOFF(tenant), NULL, CFGTAB_NULLABLE, NULL, cfgtab_check_name),
};
/* One follow-up job of a schedule's `then:`. */
static const cfgtab_key_t s_thkeys[] = {
    CFGTAB_K_STR("type", THOFF(type), NULL, 0, NULL, cfgtab_check_name),
    CFGTAB_K_STR("queue", THOFF(queue), NULL, 0, NULL, cfgtab_check_name),
    CFGTAB_K_CUSTOM("payload", s_parse_then_payload),
    CFGTAB_K_INT("priority", THOFF(priority), NULL, R_PRIORITY),
    CFGTAB_K_INT("max_attempts", THOFF(max_attempts), NULL, R_ATTEMPTS),
};
/* One `types:` entry. */
static const cfgtab_key_t s_tkeys[] = {
    CFGTAB_K_STR("name", TOFF(name), NULL, 0, NULL, cfgtab_check_name),
    CFGTAB_K_DUR("timeout", TOFF(timeout_ms), NULL, R_TIMEOUT),
    CFGTAB_K_DUR("reuse_ttl", TOFF(reuse_ttl_ms), NULL, CFGTAB_SEC, 366 * CFGTAB_DAY),
    CFGTAB_K_LIST("reuse_key", TOFF(reuse_key), TOFF(nreuse_key), NULL, 1, 16, NULL, NULL),
};

/* One `tenants:` entry (0 = no limit; weight and burst get their defaults
 * in s_parse_tenant). */
static const cfgtab_key_t s_nkeys[] = {
    CFGTAB_K_STR("name", NOFF(name), NULL, 0, NULL, cfgtab_check_name),
    CFGTAB_K_INT("weight", NOFF(weight), NULL, 1, 1000),
    CFGTAB_K_INT("max_queued", NOFF(max_queued), NULL, 0, 1000000000),
    CFGTAB_K_NUM("rate", NOFF(rate), NULL, R_RATE),
    CFGTAB_K_INT("burst", NOFF(burst), NULL, R_BURST),
    CFGTAB_K_INT("max_running", NOFF(max_running), NULL, R_CONCURRENCY),
};
/* clang-format on */
#define NNKEYS (sizeof s_nkeys / sizeof s_nkeys[0])
#define NSKEYS (sizeof s_skeys / sizeof s_skeys[0])
#define NTKEYS (sizeof s_tkeys / sizeof s_tkeys[0])
#define NTHKEYS (sizeof s_thkeys / sizeof s_thkeys[0])

/* Parse-time state: where each queue and schedule entry and its keys were. */
typedef struct {
    cfgtab_pos_t (*qpos)[NQKEYS];
    cfgtab_pos_t (*spos)[NSKEYS];
} s_load_t;

typedef int (*s_entry_fn)(cfgtab_t *ct, yaml_node_t *item, orch_config_t *cfg, size_t i);

/* Entries in a `list:` node (0 when it is not a list). */
static size_t s_list_len(const yaml_node_t *node)
{
    if (node->type != YAML_SEQUENCE_NODE)
        return 0;
    return (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
}

/* A list of mappings (queues, types, schedules): allocates *arr and parses
 * each entry with fn; *count grows entry by entry so that destroy frees what
 * a failing entry holds. A null node is an empty list. */
static int s_parse_list(cfgtab_t *ct, yaml_node_t *node, const char *display, orch_config_t *cfg,
                        void **arr, size_t elem, size_t *count, s_entry_fn fn)
{
    if (cfgtab_is_null(node))
        return 0;
    if (node->type != YAML_SEQUENCE_NODE)
        return cfgtab_fail_at(ct, node, "\"%s\": expected a list of mappings, got %s", display,
                              cfgtab_node_kind(node));
    size_t n = s_list_len(node);
    *arr = xcalloc(n ? n : 1, elem);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = yaml_document_get_node(&ct->doc, node->data.sequence.items.start[i]);
        *count = i + 1;
        int rc = fn(ct, item, cfg, i);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Entry i of a list whose entries are structs starting with `char *name`:
 * walks it with keys and requires a name unique in the list. */
static int s_walk_named(cfgtab_t *ct, yaml_node_t *item, const char *list, const char *what,
                        size_t i, const cfgtab_key_t *keys, size_t nkeys, void *arr, size_t elem,
                        cfgtab_pos_t *pos)
{
    char *base = arr;
    char prefix[40];
    snprintf(prefix, sizeof prefix, "%s[%zu].", list, i);
    if (item->type != YAML_MAPPING_NODE)
        return cfgtab_fail_at(ct, item, "\"%s[%zu]\": expected a mapping with a name", list, i);
    cfgtab_scope_t scope = {keys, nkeys, base + i * elem, pos, prefix};
    int rc = cfgtab_walk(ct, item, &scope);
    if (rc < 0)
        return rc;
    const char *name = *(char **)(base + i * elem);
    if (!name)
        return cfgtab_fail_at(ct, item, "\"%s[%zu]\": missing required key \"name\"", list, i);
    for (size_t j = 0; j < i; j++)
        if (strcmp(*(char **)(base + j * elem), name) == 0)
            return cfgtab_fail(ct, &scope, "name", "%s \"%s\" is already defined", what, name);
    return 0;
}

static int s_parse_queue(cfgtab_t *ct, yaml_node_t *item, orch_config_t *cfg, size_t i)
{
    s_load_t *ld = ct->user;
    return s_walk_named(ct, item, "queues", "queue", i, s_qkeys, NQKEYS, cfg->queues,
                        sizeof *cfg->queues, ld->qpos[i]);
}

static int s_parse_queues(cfgtab_t *ct, yaml_node_t *node, const char *display, void *base)
{
    orch_config_t *cfg = base;
    s_load_t *ld = ct->user;
    ld->qpos = xcalloc(s_list_len(node) + 1, sizeof *ld->qpos);
    return s_parse_list(ct, node, display, cfg, (void **)&cfg->queues, sizeof *cfg->queues,
                        &cfg->nqueues, s_parse_queue);
}

static int s_parse_type(cfgtab_t *ct, yaml_node_t *item, orch_config_t *cfg, size_t i)
{
    cfgtab_pos_t pos[NTKEYS];
    memset(pos, 0, sizeof pos);
    return s_walk_named(ct, item, "types", "type", i, s_tkeys, NTKEYS, cfg->types,
                        sizeof *cfg->types, pos);
}

static int s_parse_types(cfgtab_t *ct, yaml_node_t *node, const char *display, void *base)
{
    orch_config_t *cfg = base;
    return s_parse_list(ct, node, display, cfg, (void **)&cfg->types, sizeof *cfg->types,
                        &cfg->ntypes, s_parse_type);
}

static int s_parse_tenant(cfgtab_t *ct, yaml_node_t *item, orch_config_t *cfg, size_t i)
{
    cfgtab_pos_t pos[NNKEYS];
    memset(pos, 0, sizeof pos);
    int rc = s_walk_named(ct, item, "tenants", "tenant", i, s_nkeys, NNKEYS, cfg->tenants,
                          sizeof *cfg->tenants, pos);
    if (rc < 0)
        return rc;
    tenant_policy_t *t = &cfg->tenants[i];
    if (t->weight == 0)
        t->weight = 1;
    if (t->burst == 0)
        t->burst = t->rate > 1 ? (int)(t->rate + 0.999999) : 1;
    return 0;
}

static int s_parse_tenants(cfgtab_t *ct, yaml_node_t *node, const char *display, void *base)
{
    orch_config_t *cfg = base;
    return s_parse_list(ct, node, display, cfg, (void **)&cfg->tenants, sizeof *cfg->tenants,
                        &cfg->ntenants, s_parse_tenant);
}

/* A job's payload: a mapping (or null: {}) as compact JSON into *out. */
static int s_payload_json(cfgtab_t *ct, yaml_node_t *node, const char *display, char **out)
{
    char *json = NULL;
    if (cfgtab_is_null(node)) {
        json = xstrdup("{}");
    } else if (node->type != YAML_MAPPING_NODE) {
        return cfgtab_fail_at(ct, node,
                              "\"%s\": expected a mapping (the job's JSON object), got %s", display,
                              cfgtab_node_kind(node));
    } else {
        int rc = cfgtab_node_json(ct, node, display, SCHEDULE_PAYLOAD_MAX, &json);
        if (rc < 0)
            return rc;
    }
    free(*out);
    *out = json;
    return 0;
}

static int s_parse_then_payload(cfgtab_t *ct, yaml_node_t *node, const char *display, void *base)
{
    schedule_then_config_t *t = base;
    return s_payload_json(ct, node, display, &t->payload);
}

/* Entry i of `then:` (a mapping), walked into t. */
static int s_parse_then_entry(cfgtab_t *ct, yaml_node_t *item, const char *display, size_t i,
                              schedule_then_config_t *t)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%.40s[%zu].", display, i);
    if (item->type != YAML_MAPPING_NODE)
        return cfgtab_fail_at(ct, item, "\"%s[%zu]\": expected a mapping with a type, got %s",
                              display, i, cfgtab_node_kind(item));
    cfgtab_pos_t pos[NTHKEYS];
    memset(pos, 0, sizeof pos);
    t->priority = -1;    /* the queue's */
    t->max_attempts = 0; /* the queue's */
    cfgtab_scope_t scope = {s_thkeys, NTHKEYS, t, pos, prefix};
    int rc = cfgtab_walk(ct, item, &scope);
    if (rc < 0)
        return rc;
    if (!t->type)
        return cfgtab_fail_at(ct, item, "\"%s[%zu]\": missing required key \"type\"", display, i);
    if (!t->payload)
        t->payload = xstrdup("{}");
    return 0;
}

/* `then:` one follow-up job (a mapping) or a list of 1..SCHEDULE_THEN_MAX. */
static int s_parse_then(cfgtab_t *ct, yaml_node_t *node, const char *display, void *base)
{
    schedule_config_t *sc = base;
    if (cfgtab_is_null(node))
        return 0;
    bool list = node->type == YAML_SEQUENCE_NODE;
    size_t n = list ? s_list_len(node) : 1;
    if (!list && node->type != YAML_MAPPING_NODE)
        return cfgtab_fail_at(ct, node, "\"%s\": expected a mapping or a list of mappings, got %s",
                              display, cfgtab_node_kind(node));
    if (n < 1 || n > SCHEDULE_THEN_MAX)
        return cfgtab_fail_at(ct, node, "\"%s\": expected 1..%d jobs, got %zu", display,
                              SCHEDULE_THEN_MAX, n);
    sc->then = xcalloc(n, sizeof *sc->then);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item =
            list ? yaml_document_get_node(&ct->doc, node->data.sequence.items.start[i]) : node;
        sc->nthen = i + 1; /* what a failing entry holds is freed too */
        int rc = s_parse_then_entry(ct, item, display, i, &sc->then[i]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int s_parse_payload(cfgtab_t *ct, yaml_node_t *node, const char *display, void *base)
{
    schedule_config_t *sc = base;
    return s_payload_json(ct, node, display, &sc->payload);
}

/* Required keys, cron syntax and unique names of entry i (just walked). */
static int s_check_schedule(cfgtab_t *ct, yaml_node_t *item, orch_config_t *cfg, size_t i,
                            const cfgtab_scope_t *scope)
{
    schedule_config_t *sc = &cfg->schedules[i];
    const char *missing = !sc->name    ? "name"
                          : !sc->cron  ? "cron"
                          : !sc->queue ? "queue"
                          : !sc->type  ? "type"
                                       : NULL;
    if (missing)
        return cfgtab_fail_at(ct, item, "\"schedules[%zu]\": missing required key \"%s\"", i,
                              missing);
    for (size_t j = 0; j < i; j++)
        if (strcmp(cfg->schedules[j].name, sc->name) == 0)
            return cfgtab_fail(ct, scope, "name", "schedule \"%s\" is already defined", sc->name);
    char err[256];
    cron_t *cron = NULL;
    if (cron_parse(sc->cron, &cron, err, sizeof err) < 0)
        return cfgtab_fail(ct, scope, "cron", "%s", err);
    cron_destroy(&cron);
    if (!sc->payload)
        sc->payload = xstrdup("{}");
    return 0;
}

static int s_parse_schedule(cfgtab_t *ct, yaml_node_t *item, orch_config_t *cfg, size_t i)
{
    s_load_t *ld = ct->user;
    char prefix[40];
    snprintf(prefix, sizeof prefix, "schedules[%zu].", i);
    if (item->type != YAML_MAPPING_NODE)
        return cfgtab_fail_at(ct, item,
                              "\"schedules[%zu]\": expected a mapping with name, cron, queue "
                              "and type",
                              i);
    cfg->schedules[i].priority = -1;    /* the queue's */
    cfg->schedules[i].max_attempts = 0; /* the queue's */
    cfgtab_scope_t scope = {s_skeys, NSKEYS, &cfg->schedules[i], ld->spos[i], prefix};
    int rc = cfgtab_walk(ct, item, &scope);
    return rc < 0 ? rc : s_check_schedule(ct, item, cfg, i, &scope);
}

static int s_parse_schedules(cfgtab_t *ct, yaml_node_t *node, const char *display, void *base)
{
    orch_config_t *cfg = base;
    s_load_t *ld = ct->user;
    ld->spos = xcalloc(s_list_len(node) + 1, sizeof *ld->spos);
    return s_parse_list(ct, node, display, cfg, (void **)&cfg->schedules, sizeof *cfg->schedules,
                        &cfg->nschedules, s_parse_schedule);
}

/* A token bucket holds at least one token and at least a second's worth. */
static int s_default_burst(double rate)
{
    int b = (int)rate;
    if (b < rate)
        b++;
    return b < 1 ? 1 : b;
}

/* Fills what each queue left unspecified from `defaults:`. Runs after the
 * whole file, since `defaults:` may come after `queues:`. A rate_burst set
 * in neither place follows the entry's own (perhaps inherited) rate_limit. */
static void s_inherit(cfgtab_t *ct, orch_config_t *cfg, const s_load_t *ld)
{
    const cfgtab_scope_t qtable = {s_qkeys, NQKEYS, NULL, NULL, ""};
    const int burst = cfgtab_find(&qtable, "rate_burst");
    bool def_burst = cfgtab_is_set(&ct->root, "defaults.rate_burst");
    if (!def_burst)
        cfg->defaults.rate_burst = s_default_burst(cfg->defaults.rate_limit);
    for (size_t i = 0; i < cfg->nqueues; i++) {
        for (size_t k = 1; k < NQKEYS; k++)
            if (ld->qpos[i][k].line == 0 && (int)k != burst)
                cfgtab_copy(&s_qkeys[k], &cfg->queues[i], &cfg->defaults);
        if (ld->qpos[i][burst].line == 0)
            cfg->queues[i].rate_burst =
                def_burst ? cfg->defaults.rate_burst : s_default_burst(cfg->queues[i].rate_limit);
    }
}

static int s_check_backoff(cfgtab_t *ct, const cfgtab_scope_t *scope, const queue_policy_t *p)
{
    if (p->backoff_max_ms >= p->backoff_base_ms)
        return 0;
    char base[32];
    cfgtab_fmt_duration(p->backoff_base_ms, base, sizeof base);
    /* blame the key this entry set; an inherited value has no position */
    const char *key = cfgtab_is_set(scope, "backoff_max") || !cfgtab_is_set(scope, "backoff_base")
                          ? "backoff_max"
                          : "backoff_base";
    if (strcmp(key, "backoff_max") == 0)
        return cfgtab_fail(ct, scope, key, "must be at least backoff_base (%s)", base);
    char max[32];
    cfgtab_fmt_duration(p->backoff_max_ms, max, sizeof max);
    return cfgtab_fail(ct, scope, key, "must not exceed backoff_max (%s)", max);
}

static int s_validate(cfgtab_t *ct, orch_config_t *cfg, const s_load_t *ld)
{
    const cfgtab_scope_t *root = &ct->root;
    cfgtab_scope_t dscope = {s_qkeys, NQKEYS, &cfg->defaults, NULL, "defaults."};
    cfgtab_pos_t dpos[NQKEYS] = {{0}};
    for (size_t k = 1; k < NQKEYS; k++) {
        char path[64];
        snprintf(path, sizeof path, "defaults.%s", s_qkeys[k].path);
        int f = cfgtab_find(root, path);
        if (f < 0 && strcmp(s_qkeys[k].path, "retention") == 0)
            f = cfgtab_find(root, "retention.jobs"); /* a queue's retention defaults to it */
        if (f >= 0)
            dpos[k] = root->pos[f];
    }
    dscope.pos = dpos;
    int rc = s_check_backoff(ct, &dscope, &cfg->defaults);
    for (size_t i = 0; rc == 0 && i < cfg->nqueues; i++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "queues[%zu].", i);
        cfgtab_scope_t qscope = {s_qkeys, NQKEYS, &cfg->queues[i], ld->qpos[i], prefix};
        rc = s_check_backoff(ct, &qscope, &cfg->queues[i]);
    }
    for (size_t i = 0; rc == 0 && i < cfg->nschedules; i++) {
        size_t len = strlen(cfg->schedules[i].payload);
        const char *tenant = cfg->schedules[i].tenant;
        bool unknown = tenant && cfg->ntenants > 0 && strcmp(tenant, "default") != 0 &&
                       !orch_config_tenant(cfg, tenant);
        if (len <= cfg->max_payload_bytes && !unknown)
            continue;
        char prefix[40];
        snprintf(prefix, sizeof prefix, "schedules[%zu].", i);
        cfgtab_scope_t sscope = {s_skeys, NSKEYS, &cfg->schedules[i], ld->spos[i], prefix};
        if (unknown)
            rc = cfgtab_fail(ct, &sscope, "tenant", "tenant \"%s\" is not listed under tenants:",
                             tenant);
        else
            rc = cfgtab_fail(ct, &sscope, "payload",
                             "%zu bytes as JSON exceed limits.max_payload_bytes (%zu)", len,
                             cfg->max_payload_bytes);
    }
    if (rc == 0 && cfg->ha_renew_ms * 2 > cfg->ha_lease_ms)
        rc = cfgtab_fail(ct, root, cfgtab_is_set(root, "ha.renew") ? "ha.renew" : "ha.lease",
                         "ha.renew (%lld ms) must be at most half of ha.lease (%lld ms): a"
                         " leader renews several times per lease",
                         (long long)cfg->ha_renew_ms, (long long)cfg->ha_lease_ms);
    if (rc == 0 && cfg->max_payload_bytes > cfg->max_message_bytes) {
        const char *key = cfgtab_is_set(root, "limits.max_payload_bytes")
                              ? "limits.max_payload_bytes"
                              : "limits.max_message_bytes";
        rc = cfgtab_fail(ct, root, key,
                         "limits.max_payload_bytes (%zu) must not exceed "
                         "limits.max_message_bytes (%zu)",
                         cfg->max_payload_bytes, cfg->max_message_bytes);
    }
    return rc;
}

/* database.url and database.url_file: one or the other in the file; the
 * environment wins over both (and then the file is not read). */
static int s_resolve_db_url(cfgtab_t *ct, orch_config_t *cfg, bool both_in_file)
{
    const cfgtab_scope_t *root = &ct->root;
    if (both_in_file && cfg->db_url && cfg->db_url_file)
        return cfgtab_fail(ct, root, "database.url_file",
                           "cannot be combined with database.url: set one of them");
    if (cfg->db_url || !cfg->db_url_file)
        return 0;
    return cfgtab_read_secret(ct, root, "database.url_file", cfg->db_url_file, &cfg->db_url);
}

static int s_load(cfgtab_t *ct, const char *path, orch_config_t *cfg, s_load_t *ld)
{
    int rc = cfgtab_read(ct, path);
    if (rc < 0)
        return rc;
    s_inherit(ct, cfg, ld);
    bool both =
        cfgtab_is_set(&ct->root, "database.url") && cfgtab_is_set(&ct->root, "database.url_file");
    if ((rc = cfgtab_apply_env(ct)) < 0)
        return rc;
    if ((rc = s_resolve_db_url(ct, cfg, both)) < 0)
        return rc;
    if ((rc = s_validate(ct, cfg, ld)) < 0)
        return rc;
    if ((rc = config_security_check(ct, cfg)) < 0)
        return rc;
    return config_http_check(ct, cfg);
}

int orch_config_load(const char *path, orch_config_t **out, char *err, size_t errlen)
{
    orch_config_t *cfg = xcalloc(1, sizeof *cfg);
    cfgtab_pos_t pos[NKEYS];
    memset(pos, 0, sizeof pos);
    cfgtab_scope_t root = {s_keys, NKEYS, cfg, pos, ""};
    s_load_t ld = {NULL, NULL};
    cfgtab_t ct;
    cfgtab_init(&ct, &root, err, errlen);
    ct.user = &ld;
    int rc = s_load(&ct, path, cfg, &ld);
    cfgtab_fini(&ct);
    free(ld.qpos);
    free(ld.spos);
    if (rc < 0) {
        orch_config_destroy(&cfg);
        *out = NULL;
        return rc;
    }
    *out = cfg;
    return 0;
}

void orch_config_destroy(orch_config_t **cfgp)
{
    if (!cfgp || !*cfgp)
        return;
    orch_config_t *cfg = *cfgp;
    cfgtab_free(s_keys, NKEYS, cfg);
    config_security_free(cfg);
    config_http_free(cfg);
    config_downstreams_free(cfg);
    for (size_t i = 0; i < cfg->nqueues; i++)
        free(cfg->queues[i].name);
    free(cfg->queues);
    for (size_t i = 0; i < cfg->nschedules; i++) {
        cfgtab_free(s_skeys, NSKEYS, &cfg->schedules[i]);
        free(cfg->schedules[i].payload);
        for (size_t t = 0; t < cfg->schedules[i].nthen; t++) {
            cfgtab_free(s_thkeys, NTHKEYS, &cfg->schedules[i].then[t]);
            free(cfg->schedules[i].then[t].payload);
        }
        free(cfg->schedules[i].then);
    }
    free(cfg->schedules);
    for (size_t i = 0; i < cfg->ntypes; i++) {
        free(cfg->types[i].name);
        for (size_t k = 0; k < cfg->types[i].nreuse_key; k++)
            free(cfg->types[i].reuse_key[k]);
        free(cfg->types[i].reuse_key);
    }
    free(cfg->types);
    for (size_t i = 0; i < cfg->ntenants; i++)
        free(cfg->tenants[i].name);
    free(cfg->tenants);
    free(cfg);
    *cfgp = NULL;
}

const queue_policy_t *orch_config_policy(const orch_config_t *cfg, const char *queue)
{
    for (size_t i = 0; queue && i < cfg->nqueues; i++)
        if (strcmp(cfg->queues[i].name, queue) == 0)
            return &cfg->queues[i];
    return &cfg->defaults;
}

int64_t orch_config_timeout(const orch_config_t *cfg, const char *queue, const char *type)
{
    for (size_t i = 0; type && i < cfg->ntypes; i++)
        if (strcmp(cfg->types[i].name, type) == 0 && cfg->types[i].timeout_ms > 0)
            return cfg->types[i].timeout_ms;
    return orch_config_policy(cfg, queue)->timeout_ms;
}

const tenant_policy_t *orch_config_tenant(const orch_config_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->ntenants; i++)
        if (strcmp(cfg->tenants[i].name, name) == 0)
            return &cfg->tenants[i];
    return NULL;
}
