/* Adaptive concurrency per downstream service (the `downstreams:` list of
 * the configuration): each downstream holds an AIMD limit (jobs/aimd.h)
 * and the number of attempts of its job types running across the fleet.
 * Dispatch starts a job of a bound type only while that number is under
 * the limit and the downstream is not paused; the calls workers report
 * with their results (PROTOCOL.md, "Downstream calls") move the limit.
 *
 * The running count follows the job state machine's own hook
 * (jobstate_t.on_running): +1 whenever an attempt enters running, -1
 * whenever it leaves it, whatever ends it (result, timeout, worker lost,
 * cancel). Jobs loaded as running (recovery) count when their row becomes
 * a job (coord_job_from_row); dropping every job from memory (going down)
 * sets the counts to 0. Nothing else touches them, so they cannot drift. */
#include "aimd.h"
#include "clock.h"
#include "coord_internal.h"
#include "log.h"
#include "xalloc.h"
#include <stdlib.h>
#include <string.h>

struct coord_downstream {
    const downstream_config_t *cfg; /* borrowed from the configuration */
    aimd_t aimd;
    int running;
    uint64_t calls[PROTO_CALL_OUTCOMES]; /* signals received, by outcome */
    char url[PROTO_DOWNSTREAM_MAX + 1];  /* the last "downstream" a worker reported */
};

void coord_downstreams_init(coord_t *c)
{
    c->ndownstreams = c->cfg->ndownstreams;
    c->downstream_by_type = hmap_new_str();
    if (!c->ndownstreams)
        return;
    c->downstreams = xcalloc(c->ndownstreams, sizeof *c->downstreams);
    for (size_t i = 0; i < c->ndownstreams; i++) {
        coord_downstream_t *d = &c->downstreams[i];
        const downstream_config_t *dc = &c->cfg->downstreams[i];
        d->cfg = dc;
        aimd_init(&d->aimd, dc->initial, dc->min, dc->max, dc->decrease, dc->increase,
                  dc->latency_target_ms, dc->max_pause_ms);
        for (size_t k = 0; k < dc->ntypes; k++)
            hmap_str_put(c->downstream_by_type, dc->types[k], d);
    }
}

void coord_downstreams_destroy(coord_t *c)
{
    hmap_destroy(&c->downstream_by_type);
    free(c->downstreams);
    c->downstreams = NULL;
    c->ndownstreams = 0;
}

coord_downstream_t *coord_downstream_of(coord_t *c, const char *type)
{
    if (!c->ndownstreams || !type)
        return NULL;
    return hmap_str_get(c->downstream_by_type, type);
}

bool coord_downstream_may_dispatch(coord_t *c, const char *type, int64_t now_us)
{
    coord_downstream_t *d = coord_downstream_of(c, type);
    return !d || aimd_may_start(&d->aimd, d->running, now_us);
}

void coord_downstream_running(void *arg, job_t *job, int delta)
{
    coord_t *c = arg;
    coord_downstream_t *d = job->lane ? coord_downstream_of(c, job->lane->type) : NULL;
    if (!d)
        return;
    d->running += delta;
    if (d->running < 0) { /* a bug: say so, and do not block the downstream for good */
        LOG_ERROR("downstream running count went negative downstream=%s job=%lld", d->cfg->name,
                  (long long)job->id);
        d->running = 0;
    }
}

void coord_downstreams_forget(coord_t *c)
{
    for (size_t i = 0; i < c->ndownstreams; i++)
        c->downstreams[i].running = 0;
}

int64_t coord_downstream_call(coord_t *c, const job_t *job, const proto_call_t *call)
{
    coord_downstream_t *d = coord_downstream_of(c, job->lane ? job->lane->type : NULL);
    if (!d || call->outcome <= PROTO_CALL_NONE || call->outcome >= PROTO_CALL_OUTCOMES)
        return 0;
    d->calls[call->outcome]++;
    memcpy(d->url, call->downstream, sizeof d->url);
    int64_t now_us = clock_real_us();
    int before = aimd_window(&d->aimd);
    if (call->outcome == PROTO_CALL_OK) {
        aimd_on_good(&d->aimd, call->ms, d->running);
        return 0;
    }
    aimd_move_t move = aimd_on_congestion(&d->aimd, job->started_us, call->retry_after_ms, now_us);
    if (move == AIMD_DECREASED)
        LOG_INFO("downstream limit decreased downstream=%s outcome=%s limit=%d->%d running=%d",
                 d->cfg->name, proto_call_outcome_name(call->outcome), before,
                 aimd_window(&d->aimd), d->running);
    int64_t cap = d->cfg->max_pause_ms;
    return call->retry_after_ms < cap ? call->retry_after_ms : cap;
}

int64_t coord_downstreams_next_ms(coord_t *c, int64_t now_ms)
{
    int64_t best = -1, now_us = clock_real_us();
    for (size_t i = 0; i < c->ndownstreams; i++) {
        int64_t until = aimd_paused_until(&c->downstreams[i].aimd, now_us);
        if (!until)
            continue;
        int64_t due = now_ms + (until - now_us + 999) / 1000;
        if (best < 0 || due < best)
            best = due;
    }
    return best;
}

json_t *coord_downstreams_json(coord_t *c)
{
    json_t *arr = json_array();
    int64_t now_us = clock_real_us();
    for (size_t i = 0; i < c->ndownstreams; i++) {
        const coord_downstream_t *d = &c->downstreams[i];
        int64_t until = aimd_paused_until(&d->aimd, now_us);
        json_t *types = json_array();
        for (size_t k = 0; k < d->cfg->ntypes; k++)
            json_array_append_new(types, json_string(d->cfg->types[k]));
        json_t *calls = json_object();
        for (int o = PROTO_CALL_OK; o < PROTO_CALL_OUTCOMES; o++)
            json_object_set_new(calls, proto_call_outcome_name(o),
                                json_integer((json_int_t)d->calls[o]));
        json_t *o =
            json_pack("{s:s, s:o, s:i, s:f, s:i, s:i, s:i, s:I, s:o}", "name", d->cfg->name,
                      "types", types, "limit", aimd_window(&d->aimd), "limit_exact", d->aimd.limit,
                      "running", d->running, "min", d->cfg->min, "max", d->cfg->max, "paused_ms",
                      (json_int_t)(until ? (until - now_us) / 1000 : 0), "calls", calls);
        json_object_set_new(o, "url", d->url[0] ? json_string(d->url) : json_null());
        json_object_set_new(o, "decreases", json_integer((json_int_t)d->aimd.decreases));
        json_array_append_new(arr, o);
    }
    return arr;
}

void coord_downstreams_metrics(coord_t *c, strbuf_t *sb)
{
    if (!c->ndownstreams)
        return;
    strbuf_puts(sb, "# HELP orch_downstream_limit Adaptive concurrency limit of a downstream "
                    "(attempts of its job types allowed to run at once across the fleet)\n"
                    "# TYPE orch_downstream_limit gauge\n");
    for (size_t i = 0; i < c->ndownstreams; i++)
        strbuf_printf(sb, "orch_downstream_limit{downstream=\"%s\"} %d\n",
                      c->downstreams[i].cfg->name, aimd_window(&c->downstreams[i].aimd));
    strbuf_puts(sb, "# HELP orch_downstream_running Attempts of a downstream's job types "
                    "running now\n# TYPE orch_downstream_running gauge\n");
    for (size_t i = 0; i < c->ndownstreams; i++)
        strbuf_printf(sb, "orch_downstream_running{downstream=\"%s\"} %d\n",
                      c->downstreams[i].cfg->name, c->downstreams[i].running);
    strbuf_puts(sb, "# HELP orch_downstream_calls_total Calls to a downstream workers reported "
                    "with their results (the worst per attempt), by outcome\n"
                    "# TYPE orch_downstream_calls_total counter\n");
    for (size_t i = 0; i < c->ndownstreams; i++)
        for (int o = PROTO_CALL_OK; o < PROTO_CALL_OUTCOMES; o++)
            strbuf_printf(sb,
                          "orch_downstream_calls_total{downstream=\"%s\",outcome=\"%s\"} %llu\n",
                          c->downstreams[i].cfg->name, proto_call_outcome_name(o),
                          (unsigned long long)c->downstreams[i].calls[o]);
}
