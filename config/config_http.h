/* Private to config/: the HTTP API's settings (listen.http, http:) and the
 * bearer tokens file (security.tokens_file). config.c lists the keys in its
 * table and calls these hooks; docs/http-api.md describes them. */
#ifndef CONFIG_HTTP_H
#define CONFIG_HTTP_H

#include "cfgtab.h"
#include "config.h"

/* After the file and the environment: parses listen.http, reads the TLS
 * files and the tokens file, and applies the loopback rule (an HTTP
 * listener other hosts can reach needs TLS and tokens, or
 * security.insecure). 0 or ORCH_ECONFIG naming the key. */
int config_http_check(cfgtab_t *ct, orch_config_t *cfg);

/* Frees what the section owns in cfg (tokens; TLS key wiped). */
void config_http_free(orch_config_t *cfg);

#endif
