#include "batch.h"
#include "readyq.h"
#include "store_sql.h"
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
    for (size_t i = 0; i < b->nacks; i++)
        free(b->acks[i].body);
    b->nwrites = b->nevents = b->nacks = 0;
    b->extra_statements = 0;
}

void batch_fini(batch_t *b)
{
    batch_reset(b);
    free(b->writes);
    free(b->events);
    free(b->acks);
    memset(b, 0, sizeof *b);
}

bool batch_empty(const batch_t *b)
{
    return b->nwrites == 0 && b->nevents == 0 && b->nacks == 0 && b->extra_statements == 0;
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

void batch_event(batch_t *b, const job_t *job, int64_t job_id, const char *event, int attempt,
                 const char *worker, const char *detail)
{
    GROW(b->events, b->nevents, b->capevents);
    batch_event_t *e = &b->events[b->nevents++];
    e->job_id = job_id;
    e->at_us = clock_real_us();
    e->event = event;
    e->attempt = attempt;
    e->worker = worker;
    e->detail = detail ? xstrdup(detail) : NULL;
    e->queue = job && job->lane ? job->lane->queue->name : NULL;
    e->type = job && job->lane ? job->lane->type : NULL;
    e->state = job ? job->state : -1;
}

void batch_ack(batch_t *b, const proto_envelope_t *env, char *body, size_t len)
{
    GROW(b->acks, b->nacks, b->capacks);
    batch_ack_t *a = &b->acks[b->nacks++];
    a->env = *env;
    a->body = body;
    a->len = len;
    a->req_job_id = 0;
}

/* ---- array literal helpers ---- */

static void s_open(strbuf_t *bufs, int from, int to)
{
    for (int i = from; i < to; i++) {
        strbuf_reset(&bufs[i]);
        strbuf_putc(&bufs[i], '{');
    }
}

static void s_sep(strbuf_t *sb)
{
    if (sb->len > 1)
        strbuf_putc(sb, ',');
}

static void s_i64(strbuf_t *sb, int64_t v)
{
    s_sep(sb);
    strbuf_put_i64(sb, v);
}

/* 0 means unset for timestamps */
static void s_ts(strbuf_t *sb, int64_t v)
{
    s_sep(sb);
    if (v)
        strbuf_put_i64(sb, v);
    else
        strbuf_puts(sb, "NULL");
}

static void s_str(strbuf_t *sb, const char *s)
{
    s_sep(sb);
    strbuf_put_pg_array_elem(sb, s);
}

static void s_progress(strbuf_t *sb, int p)
{
    s_sep(sb);
    if (p >= 0)
        strbuf_put_i64(sb, p);
    else
        strbuf_puts(sb, "NULL");
}

static void s_insert_row(strbuf_t *v, const job_t *j)
{
    s_i64(&v[0], j->id);
    s_str(&v[1], j->lane->queue->name);
    s_str(&v[2], j->lane->type);
    s_i64(&v[3], j->priority);
    s_str(&v[4], job_state_name(j->state));
    s_i64(&v[5], j->attempt);
    s_i64(&v[6], j->attempt_base);
    s_i64(&v[7], j->max_attempts);
    s_i64(&v[8], j->timeout_ms);
    s_str(&v[9], j->payload);
    s_str(&v[10], j->result);
    s_str(&v[11], j->error);
    s_str(&v[12], j->worker_name);
    s_progress(&v[13], j->progress);
    s_str(&v[14], j->idempotency_key);
    s_ts(&v[15], j->run_at_us);
    s_ts(&v[16], j->created_us);
    s_ts(&v[17], j->started_us);
    s_ts(&v[18], j->finished_us);
}

static void s_update_row(strbuf_t *v, const job_t *j)
{
    s_i64(&v[19], j->id);
    s_str(&v[20], job_state_name(j->state));
    s_i64(&v[21], j->attempt);
    s_i64(&v[22], j->attempt_base);
    s_i64(&v[23], j->max_attempts);
    s_str(&v[24], j->result);
    s_str(&v[25], j->error);
    s_str(&v[26], j->worker_name);
    s_progress(&v[27], j->progress);
    s_ts(&v[28], j->run_at_us);
    s_ts(&v[29], j->started_us);
    s_ts(&v[30], j->finished_us);
    s_i64(&v[31], j->priority);
}

static void s_event_row(strbuf_t *v, const batch_event_t *e)
{
    s_i64(&v[32], e->job_id);
    s_i64(&v[33], e->at_us);
    s_str(&v[34], e->event);
    s_i64(&v[35], e->attempt);
    s_str(&v[36], e->worker);
    s_str(&v[37], e->detail);
}

void batch_build_write(batch_t *b, strbuf_t *bufs, const char **params)
{
    s_open(bufs, 0, STORE_WRITE_NPARAMS);
    for (size_t i = 0; i < b->nwrites; i++) {
        job_t *j = b->writes[i].job;
        if (b->writes[i].insert)
            s_insert_row(bufs, j);
        else
            s_update_row(bufs, j);
        j->dirty = false;
        j->in_pg = true;
    }
    for (size_t i = 0; i < b->nevents; i++)
        s_event_row(bufs, &b->events[i]);
    for (int i = 0; i < STORE_WRITE_NPARAMS; i++) {
        strbuf_putc(&bufs[i], '}');
        params[i] = bufs[i].data;
    }
}
