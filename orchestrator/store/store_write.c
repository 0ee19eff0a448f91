/* The batch write: one loop turn's job rows and audit events become the
 * statements STORE_SQL_INS, STORE_SQL_UPD and STORE_SQL_EV (arrays) or their
 * single-row forms. The only code that knows their parameters' order
 * (store_sql.h documents it). */
#include "orch_error.h"
#include "store_int.h"
#include "readyq.h"
#include <string.h>

/* ---- where a row's values go ---- */

/* Each column either gets the row appended to its array literal (values
 * NULL: the batch's STORE_SQL_INS/UPD/EV) or becomes one plain parameter
 * (values[col]: the single-row forms). Numbers are written into bufs[col];
 * a plain string parameter points at the row's own text. */
typedef struct {
    strbuf_t *bufs;
    const char **values;
} s_sink_t;

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

/* set false: SQL NULL (an unset timestamp, no progress) */
static void s_num(const s_sink_t *k, int col, int64_t v, bool set)
{
    strbuf_t *sb = &k->bufs[col];
    if (k->values) {
        strbuf_reset(sb);
        if (set)
            strbuf_put_i64(sb, v);
        k->values[col] = set ? sb->data : NULL;
        return;
    }
    s_sep(sb);
    if (set)
        strbuf_put_i64(sb, v);
    else
        strbuf_puts(sb, "NULL");
}

static void s_i64(const s_sink_t *k, int col, int64_t v)
{
    s_num(k, col, v, true);
}

static void s_str(const s_sink_t *k, int col, const char *s)
{
    if (k->values) {
        k->values[col] = s;
        return;
    }
    s_sep(&k->bufs[col]);
    strbuf_put_pg_array_elem(&k->bufs[col], s);
}

/* 0 means unset for timestamps */
static void s_ts(const s_sink_t *k, int col, int64_t v)
{
    s_num(k, col, v, v != 0);
}

static void s_progress(const s_sink_t *k, int col, int p)
{
    s_num(k, col, p, p >= 0);
}

static void s_insert_row(const s_sink_t *k, const job_t *j)
{
    s_i64(k, 0, j->id);
    s_str(k, 1, j->lane->queue->name);
    s_str(k, 2, j->lane->type);
    s_i64(k, 3, j->priority);
    s_str(k, 4, job_state_name(j->state));
    s_i64(k, 5, j->attempt);
    s_i64(k, 6, j->attempt_base);
    s_i64(k, 7, j->max_attempts);
    s_i64(k, 8, j->timeout_ms);
    s_str(k, 9, j->payload);
    s_str(k, 10, j->result);
    s_str(k, 11, j->error);
    s_str(k, 12, j->worker_name);
    s_progress(k, 13, j->progress);
    s_str(k, 14, j->idempotency_key);
    s_ts(k, 15, j->run_at_us);
    s_ts(k, 16, j->created_us);
    s_ts(k, 17, j->started_us);
    s_ts(k, 18, j->finished_us);
    s_str(k, 19, j->lane->tenant->name);
}

static void s_update_row(const s_sink_t *k, const job_t *j)
{
    s_i64(k, 0, j->id);
    s_str(k, 1, job_state_name(j->state));
    s_i64(k, 2, j->attempt);
    s_i64(k, 3, j->attempt_base);
    s_i64(k, 4, j->max_attempts);
    s_str(k, 5, j->result);
    s_str(k, 6, j->error);
    s_str(k, 7, j->worker_name);
    s_progress(k, 8, j->progress);
    s_ts(k, 9, j->run_at_us);
    s_ts(k, 10, j->started_us);
    s_ts(k, 11, j->finished_us);
    s_i64(k, 12, j->priority);
}

static void s_event_row(const s_sink_t *k, const batch_event_t *e)
{
    s_i64(k, 0, e->job_id);
    s_i64(k, 1, e->at_us);
    s_str(k, 2, job_event_name(e->event));
    s_i64(k, 3, e->attempt);
    s_str(k, 4, e->worker);
    s_str(k, 5, e->detail);
    s_i64(k, 6, e->id);
    s_str(k, 7, e->state >= 0 ? job_state_name(e->state) : NULL);
}

void store_write_params(batch_t *b, strbuf_t *bufs, const char **params)
{
    const s_sink_t ins = {bufs, NULL}, upd = {bufs + STORE_WRITE_NINS, NULL},
                   ev = {bufs + STORE_WRITE_NINS + STORE_WRITE_NUPD, NULL};
    s_open(bufs, 0, STORE_WRITE_NPARAMS);
    for (size_t i = 0; i < b->nwrites; i++) {
        job_t *j = b->writes[i].job;
        if (b->writes[i].insert)
            s_insert_row(&ins, j);
        else
            s_update_row(&upd, j);
        j->dirty = false;
        j->in_pg = true;
    }
    for (size_t i = 0; i < b->nevents; i++)
        s_event_row(&ev, &b->events[i]);
    for (int i = 0; i < STORE_WRITE_NPARAMS; i++) {
        strbuf_putc(&bufs[i], '}');
        params[i] = bufs[i].data;
    }
}

int store_write_row(const job_t *j, bool insert, const batch_event_t *e, strbuf_t *bufs,
                    const char **v)
{
    const s_sink_t k = {bufs, v};
    if (e) {
        s_event_row(&k, e);
        return STORE_WRITE_NEVPARAMS;
    }
    if (!insert) {
        s_update_row(&k, j);
        return STORE_WRITE_NUPD;
    }
    s_insert_row(&k, j);
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
 * the batch has several rows). stmts: the single-row and the array form,
 * then the same with the lease check, used when check. */
static int s_send_part(store_t *s, size_t n, const char *const stmts[4], bool check,
                       const job_t *job, bool insert, const batch_event_t *ev,
                       const char **arrays, int nparams)
{
    if (n == 0)
        return ORCH_OK;
    const char *v[STORE_WRITE_NINS + 1];
    int np = nparams;
    if (n > 1)
        memcpy(v, arrays, (size_t)nparams * sizeof *v);
    else
        np = store_write_row(job, insert, ev, s->row, v);
    char epoch[24];
    if (check) {
        snprintf(epoch, sizeof epoch, "%lld", (long long)s->check_epoch);
        v[np++] = epoch;
    }
    return store_send_prepared(s, stmts[(check ? 2 : 0) + (n > 1)], np, v, NULL);
}

/* A commit of one new job and its audit row, nothing else, with the lease
 * check held back: one statement carries all three (STORE_SQL_SUBMIT_1). */
static bool s_lone_submission(const store_t *s, const batch_t *b)
{
    return s->check_held && b->nwrites == 1 && b->writes[0].insert && b->nevents == 1 &&
           b->events[0].job_id == b->writes[0].job->id && !b->ninbox && !b->ncomp;
}

static int s_send_submission(store_t *s, batch_t *b)
{
    job_t *j = b->writes[0].job;
    const char *v[STORE_SUBMIT_1_NPARAMS];
    char epoch[24];
    store_write_row(j, true, NULL, s->row, v);
    store_write_row(NULL, false, &b->events[0], s->row + STORE_WRITE_NINS, v + STORE_WRITE_NINS);
    snprintf(epoch, sizeof epoch, "%lld", (long long)s->check_epoch);
    v[STORE_SUBMIT_1_NPARAMS - 1] = epoch;
    s->check_held = false; /* this statement is the check */
    j->dirty = false;
    j->in_pg = true;
    return store_send_prepared(s, STORE_STMT_SUBMIT_1, STORE_SUBMIT_1_NPARAMS, v, NULL);
}

int store_pipeline_add_write(store_t *s, batch_t *b)
{
    if (s_lone_submission(s, b))
        return s_send_submission(s, b);
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
    /* Still held: nothing went before in this pipeline; the write's first
     * statement carries the check (STORE_SQL_EV_CHK says why the audit rows
     * go before the updates). */
    bool check = s->check_held && (ins > 0 || b->nevents > 0);
    if (check)
        s->check_held = false;
    static const char *const s_ins[4] = {STORE_STMT_INS_1, STORE_STMT_INS, STORE_STMT_INS_1_CHK,
                                         STORE_STMT_INS_CHK};
    static const char *const s_ev[4] = {STORE_STMT_EV_1, STORE_STMT_EV, STORE_STMT_EV_1_CHK,
                                        STORE_STMT_EV_CHK};
    static const char *const s_upd[4] = {STORE_STMT_UPD_1, STORE_STMT_UPD, NULL, NULL};
    rc = s_send_part(s, ins, s_ins, check, one_ins, true, NULL, params, STORE_WRITE_NINS);
    if (rc == ORCH_OK)
        rc = s_send_part(s, b->nevents, s_ev, check && ins == 0, NULL, false, b->events,
                         params + STORE_WRITE_NINS + STORE_WRITE_NUPD, STORE_WRITE_NEVPARAMS);
    if (rc == ORCH_OK)
        rc = s_send_part(s, upd, s_upd, false, one_upd, false, NULL, params + STORE_WRITE_NINS,
                         STORE_WRITE_NUPD);
    return rc;
}

int store_pipeline_add_event_ids(store_t *s, int64_t upto)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%lld", (long long)upto);
    const char *v[1] = {buf};
    return store_send_prepared(s, STORE_STMT_EVENT_IDS, 1, v, NULL);
}
