/* Private to config/: orchestrator.yaml's `downstreams:` list (adaptive
 * concurrency per downstream service, docs/configuration.md). config.c
 * lists the key in its table and calls these hooks. */
#ifndef CONFIG_DOWNSTREAMS_H
#define CONFIG_DOWNSTREAMS_H

#include "cfgtab.h"
#include "config.h"

/* CFGTAB_CUSTOM hook of "downstreams": each entry is checked as it is read
 * (name unique, types given and bound to no other entry, min <= initial <=
 * max, 0 < decrease < 1, increase > 0). base is the orch_config_t. */
int config_downstreams_parse(cfgtab_t *ct, yaml_node_t *node, const char *display, void *base);

/* Frees what the list owns in cfg. */
void config_downstreams_free(orch_config_t *cfg);

#endif
