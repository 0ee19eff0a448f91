/* `orchctl watch`: follows the coordinator's event stream (ORCHE1, a PUB
 * socket at listen.events) and prints one line per committed state change
 * until interrupted, until --count events were printed or until --for has
 * passed. */
#ifndef CTL_WATCH_H
#define CTL_WATCH_H

#include "ctl_cmd.h"

#include <stddef.h>

#define CTL_WATCH_ENDPOINT_ENV "ORCH_EVENTS_ENDPOINT"

/* The events endpoint that goes with a client endpoint, following the
 * defaults of the coordinator's config and of the test harness:
 *   tcp://HOST:PORT             -> tcp://HOST:PORT+1
 *   ipc://DIR/clients.sock      -> ipc://DIR/events.sock
 * Returns 0 with the result in out, or ORCH_EINVAL when no rule applies
 * (other transports or file names, no port, port 65535, out too small). */
int ctl_watch_events_endpoint(const char *client, char *out, size_t len);

/* Runs the command; returns the exit code. SIGINT and SIGTERM end it with
 * 0: their handlers are installed for the duration of the call and the
 * previous ones restored after, so one watch runs per process at a time. */
int ctl_watch_run(ctl_cmd_t *ctx);

#endif
