/* Retention, driven by the loop but run off its path: every
 * retention.interval the loop asks the query thread (its own connection)
 * for one round of store_maint_run, with what to keep from the
 * configuration, and applies the answer: the per-queue counts lose the
 * deleted jobs, and the sweep's cursor carries over to the next round (a
 * round that ran out of time comes back after a second). */
#include "clock.h"
#include "coord_internal.h"
#include "log.h"
#include "orch_error.h"
#include "query.h"
#include "store_audit.h"
#include <stdlib.h>
#include <string.h>

#define COORD_MAINT_BATCH 2000
#define COORD_MAINT_BUDGET_MS 1000
#define COORD_MAINT_AGAIN_MS 1000 /* a round that ran out of time goes on after this */
#define COORD_MAINT_AHEAD_DAYS 7

static json_t *s_request(coord_t *c)
{
    const orch_config_t *cfg = c->cfg;
    json_t *queues = json_array(), *keeps = json_array();
    int64_t young = cfg->defaults.retention_ms;
    for (size_t i = 0; i < cfg->nqueues; i++) {
        json_array_append_new(queues, json_string(cfg->queues[i].name));
        json_array_append_new(keeps, json_integer(cfg->queues[i].retention_ms));
        if (cfg->queues[i].retention_ms > 0 && (young == 0 || cfg->queues[i].retention_ms < young))
            young = cfg->queues[i].retention_ms;
    }
    if (cfg->retention_dead_ms > 0 && (young == 0 || cfg->retention_dead_ms < young))
        young = cfg->retention_dead_ms;
    return json_pack("{s:i, s:I, s:o, s:o, s:I, s:I, s:I, s:I, s:i, s:i}", "ahead_days",
                     COORD_MAINT_AHEAD_DAYS, "events_keep_ms",
                     (json_int_t)cfg->retention_events_ms, "queues", queues, "queue_keep_ms",
                     keeps, "jobs_keep_ms", (json_int_t)cfg->defaults.retention_ms,
                     "dead_keep_ms", (json_int_t)cfg->retention_dead_ms, "young_ms",
                     (json_int_t)young, "after", (json_int_t)c->maint_cursor, "batch",
                     COORD_MAINT_BATCH, "budget_ms", COORD_MAINT_BUDGET_MS);
}

/* The query thread's answer to a round, or NULL (logged) when it failed. */
static json_t *s_answer(const char *body, size_t len, const char *round)
{
    json_t *doc = json_loadb(body, len, 0, NULL);
    if (json_integer_value(json_object_get(doc, "status")) == 200)
        return doc;
    const char *e = json_string_value(json_object_get(doc, "error"));
    LOG_WARN("%s round failed error=\"%s\"", round, e ? e : "malformed answer");
    json_decref(doc);
    return NULL;
}

/* How often the query thread looks at the statistics of jobs
 * (store_maint_stats): one catalog query, and an ANALYZE when they are
 * behind. */
#define COORD_STATS_EVERY_MS 1000

static void s_stats_tick(coord_t *c, int64_t now_ms)
{
    if (c->stats_inflight || now_ms < c->stats_next_ms || c->mode != COORD_UP)
        return;
    proto_envelope_t env = {.route = COORD_ROUTE_STATS};
    json_t *body = json_object();
    if (coord_query(c, &env, QUERY_CMD_STATS, body) == ORCH_OK)
        c->stats_inflight = true;
    json_decref(body);
    c->stats_next_ms = now_ms + COORD_STATS_EVERY_MS;
}

void coord_stats_result(coord_t *c, const char *body, size_t len)
{
    c->stats_inflight = false;
    json_t *doc = s_answer(body, len, "statistics");
    if (!doc)
        return;
    if (json_is_true(json_object_get(doc, "analyzed")))
        LOG_INFO("statistics of jobs refreshed rows_before=%lld changed=%lld rows_after=%lld",
                 (long long)json_integer_value(json_object_get(doc, "rows_before")),
                 (long long)json_integer_value(json_object_get(doc, "changed")),
                 (long long)json_integer_value(json_object_get(doc, "rows_after")));
    json_decref(doc);
}

void coord_maint_tick(coord_t *c, int64_t now_ms)
{
    coord_seal_tick(c, now_ms);
    s_stats_tick(c, now_ms);
    if (c->maint_inflight || now_ms < c->maint_next_ms || c->mode != COORD_UP)
        return;
    proto_envelope_t env = {.route = COORD_ROUTE_SELF};
    json_t *body = s_request(c);
    /* fenced like the loop's commits: a deposed leader deletes nothing */
    json_object_set_new(body, "epoch", json_integer(c->lease.epoch));
    if (coord_query(c, &env, QUERY_CMD_MAINTAIN, body) == ORCH_OK)
        c->maint_inflight = true;
    json_decref(body);
    c->maint_next_ms = now_ms + c->cfg->retention_interval_ms;
}

int64_t coord_maint_next_ms(const coord_t *c)
{
    int64_t next = c->maint_inflight ? INT64_MAX : c->maint_next_ms;
    int64_t seal = coord_seal_next_ms(c);
    if (seal < next)
        next = seal;
    if (!c->stats_inflight && c->stats_next_ms < next)
        next = c->stats_next_ms;
    return next;
}

void coord_maint_result(coord_t *c, const char *body, size_t len)
{
    c->maint_inflight = false;
    json_t *doc = s_answer(body, len, "retention");
    if (!doc)
        return;
    long total = 0;
    size_t i;
    json_t *d;
    json_array_foreach (json_object_get(doc, "deleted"), i, d) {
        const char *queue = json_string_value(json_object_get(d, "queue"));
        int state = job_state_parse(json_string_value(json_object_get(d, "state")));
        json_int_t n = json_integer_value(json_object_get(d, "n"));
        queue_t *q = queue ? readyq_queue(c->rq, queue, false) : NULL;
        if (q && state >= 0)
            q->counts[state] = q->counts[state] > n ? q->counts[state] - n : 0;
        total += (long)n;
    }
    c->maint_cursor = json_integer_value(json_object_get(doc, "cursor"));
    c->metrics.retention_deleted += (uint64_t)total;
    int created = (int)json_integer_value(json_object_get(doc, "partitions_created"));
    int dropped = (int)json_integer_value(json_object_get(doc, "partitions_dropped"));
    c->metrics.partitions_dropped += (uint64_t)dropped;
    if (json_is_true(json_object_get(doc, "more")))
        c->maint_next_ms = clock_mono_ms() + COORD_MAINT_AGAIN_MS;
    if (total || created || dropped)
        LOG_INFO("retention round deleted_jobs=%ld partitions_created=%d partitions_dropped=%d "
                 "more=%s",
                 total, created, dropped,
                 json_is_true(json_object_get(doc, "more")) ? "yes" : "no");
    json_decref(doc);
}
