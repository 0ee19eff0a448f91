/* A job as the coordinator holds it in memory. Only the jobs that matter
 * right now live here: the ready window, running and scheduled jobs, and
 * jobs pinned by a group commit in flight. Everything else is in PostgreSQL. */
#ifndef JOB_H
#define JOB_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    JOB_WAITING = 0,
    JOB_SCHEDULED,
    JOB_QUEUED,
    JOB_RUNNING,
    JOB_SUCCEEDED,
    JOB_DEAD,
    JOB_CANCELLED,
    JOB_STATE_COUNT
} job_state_t;

/* Audit events (job_events.event), one per kind of change. */
typedef enum {
    JOB_EV_SUBMITTED = 0,
    JOB_EV_QUEUED,       /* dependencies done, run_at or backoff reached */
    JOB_EV_SCHEDULED,    /* run_at in the future */
    JOB_EV_STARTED,
    JOB_EV_SUCCEEDED,
    JOB_EV_FAILED,       /* attempt failed, retry scheduled */
    JOB_EV_LOST,         /* worker lost, retry scheduled */
    JOB_EV_TIMEOUT,      /* attempt timed out, retry scheduled */
    JOB_EV_DEAD,
    JOB_EV_CANCELLED,
    JOB_EV_RETRIED,      /* operator retry of a dead or cancelled job */
    JOB_EV_REATTACHED,   /* a reconnecting worker still runs the attempt */
    JOB_EV_STALE_RESULT, /* a result from an attempt that no longer holds the job */
    JOB_EV_COUNT
} job_event_t;

const char *job_event_name(job_event_t ev);

typedef struct lane lane_t;
typedef struct worker worker_t;
typedef struct job job_t;

struct job {
    int64_t id;
    lane_t *lane;          /* (queue, type) it belongs to; borrowed from readyq */
    uint8_t priority;
    uint8_t state;         /* job_state_t */
    bool in_pg;            /* a committed row exists (UPDATE, not INSERT) */
    bool dirty;            /* in the accumulating batch's write set */
    bool in_lane;          /* linked in its lane's ready FIFO */
    bool cancel_requested;
    bool waiting_held;     /* waiting, counted in jobstate_t.waiting_held (in memory for good) */
    bool spilled;          /* waiting beyond scheduler.waiting_window: leaves memory once
                            * committed, PostgreSQL keeps it (coord_deps.c) */
    int attempt;
    int attempt_base;      /* attempts used before the last operator retry */
    int max_attempts;
    int progress;          /* -1 unknown */
    int pins;              /* batches that still reference this job */
    int deps_pending;      /* waiting: dependencies that have not succeeded yet */
    bool timer_armed;      /* scheduled: a timer will move it to queued (else PostgreSQL only) */
    bool key_registered;   /* idempotency key is in the coordinator's key map */
    uint32_t timer_gen;    /* invalidates stale timer-heap entries */
    int64_t timeout_ms;
    int64_t created_us, started_us, finished_us, run_at_us; /* wall clock, 0 = unset */
    int64_t ready_us;      /* when it last became queued: priority aging counts from here */
    char *payload;         /* compact JSON object text, owned */
    char *result;          /* owned, NULL = null */
    char *error;           /* owned */
    const char *worker_name; /* holder of the current attempt: interned by the coordinator
                              * (coord_intern), never freed with the job */
    char *idempotency_key; /* owned */
    const char *cancel_actor; /* running: who asked for the cancel (the audit trail's actor);
                               * borrowed for the process life (a key name or "local") */
    worker_t *worker;      /* live holder while running, NULL when orphaned */
    job_t *prev, *next;    /* lane FIFO links */
};

const char *job_state_name(int state);
/* Returns the state for a name, or -1. */
int job_state_parse(const char *name);
bool job_state_terminal(int state);

/* Allocates a zeroed job with the given id; caller owns. */
job_t *job_new(int64_t id);
void job_destroy(job_t **job);
/* Replaces an owned string field (takes ownership of value, may be NULL). */
void job_set_str(char **field, char *value);
/* Attempts counted against max_attempts since the last operator retry. */
int job_attempts_used(const job_t *job);

#endif
