/* orch-worker's configuration: the key table, the `handlers:` sections
 * (a section present in the file enables its handler), secrets read from
 * files, and the checks that span several keys. */
#include "cfgtab.h"
#include "config.h"
#include "orch_error.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OFF(field) offsetof(worker_config_t, field)
#define HOFF(h, field) (offsetof(worker_config_t, h) + offsetof(handler_toggle_t, field))

/* A handler's section, its `enabled` flag and its `slots` limit. */
#define HANDLER_KEYS(name, h, on)                                                                  \
    CFGTAB_K_SECTION("handlers." name, HOFF(h, enabled)),                                          \
        CFGTAB_K_BOOL("handlers." name ".enabled", HOFF(h, enabled), on),                          \
        CFGTAB_K_INT("handlers." name ".slots", HOFF(h, slots), "0", 0, 1024)

/* ORCH_DATABASE_URL fills these only when the file leaves them unset. */
#define DB_URL (CFGTAB_SECRET | CFGTAB_NULLABLE | CFGTAB_ENV_DEFAULT)
/* URLs may carry credentials: never echoed. */
#define HTTP_URL CFGTAB_SECRET

/* clang-format off */
static const cfgtab_key_t s_keys[] = {
    CFGTAB_K_STR("worker.name", OFF(name), NULL, 0, NULL, cfgtab_check_name),
    CFGTAB_K_LIST("worker.endpoints", OFF(endpoints), OFF(nendpoints), "tcp://127.0.0.1:5555", 1,
                  64, "ORCH_WORKER_ENDPOINTS", cfgtab_check_endpoint),
    CFGTAB_K_INT("worker.slots", OFF(slots), "4", 1, 1024),
    CFGTAB_K_LIST("worker.queues", OFF(queues), OFF(nqueues), "default", 1, 1024, NULL,
                  cfgtab_check_name),
    CFGTAB_K_DUR("worker.heartbeat_interval", OFF(heartbeat_interval_ms), "1s", 10,
                 10 * CFGTAB_MINUTE),
    CFGTAB_K_INT("worker.heartbeat_liveness", OFF(heartbeat_liveness), "3", 1, 100),
    CFGTAB_K_DUR("worker.reconnect_min", OFF(reconnect_min_ms), "250ms", 1, CFGTAB_HOUR),
    CFGTAB_K_DUR("worker.reconnect_max", OFF(reconnect_max_ms), "32s", 1, CFGTAB_DAY),
    CFGTAB_K_DUR("worker.drain_timeout", OFF(drain_timeout_ms), "30s", 0, CFGTAB_DAY),
    CFGTAB_K_SIZE("worker.max_message_bytes", OFF(max_message_bytes), "16MiB", 4 * CFGTAB_KIB,
                  CFGTAB_GIB),
    CFGTAB_K_LEVEL("log.level", OFF(log_level), "info", "ORCH_LOG_LEVEL"),

    HANDLER_KEYS("noop", h_noop, "true"),
    HANDLER_KEYS("sleep", h_sleep, "true"),
    HANDLER_KEYS("fail", h_fail, "true"),

    HANDLER_KEYS("embed", h_embed, "false"),
    CFGTAB_K_STR("handlers.embed.url", OFF(embed.url), "http://127.0.0.1:11434", HTTP_URL,
                 "ORCH_OLLAMA_URL", cfgtab_check_http_url),
    CFGTAB_K_STR("handlers.embed.model", OFF(embed.model), "nomic-embed-text", 0, NULL, NULL),
    CFGTAB_K_INT("handlers.embed.batch_size", OFF(embed.batch_size), "32", 1, 4096),
    CFGTAB_K_DUR("handlers.embed.timeout", OFF(embed.timeout_ms), "30s", 100, CFGTAB_HOUR),
    CFGTAB_K_STR("handlers.embed.database_url", OFF(embed.database_url), NULL, DB_URL,
                 "ORCH_DATABASE_URL", NULL),

    HANDLER_KEYS("index", h_index, "false"),
    CFGTAB_K_STR("handlers.index.url", OFF(index.url), "http://127.0.0.1:7700", HTTP_URL,
                 "ORCH_MEILI_URL", cfgtab_check_http_url),
    CFGTAB_K_STR("handlers.index.api_key", OFF(index.api_key), NULL,
                 CFGTAB_SECRET | CFGTAB_NULLABLE, "ORCH_MEILI_API_KEY", NULL),
    CFGTAB_K_STR("handlers.index.api_key_file", OFF(index.api_key_file), NULL, CFGTAB_NULLABLE,
                 NULL, NULL),
    CFGTAB_K_SIZE("handlers.index.max_request_bytes", OFF(index.max_request_bytes), "10MiB",
                  CFGTAB_KIB, CFGTAB_GIB),
    CFGTAB_K_DUR("handlers.index.timeout", OFF(index.timeout_ms), "30s", 100, CFGTAB_HOUR),
    CFGTAB_K_DUR("handlers.index.poll_initial", OFF(index.poll_initial_ms), "50ms", 1,
                 CFGTAB_MINUTE),
    CFGTAB_K_DUR("handlers.index.poll_max", OFF(index.poll_max_ms), "2s", 1, 10 * CFGTAB_MINUTE),

    HANDLER_KEYS("compact", h_compact, "false"),
    CFGTAB_K_STR("handlers.compact.database_url", OFF(compact.database_url), NULL, DB_URL,
                 "ORCH_DATABASE_URL", NULL),
    CFGTAB_K_DUR("handlers.compact.retention", OFF(compact.retention_ms), "24h", 0,
                 365 * CFGTAB_DAY),

    HANDLER_KEYS("backup_verify", h_backup, "false"),
    CFGTAB_K_LIST("handlers.backup_verify.allowed_roots", OFF(backup.allowed_roots),
                  OFF(backup.nallowed_roots), NULL, 0, 64, NULL, cfgtab_check_abs_path),
    CFGTAB_K_STR("handlers.backup_verify.database_url", OFF(backup.database_url), NULL, DB_URL,
                 "ORCH_DATABASE_URL", NULL),
    CFGTAB_K_STR("handlers.backup_verify.bin_dir", OFF(backup.bin_dir),
                 "/usr/lib/postgresql/15/bin", 0, NULL, cfgtab_check_abs_path),
    CFGTAB_K_DUR("handlers.backup_verify.timeout", OFF(backup.timeout_ms), "10m", CFGTAB_SEC,
                 CFGTAB_DAY),
};
/* clang-format on */
#define NKEYS (sizeof s_keys / sizeof s_keys[0])

/* "<hostname>-<pid>", cut to a valid protocol name. */
static char *s_default_name(void)
{
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) < 0 || !host[0])
        snprintf(host, sizeof host, "worker");
    host[sizeof host - 1] = '\0';
    char *dot = strchr(host, '.');
    if (dot && dot != host)
        *dot = '\0'; /* the short host name leaves room for the pid */
    char name[65];
    snprintf(name, sizeof name, "%.50s-%ld", host, (long)getpid());
    for (char *p = name; *p; p++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-", *p))
            *p = '_';
    return xstrdup(name);
}

/* min must not exceed max; blames max unless only min came from the config. */
static int s_check_order(cfgtab_t *ct, const char *kmin, int64_t vmin, const char *kmax,
                         int64_t vmax)
{
    if (vmax >= vmin)
        return 0;
    char a[32], b[32];
    cfgtab_fmt_duration(vmin, a, sizeof a);
    cfgtab_fmt_duration(vmax, b, sizeof b);
    if (cfgtab_is_set(&ct->root, kmax) || !cfgtab_is_set(&ct->root, kmin))
        return cfgtab_fail(ct, &ct->root, kmax, "must be at least %s (%s)", kmin, a);
    return cfgtab_fail(ct, &ct->root, kmin, "must not exceed %s (%s)", kmax, b);
}

static int s_require_db(cfgtab_t *ct, bool enabled, const char *url, const char *handler)
{
    if (!enabled || url)
        return 0;
    char key[96];
    snprintf(key, sizeof key, "handlers.%s.database_url", handler);
    return cfgtab_fail(ct, &ct->root, key,
                       "required when the %s handler is enabled (or set ORCH_DATABASE_URL)",
                       handler);
}

static int s_validate(cfgtab_t *ct, worker_config_t *cfg)
{
    int rc = s_check_order(ct, "worker.reconnect_min", cfg->reconnect_min_ms,
                           "worker.reconnect_max", cfg->reconnect_max_ms);
    if (rc == 0)
        rc = s_check_order(ct, "handlers.index.poll_initial", cfg->index.poll_initial_ms,
                           "handlers.index.poll_max", cfg->index.poll_max_ms);
    if (rc == 0)
        rc = s_require_db(ct, cfg->h_embed.enabled, cfg->embed.database_url, "embed");
    if (rc == 0)
        rc = s_require_db(ct, cfg->h_compact.enabled, cfg->compact.database_url, "compact");
    if (rc == 0)
        rc = s_require_db(ct, cfg->h_backup.enabled, cfg->backup.database_url, "backup_verify");
    if (rc == 0 && cfg->h_backup.enabled && cfg->backup.nallowed_roots == 0)
        rc = cfgtab_fail(ct, &ct->root, "handlers.backup_verify.allowed_roots",
                         "at least one root is required when the backup_verify handler is "
                         "enabled");
    return rc;
}

/* index.api_key and index.api_key_file: one or the other in the file;
 * ORCH_MEILI_API_KEY wins over both (and then the file is not read). */
static int s_resolve_api_key(cfgtab_t *ct, worker_config_t *cfg, bool both_in_file)
{
    if (both_in_file && cfg->index.api_key && cfg->index.api_key_file)
        return cfgtab_fail(ct, &ct->root, "handlers.index.api_key_file",
                           "cannot be combined with handlers.index.api_key: set one of them");
    if (cfg->index.api_key || !cfg->index.api_key_file || !cfg->h_index.enabled)
        return 0;
    return cfgtab_read_secret(ct, &ct->root, "handlers.index.api_key_file", cfg->index.api_key_file,
                              &cfg->index.api_key);
}

static int s_load(cfgtab_t *ct, const char *path, worker_config_t *cfg)
{
    int rc = cfgtab_read(ct, path);
    if (rc < 0)
        return rc;
    bool both = cfgtab_is_set(&ct->root, "handlers.index.api_key") &&
                cfgtab_is_set(&ct->root, "handlers.index.api_key_file");
    if ((rc = cfgtab_apply_env(ct)) < 0)
        return rc;
    if ((rc = s_resolve_api_key(ct, cfg, both)) < 0)
        return rc;
    if (!cfg->name)
        cfg->name = s_default_name();
    return s_validate(ct, cfg);
}

int worker_config_load(const char *path, worker_config_t **out, char *err, size_t errlen)
{
    worker_config_t *cfg = xcalloc(1, sizeof *cfg);
    cfgtab_pos_t pos[NKEYS];
    memset(pos, 0, sizeof pos);
    cfgtab_scope_t root = {s_keys, NKEYS, cfg, pos, ""};
    cfgtab_t ct;
    cfgtab_init(&ct, &root, err, errlen);
    int rc = s_load(&ct, path, cfg);
    cfgtab_fini(&ct);
    if (rc < 0) {
        worker_config_destroy(&cfg);
        *out = NULL;
        return rc;
    }
    *out = cfg;
    return 0;
}

void worker_config_destroy(worker_config_t **cfgp)
{
    if (!cfgp || !*cfgp)
        return;
    cfgtab_free(s_keys, NKEYS, *cfgp);
    free(*cfgp);
    *cfgp = NULL;
}
