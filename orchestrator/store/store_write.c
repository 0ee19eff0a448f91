/* The batch write: one loop turn's job rows and audit events become the
 * STORE_SQL_WRITE* statements' array parameters. The only code that knows
 * their order (store_sql.h documents it). */
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
    s_str(&v[34], job_event_name(e->event));
    s_i64(&v[35], e->attempt);
    s_str(&v[36], e->worker);
    s_str(&v[37], e->detail);
    s_i64(&v[38], e->id);
    s_str(&v[39], e->state >= 0 ? job_state_name(e->state) : NULL);
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

/* The statement variant that fits the batch: a turn that only inserts
 * (submissions) or only updates (dispatches and results) runs a statement
 * without an empty half. */
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

int store_pipeline_add_write(store_t *s, batch_t *b)
{
    int rc = s_add_inbox_delete(s, b); /* and the compensation marks */
    if (rc != ORCH_OK || (!b->nwrites && !b->nevents))
        return rc;
    const char *params[STORE_WRITE_NPARAMS];
    size_t ins = 0;
    for (size_t i = 0; i < b->nwrites; i++)
        ins += b->writes[i].insert;
    size_t upd = b->nwrites - ins;
    store_write_params(b, s->bufs, params);
    const char *sub[STORE_WRITE_NPARAMS];
    if (ins && !upd) { /* jobs $1..$19, events after them */
        memcpy(sub, params, 19 * sizeof *sub);
        memcpy(sub + 19, params + 32, STORE_WRITE_NEVPARAMS * sizeof *sub);
        return store_send_prepared(s, STORE_STMT_WRITE_INS, 19 + STORE_WRITE_NEVPARAMS, sub, NULL);
    }
    if (upd && !ins) {
        memcpy(sub, params + 19, 13 * sizeof *sub);
        memcpy(sub + 13, params + 32, STORE_WRITE_NEVPARAMS * sizeof *sub);
        return store_send_prepared(s, STORE_STMT_WRITE_UPD, 13 + STORE_WRITE_NEVPARAMS, sub, NULL);
    }
    return store_send_prepared(s, STORE_STMT_WRITE, STORE_WRITE_NPARAMS, params, NULL);
}

int store_pipeline_add_event_ids(store_t *s, int64_t upto)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%lld", (long long)upto);
    const char *v[1] = {buf};
    return store_send_prepared(s, STORE_STMT_EVENT_IDS, 1, v, NULL);
}
