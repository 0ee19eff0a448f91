/* orch-worker's configuration: the key table of the `worker:` and `log:`
 * sections, and the `handlers:` mapping, whose sections are declared by the
 * job types the caller lists (cfgsection.h): this file knows none of them.
 * Each section is walked with its own table (the two keys every section has,
 * then the type's keys), so unknown keys, types, ranges, environment
 * variables and messages with file:line:column work as for any other key. */
#include "cfgsection.h"
#include "cfgtab.h"
#include "config.h"
#include "config_listen.h"
#include "config_security.h"
#include "orch_error.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <assert.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#define OFF(field) offsetof(worker_config_t, field)
#define CFGTAB_PATH_MAX_ENTRY 512 /* "handlers.<type>.<path>.<entry>" */

static int s_handlers(cfgtab_t *ct, yaml_node_t *node, const char *display, void *base);

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
    CFGTAB_K_STR("worker.server_key_file", OFF(server_key_file), NULL, CFGTAB_NULLABLE,
                 "ORCH_SERVER_KEY_FILE", NULL),
    CFGTAB_K_STR("worker.secret_key_file", OFF(secret_key_file), NULL, CFGTAB_NULLABLE,
                 "ORCH_SECRET_KEY_FILE", NULL),
    CFGTAB_K_STR("worker.metrics_listen", OFF(metrics_listen), NULL, CFGTAB_NULLABLE,
                 "ORCH_WORKER_METRICS_LISTEN", NULL),
    CFGTAB_K_BOOL("worker.metrics_insecure", OFF(metrics_insecure), "false"),
    CFGTAB_K_LEVEL("log.level", OFF(log_level), "info", "ORCH_LOG_LEVEL"),
    CFGTAB_K_LOGFMT("log.format", OFF(log_format), "text", "ORCH_LOG_FORMAT"),

    CFGTAB_K_CUSTOM("handlers", s_handlers),
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

/* ---- handler sections ---------------------------------------------- */

/* A section's schema struct starts this far into its allocation. */
#define SEC_HDR                                                                                    \
    ((sizeof(worker_section_t) + _Alignof(max_align_t) - 1) / _Alignof(max_align_t) *              \
     _Alignof(max_align_t))
#define SEC_OWN_KEYS 2 /* enabled, slots */

static int s_entries(cfgtab_t *ct, yaml_node_t *node, const char *display, void *base);

/* One section while the file loads: its table is the two keys every
 * section has, then the schema's keys moved past the header, so one walk
 * fills both. file_pos keeps where keys stood before the environment. */
typedef struct {
    worker_section_t *sec;
    cfgtab_key_t *keys;
    cfgtab_pos_t *pos, *file_pos;
    char prefix[96];
    cfgtab_scope_t scope;
} s_sec_t;

typedef struct {
    s_sec_t *secs;
    size_t n;
} s_load_t;

static void s_sec_init(s_sec_t *s, const char *type, const cfgsection_t *schema)
{
    size_t nk = schema ? schema->nkeys : 0, size = schema ? schema->size : 0;
    const cfgsection_entries_def_t *ents = schema ? schema->entries : NULL;
    size_t nrows = SEC_OWN_KEYS + nk + (ents ? 1 : 0);
    s->sec = xcalloc(1, SEC_HDR + (size ? size : 1));
    s->sec->type = xstrdup(type);
    s->sec->schema = schema;
    s->sec->conf = size ? (char *)s->sec + SEC_HDR : NULL;
    s->keys = xcalloc(nrows, sizeof *s->keys);
    s->keys[0] = (cfgtab_key_t)CFGTAB_K_BOOL("enabled", offsetof(worker_section_t, enabled),
                                             schema && schema->enabled ? "true" : "false");
    s->keys[1] =
        (cfgtab_key_t)CFGTAB_K_INT("slots", offsetof(worker_section_t, slots), "0", 0, 1024);
    for (size_t i = 0; i < nk; i++) {
        cfgtab_key_t k = schema->keys[i];
        /* programmer errors in a handler's table */
        assert(k.type != CFGTAB_CUSTOM && "a section key cannot be CFGTAB_CUSTOM");
        assert(strcmp(k.path, "enabled") != 0 && strcmp(k.path, "slots") != 0);
        assert(k.off < size && ((k.type != CFGTAB_STRLIST && k.type != CFGTAB_STRMAP) ||
                                k.count_off < size));
        k.off += SEC_HDR;
        if (k.type == CFGTAB_STRLIST || k.type == CFGTAB_STRMAP)
            k.count_off += SEC_HDR;
        s->keys[SEC_OWN_KEYS + i] = k;
    }
    if (ents) {
        /* the entries' mapping: walked here, in config/, which sees YAML */
        assert(ents->off + sizeof(cfgsection_entries_t) <= size && ents->size > 0);
        s->keys[nrows - 1] = (cfgtab_key_t)CFGTAB_K_CUSTOM(ents->path, s_entries);
    }
    s->pos = xcalloc(nrows, sizeof *s->pos);
    s->file_pos = xcalloc(nrows, sizeof *s->file_pos);
    snprintf(s->prefix, sizeof s->prefix, "handlers.%s.", type);
    s->scope = (cfgtab_scope_t){s->keys, nrows, s->sec, s->pos, s->prefix};
    cfgtab_defaults(&s->scope);
}

static void s_sec_fini(s_sec_t *s)
{
    free(s->keys);
    free(s->pos);
    free(s->file_pos);
}

/* One section per listed type, defaults applied, into cfg and ld. */
static void s_sections_init(s_load_t *ld, worker_config_t *cfg, worker_types_fn types)
{
    const cfgsection_t *schema = NULL;
    size_t n = 0;
    while (types && types(n, &schema))
        n++;
    ld->secs = xcalloc(n ? n : 1, sizeof *ld->secs);
    cfg->sections = xcalloc(n ? n : 1, sizeof *cfg->sections);
    for (size_t i = 0; i < n; i++) {
        schema = NULL;
        const char *type = types(i, &schema);
        assert(cfgtab_check_name(type) == NULL && strlen(type) <= 64);
        for (size_t j = 0; j < i; j++)
            assert(strcmp(cfg->sections[j]->type, type) != 0 && "job type listed twice");
        s_sec_init(&ld->secs[i], type, schema);
        cfg->sections[i] = ld->secs[i].sec;
        cfg->nsections = ld->n = i + 1;
    }
}

static void s_sections_fini(s_load_t *ld)
{
    for (size_t i = 0; i < ld->n; i++)
        s_sec_fini(&ld->secs[i]);
    free(ld->secs);
}

static s_sec_t *s_sec_find(s_load_t *ld, const char *type)
{
    for (size_t i = 0; i < ld->n; i++)
        if (strcmp(ld->secs[i].sec->type, type) == 0)
            return &ld->secs[i];
    return NULL;
}

/* ---- named entries (cfgsection_entries_def_t) ------------------------ */

static cfgsection_entries_t *s_entries_of(const worker_section_t *sec)
{
    return (cfgsection_entries_t *)((char *)sec->conf + sec->schema->entries->off);
}

static void s_entries_free(const worker_section_t *sec)
{
    const cfgsection_entries_def_t *def = sec->schema->entries;
    cfgsection_entries_t *e = s_entries_of(sec);
    for (size_t i = 0; i < e->n; i++) {
        cfgtab_free(def->keys, def->nkeys, e->confs[i]);
        free(e->confs[i]);
        free(e->names[i]);
    }
    free(e->confs);
    free(e->names);
    memset(e, 0, sizeof *e);
}

/* One entry: its own table and positions, defaults, the file, its check. */
static int s_entry(cfgtab_t *ct, const worker_section_t *sec, yaml_node_t *key,
                   yaml_node_t *value, const char *display)
{
    const cfgsection_entries_def_t *def = sec->schema->entries;
    cfgsection_entries_t *e = s_entries_of(sec);
    const char *name = (const char *)key->data.scalar.value;
    char sub[CFGTAB_PATH_MAX_ENTRY];
    snprintf(sub, sizeof sub, "%s.%s", display, name);
    const char *bad = def->check_name ? def->check_name(name) : cfgtab_check_name(name);
    if (bad)
        return cfgtab_fail_at(ct, key, "\"%s\": expected %s as the name", sub, bad);
    if (value->type != YAML_MAPPING_NODE && !cfgtab_is_null(value))
        return cfgtab_fail_at(ct, value, "\"%s\": expected a mapping, got %s", sub,
                              cfgtab_node_kind(value));
    void *conf = xcalloc(1, def->size);
    e->names[e->n] = xstrdup(name);
    e->confs[e->n++] = conf; /* owned by the section from here on, even on failure */
    cfgtab_pos_t *pos = xcalloc(def->nkeys ? def->nkeys : 1, sizeof *pos);
    char prefix[CFGTAB_PATH_MAX_ENTRY + 1];
    snprintf(prefix, sizeof prefix, "%s.", sub);
    cfgtab_scope_t scope = {def->keys, def->nkeys, conf, pos, prefix};
    cfgtab_defaults(&scope);
    int rc = value->type == YAML_MAPPING_NODE ? cfgtab_walk(ct, value, &scope) : 0;
    if (rc == 0 && def->check) {
        cfgsection_ctx_t cx = {ct, &scope, pos, sec->enabled, key};
        rc = def->check(&cx, name, conf);
        assert(rc == 0 || rc == ORCH_ECONFIG);
    }
    free(pos);
    return rc;
}

/* `<path>: {<name>: {...}, ...}` of a section whose schema has entries. */
static int s_entries(cfgtab_t *ct, yaml_node_t *node, const char *display, void *base)
{
    const worker_section_t *sec = base;
    const cfgsection_entries_def_t *def = sec->schema->entries;
    s_entries_free(sec);
    if (cfgtab_is_null(node))
        return 0;
    if (node->type != YAML_MAPPING_NODE)
        return cfgtab_fail_at(ct, node, "\"%s\": expected a mapping of names to mappings, got %s",
                              display, cfgtab_node_kind(node));
    size_t n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    if (n > def->max)
        return cfgtab_fail_at(ct, node, "\"%s\": at most %zu entries, got %zu", display, def->max,
                              n);
    for (size_t i = 0; i < def->nkeys; i++) /* programmer errors in a handler's table */
        assert(def->keys[i].type != CFGTAB_CUSTOM && !def->keys[i].env);
    cfgsection_entries_t *e = s_entries_of(sec);
    e->names = xcalloc(n ? n : 1, sizeof *e->names);
    e->confs = xcalloc(n ? n : 1, sizeof *e->confs);
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
        yaml_node_t *key = yaml_document_get_node(&ct->doc, p->key);
        if (key->type != YAML_SCALAR_NODE)
            return cfgtab_fail_at(ct, key, "expected a plain key, got %s", cfgtab_node_kind(key));
        char sub[CFGTAB_PATH_MAX_ENTRY];
        snprintf(sub, sizeof sub, "%s.%s", display, (const char *)key->data.scalar.value);
        int rc = cfgtab_check_duplicate(ct, node, p, sub);
        if (rc == 0)
            rc = s_entry(ct, sec, key, yaml_document_get_node(&ct->doc, p->value), display);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int s_unknown_type(cfgtab_t *ct, s_load_t *ld, yaml_node_t *key, const char *display)
{
    char shown[96], known[512] = "";
    cfgtab_quote(display, shown, sizeof shown);
    size_t off = 0;
    for (size_t i = 0; i < ld->n && off < sizeof known; i++)
        off += (size_t)snprintf(known + off, sizeof known - off, "%s%s", i ? ", " : "",
                                ld->secs[i].sec->type);
    if (ld->n == 0)
        return cfgtab_fail_at(ct, key, "unknown key %s (no job types are known)", shown);
    return cfgtab_fail_at(ct, key, "unknown key %s (job types: %s)", shown, known);
}

/* `<type>: {...}`: a present section enables its type (`enabled: false`
 * in it says otherwise); a null one only enables. */
static int s_section(cfgtab_t *ct, s_sec_t *s, yaml_node_t *value, const char *display)
{
    if (value->type != YAML_MAPPING_NODE && !cfgtab_is_null(value)) {
        if (value->type != YAML_SCALAR_NODE)
            return cfgtab_fail_at(ct, value, "\"%s\": expected a mapping, got %s", display,
                                  cfgtab_node_kind(value));
        char got[96];
        cfgtab_quote((const char *)value->data.scalar.value, got, sizeof got);
        return cfgtab_fail_at(ct, value, "\"%s\": expected a mapping, got %s", display, got);
    }
    s->sec->enabled = true;
    return value->type == YAML_MAPPING_NODE ? cfgtab_walk(ct, value, &s->scope) : 0;
}

static int s_handlers(cfgtab_t *ct, yaml_node_t *node, const char *display, void *base)
{
    (void)base;
    s_load_t *ld = ct->user;
    if (cfgtab_is_null(node))
        return 0;
    if (node->type != YAML_MAPPING_NODE)
        return cfgtab_fail_at(ct, node, "\"%s\": expected a mapping, got %s", display,
                              cfgtab_node_kind(node));
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
        yaml_node_t *key = yaml_document_get_node(&ct->doc, p->key);
        if (key->type != YAML_SCALAR_NODE)
            return cfgtab_fail_at(ct, key, "expected a plain key, got %s", cfgtab_node_kind(key));
        const char *type = (const char *)key->data.scalar.value;
        char sub[256];
        snprintf(sub, sizeof sub, "%s.%s", display, type);
        int rc = cfgtab_check_duplicate(ct, node, p, sub);
        if (rc < 0)
            return rc;
        s_sec_t *s = s_sec_find(ld, type);
        if (!s)
            return s_unknown_type(ct, ld, key, sub);
        if ((rc = s_section(ct, s, yaml_document_get_node(&ct->doc, p->value), sub)) < 0)
            return rc;
    }
    return 0;
}

/* The environment after the file; each section's check after both. */
static int s_sections_finish(cfgtab_t *ct, s_load_t *ld)
{
    for (size_t i = 0; i < ld->n; i++) {
        s_sec_t *s = &ld->secs[i];
        memcpy(s->file_pos, s->pos, s->scope.nkeys * sizeof *s->pos);
        int rc = cfgtab_apply_env_scope(ct, &s->scope);
        if (rc < 0)
            return rc;
    }
    for (size_t i = 0; i < ld->n; i++) {
        s_sec_t *s = &ld->secs[i];
        const cfgsection_t *schema = s->sec->schema;
        if (!schema || !schema->check)
            continue;
        cfgsection_ctx_t cx = {ct, &s->scope, s->file_pos, s->sec->enabled, NULL};
        int rc = schema->check(&cx, s->sec->conf);
        assert(rc == 0 || rc == ORCH_ECONFIG);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- CURVE keys ----------------------------------------------------- */

static int s_curve_key(cfgtab_t *ct, const char *key, const char *file, char **out)
{
    int rc = cfgtab_read_secret(ct, &ct->root, key, file, out);
    if (rc < 0)
        return rc;
    if (config_curve_key_valid(*out))
        return 0;
    return cfgtab_fail(ct, &ct->root, key,
                       "\"%s\" does not hold a CURVE key (40 characters of Z85 text, as "
                       "`orchctl keygen` writes)",
                       file);
}

/* Both key files or neither; read once here, so a worker never starts with
 * a key it cannot use. */
static int s_curve_keys(cfgtab_t *ct, worker_config_t *cfg)
{
    if (!cfg->server_key_file && !cfg->secret_key_file)
        return 0;
    if (!cfg->server_key_file || !cfg->secret_key_file)
        return cfgtab_fail(ct, &ct->root,
                           cfg->server_key_file ? "worker.server_key_file"
                                                : "worker.secret_key_file",
                           "CURVE needs both worker.server_key_file (the coordinator's public "
                           "key) and worker.secret_key_file (this worker's secret key)");
    if (!zmq_has("curve"))
        return cfgtab_fail(ct, &ct->root, "worker.secret_key_file",
                           "this libzmq was built without CURVE support");
    int rc = s_curve_key(ct, "worker.server_key_file", cfg->server_key_file, &cfg->server_key);
    if (rc == 0)
        rc = s_curve_key(ct, "worker.secret_key_file", cfg->secret_key_file, &cfg->secret_key);
    return rc;
}

/* ---- metrics listener ----------------------------------------------- */

/* worker.metrics_listen: HOST:PORT with an IP address (or localhost), since
 * the listener binds exactly that; loopback unless metrics_insecure, as the
 * metrics name the worker's job types and its downstream services. */
static int s_metrics(cfgtab_t *ct, worker_config_t *cfg)
{
    const char *key = "worker.metrics_listen";
    if (config_listen_off(cfg->metrics_listen))
        return 0;
    unsigned char addr[sizeof(struct in6_addr)];
    char *host = NULL;
    int port = 0;
    if (!config_listen_split(cfg->metrics_listen, &host, &port) ||
        (strcmp(host, "localhost") != 0 && inet_pton(AF_INET, host, addr) != 1 &&
         inet_pton(AF_INET6, host, addr) != 1)) {
        free(host);
        return cfgtab_fail(ct, &ct->root, key,
                           "expected HOST:PORT with an IP address or localhost (e.g. "
                           "127.0.0.1:9464, [::1]:9464) or off, got \"%s\"",
                           cfg->metrics_listen);
    }
    cfg->metrics_host = host;
    cfg->metrics_port = port;
    if (cfg->metrics_insecure || config_listen_loopback(host))
        return 0;
    return cfgtab_fail(ct, &ct->root, key,
                       "\"%s\" is not a loopback address: metrics reveal queue and job type "
                       "names and are served without authentication; set "
                       "worker.metrics_insecure: true to serve them to other hosts",
                       cfg->metrics_listen);
}

/* ---- the whole file ------------------------------------------------- */

static int s_load(cfgtab_t *ct, const char *path, worker_config_t *cfg, s_load_t *ld)
{
    int rc = cfgtab_read(ct, path);
    if (rc < 0)
        return rc;
    if ((rc = cfgtab_apply_env(ct)) < 0)
        return rc;
    if (!cfg->name)
        cfg->name = s_default_name();
    rc = cfgtab_check_order(ct, &ct->root, "worker.reconnect_min", cfg->reconnect_min_ms,
                            "worker.reconnect_max", cfg->reconnect_max_ms);
    if (rc < 0 || (rc = s_curve_keys(ct, cfg)) < 0 || (rc = s_metrics(ct, cfg)) < 0)
        return rc;
    return s_sections_finish(ct, ld);
}

int worker_config_load(const char *path, worker_types_fn types, worker_config_t **out, char *err,
                       size_t errlen)
{
    worker_config_t *cfg = xcalloc(1, sizeof *cfg);
    s_load_t ld = {0};
    s_sections_init(&ld, cfg, types);
    cfgtab_pos_t pos[NKEYS];
    memset(pos, 0, sizeof pos);
    cfgtab_scope_t root = {s_keys, NKEYS, cfg, pos, ""};
    cfgtab_t ct;
    cfgtab_init(&ct, &root, err, errlen);
    ct.user = &ld;
    int rc = s_load(&ct, path, cfg, &ld);
    cfgtab_fini(&ct);
    s_sections_fini(&ld);
    if (rc < 0) {
        worker_config_destroy(&cfg);
        *out = NULL;
        return rc;
    }
    *out = cfg;
    return 0;
}

const worker_section_t *worker_config_section(const worker_config_t *cfg, const char *type)
{
    for (size_t i = 0; cfg && type && i < cfg->nsections; i++)
        if (strcmp(cfg->sections[i]->type, type) == 0)
            return cfg->sections[i];
    return NULL;
}

void worker_config_destroy(worker_config_t **cfgp)
{
    if (!cfgp || !*cfgp)
        return;
    worker_config_t *cfg = *cfgp;
    for (size_t i = 0; i < cfg->nsections; i++) {
        worker_section_t *sec = cfg->sections[i];
        if (sec->conf && sec->schema->entries)
            s_entries_free(sec);
        if (sec->conf)
            cfgtab_free(sec->schema->keys, sec->schema->nkeys, sec->conf);
        free(sec->type);
        free(sec);
    }
    free(cfg->sections);
    cfgtab_free(s_keys, NKEYS, cfg);
    free(cfg->server_key);
    free(cfg->metrics_host);
    if (cfg->secret_key)
        sodium_memzero(cfg->secret_key, strlen(cfg->secret_key));
    free(cfg->secret_key);
    free(cfg);
    *cfgp = NULL;
}
