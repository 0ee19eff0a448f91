/* orchestrator.yaml's `security:` section: the coordinator's CURVE secret
 * key, the allow-list of peer keys with their roles, `insecure`, and the
 * rule that a listener other hosts can reach needs CURVE (or `insecure`).
 * Key material is never echoed: messages name the key and the file. */
#include "config_security.h"
#include "orch_error.h"
#include "xalloc.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define KOFF(field) offsetof(orch_key_t, field)
#define S_KEY_LEN 40 /* Z85 text of a 32-byte CURVE key */

static const char *const s_roles[] = {"worker", "submit", "operate", "admin"};
#define NROLES (sizeof s_roles / sizeof s_roles[0])

/* The orch_role_t named s, or -1. */
static int s_role_of(const char *s)
{
    for (size_t i = 0; i < NROLES; i++)
        if (strcmp(s, s_roles[i]) == 0)
            return (int)i;
    return -1;
}

static const char *s_check_role(const char *s)
{
    return s_role_of(s) < 0 ? "one of worker, submit, operate, admin" : NULL;
}

/* clang-format off */
static const cfgtab_key_t s_kkeys[] = {
    CFGTAB_K_STR("name", KOFF(name), NULL, 0, NULL, cfgtab_check_name),
    CFGTAB_K_STR("public_key", KOFF(public_key), NULL, CFGTAB_NULLABLE, NULL, NULL),
    CFGTAB_K_STR("public_key_file", KOFF(public_key_file), NULL, CFGTAB_NULLABLE, NULL, NULL),
    CFGTAB_K_STR("role", KOFF(role_name), NULL, 0, NULL, s_check_role),
    CFGTAB_K_LIST("queues", KOFF(queues), KOFF(nqueues), NULL, 1, 1024, NULL, cfgtab_check_name),
    CFGTAB_K_STR("tenant", KOFF(tenant), NULL, CFGTAB_NULLABLE, NULL, cfgtab_check_name),
};
/* clang-format on */
#define NKKEYS (sizeof s_kkeys / sizeof s_kkeys[0])

const char *orch_role_name(int role)
{
    return role >= 0 && (size_t)role < NROLES ? s_roles[role] : "none";
}

bool config_curve_key_valid(const char *text)
{
    uint8_t bin[32];
    if (!text || strlen(text) != S_KEY_LEN)
        return false;
    bool ok = zmq_z85_decode(bin, text) != NULL;
    sodium_memzero(bin, sizeof bin);
    return ok;
}

/* ---- the loopback rule ------------------------------------------------ */

/* n bytes of s are a dotted IPv4 address in 127.0.0.0/8. */
static bool s_ipv4_loopback(const char *s, size_t n)
{
    int parts = 0;
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        unsigned v = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 3)
            v = v * 10 + (unsigned)(s[i++] - '0');
        if (i == start || v > 255 || (parts == 0 && v != 127))
            return false;
        parts++;
        if (i == n)
            break;
        if (s[i++] != '.' || i == n)
            return false;
    }
    return parts == 4;
}

bool orch_endpoint_loopback(const char *endpoint)
{
    if (!endpoint)
        return false;
    if (strncmp(endpoint, "ipc://", 6) == 0 || strncmp(endpoint, "inproc://", 9) == 0)
        return true;
    if (strncmp(endpoint, "tcp://", 6) != 0)
        return false;
    const char *host = endpoint + 6;
    const char *colon = strrchr(host, ':');
    if (!colon)
        return false;
    size_t n = (size_t)(colon - host);
    if (n == 9 && strncmp(host, "localhost", 9) == 0)
        return true;
    if (n == 5 && strncmp(host, "[::1]", 5) == 0)
        return true;
    return s_ipv4_loopback(host, n);
}

/* ---- security.keys ---------------------------------------------------- */

static void s_free_keys(orch_config_t *cfg)
{
    for (size_t i = 0; i < cfg->nkeys; i++)
        cfgtab_free(s_kkeys, NKKEYS, &cfg->keys[i]);
    free(cfg->keys);
    cfg->keys = NULL;
    cfg->nkeys = 0;
}

/* Public key from the entry or its file, checked; entry i of cfg->keys. */
static int s_entry_public_key(cfgtab_t *ct, const cfgtab_scope_t *scope, orch_key_t *k)
{
    if (!k->public_key == !k->public_key_file)
        return cfgtab_fail(ct, scope, k->public_key ? "public_key_file" : "public_key",
                           "set exactly one of public_key and public_key_file");
    if (k->public_key_file) {
        int rc =
            cfgtab_read_secret(ct, scope, "public_key_file", k->public_key_file, &k->public_key);
        if (rc < 0)
            return rc;
    }
    if (!config_curve_key_valid(k->public_key))
        return cfgtab_fail(ct, scope, k->public_key_file ? "public_key_file" : "public_key",
                           "is not a CURVE public key (40 characters of Z85 text, as "
                           "`orchctl keygen` writes to NAME.pub)");
    return 0;
}

static int s_entry_role(cfgtab_t *ct, const cfgtab_scope_t *scope, orch_key_t *k)
{
    k->role = s_role_of(k->role_name); /* s_check_role accepted the name */
    if (k->role == ORCH_ROLE_WORKER && k->nqueues == 0)
        return cfgtab_fail(ct, scope, "role",
                           "a worker key needs \"queues\": the queues it may serve");
    if (k->role != ORCH_ROLE_WORKER && k->nqueues > 0)
        return cfgtab_fail(ct, scope, "queues", "only a key with role worker has queues");
    if (k->tenant && (k->role == ORCH_ROLE_WORKER || k->role == ORCH_ROLE_ADMIN))
        return cfgtab_fail(ct, scope, "tenant",
                           "only a submit or operate key acts for one tenant (a worker serves "
                           "queues, an admin key every tenant)");
    return 0;
}

static int s_entry_unique(cfgtab_t *ct, const cfgtab_scope_t *scope, const orch_config_t *cfg,
                          size_t i)
{
    const orch_key_t *k = &cfg->keys[i];
    for (size_t j = 0; j < i; j++) {
        if (strcmp(cfg->keys[j].name, k->name) == 0)
            return cfgtab_fail(ct, scope, "name", "key \"%s\" is already defined", k->name);
        if (strcmp(cfg->keys[j].public_key, k->public_key) == 0)
            return cfgtab_fail(ct, scope, k->public_key_file ? "public_key_file" : "public_key",
                               "the same public key as key \"%s\": one key, one identity",
                               cfg->keys[j].name);
    }
    return 0;
}

static int s_entry(cfgtab_t *ct, yaml_node_t *item, orch_config_t *cfg, size_t i)
{
    char prefix[48];
    snprintf(prefix, sizeof prefix, "security.keys[%zu].", i);
    if (item->type != YAML_MAPPING_NODE)
        return cfgtab_fail_at(ct, item,
                              "\"security.keys[%zu]\": expected a mapping with name, "
                              "public_key or public_key_file, and role",
                              i);
    cfgtab_pos_t pos[NKKEYS];
    memset(pos, 0, sizeof pos);
    orch_key_t *k = &cfg->keys[i];
    cfgtab_scope_t scope = {s_kkeys, NKKEYS, k, pos, prefix};
    int rc = cfgtab_walk(ct, item, &scope);
    if (rc < 0)
        return rc;
    const char *missing = !k->name ? "name" : !k->role_name ? "role" : NULL;
    if (missing)
        return cfgtab_fail_at(ct, item, "\"security.keys[%zu]\": missing required key \"%s\"", i,
                              missing);
    if ((rc = s_entry_public_key(ct, &scope, k)) < 0 || (rc = s_entry_role(ct, &scope, k)) < 0)
        return rc;
    return s_entry_unique(ct, &scope, cfg, i);
}

int config_security_keys(cfgtab_t *ct, yaml_node_t *node, const char *display, void *base)
{
    orch_config_t *cfg = base;
    if (cfgtab_is_null(node))
        return 0;
    if (node->type != YAML_SEQUENCE_NODE)
        return cfgtab_fail_at(ct, node, "\"%s\": expected a list of mappings, got %s", display,
                              cfgtab_node_kind(node));
    size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    s_free_keys(cfg); /* a repeated key is refused before this; be safe anyway */
    cfg->keys = xcalloc(n ? n : 1, sizeof *cfg->keys);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = yaml_document_get_node(&ct->doc, node->data.sequence.items.start[i]);
        cfg->nkeys = i + 1; /* so that destroy frees what a failing entry holds */
        int rc = s_entry(ct, item, cfg, i);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- what spans keys --------------------------------------------------- */

static int s_read_secret_key(cfgtab_t *ct, orch_config_t *cfg)
{
    const cfgtab_scope_t *root = &ct->root;
    const char *key = "security.secret_key_file";
    if (!zmq_has("curve"))
        return cfgtab_fail(ct, root, key, "this libzmq was built without CURVE support");
    int rc = cfgtab_read_secret(ct, root, key, cfg->secret_key_file, &cfg->secret_key);
    if (rc < 0)
        return rc;
    if (!config_curve_key_valid(cfg->secret_key))
        return cfgtab_fail(ct, root, key,
                           "\"%s\" does not hold a CURVE secret key (40 characters of Z85 text, "
                           "as `orchctl keygen` writes to NAME.key)",
                           cfg->secret_key_file);
    if (cfg->nkeys == 0)
        return cfgtab_fail(ct, root, key,
                           "no peer could connect: list the public keys of workers and clients "
                           "under security.keys");
    return 0;
}

/* A listener other hosts can reach needs CURVE, unless the operator said
 * otherwise in writing. */
static int s_check_listener(cfgtab_t *ct, const orch_config_t *cfg, const char *key,
                            const char *endpoint)
{
    if (cfg->secret_key || cfg->insecure || orch_endpoint_loopback(endpoint))
        return 0;
    char shown[96];
    cfgtab_quote(endpoint, shown, sizeof shown);
    return cfgtab_fail(ct, &ct->root, key,
                       "%s is not a loopback endpoint and CURVE is off: set "
                       "security.secret_key_file and security.keys, or security.insecure: true "
                       "to accept unauthenticated peers from the network",
                       shown);
}

int config_security_check(cfgtab_t *ct, orch_config_t *cfg)
{
    int rc = 0;
    if (cfg->secret_key_file)
        rc = s_read_secret_key(ct, cfg);
    else if (cfg->nkeys > 0)
        rc = cfgtab_fail(ct, &ct->root, "security.keys",
                         "keys are checked only with CURVE on: set security.secret_key_file");
    if (rc == 0)
        rc = s_check_listener(ct, cfg, "listen.workers", cfg->listen_workers);
    if (rc == 0)
        rc = s_check_listener(ct, cfg, "listen.clients", cfg->listen_clients);
    if (rc == 0)
        rc = s_check_listener(ct, cfg, "listen.events", cfg->listen_events);
    return rc;
}

void config_security_free(orch_config_t *cfg)
{
    s_free_keys(cfg);
    if (cfg->secret_key) {
        sodium_memzero(cfg->secret_key, strlen(cfg->secret_key));
        free(cfg->secret_key);
        cfg->secret_key = NULL;
    }
}
