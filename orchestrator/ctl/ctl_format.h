/* Human-readable output of orchctl from the coordinator's reply objects.
 * Every string that came from the server is escaped before it reaches the
 * terminal (control characters shown as \n, \t, \xNN), and absent or null
 * values print as "-". Machine-readable output is --json, not this. */
#ifndef CTL_FORMAT_H
#define CTL_FORMAT_H

#include <jansson.h>
#include <stdio.h>

/* Longest error text shown in a `list` row, in characters. */
#define CTL_FORMAT_ERROR_WIDTH 40

/* `get`: one "key: value" line per field, the protocol's JOB fields first in
 * their documented order, then any other field in reply order. */
void ctl_format_job(FILE *out, const json_t *job);

/* `list`: a table ID QUEUE TYPE PRIO STATE ATTEMPT CREATED ERROR, one job
 * per row in reply order; ATTEMPT is attempt/max_attempts. */
void ctl_format_jobs(FILE *out, const json_t *jobs);

/* `stats`: a table with one row per queue, sorted by name: QUEUE PAUSED and
 * the count per state. */
void ctl_format_stats(FILE *out, const json_t *queues);

/* `workers`: a table NAME SLOTS RUNNING DRAINING QUEUES TYPES CONNECTED
 * LAST_SEEN; times in UTC to the second. LAST_SEEN comes from last_seen_us,
 * or from idle_ms (milliseconds since the last message) when only that is
 * sent. */
void ctl_format_workers(FILE *out, const json_t *workers);

/* One value as text: strings escaped, numbers, true/false, objects and
 * arrays as compact JSON, "-" for NULL or null. Caller owns the result. */
char *ctl_format_value(const json_t *v);

#endif
