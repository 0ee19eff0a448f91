/* The batch write: one loop turn's job rows and audit events become the
 * statements STORE_SQL_INS, STORE_SQL_UPD and STORE_SQL_EV (arrays) or their
 * single-row forms. The only code that knows their parameters' order
 * (store_sql.h documents it). */
#include "orch_error.h"
#include "store_int.h"
#include "readyq.h"
#include <string.h>

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
    v += STORE_WRITE_NINS;
    s_i64(&v[0], j->id);
    s_str(&v[1], job_state_name(j->state));
    s_i64(&v[2], j->attempt);
    s_i64(&v[3], j->attempt_base);
    s_i64(&v[4], j->max_attempts);
    s_str(&v[5], j->result);
    s_str(&v[6], j->error);
    s_str(&v[7], j->worker_name);
    s_progress(&v[8], j->progress);
    s_ts(&v[9], j->run_at_us);
    s_ts(&v[10], j->started_us);
    s_ts(&v[11], j->finished_us);
    s_i64(&v[12], j->priority);
}

static void s_event_row(strbuf_t *v, const batch_event_t *e)
{
    v += STORE_WRITE_NINS + STORE_WRITE_NUPD;
    s_i64(&v[0], e->job_id);
    s_i64(&v[1], e->at_us);
    s_str(&v[2], job_event_name(e->event));
    s_i64(&v[3], e->attempt);
    s_str(&v[4], e->worker);
    s_str(&v[5], e->detail);
    s_i64(&v[6], e->id);
    s_str(&v[7], e->state >= 0 ? job_state_name(e->state) : NULL);
}

void store_write_params(batch_t *b, strbuf_t *bufs, const char **params)
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

/* ---- one row as plain parameters ---- */

static const char *s_num(strbuf_t *b, int64_t v)
{
    strbuf_reset(b);
    strbuf_put_i64(b, v);
    return b->data;
}

/* 0 means unset for timestamps; a negative progress is none */
static const char *s_num_or_null(strbuf_t *b, int64_t v, bool set)
{
    return set ? s_num(b, v) : NULL;
}

int store_write_row(const job_t *j, bool insert, const batch_event_t *e, strbuf_t *bufs,
                    const char **v)
{
    if (e) {
        v[0] = s_num(&bufs[0], e->job_id);
        v[1] = s_num(&bufs[1], e->at_us);
        v[2] = job_event_name(e->event);
        v[3] = s_num(&bufs[3], e->attempt);
        v[4] = e->worker;
        v[5] = e->detail;
        v[6] = s_num(&bufs[6], e->id);
        v[7] = e->state >= 0 ? job_state_name(e->state) : NULL;
        return STORE_WRITE_NEVPARAMS;
    }
    if (!insert) {
        v[0] = s_num(&bufs[0], j->id);
        v[1] = job_state_name(j->state);
        v[2] = s_num(&bufs[2], j->attempt);
        v[3] = s_num(&bufs[3], j->attempt_base);
        v[4] = s_num(&bufs[4], j->max_attempts);
        v[5] = j->result;
        v[6] = j->error;
        v[7] = j->worker_name;
        v[8] = s_num_or_null(&bufs[8], j->progress, j->progress >= 0);
        v[9] = s_num_or_null(&bufs[9], j->run_at_us, j->run_at_us != 0);
        v[10] = s_num_or_null(&bufs[10], j->started_us, j->started_us != 0);
        v[11] = s_num_or_null(&bufs[11], j->finished_us, j->finished_us != 0);
        v[12] = s_num(&bufs[12], j->priority);
        return STORE_WRITE_NUPD;
    }
    v[0] = s_num(&bufs[0], j->id);
    v[1] = j->lane->queue->name;
    v[2] = j->lane->type;
    v[3] = s_num(&bufs[3], j->priority);
    v[4] = job_state_name(j->state);
    v[5] = s_num(&bufs[5], j->attempt);
    v[6] = s_num(&bufs[6], j->attempt_base);
    v[7] = s_num(&bufs[7], j->max_attempts);
    v[8] = s_num(&bufs[8], j->timeout_ms);
    v[9] = j->payload;
    v[10] = j->result;
    v[11] = j->error;
    v[12] = j->worker_name;
    v[13] = s_num_or_null(&bufs[13], j->progress, j->progress >= 0);
    v[14] = j->idempotency_key;
    v[15] = s_num_or_null(&bufs[15], j->run_at_us, j->run_at_us != 0);
    v[16] = s_num_or_null(&bufs[16], j->created_us, j->created_us != 0);
    v[17] = s_num_or_null(&bufs[17], j->started_us, j->started_us != 0);
    v[18] = s_num_or_null(&bufs[18], j->finished_us, j->finished_us != 0);
    return STORE_WRITE_NINS;
}

static const char *s_i64_literal(strbuf_t *buf, const int64_t *v, size_t n)
{
    strbuf_reset(buf);
    store_put_i64_array(buf, v, n);
    return buf->data;
}

/* The inbox rows whose jobs the write creates, and the compensations it
 * runs, go in the same transaction. */
static int s_add_inbox_delete(store_t *s, const batch_t *b)
{
    int rc = ORCH_OK;
    if (b->ninbox) {
        const char *v[1] = {s_i64_literal(&s->bufs[0], b->inbox, b->ninbox)};
        rc = store_send_prepared(s, STORE_STMT_INBOX_DEL, 1, v, NULL);
    }
    if (rc == ORCH_OK && b->ncomp) {
        const char *v[2] = {s_i64_literal(&s->bufs[0], b->comp_jobs, b->ncomp),
                            s_i64_literal(&s->bufs[1], b->comp_roots, b->ncomp)};
        rc = store_send_prepared(s, STORE_STMT_COMP_MARK, 2, v, NULL);
    }
    return rc;
}

/* One of the three statements: a single row as plain parameters, several
 * as the arrays store_write_params laid out (arrays: NULL when no part of
 * the batch has several rows). */
static int s_send_part(store_t *s, size_t n, const char *stmt_1, const char *stmt,
                       const job_t *job, bool insert, const batch_event_t *ev,
                       const char **arrays, int nparams)
{
    if (n == 0)
        return ORCH_OK;
    if (n > 1)
        return store_send_prepared(s, stmt, nparams, arrays, NULL);
    const char *v[STORE_WRITE_NINS];
    int np = store_write_row(job, insert, ev, s->row, v);
    return store_send_prepared(s, stmt_1, np, v, NULL);
}

int store_pipeline_add_write(store_t *s, batch_t *b)
{
    int rc = s_add_inbox_delete(s, b); /* and the compensation marks */
    if (rc != ORCH_OK || (!b->nwrites && !b->nevents))
        return rc;
    size_t ins = 0;
    const job_t *one_ins = NULL, *one_upd = NULL;
    for (size_t i = 0; i < b->nwrites; i++) {
        if (b->writes[i].insert) {
            ins++;
            one_ins = b->writes[i].job;
        } else {
            one_upd = b->writes[i].job;
        }
    }
    size_t upd = b->nwrites - ins;
    const char *params[STORE_WRITE_NPARAMS];
    if (ins > 1 || upd > 1 || b->nevents > 1) {
        store_write_params(b, s->bufs, params);
    } else {
        for (size_t i = 0; i < b->nwrites; i++) {
            b->writes[i].job->dirty = false;
            b->writes[i].job->in_pg = true;
        }
    }
    rc = s_send_part(s, ins, STORE_STMT_INS_1, STORE_STMT_INS, one_ins, true, NULL, params,
                     STORE_WRITE_NINS);
    if (rc == ORCH_OK)
        rc = s_send_part(s, upd, STORE_STMT_UPD_1, STORE_STMT_UPD, one_upd, false, NULL,
                         params + STORE_WRITE_NINS, STORE_WRITE_NUPD);
    if (rc == ORCH_OK)
        rc = s_send_part(s, b->nevents, STORE_STMT_EV_1, STORE_STMT_EV, NULL, false, b->events,
                         params + STORE_WRITE_NINS + STORE_WRITE_NUPD, STORE_WRITE_NEVPARAMS);
    return rc;
}

int store_pipeline_add_event_ids(store_t *s, int64_t upto)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%lld", (long long)upto);
    const char *v[1] = {buf};
    return store_send_prepared(s, STORE_STMT_EVENT_IDS, 1, v, NULL);
}
