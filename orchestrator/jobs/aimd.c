/* AIMD concurrency limit (see aimd.h for the rules). */
#include "aimd.h"

#include <assert.h>

static double s_clamp(const aimd_t *a, double v)
{
    return v < a->min ? a->min : v > a->max ? a->max : v;
}

void aimd_init(aimd_t *a, int initial, int min, int max, double decrease, double increase,
               int64_t latency_target_ms, int64_t max_pause_ms)
{
    assert(min >= 1 && min <= max && decrease > 0 && decrease < 1 && increase > 0);
    *a = (aimd_t){.min = min,
                  .max = max,
                  .decrease = decrease,
                  .increase = increase,
                  .latency_target_ms = latency_target_ms,
                  .max_pause_ms = max_pause_ms};
    a->limit = s_clamp(a, initial);
}

int aimd_window(const aimd_t *a)
{
    return (int)a->limit; /* limit >= min >= 1 */
}

int64_t aimd_paused_until(const aimd_t *a, int64_t now_us)
{
    return a->paused_until_us > now_us ? a->paused_until_us : 0;
}

bool aimd_may_start(const aimd_t *a, int running, int64_t now_us)
{
    return running < aimd_window(a) && !aimd_paused_until(a, now_us);
}

aimd_move_t aimd_on_good(aimd_t *a, int64_t ms, int running)
{
    if (ms > a->latency_target_ms || running < aimd_window(a) || a->limit >= a->max)
        return AIMD_HOLD;
    a->limit = s_clamp(a, a->limit + a->increase / a->limit);
    a->increases++;
    return AIMD_INCREASED;
}

/* A Retry-After is honoured by the whole fleet only once cutting the limit
 * can no longer help: above the floor, the throttled attempt's own retry
 * waits for it (coord_downstream.c) and the cut limit does the rest. A
 * service that sheds load beyond N requests in flight answers every probe
 * above N with 429 and a Retry-After; pausing everything for each probe
 * would idle the fleet most of the time. */
aimd_move_t aimd_on_congestion(aimd_t *a, int64_t started_us, int64_t retry_after_ms,
                               int64_t now_us)
{
    aimd_move_t move = AIMD_SAME_BURST;
    if (started_us > a->last_decrease_us) {
        a->limit = s_clamp(a, a->limit * a->decrease);
        a->last_decrease_us = now_us;
        a->decreases++;
        move = AIMD_DECREASED;
    }
    if (retry_after_ms > 0 && a->limit <= a->min) {
        int64_t ms = retry_after_ms < a->max_pause_ms ? retry_after_ms : a->max_pause_ms;
        if (now_us + ms * 1000 > a->paused_until_us) {
            a->paused_until_us = now_us + ms * 1000;
            a->pauses++;
        }
    }
    return move;
}
