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
    {"handlers." name, CFGTAB_SECTION, HOFF(h, enabled), 0, NULL, 0, 0, 0, NULL, NULL, NULL},      \
        {"handlers." name ".enabled", CFGTAB_BOOL, HOFF(h, enabled), 0, on, 0, 0, 0, NULL, NULL,   \
         NULL},                                                                                    \
        {"handlers." name ".slots", CFGTAB_INT, HOFF(h, slots), 0, "0", 0, 1024, 0, NULL, NULL,    \
         NULL}

#define SECRET_URL (CFGTAB_SECRET | CFGTAB_NULLABLE | CFGTAB_ENV_DEFAULT)

static const cfgtab_key_t s_keys[] = {
    {"worker.name", CFGTAB_STRING, OFF(name), 0, NULL, 0, 0, 0, NULL, cfgtab_check_name, NULL},
    {"worker.endpoints", CFGTAB_STRLIST, OFF(endpoints), OFF(nendpoints), "tcp://127.0.0.1:5555",
     1, 64, 0, "ORCH_WORKER_ENDPOINTS", cfgtab_check_endpoint, NULL},
    {"worker.slots", CFGTAB_INT, OFF(slots), 0, "4", 1, 1024, 0, NULL, NULL, NULL},
    {"worker.queues", CFGTAB_STRLIST, OFF(queues), OFF(nqueues), "default", 1, 1024, 0, NULL,
     cfgtab_check_name, NULL},
    {"worker.heartbeat_interval", CFGTAB_DURATION, OFF(heartbeat_interval_ms), 0, "1s", 10,
     600000, 0, NULL, NULL, NULL},
    {"worker.heartbeat_liveness", CFGTAB_INT, OFF(heartbeat_liveness), 0, "3", 1, 100, 0, NULL,
     NULL, NULL},
    {"worker.reconnect_min", CFGTAB_DURATION, OFF(reconnect_min_ms), 0, "250ms", 1, 3600000, 0,
     NULL, NULL, NULL},
    {"worker.reconnect_max", CFGTAB_DURATION, OFF(reconnect_max_ms), 0, "32s", 1, 86400000, 0,
     NULL, NULL, NULL},
    {"worker.drain_timeout", CFGTAB_DURATION, OFF(drain_timeout_ms), 0, "30s", 0, 86400000, 0,
     NULL, NULL, NULL},
    {"worker.max_message_bytes", CFGTAB_SIZE, OFF(max_message_bytes), 0, "16MiB", 4096,
     1LL << 30, 0, NULL, NULL, NULL},
    {"log.level", CFGTAB_LOGLEVEL, OFF(log_level), 0, "info", 0, 0, 0, "ORCH_LOG_LEVEL", NULL,
     NULL},
    HANDLER_KEYS("noop", h_noop, "true"),
    HANDLER_KEYS("sleep", h_sleep, "true"),
    HANDLER_KEYS("fail", h_fail, "true"),
    HANDLER_KEYS("embed", h_embed, "false"),
    {"handlers.embed.url", CFGTAB_STRING, OFF(embed.url), 0, "http://127.0.0.1:11434", 0, 0,
     CFGTAB_SECRET, "ORCH_OLLAMA_URL", cfgtab_check_http_url, NULL},
    {"handlers.embed.model", CFGTAB_STRING, OFF(embed.model), 0, "nomic-embed-text", 0, 0, 0,
     NULL, NULL, NULL},
    {"handlers.embed.batch_size", CFGTAB_INT, OFF(embed.batch_size), 0, "32", 1, 4096, 0, NULL,
     NULL, NULL},
    {"handlers.embed.timeout", CFGTAB_DURATION, OFF(embed.timeout_ms), 0, "30s", 100, 3600000, 0,
     NULL, NULL, NULL},
    {"handlers.embed.database_url", CFGTAB_STRING, OFF(embed.database_url), 0, NULL, 0, 0,
     SECRET_URL, "ORCH_DATABASE_URL", NULL, NULL},
    HANDLER_KEYS("index", h_index, "false"),
    {"handlers.index.url", CFGTAB_STRING, OFF(index.url), 0, "http://127.0.0.1:7700", 0, 0,
     CFGTAB_SECRET, "ORCH_MEILI_URL", cfgtab_check_http_url, NULL},
    {"handlers.index.api_key", CFGTAB_STRING, OFF(index.api_key), 0, NULL, 0, 0,
     CFGTAB_SECRET | CFGTAB_NULLABLE, "ORCH_MEILI_API_KEY", NULL, NULL},
    {"handlers.index.api_key_file", CFGTAB_STRING, OFF(index.api_key_file), 0, NULL, 0, 0,
     CFGTAB_NULLABLE, NULL, NULL, NULL},
    {"handlers.index.max_request_bytes", CFGTAB_SIZE, OFF(index.max_request_bytes), 0, "10MiB",
     1024, 1LL << 30, 0, NULL, NULL, NULL},
    {"handlers.index.timeout", CFGTAB_DURATION, OFF(index.timeout_ms), 0, "30s", 100, 3600000, 0,
     NULL, NULL, NULL},
    {"handlers.index.poll_initial", CFGTAB_DURATION, OFF(index.poll_initial_ms), 0, "50ms", 1,
     60000, 0, NULL, NULL, NULL},
    {"handlers.index.poll_max", CFGTAB_DURATION, OFF(index.poll_max_ms), 0, "2s", 1, 600000, 0,
     NULL, NULL, NULL},
    HANDLER_KEYS("compact", h_compact, "false"),
    {"handlers.compact.database_url", CFGTAB_STRING, OFF(compact.database_url), 0, NULL, 0, 0,
     SECRET_URL, "ORCH_DATABASE_URL", NULL, NULL},
    {"handlers.compact.retention", CFGTAB_DURATION, OFF(compact.retention_ms), 0, "24h", 0,
     365LL * 86400000, 0, NULL, NULL, NULL},
    HANDLER_KEYS("backup_verify", h_backup, "false"),
    {"handlers.backup_verify.allowed_roots", CFGTAB_STRLIST, OFF(backup.allowed_roots),
     OFF(backup.nallowed_roots), NULL, 0, 64, 0, NULL, cfgtab_check_abs_path, NULL},
    {"handlers.backup_verify.database_url", CFGTAB_STRING, OFF(backup.database_url), 0, NULL, 0,
     0, SECRET_URL, "ORCH_DATABASE_URL", NULL, NULL},
    {"handlers.backup_verify.bin_dir", CFGTAB_STRING, OFF(backup.bin_dir), 0,
     "/usr/lib/postgresql/15/bin", 0, 0, 0, NULL, cfgtab_check_abs_path, NULL},
    {"handlers.backup_verify.timeout", CFGTAB_DURATION, OFF(backup.timeout_ms), 0, "10m", 1000,
     86400000, 0, NULL, NULL, NULL},
};
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
    return cfgtab_read_secret(ct, &ct->root, "handlers.index.api_key_file",
                              cfg->index.api_key_file, &cfg->index.api_key);
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
