/* The batch write: one loop turn's job rows and audit events become the
 * statements STORE_SQL_INS, STORE_SQL_UPD and STORE_SQL_EV (arrays) or their
 * single-row forms. The only code that knows their parameters' order
 * (store_sql.h documents it). */
#include "orch_error.h"
#include "store_int.h"
#include "readyq.h"
#include <string.h>

/* ---- where a row's values go ---- */

/* Each column either gets the row appended to its array (values NULL: the
 * batch's STORE_SQL_INS/UPD/EV) or becomes one plain text parameter
 * (values[col]: the single-row forms). Numbers are written into bufs[col];
 * a plain string parameter points at the row's own text.
 *
 * The arrays travel in PostgreSQL's binary format (array_recv): no quoting
 * or number formatting here, no array_in parsing in the backend. On a
 * statement of 4,000 audit rows that was 12-13% less time than the same
 * statement with array literals, and a drain's statements took a fifth
 * less time per job (docs/benchmarks.md, "Binary arrays"). The layout:
 * ndim (1), a has-nulls flag, the element type's OID, the length, the
 * lower bound (1), then each element as its byte length (-1: NULL) and
 * its bytes, integers in network byte order. */
typedef struct {
    strbuf_t *bufs;
    const char **values;
    const uint32_t *types; /* the arrays' element types */
} s_sink_t;

enum { S_INT8 = 20, S_INT4 = 23, S_TEXT = 25 }; /* pg_type OIDs */
/* where the updates' and the events' parameters start among the write's */
enum { S_UPD = STORE_WRITE_NINS, S_EV = STORE_WRITE_NINS + STORE_WRITE_NUPD };
enum { S_FLAGS_AT = 7, S_LEN_AT = 12 }; /* offsets in an array's header */

/* The element types of each array parameter, in store_sql.h's order: the
 * casts of STORE_SQL_INS, STORE_SQL_UPD and STORE_SQL_EV ("$1::bigint[]":
 * S_INT8, int: S_INT4, text: S_TEXT). test_batch checks them against the
 * SQL. */
static const uint32_t s_types[STORE_WRITE_NPARAMS] = {
    /* INS */ S_INT8, S_TEXT, S_TEXT, S_INT4, S_TEXT, S_INT4, S_INT4, S_INT4, S_INT8, S_TEXT,
    S_TEXT, S_TEXT, S_TEXT, S_INT4, S_TEXT, S_INT8, S_INT8, S_INT8, S_INT8, S_TEXT,
    /* UPD */ S_INT8, S_TEXT, S_INT4, S_INT4, S_INT4, S_TEXT, S_TEXT, S_TEXT, S_INT4, S_INT8,
    S_INT8, S_INT8, S_INT4,
    /* EV */ S_INT8, S_INT8, S_TEXT, S_INT4, S_TEXT, S_TEXT, S_INT8, S_TEXT};

static void s_be_at(char *at, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        at[i] = (char)(unsigned char)(v >> (8 * (bytes - 1 - i)));
}

static void s_be(strbuf_t *sb, uint64_t v, int bytes)
{
    char b[8];
    s_be_at(b, v, bytes);
    strbuf_append(sb, b, (size_t)bytes);
}

static void s_open(strbuf_t *bufs, int from, int to)
{
    for (int i = from; i < to; i++) {
        strbuf_reset(&bufs[i]);
        s_be(&bufs[i], 1, 4);         /* ndim */
        s_be(&bufs[i], 0, 4);         /* no NULL yet */
        s_be(&bufs[i], s_types[i], 4); /* element type */
        s_be(&bufs[i], 0, 4);         /* length: set by s_close */
        s_be(&bufs[i], 1, 4);         /* lower bound */
    }
}

static void s_close(strbuf_t *bufs, int from, int to, size_t n)
{
    for (int i = from; i < to; i++)
        s_be_at(bufs[i].data + S_LEN_AT, (uint32_t)n, 4);
}

static void s_null(strbuf_t *sb)
{
    sb->data[S_FLAGS_AT] = 1;
    s_be(sb, UINT32_MAX, 4); /* length -1 */
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
    if (!set) {
        s_null(sb);
        return;
    }
    int bytes = k->types[col] == S_INT4 ? 4 : 8;
    s_be(sb, (uint64_t)bytes, 4);
    s_be(sb, bytes == 4 ? (uint32_t)(int32_t)v : (uint64_t)v, bytes);
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
    if (!s) {
        s_null(&k->bufs[col]);
        return;
    }
    size_t n = strlen(s);
    s_be(&k->bufs[col], n, 4);
    strbuf_append(&k->bufs[col], s, n);
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

void store_write_params(batch_t *b, strbuf_t *bufs, const char **params, int *lengths)
{
    const s_sink_t ins = {bufs, NULL, s_types}, upd = {bufs + S_UPD, NULL, s_types + S_UPD},
                   ev = {bufs + S_EV, NULL, s_types + S_EV};
    s_open(bufs, 0, STORE_WRITE_NPARAMS);
    size_t nins = 0;
    for (size_t i = 0; i < b->nwrites; i++) {
        job_t *j = b->writes[i].job;
        if (b->writes[i].insert) {
            s_insert_row(&ins, j);
            nins++;
        } else {
            s_update_row(&upd, j);
        }
        j->dirty = false;
        j->in_pg = true;
    }
    for (size_t i = 0; i < b->nevents; i++)
        s_event_row(&ev, &b->events[i]);
    s_close(bufs, 0, S_UPD, nins);
    s_close(bufs, S_UPD, S_EV, b->nwrites - nins);
    s_close(bufs, S_EV, STORE_WRITE_NPARAMS, b->nevents);
    for (int i = 0; i < STORE_WRITE_NPARAMS; i++) {
        params[i] = bufs[i].data;
        lengths[i] = (int)bufs[i].len;
    }
}

int store_write_row(const job_t *j, bool insert, const batch_event_t *e, strbuf_t *bufs,
                    const char **v)
{
    const s_sink_t k = {bufs, v, NULL};
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
 * then the same with the lease check, used when epoch (the check's, as
 * text) is not NULL. */
static int s_send_part(store_t *s, size_t n, const char *const stmts[4], const char *epoch,
                       const job_t *job, bool insert, const batch_event_t *ev,
                       const char **arrays, const int *lengths, int nparams)
{
    if (n == 0)
        return ORCH_OK;
    const char *v[STORE_WRITE_NINS + 1];
    int len[STORE_WRITE_NINS + 1], fmt[STORE_WRITE_NINS + 1];
    int np = nparams;
    if (n > 1) {
        memcpy(v, arrays, (size_t)nparams * sizeof *v);
        memcpy(len, lengths, (size_t)nparams * sizeof *len);
        for (int i = 0; i < nparams; i++)
            fmt[i] = 1; /* binary */
    } else {
        np = store_write_row(job, insert, ev, s->row, v);
    }
    if (epoch) {
        v[np] = epoch;
        len[np] = 0;
        fmt[np] = 0; /* text */
        np++;
    }
    return store_send_prepared_fmt(s, stmts[(epoch ? 2 : 0) + (n > 1)], np, v,
                                   n > 1 ? len : NULL, n > 1 ? fmt : NULL, NULL);
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
    v[STORE_SUBMIT_1_NPARAMS - 1] = store_take_check(s, epoch); /* this statement is the check */
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
    int lengths[STORE_WRITE_NPARAMS];
    if (ins > 1 || upd > 1 || b->nevents > 1) {
        store_write_params(b, s->bufs, params, lengths);
    } else {
        for (size_t i = 0; i < b->nwrites; i++) {
            b->writes[i].job->dirty = false;
            b->writes[i].job->in_pg = true;
        }
    }
    /* Still held: nothing went before in this pipeline; the write's first
     * statement carries the check (STORE_SQL_EV_CHK says why the audit rows
     * go before the updates). */
    char eb[24];
    const char *epoch =
        s->check_held && (ins > 0 || b->nevents > 0) ? store_take_check(s, eb) : NULL;
    static const char *const s_ins[4] = {STORE_STMT_INS_1, STORE_STMT_INS, STORE_STMT_INS_1_CHK,
                                         STORE_STMT_INS_CHK};
    static const char *const s_ev[4] = {STORE_STMT_EV_1, STORE_STMT_EV, STORE_STMT_EV_1_CHK,
                                        STORE_STMT_EV_CHK};
    static const char *const s_upd[4] = {STORE_STMT_UPD_1, STORE_STMT_UPD, NULL, NULL};
    rc = s_send_part(s, ins, s_ins, epoch, one_ins, true, NULL, params, lengths,
                     STORE_WRITE_NINS);
    if (rc == ORCH_OK)
        rc = s_send_part(s, b->nevents, s_ev, ins == 0 ? epoch : NULL, NULL, false, b->events,
                         params + S_EV, lengths + S_EV, STORE_WRITE_NEVPARAMS);
    if (rc == ORCH_OK)
        rc = s_send_part(s, upd, s_upd, NULL, one_upd, false, NULL, params + S_UPD,
                         lengths + S_UPD, STORE_WRITE_NUPD);
    return rc;
}

int store_pipeline_add_event_ids(store_t *s, int64_t upto)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%lld", (long long)upto);
    const char *v[1] = {buf};
    return store_send_prepared(s, STORE_STMT_EVENT_IDS, 1, v, NULL);
}
