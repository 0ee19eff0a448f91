/* Private to config/: orchestrator.yaml's `security:` section (CURVE keys,
 * roles) and the rule that a listener reachable from other hosts needs
 * authentication. config.c lists the section's keys in its table and calls
 * these hooks; docs/security.md describes the section. */
#ifndef CONFIG_SECURITY_H
#define CONFIG_SECURITY_H

#include "cfgtab.h"
#include "config.h"

/* CFGTAB_CUSTOM hook of "security.keys": the list of allowed keys, each
 * checked as it is read (required fields, key files, role, queues, unique
 * names and public keys). base is the orch_config_t. */
int config_security_keys(cfgtab_t *ct, yaml_node_t *node, const char *display, void *base);

/* After the file and the environment: reads security.secret_key_file, and
 * checks what spans keys (keys need a secret key and the other way round;
 * a non-loopback listen.* endpoint needs CURVE or security.insecure).
 * 0 or ORCH_ECONFIG naming the key. */
int config_security_check(cfgtab_t *ct, orch_config_t *cfg);

/* Whether text is a CURVE key: 40 characters of Z85 text that decode. */
bool config_curve_key_valid(const char *text);

/* Frees what the section owns in cfg (keys, the secret key, wiped). */
void config_security_free(orch_config_t *cfg);

#endif
