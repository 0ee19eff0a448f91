#include "job.h"
#include "xalloc.h"
#include <stdlib.h>
#include <string.h>

static const char *s_state_names[JOB_STATE_COUNT] = {
    "waiting", "scheduled", "queued", "running", "succeeded", "dead", "cancelled",
};

static const char *s_event_names[JOB_EV_COUNT] = {
    "submitted", "queued", "scheduled", "started", "succeeded", "failed", "lost",
    "timeout", "dead", "cancelled", "retried", "reattached", "stale_result",
};

const char *job_event_name(job_event_t ev)
{
    if ((int)ev < 0 || ev >= JOB_EV_COUNT)
        return "unknown";
    return s_event_names[ev];
}

const char *job_state_name(int state)
{
    if (state < 0 || state >= JOB_STATE_COUNT)
        return "unknown";
    return s_state_names[state];
}

int job_state_parse(const char *name)
{
    for (int i = 0; name && i < JOB_STATE_COUNT; i++)
        if (strcmp(name, s_state_names[i]) == 0)
            return i;
    return -1;
}

bool job_state_terminal(int state)
{
    return state == JOB_SUCCEEDED || state == JOB_DEAD || state == JOB_CANCELLED;
}

job_t *job_new(int64_t id)
{
    job_t *job = xcalloc(1, sizeof *job);
    job->id = id;
    job->progress = -1;
    return job;
}

void job_destroy(job_t **job)
{
    if (!job || !*job)
        return;
    job_t *j = *job;
    free(j->payload);
    free(j->result);
    free(j->error);
    free(j->idempotency_key);
    free(j);
    *job = NULL;
}

void job_set_str(char **field, char *value)
{
    free(*field);
    *field = value;
}

int job_attempts_used(const job_t *job)
{
    return job->attempt - job->attempt_base;
}
