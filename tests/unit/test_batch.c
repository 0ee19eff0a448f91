/* Unit tests of the group-commit batch (orchestrator/jobs/batch.c, orchestrator/store/store_write.c): write set
 * deduplication and pins, insert/update classification, events and acks
 * owning their copies, reset, store_write_row's plain parameters of one
 * row (STORE_SQL_INS_1, _UPD_1, _EV_1), and store_write_params' 41
 * arrays for STORE_SQL_INS, STORE_SQL_UPD and STORE_SQL_EV, in
 * PostgreSQL's binary array format: each is decoded here (header, element
 * type against the SQL's cast, lengths, the has-nulls flag) into the array
 * literal it stands for, which is checked exactly for a hand-made batch
 * (NULLs, quotes, backslashes, commas, braces and the word NULL, JSON
 * payloads), and read back with a reference array literal parser for
 * random batches.
 * Also job.c's helpers, whose state names the batch writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "batch.h"
#include "pg_array_ref.h"
#include "clock.h"
#include "job.h"
#include "readyq.h"
#include "store_int.h"
#include "strbuf.h"
#include "xalloc.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- fixture: a ready index for job->lane, 40 buffers ---- */

typedef struct {
    readyq_t *rq;
    lane_t *l1, *l2;
    strbuf_t bufs[STORE_WRITE_NPARAMS];
    const char *params[STORE_WRITE_NPARAMS];
    int lengths[STORE_WRITE_NPARAMS];
    char *lit[STORE_WRITE_NPARAMS]; /* params decoded into array literals (s_build) */
    batch_t b;
} fx_t;

static int s_setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    f->rq = readyq_new(16);
    f->l1 = readyq_lane(f->rq, "default", "echo", NULL, true);
    f->l2 = readyq_lane(f->rq, "q,1", "t\"x", NULL, true);
    for (int i = 0; i < STORE_WRITE_NPARAMS; i++)
        strbuf_init(&f->bufs[i]);
    batch_init(&f->b);
    *state = f;
    return 0;
}

/* Worker names are interned by the coordinator and borrowed by jobs and
 * events; the tests keep theirs here and free them at teardown. */
static char **s_pool;
static size_t s_npool, s_cappool;

static char *s_keep(char *str)
{
    if (s_npool == s_cappool) {
        s_cappool = s_cappool ? s_cappool * 2 : 64;
        s_pool = xrealloc(s_pool, s_cappool * sizeof *s_pool);
    }
    s_pool[s_npool++] = str;
    return str;
}

static int s_teardown(void **state)
{
    fx_t *f = *state;
    for (size_t i = 0; i < s_npool; i++)
        free(s_pool[i]);
    free(s_pool);
    s_pool = NULL;
    s_npool = s_cappool = 0;
    batch_fini(&f->b);
    for (int i = 0; i < STORE_WRITE_NPARAMS; i++) {
        strbuf_fini(&f->bufs[i]);
        free(f->lit[i]);
    }
    readyq_destroy(&f->rq);
    free(f);
    return 0;
}

static job_t *s_job(lane_t *lane, int64_t id, int state, bool in_pg)
{
    job_t *j = job_new(id);
    j->lane = lane;
    j->state = (uint8_t)state;
    j->in_pg = in_pg;
    return j;
}

/* Expected literals are written with ' for " and / for \ so they stay
 * readable; the strings under test contain neither ' nor /. */
static char *s_lit(const char *spec)
{
    char *s = xstrdup(spec);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
        else if (*p == '/')
            *p = '\\';
    return s;
}

/* ---- the binary arrays, decoded ---- */

enum { OID_INT8 = 20, OID_INT4 = 23, OID_TEXT = 25 };

/* The element type param $k (1-based) of sql casts to: "$k::bigint[]". */
static uint32_t s_sql_type(const char *sql, int k)
{
    char pat[16];
    snprintf(pat, sizeof pat, "$%d::", k);
    const char *p = strstr(sql, pat);
    if (!p)
        fail_msg("no %s in %s", pat, sql);
    p += strlen(pat);
    if (strncmp(p, "bigint[]", 8) == 0)
        return OID_INT8;
    if (strncmp(p, "int[]", 5) == 0)
        return OID_INT4;
    if (strncmp(p, "text[]", 6) == 0)
        return OID_TEXT;
    fail_msg("param %s: unexpected type %.12s", pat, p);
    return 0;
}

static uint32_t s_rd32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* What array_recv reads from data (len bytes), as the array literal it
 * stands for; fails the test on any deviation from the format. */
static char *s_decode(int param, const char *data, int len, uint32_t want_type)
{
    const unsigned char *p = (const unsigned char *)data;
    if (len < 20)
        fail_msg("param $%d: %d bytes, shorter than a header", param, len);
    assert_int_equal(s_rd32(p), 1);      /* ndim */
    uint32_t flags = s_rd32(p + 4);
    assert_true(flags <= 1);
    if (s_rd32(p + 8) != want_type)
        fail_msg("param $%d: element type %u, the SQL casts to %u", param, s_rd32(p + 8),
                 want_type);
    uint32_t n = s_rd32(p + 12);
    assert_int_equal(s_rd32(p + 16), 1); /* lower bound */
    strbuf_t sb;
    strbuf_init(&sb);
    strbuf_putc(&sb, '{');
    size_t off = 20;
    bool nulls = false;
    for (uint32_t i = 0; i < n; i++) {
        if (off + 4 > (size_t)len)
            fail_msg("param $%d: element %u past the end", param, i);
        int32_t el = (int32_t)s_rd32(p + off);
        off += 4;
        if (i)
            strbuf_putc(&sb, ',');
        if (el == -1) {
            strbuf_puts(&sb, "NULL");
            nulls = true;
            continue;
        }
        if (el < 0 || off + (size_t)el > (size_t)len)
            fail_msg("param $%d: element %u has length %d", param, i, el);
        if (want_type == OID_INT8) {
            assert_int_equal(el, 8);
            uint64_t v = (uint64_t)s_rd32(p + off) << 32 | s_rd32(p + off + 4);
            strbuf_put_i64(&sb, (int64_t)v);
        } else if (want_type == OID_INT4) {
            assert_int_equal(el, 4);
            strbuf_put_i64(&sb, (int32_t)s_rd32(p + off));
        } else {
            char *str = xmalloc((size_t)el + 1);
            memcpy(str, p + off, (size_t)el);
            str[el] = '\0';
            assert_int_equal(strlen(str), el); /* no NUL inside */
            strbuf_put_pg_array_elem(&sb, str);
            free(str);
        }
        off += (size_t)el;
    }
    if (off != (size_t)len)
        fail_msg("param $%d: %zu bytes read of %d", param, off, len);
    if (flags != (uint32_t)nulls)
        fail_msg("param $%d: has-nulls flag %u with%s a NULL", param, flags, nulls ? "" : "out");
    strbuf_putc(&sb, '}');
    return strbuf_detach(&sb);
}

/* store_write_params, then every array decoded into f->lit. */
static void s_build(fx_t *f)
{
    store_write_params(&f->b, f->bufs, f->params, f->lengths);
    for (int i = 0; i < STORE_WRITE_NPARAMS; i++) {
        const char *sql = i < STORE_WRITE_NINS ? STORE_SQL_INS
                          : i < STORE_WRITE_NINS + STORE_WRITE_NUPD ? STORE_SQL_UPD
                                                                    : STORE_SQL_EV;
        int k = i < STORE_WRITE_NINS ? i + 1
                : i < STORE_WRITE_NINS + STORE_WRITE_NUPD ? i - STORE_WRITE_NINS + 1
                                                          : i - STORE_WRITE_NINS - STORE_WRITE_NUPD + 1;
        free(f->lit[i]);
        f->lit[i] = s_decode(i + 1, f->params[i], f->lengths[i], s_sql_type(sql, k));
    }
}

static void s_expect_param(const fx_t *f, int i, const char *spec)
{
    char *want = s_lit(spec);
    if (strcmp(f->lit[i], want) != 0)
        fail_msg("param $%d:\n got  %s\n want %s", i + 1, f->lit[i], want);
    free(want);
}


/* ---- write set ---- */

static void test_init_empty(void **state)
{
    fx_t *f = *state;
    assert_true(batch_empty(&f->b));
    assert_int_equal(f->b.nwrites, 0);
    assert_int_equal(f->b.nevents, 0);
    assert_int_equal(f->b.nacks, 0);
    f->b.extra_statements = 1; /* a refill alone makes the batch worth sending */
    assert_false(batch_empty(&f->b));
    batch_reset(&f->b);
    assert_true(batch_empty(&f->b));
    assert_int_equal(f->b.extra_statements, 0);
}

static void test_touch_dedup_and_pins(void **state)
{
    fx_t *f = *state;
    job_t *a = s_job(f->l1, 1, JOB_QUEUED, false);
    job_t *b = s_job(f->l1, 2, JOB_RUNNING, true);
    batch_touch(&f->b, a);
    batch_touch(&f->b, a);
    batch_touch(&f->b, b);
    batch_touch(&f->b, a);
    batch_touch(&f->b, b);
    assert_int_equal(f->b.nwrites, 2);
    assert_false(batch_empty(&f->b));
    assert_ptr_equal(f->b.writes[0].job, a);
    assert_true(f->b.writes[0].insert); /* no committed row yet */
    assert_ptr_equal(f->b.writes[1].job, b);
    assert_false(f->b.writes[1].insert);
    assert_true(a->dirty);
    assert_true(b->dirty);
    assert_int_equal(a->pins, 1);
    assert_int_equal(b->pins, 1);

    /* building clears dirty and marks rows as existing; pins stay (released at commit) */
    s_build(f);
    assert_false(a->dirty);
    assert_false(b->dirty);
    assert_true(a->in_pg);
    assert_true(b->in_pg);
    assert_int_equal(a->pins, 1);
    assert_int_equal(b->pins, 1);

    /* the next batch (while this one is in flight) takes them again, as updates */
    batch_t next;
    batch_init(&next);
    batch_touch(&next, a);
    batch_touch(&next, a);
    assert_int_equal(next.nwrites, 1);
    assert_false(next.writes[0].insert);
    assert_int_equal(a->pins, 2);
    assert_true(a->dirty);
    batch_fini(&next);
    job_destroy(&a);
    job_destroy(&b);
}

static void test_touch_many(void **state)
{
    fx_t *f = *state;
    enum { N = 1000 };
    job_t *jobs[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = s_job(f->l1, i + 1, JOB_QUEUED, i % 3 == 0);
        batch_touch(&f->b, jobs[i]);
        batch_touch(&f->b, jobs[i / 2]); /* already in: no-op */
    }
    assert_int_equal(f->b.nwrites, N);
    for (int i = 0; i < N; i++) {
        assert_ptr_equal(f->b.writes[i].job, jobs[i]);
        assert_int_equal(f->b.writes[i].insert, i % 3 != 0);
        assert_int_equal(jobs[i]->pins, 1);
    }
    size_t cap = f->b.capwrites;
    batch_reset(&f->b);
    assert_true(batch_empty(&f->b));
    assert_int_equal(f->b.capwrites, cap); /* storage kept for the next turn */
    for (int i = 0; i < N; i++)
        job_destroy(&jobs[i]);
}

/* ---- events and acks ---- */

static void test_event_copies(void **state)
{
    fx_t *f = *state;
    job_t *j = s_job(f->l2, 9, JOB_RUNNING, true);
    static const char worker[] = "worker-1"; /* interned: borrowed, not copied */
    char detail[] = "{\"reason\":\"x\"}";
    int64_t before = clock_real_us();
    batch_event(&f->b, j, 9, JOB_EV_STARTED, 3, worker, detail);
    int64_t after = clock_real_us();
    /* the caller's detail buffer may change or go away */
    memset(detail, 'Z', sizeof detail - 1);
    assert_int_equal(f->b.nevents, 1);
    batch_event_t *e = &f->b.events[0];
    assert_int_equal(e->job_id, 9);
    assert_int_equal(e->event, JOB_EV_STARTED);
    assert_int_equal(e->attempt, 3);
    assert_ptr_equal(e->worker, worker);
    assert_string_equal(e->detail, "{\"reason\":\"x\"}");
    assert_ptr_equal(e->queue, f->l2->queue->name); /* borrowed from the lane */
    assert_ptr_equal(e->type, f->l2->type);
    assert_int_equal(e->state, JOB_RUNNING);
    assert_true(e->at_us >= before && e->at_us <= after);

    /* without a job (e.g. a job known only to PostgreSQL) */
    batch_event(&f->b, NULL, 77, JOB_EV_CANCELLED, 0, NULL, NULL);
    e = &f->b.events[1];
    assert_int_equal(e->job_id, 77);
    assert_null(e->worker);
    assert_null(e->detail);
    assert_null(e->queue);
    assert_null(e->type);
    assert_int_equal(e->state, -1);
    /* a job without a lane */
    job_t *orphan = job_new(78);
    batch_event(&f->b, orphan, 78, JOB_EV_QUEUED, 0, NULL, NULL);
    assert_null(f->b.events[2].queue);
    assert_int_equal(f->b.events[2].state, JOB_WAITING);
    assert_false(batch_empty(&f->b));
    /* events alone do not pin or dirty the job */
    assert_int_equal(j->pins, 0);
    assert_false(j->dirty);
    assert_int_equal(f->b.nwrites, 0);
    batch_reset(&f->b); /* frees the copies: LeakSanitizer checks */
    assert_int_equal(f->b.nevents, 0);
    assert_true(batch_empty(&f->b));
    job_destroy(&j);
    job_destroy(&orphan);
}

static void test_acks(void **state)
{
    fx_t *f = *state;
    proto_envelope_t env;
    memset(&env, 0, sizeof env);
    memcpy(env.id, "\x00\x01peer", 6);
    env.id_len = 6;
    env.delimiter = true;
    for (int i = 0; i < 300; i++) {
        char *body = xmalloc(32);
        int n = snprintf(body, 32, "{\"n\":%d}", i);
        env.id[6] = (unsigned char)i;
        batch_ack(&f->b, &env, NULL, body, (size_t)n);
    }
    /* the envelope was copied: later changes of the caller's copy do not leak in */
    memset(&env, 0xee, sizeof env);
    assert_int_equal(f->b.nacks, 300);
    assert_false(batch_empty(&f->b));
    for (int i = 0; i < 300; i++) {
        batch_ack_t *a = &f->b.acks[i];
        char want[32];
        int n = snprintf(want, sizeof want, "{\"n\":%d}", i);
        assert_int_equal(a->len, (size_t)n);
        assert_string_equal(a->body, want);
        assert_int_equal(a->env.id_len, 6);
        assert_memory_equal(a->env.id, "\x00\x01peer", 6);
        assert_int_equal(a->env.id[6], (unsigned char)i);
        assert_true(a->env.delimiter);
        assert_null(a->req);
    }
    batch_reset(&f->b); /* bodies freed: LeakSanitizer checks */
    assert_int_equal(f->b.nacks, 0);
    assert_true(batch_empty(&f->b));
}

/* ---- store_write_params ---- */

static void test_build_empty(void **state)
{
    fx_t *f = *state;
    strbuf_puts(&f->bufs[0], "stale content from a previous turn");
    s_build(f);
    for (int i = 0; i < STORE_WRITE_NPARAMS; i++) {
        assert_string_equal(f->lit[i], "{}");
        assert_ptr_equal(f->params[i], f->bufs[i].data);
    }
}

static void test_build_exact(void **state)
{
    fx_t *f = *state;
    /* a new queued job: unset timestamps, unknown progress, JSON payload
     * with escaped quotes and a backslash, an idempotency key with a comma,
     * braces and the word NULL */
    job_t *a = s_job(f->l1, 42, JOB_QUEUED, false);
    a->priority = 3;
    a->max_attempts = 5;
    a->timeout_ms = 30000;
    a->payload = xstrdup("{\"msg\":\"hi \\\"x\\\"\",\"p\":\"a\\\\b\"}");
    a->idempotency_key = xstrdup("k,{1} NULL");
    a->created_us = 1700000000000000;
    /* a finished job already in PostgreSQL */
    job_t *b = s_job(f->l1, 7, JOB_SUCCEEDED, true);
    b->priority = 9;
    b->attempt = 2;
    b->attempt_base = 1;
    b->max_attempts = 3;
    b->result = xstrdup("{\"v\":\"NULL\"}");
    b->worker_name = s_keep(xstrdup("w1"));
    b->progress = 100;
    b->run_at_us = 5;
    b->started_us = 6;
    b->finished_us = 7;
    /* a second new job, in a lane whose names need quoting; the error is
     * the string NULL, the worker name is full of special characters */
    job_t *c = s_job(f->l2, 43, JOB_SCHEDULED, false);
    c->attempt = 1;
    c->max_attempts = 1;
    c->payload = xstrdup("{}");
    c->error = xstrdup("NULL");
    c->worker_name = s_keep(xstrdup("w \"1\" \\ ,}{"));
    c->progress = 0;
    c->run_at_us = 1700000000000001;
    c->created_us = 1700000000000000;

    batch_touch(&f->b, a);
    batch_touch(&f->b, b);
    batch_touch(&f->b, c);
    batch_event(&f->b, a, 42, JOB_EV_SUBMITTED, 0, NULL, NULL);
    batch_event(&f->b, b, 7, JOB_EV_SUCCEEDED, 2, "w1", "{\"ms\":12,\"note\":\"a,b\"}");
    f->b.events[0].at_us = 1700000000000002; /* the clock is not under test */
    f->b.events[1].at_us = 1700000000000003;

    s_build(f);

    /* $1..$20: the inserts, in touch order (a, c) */
    s_expect_param(f, 0, "{42,43}");
    s_expect_param(f, 1, "{'default','q,1'}");
    s_expect_param(f, 2, "{'echo','t/'x'}");
    s_expect_param(f, 3, "{3,0}");
    s_expect_param(f, 4, "{'queued','scheduled'}");
    s_expect_param(f, 5, "{0,1}");
    s_expect_param(f, 6, "{0,0}");
    s_expect_param(f, 7, "{5,1}");
    s_expect_param(f, 8, "{30000,0}");
    s_expect_param(f, 9, "{'{/'msg/':/'hi ///'x///'/',/'p/':/'a////b/'}','{}'}");
    s_expect_param(f, 10, "{NULL,NULL}");
    s_expect_param(f, 11, "{NULL,'NULL'}");
    s_expect_param(f, 12, "{NULL,'w /'1/' // ,}{'}");
    s_expect_param(f, 13, "{NULL,0}");
    s_expect_param(f, 14, "{'k,{1} NULL',NULL}");
    s_expect_param(f, 15, "{NULL,1700000000000001}");
    s_expect_param(f, 16, "{1700000000000000,1700000000000000}");
    s_expect_param(f, 17, "{NULL,NULL}");
    s_expect_param(f, 18, "{NULL,NULL}");
    s_expect_param(f, 19, "{'default','default'}");
    /* $21..$33: the update (b) */
    s_expect_param(f, 20, "{7}");
    s_expect_param(f, 21, "{'succeeded'}");
    s_expect_param(f, 22, "{2}");
    s_expect_param(f, 23, "{1}");
    s_expect_param(f, 24, "{3}");
    s_expect_param(f, 25, "{'{/'v/':/'NULL/'}'}");
    s_expect_param(f, 26, "{NULL}");
    s_expect_param(f, 27, "{'w1'}");
    s_expect_param(f, 28, "{100}");
    s_expect_param(f, 29, "{5}");
    s_expect_param(f, 30, "{6}");
    s_expect_param(f, 31, "{7}");
    s_expect_param(f, 32, "{9}");
    /* $34..$41: the events */
    s_expect_param(f, 33, "{42,7}");
    s_expect_param(f, 34, "{1700000000000002,1700000000000003}");
    s_expect_param(f, 35, "{'submitted','succeeded'}");
    s_expect_param(f, 36, "{0,2}");
    s_expect_param(f, 37, "{NULL,'w1'}");
    s_expect_param(f, 38, "{NULL,'{/'ms/':12,/'note/':/'a,b/'}'}");
    /* $40, $41: the row ids (assigned at flush, 0 here) and the states */
    s_expect_param(f, 39, "{0,0}");
    for (int i = 0; i < STORE_WRITE_NPARAMS; i++)
        assert_ptr_equal(f->params[i], f->bufs[i].data);

    /* and the text reads back as the original strings */
    char *el[2];
    assert_int_equal(s_pg_parse(f->lit[9], el, 2), 2);
    assert_string_equal(el[0], a->payload);
    assert_string_equal(el[1], "{}");
    free(el[0]);
    free(el[1]);
    assert_int_equal(s_pg_parse(f->lit[12], el, 2), 2);
    assert_null(el[0]);
    assert_string_equal(el[1], c->worker_name);
    free(el[1]);
    assert_int_equal(s_pg_parse(f->lit[11], el, 2), 2);
    assert_null(el[0]);
    assert_string_equal(el[1], "NULL"); /* the string, not a null */
    free(el[1]);

    job_t *all[] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        assert_false(all[i]->dirty);
        assert_true(all[i]->in_pg);
        assert_int_equal(all[i]->pins, 1);
    }

    /* building again gives the same text: buffers are reset, not appended */
    char *first[STORE_WRITE_NPARAMS];
    for (int i = 0; i < STORE_WRITE_NPARAMS; i++)
        first[i] = xstrdup(f->lit[i]);
    s_build(f);
    for (int i = 0; i < STORE_WRITE_NPARAMS; i++) {
        assert_string_equal(f->lit[i], first[i]);
        free(first[i]);
    }
    job_destroy(&a);
    job_destroy(&b);
    job_destroy(&c);
}

/* ---- store_write_row: one row as plain parameters ---- */

static void test_row_insert(void **state)
{
    fx_t *f = *state;
    job_t *j = s_job(f->l2, 42, JOB_QUEUED, false);
    j->priority = 3;
    j->max_attempts = 5;
    j->timeout_ms = 60000;
    j->payload = xstrdup("{\"a\":\"x,y\"}");
    j->progress = -1;
    j->created_us = 1700000000000001;
    const char *v[STORE_WRITE_NINS];
    assert_int_equal(store_write_row(j, true, NULL, f->bufs, v), STORE_WRITE_NINS);
    assert_string_equal(v[0], "42");
    assert_string_equal(v[1], "q,1"); /* as is: a parameter needs no quoting */
    assert_string_equal(v[2], "t\"x");
    assert_string_equal(v[3], "3");
    assert_string_equal(v[4], "queued");
    assert_string_equal(v[7], "5");
    assert_string_equal(v[8], "60000");
    assert_string_equal(v[9], "{\"a\":\"x,y\"}");
    for (int i = 10; i <= 15; i++) /* result, error, worker, progress, key, run_at */
        assert_null(v[i]);
    assert_string_equal(v[16], "1700000000000001");
    assert_null(v[17]);
    assert_null(v[18]);
    job_destroy(&j);
}

static void test_row_update_and_event(void **state)
{
    fx_t *f = *state;
    job_t *j = s_job(f->l1, 7, JOB_RUNNING, true);
    j->attempt = 2;
    j->worker_name = s_keep(xstrdup("w-1"));
    j->progress = 40;
    j->started_us = 1700000000000002;
    j->priority = 9;
    const char *v[STORE_WRITE_NINS];
    assert_int_equal(store_write_row(j, false, NULL, f->bufs, v), STORE_WRITE_NUPD);
    assert_string_equal(v[0], "7");
    assert_string_equal(v[1], "running");
    assert_string_equal(v[2], "2");
    assert_null(v[5]); /* result */
    assert_null(v[6]); /* error */
    assert_string_equal(v[7], "w-1");
    assert_string_equal(v[8], "40");
    assert_null(v[9]); /* run_at */
    assert_string_equal(v[10], "1700000000000002");
    assert_null(v[11]);
    assert_string_equal(v[12], "9");
    batch_event_t ev = {.id = 99, .job_id = 7, .at_us = 5, .event = JOB_EV_STARTED,
                        .attempt = 2, .worker = "w-1", .state = -1};
    assert_int_equal(store_write_row(NULL, false, &ev, f->bufs, v), STORE_WRITE_NEVPARAMS);
    assert_string_equal(v[0], "7");
    assert_string_equal(v[1], "5");
    assert_string_equal(v[2], job_event_name(JOB_EV_STARTED));
    assert_string_equal(v[3], "2");
    assert_string_equal(v[4], "w-1");
    assert_null(v[5]);
    assert_string_equal(v[6], "99");
    assert_null(v[7]); /* no state after the event */
    job_destroy(&j);
}

static void test_build_updates_only(void **state)
{
    fx_t *f = *state;
    job_t *j = s_job(f->l1, -5, JOB_DEAD, true);
    j->error = xstrdup("boom, \"bad\" {x} \\n");
    j->progress = -1;
    batch_touch(&f->b, j);
    s_build(f);
    for (int i = 0; i < STORE_WRITE_NINS; i++)
        assert_string_equal(f->lit[i], "{}");
    for (int i = STORE_WRITE_NINS + STORE_WRITE_NUPD; i < STORE_WRITE_NPARAMS; i++)
        assert_string_equal(f->lit[i], "{}");
    s_expect_param(f, 20, "{-5}");
    s_expect_param(f, 21, "{'dead'}");
    s_expect_param(f, 26, "{'boom, /'bad/' {x} //n'}");
    s_expect_param(f, 28, "{NULL}");
    s_expect_param(f, 29, "{NULL}");
    job_destroy(&j);
}

/* ---- job.c: the state names the batch writes, owned string fields ---- */

static void test_job_helpers(void **state)
{
    (void)state;
    /* the names must match the CHECK constraint of jobs.state in 001_core.sql */
    static const char *const names[JOB_STATE_COUNT] = {
        "waiting", "scheduled", "queued", "running", "succeeded", "dead", "cancelled",
    };
    for (int s = 0; s < JOB_STATE_COUNT; s++) {
        assert_string_equal(job_state_name(s), names[s]);
        assert_int_equal(job_state_parse(names[s]), s);
        assert_int_equal(job_state_terminal(s),
                         s == JOB_SUCCEEDED || s == JOB_DEAD || s == JOB_CANCELLED);
    }
    assert_string_equal(job_state_name(-1), "unknown");
    assert_string_equal(job_state_name(JOB_STATE_COUNT), "unknown");
    assert_int_equal(job_state_parse("Queued"), -1);
    assert_int_equal(job_state_parse(""), -1);
    assert_int_equal(job_state_parse(NULL), -1);
    assert_int_equal(job_state_parse("unknown"), -1);

    job_t *j = job_new(5);
    assert_int_equal(j->id, 5);
    assert_int_equal(j->progress, -1); /* unknown, written as NULL */
    assert_int_equal(j->state, JOB_WAITING);
    assert_null(j->lane);
    assert_false(j->in_pg || j->dirty || j->in_lane);
    job_set_str(&j->error, xstrdup("first"));
    job_set_str(&j->error, xstrdup("second")); /* frees the first: LeakSanitizer checks */
    assert_string_equal(j->error, "second");
    job_set_str(&j->error, NULL);
    assert_null(j->error);
    j->payload = xstrdup("{}");
    j->result = xstrdup("1");
    j->worker_name = s_keep(xstrdup("w"));
    j->idempotency_key = xstrdup("k");
    j->attempt = 7;
    j->attempt_base = 4;
    assert_int_equal(job_attempts_used(j), 3);
    job_destroy(&j); /* frees every owned string */
    assert_null(j);
    job_destroy(&j);
    job_destroy(NULL);
}

/* ---- random batches read back ---- */

static uint64_t s_rng;
static uint64_t s_next(void)
{
    uint64_t z = (s_rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static char *s_rand_str(void)
{
    static const char alphabet[] = "\"\\,{}() \tNULLnul1x\n:'";
    uint64_t r = s_next();
    if (r % 5 == 0)
        return NULL;
    if (r % 5 == 1)
        return xstrdup((r >> 8) % 2 ? "NULL" : "");
    size_t len = (size_t)((r >> 8) % 12);
    char *s = xmalloc(len + 1);
    for (size_t i = 0; i < len; i++)
        s[i] = alphabet[s_next() % (sizeof alphabet - 1)];
    s[len] = '\0';
    return s;
}

static int64_t s_rand_ts(void)
{
    return s_next() % 3 == 0 ? 0 : (int64_t)(s_next() % 4000000000000000ULL) + 1;
}

/* Element e of param i must read as the string s (NULL = null). */
static void s_check_str(char **el, int i, int e, const char *s)
{
    bool ok = s ? el[e] && strcmp(el[e], s) == 0 : el[e] == NULL;
    if (!ok)
        fail_msg("param $%d element %d: got %s, want %s", i + 1, e, el[e] ? el[e] : "NULL",
                 s ? s : "NULL");
}

/* Element e must read as the integer v, or as null when is_null. */
static void s_check_int(char **el, int i, int e, int64_t v, bool is_null)
{
    if (is_null) {
        if (el[e])
            fail_msg("param $%d element %d: got %s, want NULL", i + 1, e, el[e]);
        return;
    }
    char want[32];
    snprintf(want, sizeof want, "%lld", (long long)v);
    s_check_str(el, i, e, want);
}

static void test_build_random_roundtrip(void **state)
{
    fx_t *f = *state;
    s_rng = 31337;
    enum { MAXJ = 40 };
    char **el = xmalloc(2 * MAXJ * sizeof *el);
    for (int iter = 0; iter < 300; iter++) {
        int nj = (int)(s_next() % MAXJ) + 1;
        job_t *jobs[MAXJ];
        int nins = 0, nupd = 0;
        for (int k = 0; k < nj; k++) {
            job_t *j = s_job(s_next() % 2 ? f->l1 : f->l2, (int64_t)(s_next() >> 1),
                             (int)(s_next() % JOB_STATE_COUNT), s_next() % 2);
            j->priority = (uint8_t)(s_next() % 10);
            j->attempt = (int)(s_next() % 10);
            j->attempt_base = (int)(s_next() % 3);
            j->max_attempts = (int)(s_next() % 10) + 1;
            j->timeout_ms = (int64_t)(s_next() % 100000);
            j->payload = s_rand_str();
            j->result = s_rand_str();
            j->error = s_rand_str();
            j->worker_name = s_keep(s_rand_str());
            j->idempotency_key = s_rand_str();
            j->progress = (int)(s_next() % 102) - 1;
            j->run_at_us = s_rand_ts();
            j->created_us = s_rand_ts();
            j->started_us = s_rand_ts();
            j->finished_us = s_rand_ts();
            jobs[k] = j;
            batch_touch(&f->b, j);
            if (j->in_pg)
                nupd++;
            else
                nins++;
            char *w = s_keep(s_rand_str()), *d = s_rand_str();
            batch_event(&f->b, j, j->id, JOB_EV_REATTACHED, j->attempt, w, d);
            free(d);
        }
        s_build(f);
        for (int i = 0; i < STORE_WRITE_NPARAMS; i++) {
            int want = i < STORE_WRITE_NINS ? nins : i < STORE_WRITE_NINS + STORE_WRITE_NUPD ? nupd : nj;
            int n = s_pg_parse(f->lit[i], el, 2 * MAXJ);
            if (n != want)
                fail_msg("iteration %d: param $%d has %d elements, want %d: %s", iter, i + 1, n,
                         want, f->lit[i]);
            int ins = 0, upd = 0;
            for (int k = 0; k < nj; k++) {
                const job_t *j = jobs[k];
                const batch_write_t *w = &f->b.writes[k];
                assert_ptr_equal(w->job, j);
                if (i >= STORE_WRITE_NINS + STORE_WRITE_NUPD) {
                    const batch_event_t *e = &f->b.events[k];
                    switch (i) {
                    case 33: s_check_int(el, i, k, e->job_id, false); break;
                    case 34: s_check_int(el, i, k, e->at_us, false); break;
                    case 35: s_check_str(el, i, k, "reattached"); break;
                    case 36: s_check_int(el, i, k, e->attempt, false); break;
                    case 37: s_check_str(el, i, k, e->worker); break;
                    case 38: s_check_str(el, i, k, e->detail); break;
                    case 39: s_check_int(el, i, k, e->id, false); break;
                    default:
                        s_check_str(el, i, k, e->state >= 0 ? job_state_name(e->state) : NULL);
                        break;
                    }
                } else if (w->insert && i < STORE_WRITE_NINS) {
                    int e = ins;
                    switch (i) {
                    case 0: s_check_int(el, i, e, j->id, false); break;
                    case 1: s_check_str(el, i, e, j->lane->queue->name); break;
                    case 2: s_check_str(el, i, e, j->lane->type); break;
                    case 3: s_check_int(el, i, e, j->priority, false); break;
                    case 4: s_check_str(el, i, e, job_state_name(j->state)); break;
                    case 5: s_check_int(el, i, e, j->attempt, false); break;
                    case 6: s_check_int(el, i, e, j->attempt_base, false); break;
                    case 7: s_check_int(el, i, e, j->max_attempts, false); break;
                    case 8: s_check_int(el, i, e, j->timeout_ms, false); break;
                    case 9: s_check_str(el, i, e, j->payload); break;
                    case 10: s_check_str(el, i, e, j->result); break;
                    case 11: s_check_str(el, i, e, j->error); break;
                    case 12: s_check_str(el, i, e, j->worker_name); break;
                    case 13: s_check_int(el, i, e, j->progress, j->progress < 0); break;
                    case 14: s_check_str(el, i, e, j->idempotency_key); break;
                    case 15: s_check_int(el, i, e, j->run_at_us, j->run_at_us == 0); break;
                    case 16: s_check_int(el, i, e, j->created_us, j->created_us == 0); break;
                    case 17: s_check_int(el, i, e, j->started_us, j->started_us == 0); break;
                    case 18: s_check_int(el, i, e, j->finished_us, j->finished_us == 0); break;
                    default: s_check_str(el, i, e, j->lane->tenant->name); break;
                    }
                } else if (!w->insert && i >= STORE_WRITE_NINS) {
                    int e = upd;
                    switch (i) {
                    case 20: s_check_int(el, i, e, j->id, false); break;
                    case 21: s_check_str(el, i, e, job_state_name(j->state)); break;
                    case 22: s_check_int(el, i, e, j->attempt, false); break;
                    case 23: s_check_int(el, i, e, j->attempt_base, false); break;
                    case 24: s_check_int(el, i, e, j->max_attempts, false); break;
                    case 25: s_check_str(el, i, e, j->result); break;
                    case 26: s_check_str(el, i, e, j->error); break;
                    case 27: s_check_str(el, i, e, j->worker_name); break;
                    case 28: s_check_int(el, i, e, j->progress, j->progress < 0); break;
                    case 29: s_check_int(el, i, e, j->run_at_us, j->run_at_us == 0); break;
                    case 30: s_check_int(el, i, e, j->started_us, j->started_us == 0); break;
                    case 31: s_check_int(el, i, e, j->finished_us, j->finished_us == 0); break;
                    default: s_check_int(el, i, e, j->priority, false); break;
                    }
                }
                if (w->insert)
                    ins++;
                else
                    upd++;
            }
            for (int k = 0; k < n; k++)
                free(el[k]);
        }
        for (int k = 0; k < nj; k++) {
            assert_false(jobs[k]->dirty);
            assert_true(jobs[k]->in_pg);
            job_destroy(&jobs[k]);
        }
        batch_reset(&f->b);
    }
    free(el);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_init_empty, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_touch_dedup_and_pins, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_touch_many, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_event_copies, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_acks, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_build_empty, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_build_exact, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_build_updates_only, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_row_insert, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_row_update_and_event, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_build_random_roundtrip, s_setup, s_teardown),
        cmocka_unit_test(test_job_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
