/* store.h in memory, for the coordinator's unit tests (see store_fake.h).
 * Each statement below is the in-memory reading of its SQL in
 * orchestrator/store/store_sql.h or store_load.c, named after it. */
#include "store_fake.h"
#include "clock.h"
#include "job.h"
#include "orch_error.h"
#include "readyq.h"
#include "strbuf.h"
#include "xalloc.h"
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* ---- the database ---- */

typedef struct {
    char *name;
    bool paused;
    int concurrency, rate_burst, priority; /* -1: NULL */
    double rate_limit;                     /* < 0: NULL */
} fq_row_t;

typedef struct {
    char *name, *version, *state;
    int slots;
} fw_row_t;

typedef struct {
    int64_t job_id, dep;
} fd_row_t;

typedef struct {
    fake_job_t **jobs; /* sorted by id */
    size_t njobs, capjobs;
    fake_event_t *events;
    size_t nevents, capevents;
    fq_row_t *queues;
    size_t nqueues;
    fw_row_t *workers;
    size_t nworkers;
    fd_row_t *deps;
    size_t ndeps;
    store_schedule_row_t *scheds; /* strings owned */
    size_t nscheds;
    int64_t event_seq; /* job_events_id_seq's last value (never rolled back) */
} db_t;

/* A pipeline statement: the batch write (snapshot of its rows, taken when
 * it was queued, as the real store serialises it then) or an operation
 * (read when it runs: its inputs are borrowed until answered). */
typedef struct {
    store_op_t *op; /* NULL: the batch write */
    fake_job_t *rows;
    bool *insert;
    size_t nrows;
    fake_event_t *events;
    size_t nevents;
    bool fence; /* the lease fence (store_pipeline_add_fence) */
    int64_t fence_epoch, fence_lease_ms;
    /* a chained pipeline's first statement (orch_chain_check): the audit
     * row after_event of job after_job must be there */
    bool chain_check;
    int64_t after_job, after_event;
} item_t;

struct store {
    char *conninfo;
    bool connected;
    bool building, in_flight;
    bool signalled;
    int efd;
    char errmsg[512];
    item_t *items;
    size_t nitems, capitems;
    /* a second pipeline sent behind the one in flight (store_pipeline_chain) */
    item_t *chain;
    size_t nchain, capchain;
    bool chaining, chain_sent;
    bool lease_lost;
};

static struct {
    db_t *db;
    store_t *live; /* the last store_new'd handle (release signals it) */
    bool fail_commit;
    size_t fail_after;
    bool fail_statement; /* the injected failure is a statement's, not the connection's */
    int fail_connects;
    int fail_loads;
    int fail_loads_skip;
    bool hold_snapshot;
    bool hold;
    unsigned commits, failed, violations, connects, connect_attempts, inserted, updated;
    unsigned lost_updates, max_write_rows;
    unsigned ops[STORE_OP_KIND_COUNT];
    char violation[512];
    char evbuf[4096];
    /* the leader_lease row; outside db_t: a renewal is applied only when
     * its pipeline commits (store_pipeline_poll) */
    struct {
        char holder[128], advertise[256];
        int64_t epoch, expires_us;
        unsigned renewals;
    } lease;
} G;

static char *s_dup(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static bool s_eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static void s_job_free_strs(fake_job_t *j)
{
    free(j->queue);
    free(j->type);
    free(j->payload);
    free(j->result);
    free(j->error);
    free(j->worker);
    free(j->idempotency_key);
    free(j->tenant);
}

static void s_job_copy(fake_job_t *dst, const fake_job_t *src)
{
    *dst = *src;
    dst->queue = s_dup(src->queue);
    dst->type = s_dup(src->type);
    dst->payload = s_dup(src->payload);
    dst->result = s_dup(src->result);
    dst->error = s_dup(src->error);
    dst->worker = s_dup(src->worker);
    dst->idempotency_key = s_dup(src->idempotency_key);
    dst->tenant = s_dup(src->tenant);
}

static void s_event_free(fake_event_t *e)
{
    free(e->event);
    free(e->worker);
    free(e->detail);
}

static void s_event_copy(fake_event_t *dst, const fake_event_t *src)
{
    *dst = *src;
    dst->event = s_dup(src->event);
    dst->worker = s_dup(src->worker);
    dst->detail = s_dup(src->detail);
}

static void s_sched_free(store_schedule_row_t *s)
{
    free((char *)s->name);
    free((char *)s->cron);
    free((char *)s->queue);
    free((char *)s->type);
    free((char *)s->payload);
    free((char *)s->source);
    free((char *)s->then);
}

static void s_sched_copy(store_schedule_row_t *dst, const store_schedule_row_t *src)
{
    *dst = *src;
    dst->name = s_dup(src->name);
    dst->cron = s_dup(src->cron);
    dst->queue = s_dup(src->queue);
    dst->type = s_dup(src->type);
    dst->payload = xstrdup(src->payload ? src->payload : "{}");
    dst->source = xstrdup(src->source ? src->source : "api");
    dst->then = s_dup(src->then);
}

static void s_db_free(db_t *db)
{
    if (!db)
        return;
    for (size_t i = 0; i < db->njobs; i++) {
        s_job_free_strs(db->jobs[i]);
        free(db->jobs[i]);
    }
    free(db->jobs);
    for (size_t i = 0; i < db->nevents; i++)
        s_event_free(&db->events[i]);
    free(db->events);
    for (size_t i = 0; i < db->nqueues; i++)
        free(db->queues[i].name);
    free(db->queues);
    for (size_t i = 0; i < db->nworkers; i++) {
        free(db->workers[i].name);
        free(db->workers[i].version);
        free(db->workers[i].state);
    }
    free(db->workers);
    free(db->deps);
    for (size_t i = 0; i < db->nscheds; i++)
        s_sched_free(&db->scheds[i]);
    free(db->scheds);
    free(db);
}

/* A deep copy: the state a failed transaction goes back to. */
static db_t *s_db_clone(const db_t *src)
{
    db_t *db = xcalloc(1, sizeof *db);
    db->capjobs = db->njobs = src->njobs;
    db->jobs = xcalloc(db->njobs + 1, sizeof *db->jobs);
    for (size_t i = 0; i < src->njobs; i++) {
        db->jobs[i] = xmalloc(sizeof **db->jobs);
        s_job_copy(db->jobs[i], src->jobs[i]);
    }
    db->capevents = db->nevents = src->nevents;
    db->events = xcalloc(db->nevents + 1, sizeof *db->events);
    for (size_t i = 0; i < src->nevents; i++)
        s_event_copy(&db->events[i], &src->events[i]);
    db->nqueues = src->nqueues;
    db->queues = xcalloc(db->nqueues + 1, sizeof *db->queues);
    for (size_t i = 0; i < src->nqueues; i++) {
        db->queues[i] = src->queues[i];
        db->queues[i].name = xstrdup(src->queues[i].name);
    }
    db->nworkers = src->nworkers;
    db->workers = xcalloc(db->nworkers + 1, sizeof *db->workers);
    for (size_t i = 0; i < src->nworkers; i++) {
        const fw_row_t *w = &src->workers[i];
        db->workers[i] = (fw_row_t){s_dup(w->name), s_dup(w->version), s_dup(w->state), w->slots};
    }
    db->ndeps = src->ndeps;
    db->deps = xcalloc(db->ndeps + 1, sizeof *db->deps);
    if (src->ndeps)
        memcpy(db->deps, src->deps, src->ndeps * sizeof *db->deps);
    db->nscheds = src->nscheds;
    db->scheds = xcalloc(db->nscheds + 1, sizeof *db->scheds);
    for (size_t i = 0; i < src->nscheds; i++)
        s_sched_copy(&db->scheds[i], &src->scheds[i]);
    return db;
}

static db_t *s_db(void)
{
    if (!G.db)
        G.db = xcalloc(1, sizeof *G.db);
    return G.db;
}

/* ---- rows ---- */

static size_t s_job_pos(const db_t *db, int64_t id, bool *found)
{
    size_t lo = 0, hi = db->njobs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (db->jobs[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < db->njobs && db->jobs[lo]->id == id;
    return lo;
}

static fake_job_t *s_job(db_t *db, int64_t id)
{
    bool found;
    size_t i = s_job_pos(db, id, &found);
    return found ? db->jobs[i] : NULL;
}

/* Inserts a copy of row (its id must be new). */
static fake_job_t *s_job_insert(db_t *db, const fake_job_t *row)
{
    bool found;
    size_t at = s_job_pos(db, row->id, &found);
    if (found)
        return NULL;
    if (db->njobs == db->capjobs) {
        db->capjobs = db->capjobs ? db->capjobs * 2 : 64;
        db->jobs = xrealloc(db->jobs, db->capjobs * sizeof *db->jobs);
    }
    memmove(&db->jobs[at + 1], &db->jobs[at], (db->njobs - at) * sizeof *db->jobs);
    db->jobs[at] = xmalloc(sizeof **db->jobs);
    s_job_copy(db->jobs[at], row);
    db->njobs++;
    return db->jobs[at];
}

static void s_event_add(db_t *db, int64_t id, int64_t job_id, int64_t at, const char *event,
                        int attempt, const char *worker, const char *detail, const char *state)
{
    if (db->nevents == db->capevents) {
        db->capevents = db->capevents ? db->capevents * 2 : 256;
        db->events = xrealloc(db->events, db->capevents * sizeof *db->events);
    }
    db->events[db->nevents++] =
        (fake_event_t){job_id, at, s_dup(event), attempt, s_dup(worker), s_dup(detail), id, state, 0};
}

static void s_set(char **field, const char *value)
{
    free(*field);
    *field = s_dup(value);
}

static bool s_live_state(int st)
{
    return st == JOB_WAITING || st == JOB_SCHEDULED || st == JOB_QUEUED || st == JOB_RUNNING;
}

/* The typed row of STORE_JOB_COLUMNS (strings borrowed from the row). */
static void s_row(const fake_job_t *j, store_job_row_t *out)
{
    *out = (store_job_row_t){
        .id = j->id,
        .queue = j->queue,
        .type = j->type,
        .priority = j->priority,
        .state = j->state,
        .attempt = j->attempt,
        .attempt_base = j->attempt_base,
        .max_attempts = j->max_attempts,
        .timeout_ms = j->timeout_ms,
        .payload = j->payload ? j->payload : "{}",
        .idempotency_key = j->idempotency_key,
        .created_us = j->created_us,
        .run_at_us = j->run_at_us,
        .started_us = j->started_us,
        .worker = j->worker,
        .tenant = j->tenant ? j->tenant : "default",
    };
}

/* json_build_object('key', value) */
static char *s_json_obj1(const char *key, const char *value)
{
    json_t *o = json_object();
    json_object_set_new(o, key, value ? json_string(value) : json_null());
    char *t = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return t;
}

/* json_strip_nulls(json_build_object(k1, v1, k2, v2)) */
static char *s_json_obj2(const char *k1, const char *v1, const char *k2, const char *v2)
{
    json_t *o = json_object();
    if (v1)
        json_object_set_new(o, k1, json_string(v1));
    if (v2)
        json_object_set_new(o, k2, json_string(v2));
    char *t = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return t;
}

/* ---- constraints of the real schema ---- */

typedef struct {
    bool failed;
    char msg[400];
} s_tx_t;

static void s_violate(s_tx_t *tx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_violate(s_tx_t *tx, const char *fmt, ...)
{
    if (tx->failed)
        return;
    tx->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tx->msg, sizeof tx->msg, fmt, ap);
    va_end(ap);
}

static bool s_json_ok(const char *text)
{
    if (!text)
        return true;
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    json_decref(j);
    return j != NULL;
}

static void s_check_job(s_tx_t *tx, const fake_job_t *j, bool insert)
{
    if (j->priority < 0 || j->priority > 9)
        s_violate(tx, "job %lld: priority %d violates check constraint", (long long)j->id,
                  j->priority);
    if (j->state < 0 || j->state >= JOB_STATE_COUNT)
        s_violate(tx, "job %lld: state %d violates check constraint", (long long)j->id, j->state);
    if (!s_json_ok(j->result))
        s_violate(tx, "job %lld: result is not valid json: %s", (long long)j->id, j->result);
    if (!insert)
        return;
    if (!j->queue || !j->type || !j->payload)
        s_violate(tx, "job %lld: null value in a NOT NULL column (queue, type or payload)",
                  (long long)j->id);
    else if (!s_json_ok(j->payload))
        s_violate(tx, "job %lld: payload is not valid json: %s", (long long)j->id, j->payload);
    if (j->created_us == 0)
        s_violate(tx, "job %lld: null value in column \"created_at\"", (long long)j->id);
}

/* ---- public: the database ---- */

void store_fake_reset(void)
{
    store_t *live = G.live;
    s_db_free(G.db);
    memset(&G, 0, sizeof G);
    G.live = live;
    G.db = xcalloc(1, sizeof *G.db);
}

void store_fake_free(void)
{
    s_db_free(G.db);
    G.db = NULL;
}

void store_fake_put_job(const fake_job_t *row)
{
    db_t *db = s_db();
    fake_job_t r = *row;
    r.queue = row->queue ? row->queue : "default";
    r.type = row->type ? row->type : "noop";
    r.payload = row->payload ? row->payload : "{}";
    r.tenant = row->tenant ? row->tenant : "default";
    if (!r.created_us)
        r.created_us = clock_real_us();
    if (!r.max_attempts)
        r.max_attempts = 5;
    if (!r.timeout_ms)
        r.timeout_ms = 300000;
    if (!r.updated_us)
        r.updated_us = clock_real_us();
    fake_job_t *old = s_job(db, row->id);
    if (old) {
        fake_job_t tmp;
        s_job_copy(&tmp, &r);
        s_job_free_strs(old);
        *old = tmp;
        return;
    }
    s_job_insert(db, &r);
}

void store_fake_put(int64_t id, const char *queue, const char *type, int priority, int state)
{
    fake_job_t r = {.id = id,
                    .queue = (char *)queue,
                    .type = (char *)type,
                    .priority = priority,
                    .state = state,
                    .progress = -1};
    store_fake_put_job(&r);
}

const fake_job_t *store_fake_job(int64_t id)
{
    return s_job(s_db(), id);
}

int store_fake_state(int64_t id)
{
    const fake_job_t *j = store_fake_job(id);
    return j ? j->state : -1;
}

size_t store_fake_njobs(void)
{
    return s_db()->njobs;
}

size_t store_fake_rows(const fake_job_t **rows, size_t max)
{
    db_t *db = s_db();
    size_t n = db->njobs < max ? db->njobs : max;
    for (size_t i = 0; i < n; i++)
        rows[i] = db->jobs[i];
    return n;
}

size_t store_fake_count(const char *queue, int state)
{
    db_t *db = s_db();
    size_t n = 0;
    for (size_t i = 0; i < db->njobs; i++)
        n += db->jobs[i]->state == state && (!queue || s_eq(db->jobs[i]->queue, queue));
    return n;
}

static bool s_dep_exists(const db_t *db, int64_t job_id, int64_t dep)
{
    for (size_t i = 0; i < db->ndeps; i++)
        if (db->deps[i].job_id == job_id && db->deps[i].dep == dep)
            return true;
    return false;
}

static void s_dep_add(db_t *db, int64_t job_id, int64_t dep)
{
    if (s_dep_exists(db, job_id, dep)) /* ON CONFLICT DO NOTHING */
        return;
    db->deps = xrealloc(db->deps, (db->ndeps + 1) * sizeof *db->deps);
    db->deps[db->ndeps++] = (fd_row_t){job_id, dep};
}

void store_fake_put_dep(int64_t job_id, int64_t depends_on)
{
    s_dep_add(s_db(), job_id, depends_on);
}

size_t store_fake_ndeps(void)
{
    return s_db()->ndeps;
}

bool store_fake_has_dep(int64_t job_id, int64_t depends_on)
{
    return s_dep_exists(s_db(), job_id, depends_on);
}

size_t store_fake_nevents(void)
{
    return s_db()->nevents;
}

const fake_event_t *store_fake_event_at(size_t i)
{
    return i < s_db()->nevents ? &s_db()->events[i] : NULL;
}

const fake_event_t *store_fake_job_event(int64_t id, size_t i)
{
    db_t *db = s_db();
    for (size_t k = 0; k < db->nevents; k++)
        if (db->events[k].job_id == id && i-- == 0)
            return &db->events[k];
    return NULL;
}

const char *store_fake_events_of(int64_t id)
{
    db_t *db = s_db();
    size_t len = 0;
    G.evbuf[0] = '\0';
    for (size_t k = 0; k < db->nevents; k++) {
        if (db->events[k].job_id != id)
            continue;
        int n = snprintf(G.evbuf + len, sizeof G.evbuf - len, "%s%s", len ? "," : "",
                         db->events[k].event);
        if (n < 0 || (size_t)n >= sizeof G.evbuf - len)
            break;
        len += (size_t)n;
    }
    return G.evbuf;
}

static fq_row_t *s_queue_row(db_t *db, const char *name)
{
    for (size_t i = 0; i < db->nqueues; i++)
        if (s_eq(db->queues[i].name, name))
            return &db->queues[i];
    return NULL;
}

bool store_fake_queue_paused(const char *queue)
{
    fq_row_t *q = s_queue_row(s_db(), queue);
    return q && q->paused;
}

bool store_fake_queue_row(const char *queue)
{
    return s_queue_row(s_db(), queue) != NULL;
}

static fw_row_t *s_worker_row(db_t *db, const char *name)
{
    for (size_t i = 0; i < db->nworkers; i++)
        if (s_eq(db->workers[i].name, name))
            return &db->workers[i];
    return NULL;
}

const char *store_fake_worker_state(const char *name)
{
    fw_row_t *w = s_worker_row(s_db(), name);
    return w ? w->state : NULL;
}

int store_fake_worker_slots(const char *name)
{
    fw_row_t *w = s_worker_row(s_db(), name);
    return w ? w->slots : -1;
}

static store_schedule_row_t *s_sched(db_t *db, const char *name)
{
    for (size_t i = 0; i < db->nscheds; i++)
        if (s_eq(db->scheds[i].name, name))
            return &db->scheds[i];
    return NULL;
}

static void s_sched_insert(db_t *db, const store_schedule_row_t *s)
{
    db->scheds = xrealloc(db->scheds, (db->nscheds + 1) * sizeof *db->scheds);
    s_sched_copy(&db->scheds[db->nscheds++], s);
}

void store_fake_put_schedule(const store_schedule_row_t *s)
{
    db_t *db = s_db();
    store_schedule_row_t *old = s_sched(db, s->name);
    if (old) {
        store_schedule_row_t tmp;
        s_sched_copy(&tmp, s);
        s_sched_free(old);
        *old = tmp;
        return;
    }
    s_sched_insert(db, s);
}

const store_schedule_row_t *store_fake_schedule(const char *name)
{
    return s_sched(s_db(), name);
}

void store_fake_set_schedule_next(const char *name, int64_t next_run_us)
{
    store_schedule_row_t *s = s_sched(s_db(), name);
    if (s)
        s->next_run_us = next_run_us;
}

size_t store_fake_nschedules(void)
{
    return s_db()->nscheds;
}

/* ---- public: faults and figures ---- */

void store_fake_fail_next_commit(size_t after)
{
    G.fail_commit = true;
    G.fail_after = after;
}

void store_fake_fail_next_commit_statement(void)
{
    G.fail_commit = true;
    G.fail_after = (size_t)-1; /* past every operation: at the Sync */
    G.fail_statement = true;
}

void store_fake_fail_connects(int n)
{
    G.fail_connects = n;
}

void store_fake_fail_loads(int n)
{
    G.fail_loads = n;
    G.fail_loads_skip = 0;
}

void store_fake_fail_loads_after(int skip, int n)
{
    G.fail_loads = n;
    G.fail_loads_skip = skip;
}

static void s_signal(store_t *s)
{
    if (s->signalled)
        return;
    uint64_t one = 1;
    if (write(s->efd, &one, sizeof one) == (ssize_t)sizeof one)
        s->signalled = true;
}

void store_fake_hold(bool hold)
{
    G.hold = hold;
}

void store_fake_release(void)
{
    G.hold = false;
    if (G.live && G.live->in_flight)
        s_signal(G.live);
}

void store_fake_release_one(void)
{
    if (G.live && G.live->in_flight)
        s_signal(G.live);
}

unsigned store_fake_commits(void)
{
    return G.commits;
}

unsigned store_fake_failed_commits(void)
{
    return G.failed;
}

unsigned store_fake_violations(void)
{
    return G.violations;
}

const char *store_fake_last_violation(void)
{
    return G.violation;
}

unsigned store_fake_connects(void)
{
    return G.connects;
}

unsigned store_fake_connect_attempts(void)
{
    return G.connect_attempts;
}

bool store_fake_in_flight(void)
{
    return G.live && G.live->in_flight;
}

unsigned store_fake_ops(int kind)
{
    return kind > 0 && kind < STORE_OP_KIND_COUNT ? G.ops[kind] : 0;
}

unsigned store_fake_rows_inserted(void)
{
    return G.inserted;
}

unsigned store_fake_rows_updated(void)
{
    return G.updated;
}

/* ---- connection ---- */

store_t *store_new(const char *conninfo)
{
    store_t *s = xcalloc(1, sizeof *s);
    s->conninfo = xstrdup(conninfo ? conninfo : "");
    s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    s_db();
    G.live = s;
    return s;
}

static void s_items_clear(store_t *s)
{
    for (size_t i = 0; i < s->nitems; i++) {
        item_t *it = &s->items[i];
        for (size_t k = 0; k < it->nrows; k++)
            s_job_free_strs(&it->rows[k]);
        free(it->rows);
        free(it->insert);
        for (size_t k = 0; k < it->nevents; k++)
            s_event_free(&it->events[k]);
        free(it->events);
    }
    s->nitems = 0;
}

static void s_unsignal(store_t *s)
{
    uint64_t v;
    while (read(s->efd, &v, sizeof v) > 0)
        ;
    s->signalled = false;
}

void store_destroy(store_t **sp)
{
    if (!sp || !*sp)
        return;
    store_t *s = *sp;
    store_disconnect(s);
    free(s->items);
    free(s->chain);
    if (s->efd >= 0)
        close(s->efd);
    if (G.live == s)
        G.live = NULL;
    free(s->conninfo);
    free(s);
    *sp = NULL;
}

int store_connect(store_t *s)
{
    store_disconnect(s);
    G.connect_attempts++;
    if (G.fail_connects > 0) {
        G.fail_connects--;
        snprintf(s->errmsg, sizeof s->errmsg,
                 "could not connect to database: injected failure (store fake)");
        return ORCH_EDB;
    }
    s->connected = true;
    s->errmsg[0] = '\0';
    G.connects++;
    return ORCH_OK;
}

/* A chained pipeline dies with its connection; after a first that failed
 * on a statement of its own it ran first (store_pipeline_poll), unread. */
static void s_chain_clear(store_t *s)
{
    store_t tmp = {.items = s->chain, .nitems = s->nchain};
    s_items_clear(&tmp);
    s->nchain = 0;
    s->chaining = s->chain_sent = false;
}

void store_disconnect(store_t *s)
{
    s->connected = false;
    s->building = s->in_flight = false;
    s_items_clear(s);
    s_chain_clear(s);
    s_unsignal(s);
}

bool store_connected(const store_t *s)
{
    return s->connected;
}

const char *store_errmsg(const store_t *s)
{
    return s->errmsg;
}

/* ---- recovery loads ---- */

static int s_load_begin(store_t *s)
{
    if (!s->connected || s->in_flight || s->building) {
        snprintf(s->errmsg, sizeof s->errmsg, "database connection is not available");
        return ORCH_EDB;
    }
    if (G.fail_loads > 0 && G.fail_loads_skip > 0) {
        G.fail_loads_skip--;
    } else if (G.fail_loads > 0) {
        G.fail_loads--;
        snprintf(s->errmsg, sizeof s->errmsg, "query failed: injected failure (store fake)");
        return ORCH_EDB;
    }
    return ORCH_OK;
}

static int s_load_max_id(store_t *s, int64_t *max_id)
{
    if (s_load_begin(s))
        return ORCH_EDB;
    db_t *db = s_db();
    *max_id = db->njobs ? db->jobs[db->njobs - 1]->id : 0;
    return ORCH_OK;
}

static int s_load_next_event_id(store_t *s, int64_t *next)
{
    if (s_load_begin(s))
        return ORCH_EDB;
    *next = ++s_db()->event_seq;
    return ORCH_OK;
}

static const char *s_tenant(const fake_job_t *j)
{
    return j->tenant ? j->tenant : "default";
}

static int s_load_counts(store_t *s,
                         void (*fn)(void *arg, const char *queue, const char *tenant, int state,
                                    int64_t n),
                         void *arg)
{
    if (s_load_begin(s))
        return ORCH_EDB;
    db_t *db = s_db();
    /* GROUP BY queue, tenant, state: one callback per distinct triple */
    for (size_t i = 0; i < db->njobs; i++) {
        const fake_job_t *j = db->jobs[i];
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = db->jobs[k]->state == j->state && s_eq(db->jobs[k]->queue, j->queue) &&
                   s_eq(s_tenant(db->jobs[k]), s_tenant(j));
        if (seen)
            continue;
        int64_t n = 0;
        for (size_t k = i; k < db->njobs; k++)
            n += db->jobs[k]->state == j->state && s_eq(db->jobs[k]->queue, j->queue) &&
                 s_eq(s_tenant(db->jobs[k]), s_tenant(j));
        fn(arg, j->queue, s_tenant(j), j->state, n);
    }
    return ORCH_OK;
}

static int s_load_paused(store_t *s, void (*fn)(void *arg, const char *queue), void *arg)
{
    if (s_load_begin(s))
        return ORCH_EDB;
    db_t *db = s_db();
    for (size_t i = 0; i < db->nqueues; i++)
        if (db->queues[i].paused)
            fn(arg, db->queues[i].name);
    return ORCH_OK;
}

static int s_load_queue_settings(store_t *s, void (*fn)(void *arg, const store_queue_row_t *q),
                              void *arg)
{
    if (s_load_begin(s))
        return ORCH_EDB;
    db_t *db = s_db();
    for (size_t i = 0; i < db->nqueues; i++) {
        const fq_row_t *f = &db->queues[i];
        if (f->concurrency < 0 && f->rate_limit < 0 && f->rate_burst < 0 && f->priority < 0)
            continue;
        store_queue_row_t q = {f->name, f->paused, f->concurrency, f->rate_limit, f->rate_burst,
                               f->priority};
        fn(arg, &q);
    }
    return ORCH_OK;
}

static int s_load_lanes(store_t *s,
                        void (*fn)(void *arg, const char *queue, const char *type,
                                   const char *tenant),
                        void *arg)
{
    if (s_load_begin(s))
        return ORCH_EDB;
    db_t *db = s_db();
    for (size_t i = 0; i < db->njobs; i++) {
        const fake_job_t *j = db->jobs[i];
        if (j->state != JOB_QUEUED)
            continue;
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = db->jobs[k]->state == JOB_QUEUED && s_eq(db->jobs[k]->queue, j->queue) &&
                   s_eq(db->jobs[k]->type, j->type) && s_eq(s_tenant(db->jobs[k]), s_tenant(j));
        if (!seen)
            fn(arg, j->queue, j->type, s_tenant(j));
    }
    return ORCH_OK;
}

/* The rows are collected first: a callback may not see a table change
 * under it (and does not change it). */
static int s_id_cmp(const void *a, const void *b)
{
    const fake_job_t *x = *(fake_job_t *const *)a, *y = *(fake_job_t *const *)b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void s_emit(fake_job_t **rows, size_t n, store_row_fn fn, void *arg)
{
    for (size_t i = 0; i < n; i++) {
        store_job_row_t r;
        s_row(rows[i], &r);
        fn(arg, &r);
    }
}

static int s_load_live(store_t *s, int64_t horizon_ms, store_row_fn fn, void *arg)
{
    if (s_load_begin(s))
        return ORCH_EDB;
    db_t *db = s_db();
    int64_t limit = clock_real_us() + horizon_ms * 1000;
    fake_job_t **rows = xcalloc(db->njobs + 1, sizeof *rows);
    size_t n = 0;
    for (size_t i = 0; i < db->njobs; i++) {
        fake_job_t *j = db->jobs[i];
        if (j->state == JOB_RUNNING ||
            (j->state == JOB_SCHEDULED && j->run_at_us && j->run_at_us < limit))
            rows[n++] = j;
    }
    s_emit(rows, n, fn, arg);
    free(rows);
    return ORCH_OK;
}

static int s_load_waiting(store_t *s, int limit, store_row_fn fn, void *arg)
{
    if (s_load_begin(s))
        return ORCH_EDB;
    db_t *db = s_db();
    fake_job_t **rows = xcalloc(db->njobs + 1, sizeof *rows);
    size_t n = 0;
    for (size_t i = 0; i < db->njobs; i++)
        if (db->jobs[i]->state == JOB_WAITING)
            rows[n++] = db->jobs[i];
    qsort(rows, n, sizeof *rows, s_id_cmp);
    if (limit >= 0 && n > (size_t)limit)
        n = (size_t)limit;
    s_emit(rows, n, fn, arg);
    free(rows);
    return ORCH_OK;
}

static int s_dep_cmp(const void *a, const void *b)
{
    const fd_row_t *x = a, *y = b;
    return x->job_id < y->job_id ? -1 : x->job_id > y->job_id;
}

static int s_load_deps(store_t *s, int64_t upto,
                    void (*fn)(void *arg, int64_t job_id, int64_t dep_id, int dep_state), void *arg)
{
    if (s_load_begin(s))
        return ORCH_EDB;
    db_t *db = s_db();
    fd_row_t *rows = xcalloc(db->ndeps + 1, sizeof *rows);
    size_t n = 0;
    for (size_t i = 0; i < db->ndeps; i++) {
        const fake_job_t *w = s_job(db, db->deps[i].job_id);
        if (w && w->state == JOB_WAITING && w->id <= upto)
            rows[n++] = db->deps[i];
    }
    qsort(rows, n, sizeof *rows, s_dep_cmp);
    int *states = xcalloc(n + 1, sizeof *states);
    for (size_t i = 0; i < n; i++) {
        const fake_job_t *j = s_job(db, rows[i].dep);
        states[i] = j ? j->state : -1;
    }
    for (size_t i = 0; i < n; i++)
        fn(arg, rows[i].job_id, rows[i].dep, states[i]);
    free(states);
    free(rows);
    return ORCH_OK;
}

/* STORE_SQL_SCHED_UPSERT */
int store_upsert_schedule(store_t *s, const store_schedule_row_t *sc)
{
    if (s_load_begin(s))
        return ORCH_EDB;
    db_t *db = s_db();
    store_schedule_row_t *old = s_sched(db, sc->name);
    if (!old) {
        store_schedule_row_t row = *sc;
        row.source = "config";
        row.last_run_us = row.last_job_id = 0;
        s_sched_insert(db, &row);
        return ORCH_OK;
    }
    bool keep_next = s_eq(old->cron, sc->cron) && old->next_run_us != 0;
    store_schedule_row_t row = *old; /* paused, last_run, last_job survive */
    row.cron = sc->cron;
    row.queue = sc->queue;
    row.type = sc->type;
    row.payload = sc->payload;
    row.priority = sc->priority;
    row.max_attempts = sc->max_attempts;
    row.then = sc->then;
    row.source = "config";
    row.next_run_us = keep_next ? old->next_run_us : sc->next_run_us;
    store_schedule_row_t tmp;
    s_sched_copy(&tmp, &row);
    s_sched_free(old);
    *old = tmp;
    return ORCH_OK;
}

static int s_sched_name_cmp(const void *a, const void *b)
{
    return strcmp(((const store_schedule_row_t *)a)->name, ((const store_schedule_row_t *)b)->name);
}

int store_load_schedules(store_t *s, void (*fn)(void *arg, const store_schedule_row_t *sc),
                         void *arg)
{
    if (s_load_begin(s))
        return ORCH_EDB;
    db_t *db = s_db();
    store_schedule_row_t *rows = xcalloc(db->nscheds + 1, sizeof *rows);
    if (db->nscheds)
        memcpy(rows, db->scheds, db->nscheds * sizeof *rows);
    qsort(rows, db->nscheds, sizeof *rows, s_sched_name_cmp);
    for (size_t i = 0; i < db->nscheds; i++)
        fn(arg, &rows[i]);
    free(rows);
    return ORCH_OK;
}

/* ---- operations: one function per statement of store_sql.h ---- */

typedef struct {
    store_answer_fn fn;
    void *arg;
    int64_t now;
    s_tx_t *tx;
} s_run_t;

static int s_key_cmp(const void *a, const void *b)
{
    const fake_job_t *x = *(fake_job_t *const *)a, *y = *(fake_job_t *const *)b;
    if (x->priority != y->priority)
        return x->priority < y->priority ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void s_answer_rows(s_run_t *r, store_op_t *op, fake_job_t **rows, size_t n,
                          store_answer_t *a)
{
    store_job_row_t *out = xcalloc(n + 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
        s_row(rows[i], &out[i]);
    a->rows = out;
    a->nrows = n;
    r->fn(r->arg, op, a);
    free(out);
}

/* STORE_SQL_REFILL */
static void s_op_refill(db_t *db, s_run_t *r, store_op_t *op)
{
    fake_job_t **rows = xcalloc(db->njobs + 1, sizeof *rows);
    size_t n = 0;
    for (size_t i = 0; i < db->njobs; i++) {
        fake_job_t *j = db->jobs[i];
        if (j->state == JOB_QUEUED && s_eq(j->queue, op->in.refill.queue) &&
            s_eq(j->type, op->in.refill.type) &&
            s_eq(s_tenant(j), op->in.refill.tenant ? op->in.refill.tenant : "default") &&
            readyq_key_cmp(j->priority, j->id, op->in.refill.bound_priority,
                           op->in.refill.bound_id) > 0)
            rows[n++] = j;
    }
    qsort(rows, n, sizeof *rows, s_key_cmp);
    if (op->in.refill.limit >= 0 && n > (size_t)op->in.refill.limit)
        n = (size_t)op->in.refill.limit;
    store_answer_t a = {.prior_state = -1};
    s_answer_rows(r, op, rows, n, &a);
    free(rows);
}

/* STORE_SQL_WAKE, STORE_SQL_WAKE_ALL */
static bool s_waits_on_any(const db_t *db, int64_t job_id, const int64_t *ids, size_t n)
{
    for (size_t i = 0; i < db->ndeps; i++)
        for (size_t k = 0; db->deps[i].job_id == job_id && k < n; k++)
            if (db->deps[i].dep == ids[k])
                return true;
    return false;
}

static store_wake_t s_wake_row(db_t *db, int64_t job_id)
{
    store_wake_t w = {0};
    for (size_t i = 0; i < db->ndeps; i++) {
        if (db->deps[i].job_id != job_id)
            continue;
        const fake_job_t *d = s_job(db, db->deps[i].dep);
        int st = d ? d->state : JOB_SUCCEEDED; /* gone: finished long ago */
        if (st != JOB_SUCCEEDED)
            w.unfinished++;
        if (!w.failed_dep && (st == JOB_DEAD || st == JOB_CANCELLED)) {
            w.failed_dep = db->deps[i].dep;
            w.failed_state = st;
        }
    }
    return w;
}

static void s_op_wake(db_t *db, s_run_t *r, store_op_t *op)
{
    fake_job_t **rows = xcalloc(db->njobs + 1, sizeof *rows);
    size_t n = 0;
    for (size_t i = 0; i < db->njobs; i++) {
        fake_job_t *j = db->jobs[i];
        if (j->state == JOB_WAITING && j->id > op->in.wake.after &&
            (op->in.wake.all || s_waits_on_any(db, j->id, op->in.wake.ids, op->in.wake.n)))
            rows[n++] = j;
    }
    qsort(rows, n, sizeof *rows, s_id_cmp);
    if (op->in.wake.limit >= 0 && n > (size_t)op->in.wake.limit)
        n = (size_t)op->in.wake.limit;
    store_wake_t *wake = xcalloc(n + 1, sizeof *wake);
    for (size_t i = 0; i < n; i++)
        wake[i] = s_wake_row(db, rows[i]->id);
    store_answer_t a = {.prior_state = -1, .wake = wake};
    s_answer_rows(r, op, rows, n, &a);
    free(wake);
    free(rows);
}

/* STORE_SQL_CANCEL: the answer's state and queue are the row before. */
static void s_op_cancel(db_t *db, s_run_t *r, store_op_t *op)
{
    fake_job_t *j = s_job(db, op->in.cancel.id);
    if (j && op->in.cancel.tenant && !s_eq(s_tenant(j), op->in.cancel.tenant))
        j = NULL; /* another tenant's job: no such job for this key */
    store_answer_t a = {.prior_state = j ? j->state : -1, .queue = j ? j->queue : NULL,
                        .type = j ? j->type : NULL, .attempt = j ? j->attempt : 0,
                        .tenant = j ? s_tenant(j) : NULL};
    if (j && (j->state == JOB_WAITING || j->state == JOB_SCHEDULED || j->state == JOB_QUEUED)) {
        j->state = JOB_CANCELLED;
        j->finished_us = j->updated_us = r->now;
        s_set(&j->error, op->in.cancel.reason);
        char *detail = s_json_obj2("reason", op->in.cancel.reason, "actor", op->in.cancel.actor);
        s_event_add(db, op->event_id, j->id, r->now, "cancelled", j->attempt, NULL, detail,
                    "cancelled");
        free(detail);
        a.applied = true;
    }
    r->fn(r->arg, op, &a);
}

/* STORE_SQL_RETRY */
static void s_op_retry(db_t *db, s_run_t *r, store_op_t *op)
{
    fake_job_t *j = s_job(db, op->in.retry.id);
    if (j && op->in.retry.tenant && !s_eq(s_tenant(j), op->in.retry.tenant))
        j = NULL; /* another tenant's job: no such job for this key */
    store_answer_t a = {.prior_state = j ? j->state : -1};
    if (!j || (j->state != JOB_DEAD && j->state != JOB_CANCELLED)) {
        r->fn(r->arg, op, &a);
        return;
    }
    char *detail = s_json_obj2("from", job_state_name(j->state), "actor", op->in.retry.actor);
    j->state = JOB_QUEUED;
    j->attempt_base = j->attempt;
    s_set(&j->result, NULL);
    s_set(&j->error, NULL);
    s_set(&j->worker, NULL);
    j->finished_us = 0;
    j->progress = -1;
    j->updated_us = r->now;
    s_event_add(db, op->event_id, j->id, r->now, "retried", j->attempt, NULL, detail, "queued");
    free(detail);
    a.applied = true;
    a.queue = j->queue;
    a.tenant = s_tenant(j);
    s_answer_rows(r, op, &j, 1, &a);
}

/* STORE_SQL_PAUSE (an INSERT without RETURNING: applied stays false, as
 * store_ops.c reads it) */
static void s_op_pause(db_t *db, s_run_t *r, store_op_t *op)
{
    fq_row_t *q = s_queue_row(db, op->in.pause.queue);
    if (!q) {
        db->queues = xrealloc(db->queues, (db->nqueues + 1) * sizeof *db->queues);
        db->queues[db->nqueues++] =
            (fq_row_t){xstrdup(op->in.pause.queue), op->in.pause.paused, -1, -1, -1, -1};
    } else {
        q->paused = op->in.pause.paused;
    }
    store_answer_t a = {.prior_state = -1};
    r->fn(r->arg, op, &a);
}

/* STORE_SQL_QUEUE_SET */
static void s_op_queue_set(db_t *db, s_run_t *r, store_op_t *op)
{
    const store_queue_row_t *in = &op->in.queue_set;
    fq_row_t *q = s_queue_row(db, in->name);
    if (!q) {
        db->queues = xrealloc(db->queues, (db->nqueues + 1) * sizeof *db->queues);
        db->queues[db->nqueues] = (fq_row_t){xstrdup(in->name), false, -1, -1, -1, -1};
        q = &db->queues[db->nqueues++];
    }
    q->concurrency = in->concurrency;
    q->rate_limit = in->rate_limit;
    q->rate_burst = in->rate_burst;
    q->priority = in->priority;
    store_answer_t a = {.prior_state = -1, .applied = true};
    r->fn(r->arg, op, &a);
}

/* STORE_SQL_QUEUE_DELETE */
static void s_op_queue_delete(db_t *db, s_run_t *r, store_op_t *op)
{
    const char *name = op->in.queue_delete.queue;
    store_answer_t a = {.prior_state = -1};
    for (size_t i = 0; i < db->njobs; i++)
        a.jobs += s_eq(db->jobs[i]->queue, name);
    for (size_t i = 0; a.jobs == 0 && i < db->nqueues; i++) {
        if (!s_eq(db->queues[i].name, name))
            continue;
        free(db->queues[i].name);
        db->queues[i] = db->queues[--db->nqueues];
        a.applied = true;
    }
    r->fn(r->arg, op, &a);
}

/* STORE_SQL_WORKER */
static void s_op_worker(db_t *db, s_run_t *r, store_op_t *op)
{
    if (!op->in.worker.name || !op->in.worker.state) {
        s_violate(r->tx, "workers: null value in column \"name\" or \"state\"");
        return;
    }
    fw_row_t *w = s_worker_row(db, op->in.worker.name);
    if (!w) {
        db->workers = xrealloc(db->workers, (db->nworkers + 1) * sizeof *db->workers);
        w = &db->workers[db->nworkers++];
        *w = (fw_row_t){xstrdup(op->in.worker.name), NULL, NULL, 0};
    }
    s_set(&w->version, op->in.worker.version);
    s_set(&w->state, op->in.worker.state);
    w->slots = op->in.worker.slots;
    store_answer_t a = {.prior_state = -1};
    r->fn(r->arg, op, &a);
}

/* STORE_SQL_LOOKUP */
static void s_op_lookup(db_t *db, s_run_t *r, store_op_t *op)
{
    store_dep_state_t *deps = xcalloc(db->njobs + 1, sizeof *deps);
    store_key_hit_t *keys = xcalloc(op->in.lookup.nkeys + 1, sizeof *keys);
    store_answer_t a = {.prior_state = -1, .dep_states = deps, .key_hits = keys};
    for (size_t i = 0; i < db->njobs; i++) { /* WHERE id = ANY($1): each job once */
        for (size_t d = 0; d < op->in.lookup.ndeps; d++) {
            if (db->jobs[i]->id == op->in.lookup.deps[d]) {
                deps[a.ndep_states++] =
                    (store_dep_state_t){db->jobs[i]->id, db->jobs[i]->state, s_tenant(db->jobs[i])};
                break;
            }
        }
    }
    int64_t since = r->now - op->in.lookup.window_ms * 1000;
    for (size_t k = 0; k < op->in.lookup.nkeys; k++) {
        const char *q = op->in.lookup.queues[k], *key = op->in.lookup.keys[k];
        const char *t = op->in.lookup.tenants[k];
        int64_t hit = 0;
        int hit_state = -1;
        for (size_t i = 0; i < db->njobs; i++) {
            const fake_job_t *j = db->jobs[i];
            if (s_eq(j->queue, q) && s_eq(j->idempotency_key, key) && s_eq(s_tenant(j), t) &&
                (s_live_state(j->state) || (j->finished_us && j->finished_us > since))) {
                hit = j->id; /* ORDER BY id DESC LIMIT 1: rows are sorted by id */
                hit_state = j->state;
            }
        }
        keys[a.nkey_hits++] = (store_key_hit_t){q, key, t, hit, hit_state};
    }
    r->fn(r->arg, op, &a);
    free(deps);
    free(keys);
}

/* STORE_SQL_DEPS */
static void s_op_deps(db_t *db, s_run_t *r, store_op_t *op)
{
    for (size_t i = 0; i < op->in.deps.n; i++)
        s_dep_add(db, op->in.deps.job_ids[i], op->in.deps.dep_ids[i]);
    store_answer_t a = {.prior_state = -1};
    r->fn(r->arg, op, &a);
}

/* STORE_SQL_FIRE's follow-up jobs (t, tj, td, te): inserted waiting, each
 * depending on the fired job, with its "submitted" row (id event_id + 1 + i). */
static void s_fire_then(db_t *db, s_run_t *r, store_op_t *op)
{
    const store_fire_in_t *f = &op->in.fire;
    for (size_t i = 0; i < f->nthen; i++) {
        const store_fire_then_t *t = &f->then[i];
        fake_job_t row = {
            .id = t->job_id,
            .queue = (char *)t->queue,
            .type = (char *)t->type,
            .priority = t->priority,
            .state = JOB_WAITING,
            .max_attempts = t->max_attempts,
            .timeout_ms = t->timeout_ms,
            .payload = (char *)t->payload,
            .progress = -1,
            .created_us = f->created_us,
            .updated_us = r->now,
        };
        s_check_job(r->tx, &row, true);
        if (!r->tx->failed && !s_job_insert(db, &row))
            s_violate(r->tx,
                      "fire: duplicate key value violates unique constraint \"jobs_pkey\""
                      " (id %lld)",
                      (long long)row.id);
        if (r->tx->failed)
            return;
        s_dep_add(db, t->job_id, f->job_id);
        json_t *d = json_pack("{s:s, s:I}", "schedule", f->name, "after", (json_int_t)f->job_id);
        char *detail = json_dumps(d, JSON_COMPACT);
        json_decref(d);
        s_event_add(db, op->event_id + 1 + (int64_t)i, row.id, r->now, "submitted", 0, NULL, detail,
                    "waiting");
        free(detail);
    }
}

/* STORE_SQL_FIRE: compare-and-set on next_run_at, then the job insert. */
static void s_op_fire(db_t *db, s_run_t *r, store_op_t *op)
{
    store_schedule_row_t *s = s_sched(db, op->in.fire.name);
    store_answer_t a = {.prior_state = -1};
    if (s && !s->paused && s->next_run_us == op->in.fire.seen_next_us) {
        s->next_run_us = op->in.fire.next_us;
        s->last_run_us = r->now;
        s->last_job_id = op->in.fire.job_id;
        fake_job_t row = {
            .id = op->in.fire.job_id,
            .queue = (char *)op->in.fire.queue,
            .type = (char *)op->in.fire.type,
            .priority = op->in.fire.priority,
            .state = JOB_QUEUED,
            .max_attempts = op->in.fire.max_attempts,
            .timeout_ms = op->in.fire.timeout_ms,
            .payload = (char *)op->in.fire.payload,
            .progress = -1,
            .created_us = op->in.fire.created_us,
            .updated_us = r->now,
        };
        s_check_job(r->tx, &row, true);
        if (!r->tx->failed && !s_job_insert(db, &row))
            s_violate(r->tx,
                      "fire: duplicate key value violates unique constraint \"jobs_pkey\""
                      " (id %lld)",
                      (long long)row.id);
        if (r->tx->failed)
            return;
        char *detail = s_json_obj1("schedule", op->in.fire.name);
        s_event_add(db, op->event_id, row.id, r->now, "submitted", 0, NULL, detail, "queued");
        free(detail);
        s_fire_then(db, r, op);
        if (r->tx->failed)
            return;
        a.applied = true;
    } else if (s) { /* the schedule as it stands, for the coordinator to follow */
        a.sched_exists = true;
        a.sched_paused = s->paused;
        a.sched_next_run_us = s->next_run_us;
    }
    r->fn(r->arg, op, &a);
}

/* STORE_SQL_SCHED_ADD, _DEL, _PAUSE */
static void s_op_sched(db_t *db, s_run_t *r, store_op_t *op)
{
    store_answer_t a = {.prior_state = -1};
    if (op->kind == STORE_OP_SCHED_ADD) {
        if (!s_sched(db, op->in.sched_add.name)) {
            s_sched_insert(db, &op->in.sched_add);
            a.applied = true;
        }
    } else if (op->kind == STORE_OP_SCHED_DEL) {
        store_schedule_row_t *s = s_sched(db, op->in.sched_del.name);
        if (s) {
            s_sched_free(s);
            *s = db->scheds[--db->nscheds];
            a.applied = true;
        }
    } else {
        store_schedule_row_t *s = s_sched(db, op->in.sched_pause.name);
        if (s) {
            s->paused = op->in.sched_pause.paused;
            a.applied = true;
        }
    }
    r->fn(r->arg, op, &a);
}

static int s_run_at_cmp(const void *a, const void *b)
{
    const fake_job_t *x = *(fake_job_t *const *)a, *y = *(fake_job_t *const *)b;
    if (x->run_at_us != y->run_at_us)
        return x->run_at_us < y->run_at_us ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* STORE_SQL_SCHED_LOAD */
static void s_op_sched_load(db_t *db, s_run_t *r, store_op_t *op)
{
    int64_t limit = r->now + op->in.sched_load.horizon_ms * 1000;
    fake_job_t **rows = xcalloc(db->njobs + 1, sizeof *rows);
    size_t n = 0;
    for (size_t i = 0; i < db->njobs; i++) {
        fake_job_t *j = db->jobs[i];
        if (j->state == JOB_SCHEDULED && j->run_at_us && j->run_at_us < limit)
            rows[n++] = j;
    }
    qsort(rows, n, sizeof *rows, s_run_at_cmp);
    if (n > 10000)
        n = 10000;
    store_answer_t a = {.prior_state = -1};
    s_answer_rows(r, op, rows, n, &a);
    free(rows);
}

/* Runs one operation against db; answers through r->fn unless it broke a
 * constraint (r->tx->failed). */
static void s_run_op(db_t *db, s_run_t *r, store_op_t *op)
{
    switch (op->kind) {
    case STORE_OP_REFILL:
        s_op_refill(db, r, op);
        break;
    case STORE_OP_CANCEL:
        s_op_cancel(db, r, op);
        break;
    case STORE_OP_RETRY:
        s_op_retry(db, r, op);
        break;
    case STORE_OP_PAUSE:
        s_op_pause(db, r, op);
        break;
    case STORE_OP_WORKER:
        s_op_worker(db, r, op);
        break;
    case STORE_OP_LOOKUP:
        s_op_lookup(db, r, op);
        break;
    case STORE_OP_DEPS:
        s_op_deps(db, r, op);
        break;
    case STORE_OP_FIRE:
        s_op_fire(db, r, op);
        break;
    case STORE_OP_SCHED_ADD:
    case STORE_OP_SCHED_DEL:
    case STORE_OP_SCHED_PAUSE:
        s_op_sched(db, r, op);
        break;
    case STORE_OP_SCHED_LOAD:
        s_op_sched_load(db, r, op);
        break;
    case STORE_OP_QUEUE_SET:
        s_op_queue_set(db, r, op);
        break;
    case STORE_OP_QUEUE_DELETE:
        s_op_queue_delete(db, r, op);
        break;
    case STORE_OP_WAKE:
        s_op_wake(db, r, op);
        break;
    case STORE_OP_COMP_ADD: /* the fake keeps no compensations: none ever runs */
    case STORE_OP_COMP_FIND:
    case STORE_OP_COMP_FAILED:
    case STORE_OP_REUSE: { /* the fake keeps no job_reuse: results are never reused */
        store_answer_t a = {.prior_state = -1};
        r->fn(r->arg, op, &a);
        break;
    }
    case STORE_OP_INBOX: { /* the fake has no orch.inbox: nobody enqueues from SQL */
        store_answer_t a = {.prior_state = -1};
        r->fn(r->arg, op, &a);
        break;
    }
    default:
        s_violate(r->tx, "unknown operation kind %d", (int)op->kind);
        break;
    }
}

/* ---- the batch write (STORE_SQL_WRITE*) ---- */

static void s_apply_write(db_t *db, s_tx_t *tx, const item_t *it, int64_t now)
{
    if (it->nrows > G.max_write_rows)
        G.max_write_rows = (unsigned)it->nrows;
    for (size_t i = 0; i < it->nrows && !tx->failed; i++) {
        const fake_job_t *row = &it->rows[i];
        for (size_t k = 0; k < i; k++)
            if (it->rows[k].id == row->id)
                s_violate(tx, "job %lld written twice in one batch", (long long)row->id);
        s_check_job(tx, row, it->insert[i]);
        if (tx->failed)
            break;
        if (it->insert[i]) {
            fake_job_t r = *row;
            r.updated_us = now;
            if (!s_job_insert(db, &r))
                s_violate(tx,
                          "duplicate key value violates unique constraint \"jobs_pkey\""
                          " (id %lld)",
                          (long long)row->id);
            else
                G.inserted++;
            continue;
        }
        fake_job_t *j = s_job(db, row->id);
        if (!j) { /* UPDATE ... WHERE j.id = u.id matches nothing */
            G.lost_updates++;
            fprintf(stderr, "store_fake: update of job %lld that has no row\n", (long long)row->id);
            continue;
        }
        j->state = row->state;
        j->attempt = row->attempt;
        j->attempt_base = row->attempt_base;
        j->max_attempts = row->max_attempts;
        s_set(&j->result, row->result);
        s_set(&j->error, row->error);
        s_set(&j->worker, row->worker);
        j->progress = row->progress;
        j->run_at_us = row->run_at_us;
        j->started_us = row->started_us;
        j->finished_us = row->finished_us;
        j->priority = row->priority;
        j->updated_us = now;
        G.updated++;
    }
    for (size_t i = 0; i < it->nevents && !tx->failed; i++) {
        const fake_event_t *e = &it->events[i];
        if (!e->event || !s_json_ok(e->detail))
            s_violate(tx, "job_events: event of job %lld without a name or with invalid detail",
                      (long long)e->job_id);
        else
            s_event_add(db, e->id, e->job_id, e->at_us, e->event, e->attempt, e->worker, e->detail,
                        e->state);
    }
}

/* ---- pipeline ---- */

static item_t *s_item_new(store_t *s)
{
    item_t **items = s->chaining ? &s->chain : &s->items;
    size_t *n = s->chaining ? &s->nchain : &s->nitems;
    size_t *cap = s->chaining ? &s->capchain : &s->capitems;
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *items = xrealloc(*items, *cap * sizeof **items);
    }
    item_t *it = &(*items)[(*n)++];
    memset(it, 0, sizeof *it);
    if (!s->chaining)
        s->building = true;
    return it;
}

static int s_can_add(const store_t *s)
{
    if (!s->connected || (s->in_flight && !s->chaining) ||
        (s->chaining ? s->nchain : s->nitems) >= STORE_MAX_ITEMS)
        return ORCH_EUNAVAIL;
    return ORCH_OK;
}

bool store_pipeline_can_chain(const store_t *s)
{
    return s->connected && s->in_flight && !s->chaining && !s->chain_sent;
}

int store_pipeline_chain(store_t *s, int64_t epoch, const batch_event_t *after)
{
    if (!store_pipeline_can_chain(s) || !after)
        return ORCH_EUNAVAIL;
    s->chaining = true;
    item_t *it = s_item_new(s);
    it->chain_check = true;
    it->after_job = after->job_id;
    it->after_event = after->id;
    it = s_item_new(s);
    it->fence = true;
    it->fence_epoch = epoch;
    return ORCH_OK;
}

bool store_fake_chained(void)
{
    return G.live && G.live->chain_sent;
}

bool store_pipeline_busy(const store_t *s)
{
    return s->in_flight;
}

static void s_snapshot_job(fake_job_t *dst, const job_t *j)
{
    fake_job_t r = {
        .id = j->id,
        .queue = j->lane->queue->name,
        .type = j->lane->type,
        .tenant = j->lane->tenant->name,
        .priority = j->priority,
        .state = j->state,
        .attempt = j->attempt,
        .attempt_base = j->attempt_base,
        .max_attempts = j->max_attempts,
        .timeout_ms = j->timeout_ms,
        .payload = j->payload,
        .result = j->result,
        .error = j->error,
        .worker = (char *)j->worker_name,
        .idempotency_key = j->idempotency_key,
        .progress = j->progress,
        .run_at_us = j->run_at_us,
        .created_us = j->created_us,
        .started_us = j->started_us,
        .finished_us = j->finished_us,
    };
    s_job_copy(dst, &r);
}

int store_pipeline_add_write(store_t *s, batch_t *b)
{
    int rc = s_can_add(s);
    if (rc)
        return rc;
    item_t *it = s_item_new(s);
    it->nrows = b->nwrites;
    it->rows = xcalloc(b->nwrites + 1, sizeof *it->rows);
    it->insert = xcalloc(b->nwrites + 1, sizeof *it->insert);
    for (size_t i = 0; i < b->nwrites; i++) {
        job_t *j = b->writes[i].job;
        s_snapshot_job(&it->rows[i], j);
        it->insert[i] = b->writes[i].insert;
        j->dirty = false;
        j->in_pg = true;
    }
    it->nevents = b->nevents;
    it->events = xcalloc(b->nevents + 1, sizeof *it->events);
    for (size_t i = 0; i < b->nevents; i++) {
        const batch_event_t *e = &b->events[i];
        fake_event_t src = {e->job_id,  e->at_us,          (char *)job_event_name(e->event),
                            e->attempt, (char *)e->worker, e->detail,
                            e->id,      e->state >= 0 ? job_state_name(e->state) : NULL, 0};
        s_event_copy(&it->events[i], &src);
    }
    return ORCH_OK;
}

int store_pipeline_add_event_ids(store_t *s, int64_t upto)
{
    int rc = s_can_add(s);
    if (rc)
        return rc;
    /* setval is not transactional: it holds even if the pipeline fails */
    s_db()->event_seq = upto;
    return ORCH_OK;
}

int store_pipeline_add(store_t *s, store_op_t *op)
{
    if (!op || op->kind <= 0 || op->kind >= STORE_OP_KIND_COUNT)
        return ORCH_EINVAL;
    int rc = s_can_add(s);
    if (rc)
        return rc;
    s_item_new(s)->op = op;
    return ORCH_OK;
}

int store_pipeline_send(store_t *s)
{
    if (s->chaining) {
        s->chaining = false;
        s->chain_sent = true;
        return ORCH_OK;
    }
    if (!s->building)
        return ORCH_EINVAL;
    s->building = false;
    s->in_flight = true;
    if (!G.hold)
        s_signal(s);
    return ORCH_OK;
}

int store_socket(const store_t *s)
{
    return s->connected ? s->efd : -1;
}

int store_idle_check(store_t *s)
{
    s_unsignal(s);
    return s->connected ? ORCH_OK : ORCH_EDB;
}

bool store_wants_write(const store_t *s)
{
    (void)s;
    return false;
}

static int s_exec(store_t *s, store_op_t *op,
                  void (*on_answer)(void *arg, store_op_t *op, const store_answer_t *ans),
                  void *arg)
{
    if (!op || op->kind <= 0 || op->kind >= STORE_OP_KIND_COUNT)
        return ORCH_EINVAL;
    if (s_load_begin(s))
        return ORCH_EDB;
    db_t *backup = s_db_clone(s_db());
    s_tx_t tx = {0};
    s_run_t r = {on_answer, arg, clock_real_us(), &tx};
    s_run_op(s_db(), &r, op);
    if (tx.failed) {
        s_db_free(G.db);
        G.db = backup;
        G.violations++;
        snprintf(G.violation, sizeof G.violation, "%s", tx.msg);
        snprintf(s->errmsg, sizeof s->errmsg, "query failed: %s", tx.msg);
        fprintf(stderr, "store_fake: constraint violation: %s\n", tx.msg);
        return ORCH_EDB;
    }
    s_db_free(backup);
    return ORCH_OK;
}

typedef struct {
    bool failed, injected;
    bool statement; /* injected as a statement's error: the connection stays */
    bool lease_lost;
    bool fenced; /* renew the lease when it commits */
    int64_t epoch, lease_ms;
    char msg[512];
} s_outcome_t;

/* orch_lease_renew: the epoch must still hold an unexpired lease. */
static void s_run_fence(const item_t *it, int64_t now, s_outcome_t *out)
{
    if (out->failed)
        return;
    if (G.lease.epoch != it->fence_epoch || G.lease.expires_us <= now) {
        out->failed = out->lease_lost = true;
        snprintf(out->msg, sizeof out->msg,
                 "statement failed: leader lease lost: epoch %lld is no longer the leader's",
                 (long long)it->fence_epoch);
        return;
    }
    out->fenced = true;
    out->epoch = it->fence_epoch;
    out->lease_ms = it->fence_lease_ms;
}

static void s_unread_answer(void *arg, store_op_t *op, const store_answer_t *ans)
{
    (void)arg;
    (void)op;
    (void)ans;
}

/* orch_chain_check: the pipeline before committed its last audit row. */
static void s_run_chain_check(const item_t *it, s_outcome_t *out)
{
    if (out->failed)
        return;
    const db_t *db = s_db();
    for (size_t k = 0; k < db->nevents; k++)
        if (db->events[k].id == it->after_event && db->events[k].job_id == it->after_job)
            return;
    out->failed = true;
    snprintf(out->msg, sizeof out->msg,
             "statement failed: the commit this one was chained behind was not made: audit row"
             " %lld of job %lld is missing",
             (long long)it->after_event, (long long)it->after_job);
}

/* Runs the statements in order; on failure the caller rolls back. */
static void s_run_items(store_t *s, item_t *items, size_t n, store_answer_fn on_answer, void *arg,
                        s_outcome_t *out)
{
    bool inject = G.fail_commit, statement = G.fail_statement;
    size_t fail_at = G.fail_after, opi = 0;
    G.fail_commit = G.fail_statement = false;
    s_tx_t tx = {0};
    s_run_t r = {on_answer, arg, clock_real_us(), &tx};
    for (size_t i = 0; i < n; i++) {
        if (items[i].fence) {
            s_run_fence(&items[i], r.now, out);
        } else if (items[i].chain_check) {
            s_run_chain_check(&items[i], out);
        } else if (!items[i].op) {
            if (!out->failed)
                s_apply_write(s_db(), &tx, &items[i], r.now);
        } else {
            if (!out->failed && inject && opi == fail_at) {
                out->failed = out->injected = true;
                snprintf(out->msg, sizeof out->msg,
                         "injected failure (store fake): connection to the database lost");
            }
            if (!out->failed) {
                s_run_op(s_db(), &r, items[i].op);
                if (!tx.failed)
                    G.ops[items[i].op->kind]++;
            }
            if (out->failed || tx.failed)
                on_answer(arg, items[i].op, NULL);
            opi++;
        }
        if (tx.failed && !out->failed) {
            out->failed = true;
            snprintf(out->msg, sizeof out->msg, "statement failed: %s", tx.msg);
        }
    }
    if (inject && !out->failed) { /* fewer operations than `after`: fail at the Sync */
        out->failed = out->injected = true;
        out->statement = statement;
        snprintf(out->msg, sizeof out->msg, "injected failure (store fake): %s",
                 statement ? "a statement failed" : "connection to the database lost");
    }
    (void)s;
}

void store_pipeline_poll(store_t *s, store_answer_fn on_answer, store_sync_fn on_sync, void *arg)
{
    if (!s->connected || !s->in_flight || !s->signalled)
        return;
    s_unsignal(s);
    /* the statements leave the handle before any callback runs */
    item_t *items = s->items;
    size_t n = s->nitems;
    s->items = NULL;
    s->nitems = s->capitems = 0;
    db_t *backup = s_db_clone(s_db());
    s_outcome_t out = {0};
    size_t ev_from = s_db()->nevents;
    s_run_items(s, items, n, on_answer, arg, &out);
    /* give the items back to be freed (and their buffers reused) */
    store_t tmp = {.items = items, .nitems = n};
    s_items_clear(&tmp);
    free(items);
    s->in_flight = false;
    if (s->chain_sent && !out.failed) { /* the chained pipeline runs next */
        free(s->items); /* NULL: its statements left above */
        s->items = s->chain;
        s->nitems = s->nchain;
        s->capitems = s->capchain;
        s->chain = NULL;
        s->nchain = s->capchain = 0;
        s->chain_sent = false;
        s->in_flight = true;
        if (!G.hold)
            s_signal(s);
    }
    s->lease_lost = out.lease_lost;
    if (!out.failed && out.fenced) {
        /* job_events.epoch: the default from orch.epoch the fence set */
        for (size_t i = ev_from; i < s_db()->nevents; i++)
            s_db()->events[i].epoch = out.epoch;
        if (out.lease_ms > 0) {
            G.lease.expires_us = clock_real_us() + out.lease_ms * 1000;
            G.lease.renewals++;
        }
    }
    if (!out.failed) {
        s_db_free(backup);
        G.commits++;
        on_sync(arg, true, NULL);
        return;
    }
    s_db_free(G.db);
    G.db = backup;
    G.failed++;
    if (s->chain_sent && (!out.injected || out.statement)) {
        /* PostgreSQL runs the chained pipeline after the failed one's Sync
         * (nobody reads its answers: the coordinator goes down) */
        db_t *before = s_db_clone(s_db());
        s_outcome_t chained = {0};
        s_run_items(s, s->chain, s->nchain, s_unread_answer, NULL, &chained);
        if (chained.failed) {
            s_db_free(G.db);
            G.db = before;
        } else {
            s_db_free(before);
            G.commits++;
        }
        s_chain_clear(s);
    }
    snprintf(s->errmsg, sizeof s->errmsg, "%s", out.msg);
    if (out.injected && !out.statement) {
        store_disconnect(s);
    } else if (out.injected) {
        /* a statement's failure: the coordinator goes down on its own */
    } else if (!out.lease_lost) {
        G.violations++;
        snprintf(G.violation, sizeof G.violation, "%s", out.msg);
        fprintf(stderr, "store_fake: constraint violation: %s\n", out.msg);
    }
    on_sync(arg, false, out.msg);
}

unsigned store_fake_max_write_rows(void)
{
    return G.max_write_rows;
}

unsigned store_fake_lost_updates(void)
{
    return G.lost_updates;
}

/* ---- the leader lease (orch_lease_acquire, orch_lease_renew) ---- */

int store_lease_acquire(store_t *s, const char *name, const char *advertise, int64_t lease_ms,
                        store_lease_t *out)
{
    memset(out, 0, sizeof *out);
    if (s_load_begin(s))
        return ORCH_EDB;
    int64_t now = clock_real_us();
    if (G.lease.expires_us <= now || s_eq(G.lease.holder, name)) {
        snprintf(G.lease.holder, sizeof G.lease.holder, "%s", name);
        snprintf(G.lease.advertise, sizeof G.lease.advertise, "%s", advertise);
        G.lease.epoch++;
        G.lease.expires_us = now + lease_ms * 1000;
        out->held = true;
    }
    snprintf(out->holder, sizeof out->holder, "%s", G.lease.holder);
    snprintf(out->advertise, sizeof out->advertise, "%s", G.lease.advertise);
    out->epoch = G.lease.epoch;
    out->expires_in_ms = (G.lease.expires_us - now) / 1000;
    return ORCH_OK;
}

int store_lease_release(store_t *s, int64_t epoch)
{
    if (s_load_begin(s))
        return ORCH_EDB;
    if (G.lease.epoch == epoch)
        G.lease.expires_us = clock_real_us();
    return ORCH_OK;
}

int store_pipeline_add_fence(store_t *s, int64_t epoch, int64_t lease_ms, bool renew)
{
    if (!renew)
        lease_ms = 0; /* orch_lease_check: checks and locks, does not extend */
    int rc = s_can_add(s);
    if (rc)
        return rc;
    item_t *it = s_item_new(s);
    it->fence = true;
    it->fence_epoch = epoch;
    it->fence_lease_ms = lease_ms;
    return ORCH_OK;
}

bool store_take_notify(store_t *s)
{
    (void)s;
    return false;
}

bool store_lease_lost(const store_t *s)
{
    return s->lease_lost;
}

int store_lease_renew(store_t *s, int64_t epoch, int64_t lease_ms)
{
    s->lease_lost = false;
    if (s_load_begin(s))
        return ORCH_EDB;
    if (G.lease.epoch != epoch || G.lease.expires_us <= clock_real_us()) {
        s->lease_lost = true;
        snprintf(s->errmsg, sizeof s->errmsg,
                 "leader lease renewal failed: epoch %lld is no longer the leader's",
                 (long long)epoch);
        return ORCH_EDB;
    }
    G.lease.expires_us = clock_real_us() + lease_ms * 1000;
    G.lease.renewals++;
    return ORCH_OK;
}

/* ---- the recovery snapshot: the fake reads at replay time (nobody writes
 * meanwhile), on the coordinator's own store, so load failures injected
 * with store_fake_fail_loads hit the same reads in the same order ---- */

struct store_snapshot {
    store_t *s;
    store_snapshot_params_t p;
    int64_t last_waiting;
    store_row_fn fn;
    void *arg;
};

store_snapshot_t *store_snapshot_start(store_t *s, const store_snapshot_params_t *p)
{
    store_snapshot_t *sn = xcalloc(1, sizeof *sn);
    sn->s = s;
    sn->p = *p;
    return sn;
}

int store_snapshot_poll(store_snapshot_t *sn)
{
    (void)sn;
    return G.hold_snapshot ? ORCH_EAGAIN : ORCH_OK;
}

void store_fake_hold_snapshot(bool hold)
{
    G.hold_snapshot = hold;
}

const char *store_snapshot_errmsg(const store_snapshot_t *sn)
{
    return sn->s->errmsg;
}

void store_snapshot_destroy(store_snapshot_t **snp)
{
    if (!snp || !*snp)
        return;
    free(*snp);
    *snp = NULL;
}

int store_snapshot_ids(store_snapshot_t *sn, int64_t *max_id, int64_t *next_event_id)
{
    int rc = s_load_max_id(sn->s, max_id);
    return rc ? rc : s_load_next_event_id(sn->s, next_event_id);
}

int store_snapshot_counts(store_snapshot_t *sn,
                          void (*fn)(void *arg, const char *queue, const char *tenant, int state,
                                     int64_t n),
                          void *arg)
{
    return s_load_counts(sn->s, fn, arg);
}

int store_snapshot_paused(store_snapshot_t *sn, void (*fn)(void *arg, const char *queue),
                          void *arg)
{
    return s_load_paused(sn->s, fn, arg);
}

int store_snapshot_queue_settings(store_snapshot_t *sn,
                                  void (*fn)(void *arg, const store_queue_row_t *q), void *arg)
{
    return s_load_queue_settings(sn->s, fn, arg);
}

typedef struct {
    store_snapshot_t *sn;
    store_lane_fn fn;
    void *arg;
    int rc;
} s_lanes_t;

static void s_page(void *arg, store_op_t *op, const store_answer_t *ans)
{
    s_lanes_t *st = arg;
    st->fn(st->arg, op->in.refill.queue, op->in.refill.type, op->in.refill.tenant, ans->rows,
           ans->nrows);
}

/* Each lane's first page, read the way the real store does (a refill
 * from the start). */
static void s_lane_page(void *arg, const char *queue, const char *type, const char *tenant)
{
    s_lanes_t *st = arg;
    if (st->rc != ORCH_OK)
        return;
    store_op_t op = {.kind = STORE_OP_REFILL,
                     .in.refill = {queue, type, tenant, -1, 0, st->sn->p.lane_page}};
    st->rc = s_exec(st->sn->s, &op, s_page, st);
}

int store_snapshot_lanes(store_snapshot_t *sn, store_lane_fn fn, void *arg)
{
    s_lanes_t st = {sn, fn, arg, ORCH_OK};
    int rc = s_load_lanes(sn->s, s_lane_page, &st);
    return rc ? rc : st.rc;
}

int store_snapshot_live(store_snapshot_t *sn, store_row_fn fn, void *arg)
{
    return s_load_live(sn->s, sn->p.live_horizon_ms, fn, arg);
}

static void s_waiting_seen(void *arg, const store_job_row_t *row)
{
    store_snapshot_t *sn = arg;
    sn->last_waiting = row->id;
    sn->fn(sn->arg, row);
}

int store_snapshot_waiting(store_snapshot_t *sn, store_row_fn fn, void *arg)
{
    sn->fn = fn;
    sn->arg = arg;
    return s_load_waiting(sn->s, sn->p.waiting_limit, s_waiting_seen, sn);
}

int store_snapshot_deps(store_snapshot_t *sn,
                        void (*fn)(void *arg, int64_t job_id, int64_t dep_id, int dep_state),
                        void *arg)
{
    return s_load_deps(sn->s, sn->last_waiting, fn, arg);
}

void store_fake_lease_take(const char *holder, const char *advertise, int64_t lease_ms)
{
    snprintf(G.lease.holder, sizeof G.lease.holder, "%s", holder);
    snprintf(G.lease.advertise, sizeof G.lease.advertise, "%s", advertise);
    G.lease.epoch++;
    G.lease.expires_us = clock_real_us() + lease_ms * 1000;
}

void store_fake_lease_expire(void)
{
    G.lease.expires_us = clock_real_us() - 1;
}

int64_t store_fake_lease_epoch(void)
{
    return G.lease.epoch;
}

const char *store_fake_lease_holder(void)
{
    return G.lease.holder;
}

unsigned store_fake_lease_renewals(void)
{
    return G.lease.renewals;
}
