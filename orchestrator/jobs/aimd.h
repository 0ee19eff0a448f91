/* An adaptive concurrency limit driven by AIMD (additive increase,
 * multiplicative decrease), as TCP's congestion window: the coordinator
 * keeps one per downstream service (coord_downstream.c) and feeds it the
 * calls workers report. Pure: no I/O, no clock of its own (the caller
 * passes wall-clock microseconds, the clock of job_t.started_us).
 *
 *   good call (answered within the latency target) while the limit was in
 *   use:            limit += increase / limit   (+increase per limit-full)
 *   slow call:      limit unchanged
 *   throttle, error or timeout of an attempt started after the last
 *   decrease:       limit *= decrease           (once per burst, like TCP
 *                                                once per round trip)
 *   ... and when that leaves the limit at its floor, a Retry-After pauses
 *   all starts until it has passed (at most max_pause).
 *
 * The limit stays within [min, max]; the number of attempts allowed to
 * run at once is its integer part. */
#ifndef AIMD_H
#define AIMD_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    double limit;
    int min, max;
    double decrease;                       /* 0 < decrease < 1 */
    double increase;                       /* > 0 */
    int64_t latency_target_ms;             /* a slower good call does not raise the limit */
    int64_t max_pause_ms;                  /* longest Retry-After honoured */
    int64_t last_decrease_us;              /* 0: never */
    int64_t paused_until_us;               /* 0: not paused */
    uint64_t increases, decreases, pauses; /* moves made, for figures */
} aimd_t;

typedef enum {
    AIMD_HOLD = 0, /* nothing changed */
    AIMD_INCREASED,
    AIMD_DECREASED,
    AIMD_SAME_BURST /* a throttle from an attempt started before the last decrease: ignored */
} aimd_move_t;

/* initial is clamped to [min, max]; min >= 1. */
void aimd_init(aimd_t *a, int initial, int min, int max, double decrease, double increase,
               int64_t latency_target_ms, int64_t max_pause_ms);
/* How many attempts may run at once: the integer part of the limit. */
int aimd_window(const aimd_t *a);
/* Whether one more attempt may start now, with running already running. */
bool aimd_may_start(const aimd_t *a, int running, int64_t now_us);
/* A good call that took ms, reported while running attempts ran (the
 * reporting one included): the limit grows only when it was the bound
 * (running >= the window; RFC 7661's reasoning: an unused window says
 * nothing about the service) and the call was within the latency target. */
aimd_move_t aimd_on_good(aimd_t *a, int64_t ms, int running);
/* A throttle (429), an error (5xx, connection) or a timeout of an attempt
 * started at started_us; retry_after_ms 0: none. */
aimd_move_t aimd_on_congestion(aimd_t *a, int64_t started_us, int64_t retry_after_ms,
                               int64_t now_us);
/* Wall-clock microseconds the pause ends at, or 0 when not paused at now_us. */
int64_t aimd_paused_until(const aimd_t *a, int64_t now_us);

#endif
