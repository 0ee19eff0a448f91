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
/* STATS "tenants": one row per tenant (counts, weight, quotas, refusals). */
void ctl_format_tenants(FILE *out, const json_t *tenants);

/* `workers`: a table NAME SLOTS RUNNING DRAINING QUEUES TYPES CONNECTED
 * LAST_SEEN; times in UTC to the second. LAST_SEEN comes from last_seen_us,
 * or from idle_ms (milliseconds since the last message) when only that is
 * sent. */
void ctl_format_workers(FILE *out, const json_t *workers);

/* `get --history`: a line "history:", then a table AT EVENT ATTEMPT WORKER
 * DETAIL indented by two spaces, one audit event per row in reply order;
 * DETAIL is compact JSON, whole. */
void ctl_format_history(FILE *out, const json_t *history);

/* `queues`: a table NAME PAUSED, the count per state, CONCURRENCY
 * RATE_LIMIT RATE_1M, one queue per row in reply order. A limit of 0 (none)
 * prints "-"; RATE_1M (jobs/s) has two decimals. */
void ctl_format_queues(FILE *out, const json_t *queues);
void ctl_format_downstreams(FILE *out, const json_t *downstreams);

/* `schedules list`: a table NAME CRON QUEUE TYPE PAUSED SOURCE NEXT_RUN
 * LAST_RUN LAST_JOB, one schedule per row in reply order. */
void ctl_format_schedules(FILE *out, const json_t *schedules);

/* `watch`: one line "<at> <queue> job=<id> <event> state=<state>
 * attempt=<n> worker=<w>", at from at_us in UTC to the millisecond. */
void ctl_format_event(FILE *out, const json_t *event);

/* A time sent as a string (printed as is) or as integer microseconds
 * (printed in UTC to the second). Caller owns the result. */
char *ctl_format_time(const json_t *v);

/* One value as text: strings escaped, numbers, true/false, objects and
 * arrays as compact JSON, "-" for NULL or null. Caller owns the result. */
char *ctl_format_value(const json_t *v);

#endif
