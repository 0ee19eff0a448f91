/* Private to config/: "HOST:PORT" listen addresses of the HTTP listeners
 * (listen.http, worker.metrics_listen), parsed and judged in one place so
 * both daemons accept the same spellings and apply the same loopback rule. */
#ifndef CONFIG_LISTEN_H
#define CONFIG_LISTEN_H

#include <stdbool.h>

/* NULL, "" or "off": no listener. */
bool config_listen_off(const char *s);

/* "host:port" or "[v6]:port" (port 0..65535). On success *host is a copy
 * without brackets (caller owns); false leaves both untouched. */
bool config_listen_split(const char *s, char **host, int *port);

/* Whether host (as split) is reachable from this host only: 127.x.y.z,
 * localhost, ::1 (orch_endpoint_loopback's rule). */
bool config_listen_loopback(const char *host);

#endif
