/* The coordinator's Prometheus metrics (docs/operations.md, "Metrics"):
 * counted from what was committed (the events of each batch, once its
 * transaction is durable), plus gauges read from the loop's state when a
 * scrape asks (METRICS). Labels are bounded: queue and type only, never a
 * job id or a worker name. Only the loop thread touches any of it. */
#include "clock.h"
#include "coord_internal.h"
#include "log.h"
#include "proto.h"
#include "strbuf.h"
#include "xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Seconds: a job's wait for a slot, its run time. */
static const double s_time_buckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                        2.5,   5,     10,   30,    60,   300, 1800, 3600};
/* Seconds: a commit, a refill. */
static const double s_db_buckets[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                                      0.1,    0.25,  0.5,   1,     2.5,  5};
/* Seconds: one step of a request (orch_request_stage_seconds). */
static const double s_stage_buckets[] = {0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002,
                                         0.005,   0.01,   0.05,   0.1,    1};
/* State changes per commit. */
static const double s_size_buckets[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000,
                                        10000, 20000};

#define S_NB(a) (sizeof(a) / sizeof(a)[0])

typedef struct {
    uint64_t events[JOB_EV_COUNT]; /* committed audit events */
    uint64_t dead_permanent;       /* dead events caused by a permanent error */
    coord_hist_t wait, run;
} s_lane_t;

static void s_hist_add(coord_hist_t *h, const double *bounds, size_t nb, double v)
{
    size_t i = 0;
    while (i < nb && v > bounds[i])
        i++;
    h->buckets[i]++; /* i == nb: only +Inf */
    h->sum += v;
    h->count++;
}

void coord_metrics_stage(coord_t *c, int stage, int64_t us)
{
    s_hist_add(&c->metrics.stages[stage], s_stage_buckets, S_NB(s_stage_buckets),
               (double)(us > 0 ? us : 0) / 1e6);
}

/* The lanes of one (queue, type), one per tenant, share one set of
 * figures: the first lane's. The series stay labelled by queue and type
 * (per-tenant figures: orch_tenant_*). */
static lane_t *s_owner(lane_t *l)
{
    queue_t *q = l->queue;
    for (size_t i = 0; i < q->nlanes; i++)
        if (q->lanes[i] == l || strcmp(q->lanes[i]->type, l->type) == 0)
            return q->lanes[i];
    return l;
}

static s_lane_t *s_lane(lane_t *l)
{
    l = s_owner(l);
    if (!l->metrics)
        l->metrics = xcalloc(1, sizeof(s_lane_t));
    return l->metrics;
}

void coord_metrics_committed(coord_t *c, const batch_t *b, int64_t latency_us)
{
    coord_metrics_t *m = &c->metrics;
    if (b->nwrites)
        s_hist_add(&m->commit_size, s_size_buckets, S_NB(s_size_buckets), (double)b->nwrites);
    s_hist_add(&m->commit_latency, s_db_buckets, S_NB(s_db_buckets), (double)latency_us / 1e6);
    for (int pass = 0; pass < 2; pass++) {
        const batch_event_t *evs = pass ? b->published : b->events;
        size_t n = pass ? b->npublished : b->nevents;
        for (size_t i = 0; i < n; i++) {
            const batch_event_t *e = &evs[i];
            lane_t *l = e->lane;
            if (!l && e->queue && e->type)
                l = readyq_lane(c->rq, e->queue, e->type, e->tenant, true);
            if (!l || e->event >= JOB_EV_COUNT)
                continue;
            s_lane_t *sl = s_lane(l);
            sl->events[e->event]++;
            if (e->permanent)
                sl->dead_permanent++;
            if (e->dur_us < 0)
                continue;
            double secs = (double)e->dur_us / 1e6;
            if (e->event == JOB_EV_STARTED)
                s_hist_add(&sl->wait, s_time_buckets, S_NB(s_time_buckets), secs);
            else
                s_hist_add(&sl->run, s_time_buckets, S_NB(s_time_buckets), secs);
        }
    }
}

void coord_metrics_refill(coord_t *c, int64_t latency_us)
{
    s_hist_add(&c->metrics.refill_latency, s_db_buckets, S_NB(s_db_buckets),
               (double)latency_us / 1e6);
}

/* The status classes requests are counted by: the protocol's statuses. */
static const int s_statuses[COORD_METRIC_STATUSES] = {200, 400, 403, 404, 409, 413, 429,
                                                       500, 503, 0};

void coord_metrics_reply(coord_t *c, int cmd, const char *body, size_t len)
{
    int status = 0;
    if (len > 11 && memcmp(body, "{\"status\":", 10) == 0)
        status = atoi(body + 10);
    int k = COORD_METRIC_STATUSES - 1; /* other */
    for (int i = 0; i < COORD_METRIC_STATUSES - 1; i++)
        if (s_statuses[i] == status)
            k = i;
    if (cmd < 0 || cmd >= COORD_METRIC_COMMANDS)
        cmd = 0;
    c->metrics.requests[cmd][k]++;
}

/* ---- rendering (Prometheus text exposition format 0.0.4) ---- */

static void s_head(strbuf_t *sb, const char *name, const char *type, const char *help)
{
    strbuf_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped. Our names are
 * [A-Za-z0-9_.:-], so this never changes them; it is here for safety. */
static void s_label(strbuf_t *sb, const char *key, const char *v)
{
    strbuf_printf(sb, "%s=\"", key);
    for (const char *p = v; *p; p++) {
        if (*p == '\\' || *p == '"')
            strbuf_putc(sb, '\\');
        if (*p == '\n') {
            strbuf_puts(sb, "\\n");
            continue;
        }
        strbuf_putc(sb, *p);
    }
    strbuf_putc(sb, '"');
}

static void s_hist(strbuf_t *sb, const char *name, const char *labels, const coord_hist_t *h,
                   const double *bounds, size_t nb)
{
    uint64_t cum = 0;
    for (size_t i = 0; i <= nb; i++) {
        cum += h->buckets[i];
        if (i < nb)
            strbuf_printf(sb, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, *labels ? "," : "",
                          bounds[i], (unsigned long long)cum);
        else
            strbuf_printf(sb, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels,
                          *labels ? "," : "", (unsigned long long)cum);
    }
    strbuf_printf(sb, "%s_sum%s%s%s %.6f\n", name, *labels ? "{" : "", labels, *labels ? "}" : "",
                  h->sum);
    strbuf_printf(sb, "%s_count%s%s%s %llu\n", name, *labels ? "{" : "", labels,
                  *labels ? "}" : "", (unsigned long long)h->count);
}

/* The lanes that carry the figures of their (queue, type), from *i on:
 * the next one, or NULL after the last. */
static lane_t *s_next_owner(coord_t *c, size_t *i)
{
    while (*i < readyq_nlanes(c->rq)) {
        lane_t *l = readyq_lane_at(c->rq, (*i)++);
        if (s_owner(l) == l)
            return l;
    }
    return NULL;
}

static void s_lane_labels(strbuf_t *lb, const lane_t *l)
{
    strbuf_reset(lb);
    s_label(lb, "queue", l->queue->name);
    strbuf_putc(lb, ',');
    s_label(lb, "type", l->type);
}

/* One counter family over every lane: the sum of events ev (and ev2). */
static void s_lane_counter(coord_t *c, strbuf_t *sb, strbuf_t *lb, const char *name,
                           const char *help, int ev, int ev2)
{
    s_head(sb, name, "counter", help);
    lane_t *l;
    for (size_t i = 0; (l = s_next_owner(c, &i));) {
        const s_lane_t *sl = l->metrics;
        uint64_t v = sl ? sl->events[ev] + (ev2 >= 0 ? sl->events[ev2] : 0) : 0;
        s_lane_labels(lb, l);
        strbuf_printf(sb, "%s{%s} %llu\n", name, lb->data, (unsigned long long)v);
    }
}

static void s_failed(coord_t *c, strbuf_t *sb, strbuf_t *lb)
{
    static const char name[] = "orch_jobs_failed_total";
    s_head(sb, name, "counter",
           "Attempts that failed, by queue, type and kind: retryable (an error, a lost worker or "
           "a timeout, with attempts left) or permanent (the handler said it will not change)");
    lane_t *l;
    for (size_t i = 0; (l = s_next_owner(c, &i));) {
        const s_lane_t *sl = l->metrics;
        uint64_t retryable = sl ? sl->events[JOB_EV_FAILED] + sl->events[JOB_EV_LOST] +
                                      sl->events[JOB_EV_TIMEOUT]
                                : 0;
        s_lane_labels(lb, l);
        strbuf_printf(sb, "%s{%s,kind=\"retryable\"} %llu\n", name, lb->data,
                      (unsigned long long)retryable);
        strbuf_printf(sb, "%s{%s,kind=\"permanent\"} %llu\n", name, lb->data,
                      (unsigned long long)(sl ? sl->dead_permanent : 0));
    }
}

static void s_lane_hists(coord_t *c, strbuf_t *sb, strbuf_t *lb, bool run)
{
    const char *name = run ? "orch_job_run_seconds" : "orch_job_wait_seconds";
    s_head(sb, name, "histogram",
           run ? "Run time of attempts that ended (succeeded, failed, lost, timed out), by queue "
                 "and type"
               : "Time from ready (submitted, or due) to start, by queue and type");
    lane_t *l;
    for (size_t i = 0; (l = s_next_owner(c, &i));) {
        static const s_lane_t zero;
        const s_lane_t *sl = l->metrics ? l->metrics : &zero;
        s_lane_labels(lb, l);
        s_hist(sb, name, lb->data, run ? &sl->run : &sl->wait, s_time_buckets,
               S_NB(s_time_buckets));
    }
}

/* The ready windows of a (queue, type): the sum over its tenants' lanes. */
static void s_windows(coord_t *c, strbuf_t *sb, strbuf_t *lb)
{
    static const char name[] = "orch_ready_window_jobs";
    s_head(sb, name, "gauge",
           "Queued jobs the coordinator may hold in memory for the queue and type: "
           "scheduler.ready_window per lane, grown under demand");
    lane_t *l;
    for (size_t i = 0; (l = s_next_owner(c, &i));) {
        long window = 0;
        queue_t *q = l->queue;
        for (size_t k = 0; k < q->nlanes; k++)
            if (strcmp(q->lanes[k]->type, l->type) == 0)
                window += q->lanes[k]->window;
        s_lane_labels(lb, l);
        strbuf_printf(sb, "%s{%s} %ld\n", name, lb->data, window);
    }
}

static void s_queues(coord_t *c, strbuf_t *sb, strbuf_t *lb)
{
    s_head(sb, "orch_queue_jobs", "gauge", "Jobs per queue and state (all of PostgreSQL)");
    for (size_t i = 0; i < readyq_nqueues(c->rq); i++) {
        queue_t *q = readyq_queue_at(c->rq, i);
        for (int s = 0; s < JOB_STATE_COUNT; s++) {
            strbuf_reset(lb);
            s_label(lb, "queue", q->name);
            strbuf_printf(sb, "orch_queue_jobs{%s,state=\"%s\"} %lld\n", lb->data,
                          job_state_name(s), (long long)q->counts[s]);
        }
    }
    s_head(sb, "orch_queue_paused", "gauge", "1 when the queue is paused");
    for (size_t i = 0; i < readyq_nqueues(c->rq); i++) {
        queue_t *q = readyq_queue_at(c->rq, i);
        strbuf_reset(lb);
        s_label(lb, "queue", q->name);
        strbuf_printf(sb, "orch_queue_paused{%s} %d\n", lb->data, q->paused ? 1 : 0);
    }
    s_head(sb, "orch_queue_oldest_ready_age_seconds", "gauge",
           "Age of the longest-waiting queued job in the coordinator's ready window (0: none)");
    int64_t now = clock_real_us();
    for (size_t i = 0; i < readyq_nqueues(c->rq); i++) {
        queue_t *q = readyq_queue_at(c->rq, i);
        int64_t oldest = 0;
        for (size_t k = 0; k < q->nlanes; k++)
            for (int p = 0; p < READYQ_PRIORITIES; p++) {
                const job_t *j = q->lanes[k]->head[p];
                int64_t t = j ? (j->ready_us ? j->ready_us : j->created_us) : 0;
                if (t > 0 && (oldest == 0 || t < oldest))
                    oldest = t;
            }
        strbuf_reset(lb);
        s_label(lb, "queue", q->name);
        strbuf_printf(sb, "orch_queue_oldest_ready_age_seconds{%s} %.3f\n", lb->data,
                      oldest && now > oldest ? (double)(now - oldest) / 1e6 : 0.0);
    }
}

static void s_tenants(coord_t *c, strbuf_t *sb, strbuf_t *lb)
{
    s_head(sb, "orch_tenant_jobs", "gauge",
           "Jobs per tenant in the states its quotas count (all of PostgreSQL)");
    for (size_t i = 0; i < readyq_ntenants(c->rq); i++) {
        tenant_t *t = readyq_tenant_at(c->rq, i);
        for (int s = 0; s < TENANT_LIVE_STATES; s++) {
            strbuf_reset(lb);
            s_label(lb, "tenant", t->name);
            strbuf_printf(sb, "orch_tenant_jobs{%s,state=\"%s\"} %lld\n", lb->data,
                          job_state_name(s), (long long)t->live[s]);
        }
    }
    s_head(sb, "orch_tenant_started_total", "counter",
           "Jobs of the tenant dispatched to a worker since the coordinator started");
    for (size_t i = 0; i < readyq_ntenants(c->rq); i++) {
        tenant_t *t = readyq_tenant_at(c->rq, i);
        strbuf_reset(lb);
        s_label(lb, "tenant", t->name);
        strbuf_printf(sb, "orch_tenant_started_total{%s} %lld\n", lb->data,
                      (long long)t->started_total);
    }
    s_head(sb, "orch_tenant_refused_total", "counter",
           "Submissions refused by a tenant quota, by quota (max_queued, rate)");
    static const char *const why[COORD_TENANT_REFUSALS] = {"max_queued", "rate"};
    for (size_t i = 0; i < readyq_ntenants(c->rq); i++) {
        tenant_t *t = readyq_tenant_at(c->rq, i);
        for (int k = 0; k < COORD_TENANT_REFUSALS; k++) {
            strbuf_reset(lb);
            s_label(lb, "tenant", t->name);
            strbuf_printf(sb, "orch_tenant_refused_total{%s,quota=\"%s\"} %lld\n", lb->data,
                          why[k], (long long)t->refused_total[k]);
        }
    }
}

static void s_workers(coord_t *c, strbuf_t *sb)
{
    long slots = 0, busy = 0;
    for (size_t i = 0; i < c->nworkers; i++) {
        slots += c->workers[i]->slots;
        busy += c->workers[i]->nleases;
    }
    s_head(sb, "orch_workers_connected", "gauge", "Workers registered now");
    strbuf_printf(sb, "orch_workers_connected %zu\n", c->nworkers);
    s_head(sb, "orch_worker_slots", "gauge", "Slots of the registered workers");
    strbuf_printf(sb, "orch_worker_slots %ld\n", slots);
    s_head(sb, "orch_worker_slots_busy", "gauge", "Slots holding a running attempt");
    strbuf_printf(sb, "orch_worker_slots_busy %ld\n", busy);
    s_head(sb, "orch_workers_lost_total", "counter",
           "Workers declared lost (no heartbeat within heartbeat.liveness intervals)");
    strbuf_printf(sb, "orch_workers_lost_total %llu\n",
                  (unsigned long long)c->metrics.workers_lost);
}

static void s_requests(coord_t *c, strbuf_t *sb)
{
    s_head(sb, "orch_client_requests_total", "counter",
           "Client protocol requests answered, by command and status (HTTP API requests "
           "included: they are client commands)");
    for (int cmd = 0; cmd < COORD_METRIC_COMMANDS; cmd++)
        for (int k = 0; k < COORD_METRIC_STATUSES; k++) {
            uint64_t v = c->metrics.requests[cmd][k];
            if (!v)
                continue;
            const char *name = proto_ccmd_name(cmd);
            char st[8];
            if (s_statuses[k])
                snprintf(st, sizeof st, "%d", s_statuses[k]);
            else
                snprintf(st, sizeof st, "other");
            strbuf_printf(sb, "orch_client_requests_total{command=\"%s\",status=\"%s\"} %llu\n",
                          name ? name : "unknown", st, (unsigned long long)v);
        }
}

static double s_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return (double)rss * (double)sysconf(_SC_PAGESIZE);
}

char *coord_metrics_render(coord_t *c)
{
    strbuf_t sb, lb;
    strbuf_init(&sb);
    strbuf_init(&lb);
    coord_metrics_t *m = &c->metrics;
    s_lane_counter(c, &sb, &lb, "orch_jobs_submitted_total", "Jobs submitted (committed)",
                   JOB_EV_SUBMITTED, -1);
    s_lane_counter(c, &sb, &lb, "orch_jobs_started_total", "Attempts started", JOB_EV_STARTED,
                   -1);
    s_lane_counter(c, &sb, &lb, "orch_jobs_succeeded_total", "Jobs that succeeded",
                   JOB_EV_SUCCEEDED, -1);
    s_failed(c, &sb, &lb);
    s_lane_counter(c, &sb, &lb, "orch_jobs_dead_total",
                   "Jobs that ended dead (attempts exhausted or a permanent error)", JOB_EV_DEAD,
                   -1);
    s_lane_counter(c, &sb, &lb, "orch_jobs_cancelled_total", "Jobs cancelled", JOB_EV_CANCELLED,
                   -1);
    s_lane_counter(c, &sb, &lb, "orch_jobs_retried_total",
                   "Operator retries of dead or cancelled jobs", JOB_EV_RETRIED, -1);
    s_lane_counter(c, &sb, &lb, "orch_job_stale_results_total",
                   "Late results of attempts that no longer held their job (ignored)",
                   JOB_EV_STALE_RESULT, -1);
    s_lane_hists(c, &sb, &lb, false);
    s_lane_hists(c, &sb, &lb, true);
    s_windows(c, &sb, &lb);
    s_queues(c, &sb, &lb);
    s_tenants(c, &sb, &lb);
    s_head(&sb, "orch_jobs_running", "gauge", "Attempts running now (all queues)");
    long running = 0;
    for (size_t i = 0; i < readyq_nqueues(c->rq); i++)
        running += (long)readyq_queue_at(c->rq, i)->counts[JOB_RUNNING];
    strbuf_printf(&sb, "orch_jobs_running %ld\n", running);
    s_head(&sb, "orch_commit_size", "histogram", "Job rows written per group commit");
    s_hist(&sb, "orch_commit_size", "", &m->commit_size, s_size_buckets, S_NB(s_size_buckets));
    s_head(&sb, "orch_commits_total", "counter",
           "Group commits (pipelines committed), chained: sent behind the one in flight");
    strbuf_printf(&sb, "orch_commits_total{chained=\"false\"} %llu\n",
                  (unsigned long long)(c->commits - c->chained_commits));
    strbuf_printf(&sb, "orch_commits_total{chained=\"true\"} %llu\n",
                  (unsigned long long)c->chained_commits);
    s_head(&sb, "orch_commit_duration_seconds", "histogram",
           "Group commit latency: pipeline sent to transaction durable");
    s_hist(&sb, "orch_commit_duration_seconds", "", &m->commit_latency, s_db_buckets,
           S_NB(s_db_buckets));
    s_head(&sb, "orch_request_stage_seconds", "histogram",
           "A submission that waits for its commit, step by step: decode (received to reply"
           " ready), queued (to its pipeline sent), database (to the transaction durable),"
           " reply (to the reply handed to ZeroMQ)");
    static const char *const stage_names[COORD_STAGES] = {"decode", "queued", "database",
                                                          "reply"};
    for (int i = 0; i < COORD_STAGES; i++) {
        char stage[32];
        snprintf(stage, sizeof stage, "stage=\"%s\"", stage_names[i]);
        s_hist(&sb, "orch_request_stage_seconds", stage, &m->stages[i], s_stage_buckets,
               S_NB(s_stage_buckets));
    }
    s_head(&sb, "orch_refill_duration_seconds", "histogram",
           "Ready-window refills from PostgreSQL: sent to answered");
    s_hist(&sb, "orch_refill_duration_seconds", "", &m->refill_latency, s_db_buckets,
           S_NB(s_db_buckets));
    s_workers(c, &sb);
    s_requests(c, &sb);
    coord_downstreams_metrics(c, &sb);
    s_head(&sb, "orch_database_up", "gauge",
           "1 when the database is connected and recovered (submissions are accepted)");
    strbuf_printf(&sb, "orch_database_up %d\n", c->mode == COORD_UP ? 1 : 0);
    s_head(&sb, "orch_leader", "gauge",
           "1 on the coordinator holding the leader lease (up), 0 on a standby or while down");
    strbuf_printf(&sb, "orch_leader %d\n", c->mode == COORD_UP ? 1 : 0);
    s_head(&sb, "orch_leader_epoch", "gauge",
           "The leader lease's epoch this coordinator last held or saw");
    strbuf_printf(&sb, "orch_leader_epoch %lld\n",
                  (long long)(c->lease.epoch ? c->lease.epoch : c->lease.seen.epoch));
    s_head(&sb, "orch_jobs_in_memory", "gauge",
           "Jobs the coordinator holds in memory (ready windows, running, scheduled soon,"
           " waiting within scheduler.waiting_window, pinned by a commit)");
    strbuf_printf(&sb, "orch_jobs_in_memory %zu\n", hmap_count(c->jobs));
    s_head(&sb, "orch_waiting_jobs_in_memory", "gauge",
           "Waiting jobs (on dependencies) held in memory; at most scheduler.waiting_window");
    strbuf_printf(&sb, "orch_waiting_jobs_in_memory %lld\n", (long long)c->js.waiting_held);
    s_head(&sb, "orch_inbox_jobs_total", "counter",
           "Rows of orch.inbox (orch.orch_enqueue, transactional enqueue) turned into jobs");
    strbuf_printf(&sb, "orch_inbox_jobs_total %llu\n", (unsigned long long)c->inbox_jobs);
    s_head(&sb, "orch_compensations_total", "counter",
           "Compensations run: succeeded jobs whose on_failure jobs were submitted because a "
           "job after them ended dead or cancelled");
    strbuf_printf(&sb, "orch_compensations_total %llu\n",
                  (unsigned long long)c->compensations_run);
    s_head(&sb, "orch_audit_sealed_total", "counter",
           "Audit rows hashed into the audit chain by this coordinator (audit.seal_interval)");
    strbuf_printf(&sb, "orch_audit_sealed_total %llu\n", (unsigned long long)c->audit_sealed);
    s_head(&sb, "orch_audit_sealed_id", "gauge",
           "The last audit row (job_events.id) this coordinator sealed; 0: none yet");
    strbuf_printf(&sb, "orch_audit_sealed_id %lld\n", (long long)c->audit_sealed_id);
    s_head(&sb, "orch_recovery_duration_seconds", "gauge",
           "How long the last recovery from PostgreSQL took");
    strbuf_printf(&sb, "orch_recovery_duration_seconds %.3f\n",
                  (double)m->last_recovery_ms / 1000.0);
    s_head(&sb, "orch_retention_deleted_jobs_total", "counter",
           "Finished jobs deleted by retention (retention.jobs, retention.dead)");
    strbuf_printf(&sb, "orch_retention_deleted_jobs_total %llu\n",
                  (unsigned long long)m->retention_deleted);
    s_head(&sb, "orch_retention_dropped_partitions_total", "counter",
           "Days of job_events dropped by retention (retention.events)");
    strbuf_printf(&sb, "orch_retention_dropped_partitions_total %llu\n",
                  (unsigned long long)m->partitions_dropped);
    s_head(&sb, "orch_invalid_transitions_total", "counter",
           "Job state changes the state machine refused (should stay 0)");
    strbuf_printf(&sb, "orch_invalid_transitions_total %llu\n", (unsigned long long)c->js.invalid);
    s_head(&sb, "process_resident_memory_bytes", "gauge", "Resident memory of orchestratord");
    strbuf_printf(&sb, "process_resident_memory_bytes %.0f\n", s_rss_bytes());
    s_head(&sb, "process_start_time_seconds", "gauge", "Start time, seconds since the epoch");
    strbuf_printf(&sb, "process_start_time_seconds %.3f\n", (double)m->start_us / 1e6);
    strbuf_fini(&lb);
    return strbuf_detach(&sb);
}

void coord_metrics_forget(coord_t *c)
{
    for (size_t i = 0; c->rq && i < readyq_nlanes(c->rq); i++) {
        lane_t *l = readyq_lane_at(c->rq, i);
        if (s_owner(l) == l)
            free(l->metrics);
        l->metrics = NULL;
    }
}
