#include "batch.h"
#include "readyq.h"
#include "clock.h"
#include "xalloc.h"
#include <stdlib.h>
#include <string.h>

void batch_init(batch_t *b)
{
    memset(b, 0, sizeof *b);
}

void batch_reset(batch_t *b)
{
    for (size_t i = 0; i < b->nevents; i++)
        free(b->events[i].detail);
    for (size_t i = 0; i < b->nacks; i++) {
        free(b->acks[i].body);
        free(b->acks[i].req);
    }
    b->nwrites = b->nevents = b->nacks = b->nresults = b->npublished = b->ninbox = b->ncomp = 0;
    b->nplain_acks = 0;
    b->extra_statements = 0;
}

void batch_fini(batch_t *b)
{
    batch_reset(b);
    free(b->writes);
    free(b->events);
    free(b->acks);
    free(b->results);
    free(b->published);
    free(b->inbox);
    free(b->comp_jobs);
    free(b->comp_roots);
    memset(b, 0, sizeof *b);
}

bool batch_empty(const batch_t *b)
{
    return b->nwrites == 0 && b->nevents == 0 && b->nacks == 0 && b->nresults == 0 &&
           b->extra_statements == 0 && b->ninbox == 0 && b->ncomp == 0;
}

#define GROW(arr, n, cap)                                                                          \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            (cap) = (cap) ? (cap) * 2 : 256;                                                       \
            (arr) = xrealloc((arr), (cap) * sizeof *(arr));                                        \
        }                                                                                          \
    } while (0)

void batch_touch(batch_t *b, job_t *job)
{
    if (job->dirty)
        return;
    job->dirty = true;
    job->pins++;
    GROW(b->writes, b->nwrites, b->capwrites);
    b->writes[b->nwrites].job = job;
    b->writes[b->nwrites].insert = !job->in_pg;
    b->nwrites++;
}

void batch_event(batch_t *b, const job_t *job, int64_t job_id, job_event_t event, int attempt,
                 const char *worker, const char *detail)
{
    GROW(b->events, b->nevents, b->capevents);
    batch_event_t *e = &b->events[b->nevents++];
    e->id = 0; /* numbered when the batch is flushed (coord_flush) */
    e->job_id = job_id;
    e->at_us = clock_real_us();
    e->event = event;
    e->attempt = attempt;
    e->worker = worker;
    e->detail = detail ? xstrdup(detail) : NULL;
    e->queue = job && job->lane ? job->lane->queue->name : NULL;
    e->type = job && job->lane ? job->lane->type : NULL;
    e->tenant = job && job->lane ? job->lane->tenant->name : NULL;
    e->state = job ? job->state : -1;
    e->lane = job ? job->lane : NULL;
    e->dur_us = -1;
    e->permanent = false;
}

void batch_publish(batch_t *b, const batch_event_t *e)
{
    GROW(b->published, b->npublished, b->cappublished);
    batch_event_t *p = &b->published[b->npublished++];
    *p = *e;
    p->detail = NULL;
}

void batch_ack(batch_t *b, const proto_envelope_t *env, const char *req, char *body, size_t len)
{
    GROW(b->acks, b->nacks, b->capacks);
    batch_ack_t *a = &b->acks[b->nacks++];
    a->env = *env;
    a->body = body;
    a->len = len;
    a->req = req ? xstrdup(req) : NULL;
    a->at_us = clock_mono_us();
}

void batch_result(batch_t *b, const char *worker, int64_t id, int attempt)
{
    GROW(b->results, b->nresults, b->capresults);
    b->results[b->nresults++] = (batch_result_t){worker, {id, attempt}};
}

void batch_comp(batch_t *b, int64_t job_id, int64_t root)
{
    if (b->ncomp == b->capcomp) {
        b->capcomp = b->capcomp ? b->capcomp * 2 : 8;
        b->comp_jobs = xrealloc(b->comp_jobs, b->capcomp * sizeof *b->comp_jobs);
        b->comp_roots = xrealloc(b->comp_roots, b->capcomp * sizeof *b->comp_roots);
    }
    b->comp_jobs[b->ncomp] = job_id;
    b->comp_roots[b->ncomp++] = root;
}

void batch_inbox(batch_t *b, const int64_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        GROW(b->inbox, b->ninbox, b->capinbox);
        b->inbox[b->ninbox++] = rows[i];
    }
}

static int s_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void batch_move_new_jobs(batch_t *from, batch_t *to)
{
    int64_t *ids = xcalloc(from->nwrites + 1, sizeof *ids);
    size_t nids = 0, keep = 0;
    for (size_t i = 0; i < from->nwrites; i++) {
        if (from->writes[i].insert) {
            GROW(to->writes, to->nwrites, to->capwrites);
            to->writes[to->nwrites++] = from->writes[i];
            ids[nids++] = from->writes[i].job->id;
        } else {
            from->writes[keep++] = from->writes[i];
        }
    }
    from->nwrites = keep;
    qsort(ids, nids, sizeof *ids, s_cmp_i64);
    keep = 0;
    for (size_t i = 0; i < from->nevents; i++) {
        if (bsearch(&from->events[i].job_id, ids, nids, sizeof *ids, s_cmp_i64)) {
            GROW(to->events, to->nevents, to->capevents);
            to->events[to->nevents++] = from->events[i]; /* its detail moves with it */
        } else {
            from->events[keep++] = from->events[i];
        }
    }
    from->nevents = keep;
    free(ids);
    for (size_t i = 0; i < from->nacks; i++) {
        GROW(to->acks, to->nacks, to->capacks);
        to->acks[to->nacks++] = from->acks[i]; /* body and req move with it */
    }
    to->nplain_acks += from->nplain_acks;
    from->nacks = from->nplain_acks = 0;
}
