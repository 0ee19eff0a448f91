/* The in-memory ready index: queues, tenants, and per (queue, type, tenant)
 * lanes holding a bounded window of the most urgent queued jobs, ordered by
 * priority (0 first) then job id (FIFO). A lane per tenant is what makes
 * fair share possible: one tenant's backlog in PostgreSQL never stands in
 * front of another tenant's jobs in a refill.
 *
 * Window invariant, per lane: when `overflow` is set, PostgreSQL may hold
 * queued jobs of this lane that are not in memory, and every one of them has
 * a key (priority, id) greater than `bound`; every job in memory has a key
 * <= bound. A refill loads the next keys after `bound`. Any eviction bumps
 * `epoch`, which invalidates a refill that was issued before it.
 *
 * Each lane's window adapts to its demand: a refill is asked when the lane
 * holds half its window, and answered one or two commits later. A lane
 * whose workers took more than a quarter of its window meanwhile would run
 * dry before the answer, so its window grows to four times what they took,
 * or at least doubles when they took all there was, at most
 * READYQ_WINDOW_GROWTH times the configured window; its next refills fetch
 * twice what they took.
 * It shrinks back by up to a quarter per refill when demand falls, and to
 * what the lane holds (at least the configured window) once a refill finds
 * PostgreSQL's backlog exhausted; from then on it follows the lane down as
 * jobs leave, back to the configured window. */
#ifndef READYQ_H
#define READYQ_H

#include "job.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define READYQ_PRIORITIES 10
/* the most a lane's window grows to, in multiples of the configured one */
#define READYQ_WINDOW_GROWTH 8

typedef struct queue queue_t;
typedef struct tenant tenant_t;

/* Live states a tenant's quota counts (see tenant_t.live). */
#define TENANT_LIVE_STATES 4 /* waiting, scheduled, queued, running */

struct tenant {
    char *name;
    const void *policy;              /* tenant_policy_t, borrowed from config; NULL: defaults */
    bool policy_set;                 /* policy was looked up */
    int64_t live[TENANT_LIVE_STATES]; /* jobs per live state, all of PostgreSQL + memory */
    /* fair share (start-time fair queueing, coord_dispatch.c): the virtual
     * time at which this tenant's next job would finish its share */
    double finish_tag;
    /* submission rate quota (token bucket), maintained by the coordinator */
    double tokens;
    int64_t tokens_at_ms;
    int64_t started_total;
    int64_t refused_total[2];        /* by coord_tenant_refusal_t */
};

struct queue {
    char *name;
    bool paused;
    bool deleted;                    /* queues delete: hidden until something names it again */
    int64_t counts[JOB_STATE_COUNT]; /* jobs per state, all of PostgreSQL + memory */
    const void *policy;              /* queue_policy_t, borrowed from config */
    /* dispatch controls and figures, maintained by the coordinator */
    double tokens;                   /* rate limit token bucket */
    int64_t tokens_at_ms;            /* last refill, monotonic */
    int64_t started_total;
    int64_t finished_total;
    int64_t fin_ring[60];            /* jobs finished per second, last minute */
    int64_t fin_ring_sec;            /* the second fin_ring was last advanced to */
    lane_t **lanes;
    size_t nlanes;
};

struct lane {
    queue_t *queue;
    char *type;
    tenant_t *tenant;
    job_t *head[READYQ_PRIORITIES];
    job_t *tail[READYQ_PRIORITIES];
    uint16_t nonempty;       /* bit p set when priority p has jobs */
    int count;               /* jobs in memory */
    bool overflow;
    int bound_priority;
    int64_t bound_id;
    uint32_t epoch;
    bool refill_inflight;
    uint32_t refill_epoch;
    int window;              /* this lane's window (see above) */
    int window_min, window_max;
    int64_t taken;           /* jobs that left the lane to run (lane_take) */
    int64_t taken_at_ask;    /* taken when the refill in flight was asked */
    int64_t taken_at_answer; /* taken when the last refill was answered */
    int demand;              /* jobs taken during the last refill's round trip */
    size_t index;            /* position in readyq's lane array */
    void *metrics;           /* the coordinator's figures for the lane (coord_metrics.c) */
};

typedef struct readyq readyq_t;

readyq_t *readyq_new(int window);
/* Frees queues and lanes; jobs still linked are unlinked, not freed. */
void readyq_destroy(readyq_t **rq);
int readyq_window(const readyq_t *rq);

queue_t *readyq_queue(readyq_t *rq, const char *name, bool create);
/* The tenant named name (NULL: "default"); created when create. */
tenant_t *readyq_tenant(readyq_t *rq, const char *name, bool create);
size_t readyq_ntenants(const readyq_t *rq);
tenant_t *readyq_tenant_at(const readyq_t *rq, size_t i);
/* tenant NULL: the "default" tenant. */
lane_t *readyq_lane(readyq_t *rq, const char *queue, const char *type, const char *tenant,
                    bool create);
size_t readyq_nlanes(const readyq_t *rq);
lane_t *readyq_lane_at(const readyq_t *rq, size_t i);
size_t readyq_nqueues(const readyq_t *rq);
queue_t *readyq_queue_at(const readyq_t *rq, size_t i);

typedef enum {
    READYQ_KEPT = 0,    /* linked in memory */
    READYQ_NOT_KEPT = 1 /* lives only in PostgreSQL until a refill */
} readyq_push_result_t;

/* Offers a committed, queued job to its lane. If keeping it overflows the
 * window, the least urgent job is unlinked and returned in *evicted (the
 * caller drops it from memory; it is committed as queued). */
readyq_push_result_t readyq_push(readyq_t *rq, lane_t *lane, job_t *job, job_t **evicted);
/* Most urgent job of the lane, or NULL. */
job_t *lane_peek(const lane_t *lane);
void lane_unlink(lane_t *lane, job_t *job);
/* lane_unlink for a job leaving to run: counted as the lane's demand. */
void lane_take(lane_t *lane, job_t *job);
/* True when the lane runs low and PostgreSQL may hold more. */
bool lane_wants_refill(const readyq_t *rq, const lane_t *lane);
/* A refill of the lane is being asked: notes the time (in jobs taken) and
 * returns how many rows to fetch: batch, or twice the last round trip's
 * demand when that is more, at most half the lane's window. */
int lane_refill_ask(lane_t *lane, int batch);
/* Marks a lane as possibly having queued jobs in PostgreSQL beyond memory
 * (recovery): bound is set to the largest key in memory. */
void lane_mark_overflow(lane_t *lane);
/* Applies a refill answer: rows loaded (already pushed) and whether the
 * query returned a full page (more may follow). last_* = key of last row.
 * Also adapts the lane's window to the jobs taken since the ask. */
void lane_refill_done(lane_t *lane, int rows, bool full_page, int last_priority, int64_t last_id);
/* Compares keys: negative when a is more urgent than b. */
int readyq_key_cmp(int pa, int64_t ia, int pb, int64_t ib);

#endif
