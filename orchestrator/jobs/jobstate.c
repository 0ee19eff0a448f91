/* The job state machine (see jobstate.h for the picture). Every function
 * here follows the same steps: check the move against the table, update
 * the job, move one count between its queue's states, add the job to the
 * batch being filled with its audit event, and tell the owner when the job
 * reached a terminal state. */
#include "jobstate.h"
#include "log.h"
#include "orch_error.h"
#include "strbuf.h"
#include "xalloc.h"
#include <string.h>

#define B(s) (1u << (s))

/* Allowed targets per state. running -> running is a re-attachment. */
static const unsigned s_allowed[JOB_STATE_COUNT] = {
    [JOB_WAITING] = B(JOB_QUEUED) | B(JOB_SCHEDULED) | B(JOB_CANCELLED),
    [JOB_SCHEDULED] = B(JOB_QUEUED) | B(JOB_CANCELLED),
    [JOB_QUEUED] = B(JOB_RUNNING) | B(JOB_CANCELLED),
    [JOB_RUNNING] = B(JOB_RUNNING) | B(JOB_SUCCEEDED) | B(JOB_SCHEDULED) | B(JOB_DEAD) |
                    B(JOB_CANCELLED),
    [JOB_SUCCEEDED] = 0,
    [JOB_DEAD] = B(JOB_QUEUED),
    [JOB_CANCELLED] = B(JOB_QUEUED),
};

bool jobstate_allowed(int from, int to)
{
    if (from < 0 || from >= JOB_STATE_COUNT || to < 0 || to >= JOB_STATE_COUNT)
        return false;
    return (s_allowed[from] & B(to)) != 0;
}

static void s_count(lane_t *l, int from, int to)
{
    if (!l)
        return;
    if (from >= 0)
        l->queue->counts[from]--;
    if (to >= 0)
        l->queue->counts[to]++;
    if (from >= 0 && from < TENANT_LIVE_STATES && l->tenant->live[from] > 0)
        l->tenant->live[from]--;
    if (to >= 0 && to < TENANT_LIVE_STATES)
        l->tenant->live[to]++;
}

/* Checks and applies from -> to; false (logged, counted) when refused. */
static bool s_move(jobstate_t *js, job_t *job, int to, job_event_t ev)
{
    int from = job->state;
    if (!jobstate_allowed(from, to)) {
        js->invalid++;
        LOG_ERROR("refused invalid job transition job=%lld from=%s to=%s event=%s",
                  (long long)job->id, job_state_name(from), job_state_name(to),
                  job_event_name(ev));
        return false;
    }
    if (from == JOB_QUEUED && to != JOB_QUEUED && job->in_lane) {
        if (to == JOB_RUNNING)
            lane_take(job->lane, job);
        else
            lane_unlink(job->lane, job);
    }
    if (from == JOB_WAITING && job->waiting_held) {
        job->waiting_held = false;
        js->waiting_held--;
    }
    s_count(job->lane, from, to);
    job->state = (uint8_t)to;
    js->moves++;
    if ((from == JOB_RUNNING) != (to == JOB_RUNNING) && js->on_running)
        js->on_running(js->arg, job, to == JOB_RUNNING ? 1 : -1);
    return true;
}

static void s_record(jobstate_t *js, job_t *job, job_event_t ev, const char *worker,
                     const char *detail)
{
    batch_touch(js->batch, job);
    batch_event(js->batch, job, job->id, ev, job->attempt, worker, detail);
}

/* The event s_record just added. */
static batch_event_t *s_last(jobstate_t *js)
{
    return &js->batch->events[js->batch->nevents - 1];
}

static void s_terminal(jobstate_t *js, job_t *job, int64_t now_us)
{
    job->finished_us = now_us;
    if (js->on_terminal)
        js->on_terminal(js->arg, job);
}

/* {"actor":actor} or NULL. */
static void s_actor_detail(strbuf_t *sb, const char *actor)
{
    strbuf_puts(sb, "{\"actor\":");
    strbuf_put_json_string(sb, actor, strlen(actor));
    strbuf_putc(sb, '}');
}

void jobstate_operator_detail(strbuf_t *sb, const char *reason, const char *actor)
{
    strbuf_puts(sb, "{\"reason\":");
    strbuf_put_json_string(sb, reason, strlen(reason));
    if (actor) {
        strbuf_puts(sb, ",\"actor\":");
        strbuf_put_json_string(sb, actor, strlen(actor));
    }
    strbuf_putc(sb, '}');
}

void jobstate_submit(jobstate_t *js, job_t *job, const char *actor)
{
    job->state = JOB_WAITING;
    s_count(job->lane, -1, JOB_WAITING);
    js->moves++;
    strbuf_t sb;
    strbuf_init(&sb);
    if (actor)
        s_actor_detail(&sb, actor);
    s_record(js, job, JOB_EV_SUBMITTED, NULL, actor ? sb.data : NULL);
    strbuf_fini(&sb);
}

int jobstate_ready(jobstate_t *js, job_t *job, int64_t now_us, const char *detail)
{
    bool later = job->run_at_us > now_us;
    job_event_t ev = later ? JOB_EV_SCHEDULED : JOB_EV_QUEUED;
    if (job->state != JOB_WAITING || !s_move(js, job, later ? JOB_SCHEDULED : JOB_QUEUED, ev))
        return ORCH_ESTATE;
    if (!later)
        job->ready_us = now_us;
    if (detail)
        s_record(js, job, ev, NULL, detail);
    return ORCH_OK;
}

int jobstate_due(jobstate_t *js, job_t *job, int64_t now_us)
{
    if (job->state != JOB_SCHEDULED || !s_move(js, job, JOB_QUEUED, JOB_EV_QUEUED))
        return ORCH_ESTATE;
    job->timer_armed = false;
    job->ready_us = now_us;
    s_record(js, job, JOB_EV_QUEUED, NULL, NULL);
    return ORCH_OK;
}

int jobstate_start(jobstate_t *js, job_t *job, const char *worker, int64_t now_us)
{
    if (job->state != JOB_QUEUED || !s_move(js, job, JOB_RUNNING, JOB_EV_STARTED))
        return ORCH_ESTATE;
    job->attempt++;
    job->worker_name = worker;
    job->started_us = now_us;
    job->progress = -1;
    job->cancel_requested = false;
    job->cancel_actor = NULL;
    s_record(js, job, JOB_EV_STARTED, worker, NULL);
    int64_t ready = job->ready_us ? job->ready_us : job->created_us;
    s_last(js)->dur_us = ready && now_us > ready ? now_us - ready : 0;
    return ORCH_OK;
}

int jobstate_reattach(jobstate_t *js, job_t *job, const char *worker, int attempt, int64_t now_us)
{
    bool was_queued = job->state == JOB_QUEUED;
    if (!was_queued && job->state != JOB_RUNNING)
        return ORCH_ESTATE;
    if (!s_move(js, job, JOB_RUNNING, JOB_EV_REATTACHED))
        return ORCH_ESTATE;
    if (was_queued) { /* dispatched just before a coordinator crash, never committed */
        job->attempt = attempt;
        job->started_us = now_us;
    }
    job->worker_name = worker;
    s_record(js, job, JOB_EV_REATTACHED, worker, NULL);
    return ORCH_OK;
}

int jobstate_succeed(jobstate_t *js, job_t *job, char *result, int64_t now_us)
{
    if (job->state != JOB_RUNNING || !s_move(js, job, JOB_SUCCEEDED, JOB_EV_SUCCEEDED)) {
        free(result);
        return ORCH_ESTATE;
    }
    job_set_str(&job->result, result);
    job->progress = 100;
    s_record(js, job, JOB_EV_SUCCEEDED, job->worker_name, NULL);
    s_last(js)->dur_us = job->started_us && now_us > job->started_us ? now_us - job->started_us : 0;
    s_terminal(js, job, now_us);
    return ORCH_OK;
}

static void s_end_detail(strbuf_t *sb, const char *cause, const char *error, int64_t retry_ms,
                         const char *actor)
{
    strbuf_puts(sb, "{\"cause\":");
    strbuf_put_json_string(sb, cause, strlen(cause));
    if (error) {
        strbuf_puts(sb, ",\"error\":");
        strbuf_put_json_string(sb, error, strlen(error));
    }
    if (retry_ms >= 0)
        strbuf_printf(sb, ",\"retry_in_ms\":%lld", (long long)retry_ms);
    if (actor) {
        strbuf_puts(sb, ",\"actor\":");
        strbuf_put_json_string(sb, actor, strlen(actor));
    }
    strbuf_putc(sb, '}');
}

int jobstate_attempt_ended(jobstate_t *js, job_t *job, job_end_t why, const char *error,
                           bool permanent, int64_t retry_ms, int64_t now_us)
{
    static const char *const causes[] = {"failed", "lost", "timeout", "cancel"};
    static const job_event_t retry_events[] = {JOB_EV_FAILED, JOB_EV_LOST, JOB_EV_TIMEOUT,
                                               JOB_EV_CANCELLED};
    int to;
    job_event_t ev;
    if (job->cancel_requested) {
        to = JOB_CANCELLED, ev = JOB_EV_CANCELLED, why = JOB_END_CANCEL, retry_ms = -1;
    } else if (permanent || why == JOB_END_CANCEL || job_attempts_used(job) >= job->max_attempts) {
        to = JOB_DEAD, ev = JOB_EV_DEAD, retry_ms = -1;
    } else {
        to = JOB_SCHEDULED, ev = retry_events[why];
    }
    if (job->state != JOB_RUNNING || !s_move(js, job, to, ev))
        return ORCH_ESTATE;
    job_set_str(&job->error, xstrdup(error ? error : "unknown error"));
    strbuf_t sb;
    strbuf_init(&sb);
    s_end_detail(&sb, causes[why], error, retry_ms,
                 to == JOB_CANCELLED ? job->cancel_actor : NULL);
    if (to == JOB_SCHEDULED)
        job->run_at_us = now_us + retry_ms * 1000;
    s_record(js, job, ev, job->worker_name, sb.data);
    strbuf_fini(&sb);
    s_last(js)->dur_us = job->started_us && now_us > job->started_us ? now_us - job->started_us : 0;
    s_last(js)->permanent = to == JOB_DEAD && permanent;
    if (to != JOB_SCHEDULED)
        s_terminal(js, job, now_us);
    return to;
}

int jobstate_cancel(jobstate_t *js, job_t *job, const char *reason, const char *detail,
                    int64_t now_us)
{
    if (job->state == JOB_RUNNING || !s_move(js, job, JOB_CANCELLED, JOB_EV_CANCELLED))
        return ORCH_ESTATE;
    job->timer_armed = false;
    job_set_str(&job->error, xstrdup(reason));
    s_record(js, job, JOB_EV_CANCELLED, NULL, detail);
    s_terminal(js, job, now_us);
    return ORCH_OK;
}

int jobstate_retry(jobstate_t *js, job_t *job, const char *actor, int64_t now_us)
{
    if (!s_move(js, job, JOB_QUEUED, JOB_EV_RETRIED))
        return ORCH_ESTATE;
    job->attempt_base = job->attempt;
    job->ready_us = now_us;
    job_set_str(&job->result, NULL);
    job_set_str(&job->error, NULL);
    job->finished_us = 0;
    job->cancel_requested = false;
    job->cancel_actor = NULL;
    strbuf_t sb;
    strbuf_init(&sb);
    if (actor)
        s_actor_detail(&sb, actor);
    s_record(js, job, JOB_EV_RETRIED, NULL, actor ? sb.data : NULL);
    strbuf_fini(&sb);
    return ORCH_OK;
}

void jobstate_stale(jobstate_t *js, job_t *job, int64_t id, int attempt, const char *worker,
                    const char *why)
{
    strbuf_t sb;
    strbuf_init(&sb);
    strbuf_puts(&sb, "{\"reason\":");
    strbuf_put_json_string(&sb, why, strlen(why));
    if (job)
        strbuf_printf(&sb, ",\"current_attempt\":%d,\"current_state\":\"%s\"", job->attempt,
                      job_state_name(job->state));
    strbuf_putc(&sb, '}');
    batch_event(js->batch, job, id, JOB_EV_STALE_RESULT, attempt, worker, sb.data);
    strbuf_fini(&sb);
}

void jobstate_adopt(job_t *job, int state)
{
    job->state = (uint8_t)(state >= 0 && state < JOB_STATE_COUNT ? state : JOB_QUEUED);
    job->in_pg = true;
}

void jobstate_external(lane_t *l, int from, int to)
{
    s_count(l, from, to);
}
