/* orchestrator.yaml's `downstreams:` list: the services (Ollama,
 * Meilisearch, ...) whose fleet-wide concurrency the coordinator adapts by
 * AIMD (orchestrator/coord/coord_downstream.c), and the job types bound to
 * each. Every entry is checked as it is read, so a message points at the
 * offending key of that entry. */
#include "config_downstreams.h"
#include "orch_error.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOFF(field) offsetof(downstream_config_t, field)

/* clang-format off */
static const cfgtab_key_t s_dkeys[] = {
    CFGTAB_K_STR("name", DOFF(name), NULL, 0, NULL, cfgtab_check_name),
    CFGTAB_K_LIST("types", DOFF(types), DOFF(ntypes), NULL, 1, 256, NULL, cfgtab_check_name),
    CFGTAB_K_INT("initial", DOFF(initial), "4", 1, 100000),
    CFGTAB_K_INT("min", DOFF(min), "1", 1, 100000),
    CFGTAB_K_INT("max", DOFF(max), "64", 1, 100000),
    CFGTAB_K_DUR("latency_target", DOFF(latency_target_ms), "2s", 1, CFGTAB_HOUR),
    CFGTAB_K_NUM("decrease", DOFF(decrease), "0.5", 0, 1),
    CFGTAB_K_NUM("increase", DOFF(increase), "1", 0, 1000),
    CFGTAB_K_DUR("max_pause", DOFF(max_pause_ms), "60s", 0, CFGTAB_HOUR),
};
/* clang-format on */
#define NDKEYS (sizeof s_dkeys / sizeof s_dkeys[0])

/* The entry among the first n of cfg that binds type, or NULL. */
static const downstream_config_t *s_binding(const orch_config_t *cfg, size_t n, const char *type)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < cfg->downstreams[i].ntypes; k++)
            if (strcmp(cfg->downstreams[i].types[k], type) == 0)
                return &cfg->downstreams[i];
    return NULL;
}

/* What spans the keys of entry i (just walked). */
static int s_check(cfgtab_t *ct, yaml_node_t *item, orch_config_t *cfg, size_t i,
                   const cfgtab_scope_t *scope)
{
    downstream_config_t *d = &cfg->downstreams[i];
    const char *missing = !d->name ? "name" : !d->ntypes ? "types" : NULL;
    if (missing)
        return cfgtab_fail_at(ct, item, "\"downstreams[%zu]\": missing required key \"%s\"", i,
                              missing);
    for (size_t j = 0; j < i; j++)
        if (strcmp(cfg->downstreams[j].name, d->name) == 0)
            return cfgtab_fail(ct, scope, "name", "downstream \"%s\" is already defined", d->name);
    for (size_t k = 0; k < d->ntypes; k++) {
        const downstream_config_t *other = s_binding(cfg, i, d->types[k]);
        if (other)
            return cfgtab_fail(ct, scope, "types",
                               "type \"%s\" is already bound to downstream \"%s\" (a type "
                               "can be bound to one downstream only)",
                               d->types[k], other->name);
    }
    if (d->min > d->max)
        return cfgtab_fail(ct, scope, cfgtab_is_set(scope, "max") ? "max" : "min",
                           "min (%d) must not exceed max (%d)", d->min, d->max);
    if (d->initial < d->min || d->initial > d->max)
        return cfgtab_fail(ct, scope, "initial", "must be within min..max (%d..%d), got %d", d->min,
                           d->max, d->initial);
    if (!(d->decrease > 0 && d->decrease < 1))
        return cfgtab_fail(ct, scope, "decrease",
                           "must be above 0 and below 1 (the factor a throttle multiplies the "
                           "limit by), got %g",
                           d->decrease);
    if (!(d->increase > 0))
        return cfgtab_fail(ct, scope, "increase", "must be above 0, got %g", d->increase);
    return 0;
}

static int s_parse_entry(cfgtab_t *ct, yaml_node_t *item, orch_config_t *cfg, size_t i)
{
    char prefix[40];
    snprintf(prefix, sizeof prefix, "downstreams[%zu].", i);
    if (item->type != YAML_MAPPING_NODE)
        return cfgtab_fail_at(ct, item,
                              "\"downstreams[%zu]\": expected a mapping with a name "
                              "and types, got %s",
                              i, cfgtab_node_kind(item));
    cfgtab_pos_t pos[NDKEYS];
    memset(pos, 0, sizeof pos);
    cfgtab_scope_t scope = {s_dkeys, NDKEYS, &cfg->downstreams[i], pos, prefix};
    cfgtab_defaults(&scope);
    int rc = cfgtab_walk(ct, item, &scope);
    return rc < 0 ? rc : s_check(ct, item, cfg, i, &scope);
}

int config_downstreams_parse(cfgtab_t *ct, yaml_node_t *node, const char *display, void *base)
{
    orch_config_t *cfg = base;
    if (cfgtab_is_null(node))
        return 0;
    if (node->type != YAML_SEQUENCE_NODE)
        return cfgtab_fail_at(ct, node, "\"%s\": expected a list of mappings, got %s", display,
                              cfgtab_node_kind(node));
    size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    config_downstreams_free(cfg); /* a repeated key: the last one wins, like a scalar */
    cfg->downstreams = xcalloc(n ? n : 1, sizeof *cfg->downstreams);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = yaml_document_get_node(&ct->doc, node->data.sequence.items.start[i]);
        cfg->ndownstreams = i + 1; /* what a failing entry holds is freed too */
        int rc = s_parse_entry(ct, item, cfg, i);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void config_downstreams_free(orch_config_t *cfg)
{
    for (size_t i = 0; i < cfg->ndownstreams; i++)
        cfgtab_free(s_dkeys, NDKEYS, &cfg->downstreams[i]);
    free(cfg->downstreams);
    cfg->downstreams = NULL;
    cfg->ndownstreams = 0;
}
