/* Compensation (store migration 015, docs/design.md "Compensation"): a job
 * may declare on_failure jobs. When a job ends dead or cancelled, the
 * compensations of the jobs it depended on (transitively) that had
 * succeeded run: per failed job, most recently finished first, each one
 * after the one before (a chain of dependencies), recorded in the audit
 * trail as submitted by "compensation of job N (job M ended STATE)".
 *
 * Like the WAKE of spilled waiting jobs (coord_deps.c), the failed jobs
 * are looked up only once their final state is committed. One round at a
 * time: a COMP_FIND reads the open compensations above them; the jobs it
 * makes and the marks that close those compensations are written by the
 * same batch (batch_comp), so a saga is undone once, and a crash in
 * between leaves them open; a recovery then finds the failed jobs below
 * open compensations again (COMP_FAILED). */
#include "coord_internal.h"
#include "log.h"
#include "xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void coord_comp_failed(coord_t *c, int64_t id)
{
    coord_idlist_add(&c->comp_new, id);
}

void coord_comp_flushed(coord_t *c)
{
    for (size_t i = 0; i < c->comp_new.n; i++)
        coord_idlist_add(&c->comp_sent, c->comp_new.ids[i]);
    c->comp_new.n = 0;
}

void coord_comp_committed(coord_t *c, const batch_t *b)
{
    for (size_t i = 0; i < c->comp_sent.n; i++)
        coord_idlist_add(&c->comp_ready, c->comp_sent.ids[i]);
    c->comp_sent.n = 0;
    if (b->ncomp) /* the round's jobs and marks are durable */
        c->comp_round = false;
}

void coord_comp_forget(coord_t *c)
{
    coord_idlist_free(&c->comp_new);
    coord_idlist_free(&c->comp_sent);
    coord_idlist_free(&c->comp_ready);
}

void coord_comp_reset(coord_t *c)
{
    c->comp_new.n = c->comp_sent.n = c->comp_ready.n = 0;
    c->comp_round = true; /* until COMP_FAILED answers */
    coord_queue_op(c, coord_op_new(STORE_OP_COMP_FAILED, NULL, NULL));
}

void coord_comp_tick(coord_t *c)
{
    if (c->mode != COORD_UP || c->comp_round || !c->comp_ready.n)
        return;
    op_t *op = coord_op_new(STORE_OP_COMP_FIND, NULL, NULL);
    int64_t *ids = op_own(op, xcalloc(c->comp_ready.n, sizeof *ids));
    memcpy(ids, c->comp_ready.ids, c->comp_ready.n * sizeof *ids);
    op->sop.in.comp_find.failed = ids;
    op->sop.in.comp_find.n = c->comp_ready.n;
    c->comp_ready.n = 0;
    c->comp_round = true;
    coord_queue_op(c, op);
}

void coord_comp_failed_result(coord_t *c, const store_answer_t *ans)
{
    c->comp_round = false;
    for (size_t i = 0; ans && i < ans->nids; i++)
        coord_idlist_add(&c->comp_ready, ans->ids[i]);
    if (ans && ans->nids)
        LOG_INFO("compensation: failed jobs with open compensations above them jobs=%zu",
                 ans->nids);
}

/* One compensated job's on_failure list, appended to specs (each entry
 * after the previous one, batch references). */
static size_t s_specs(const store_comp_row_t *r, proto_jobspec_t **specs, size_t n)
{
    json_t *list = json_loads(r->spec, 0, NULL);
    proto_then_t *t = NULL;
    size_t nt = 0;
    char err[300];
    if (!list || proto_then_parse(list, NULL, &t, &nt, err, sizeof err) != 0) {
        LOG_ERROR("compensation: stored on_failure of job %lld is malformed, skipped",
                  (long long)r->job_id);
        json_decref(list);
        return n;
    }
    *specs = xrealloc(*specs, (n + nt) * sizeof **specs);
    for (size_t k = 0; k < nt; k++, n++) {
        proto_jobspec_t *s = &(*specs)[n];
        *s = (proto_jobspec_t){.queue = xstrdup(t[k].queue ? t[k].queue : r->queue),
                               .type = xstrdup(t[k].type), .priority = t[k].priority,
                               .max_attempts = t[k].max_attempts,
                               .payload = xstrdup(t[k].payload ? t[k].payload : "{}"),
                               .tenant = r->tenant ? xstrdup(r->tenant) : NULL,
                               .delay_ms = -1};
        s->payload_len = strlen(s->payload);
        if (n > 0) { /* after the one before */
            s->depends_on = xmalloc(sizeof *s->depends_on);
            s->depends_on[0] = -(int64_t)n; /* the n-th job, 1-based: index n - 1 */
            s->ndepends = 1;
        }
    }
    proto_then_free(t, nt);
    json_decref(list);
    return n;
}

static int s_by_root_then_recent(const void *a, const void *b)
{
    const store_comp_row_t *x = a, *y = b;
    if (x->root != y->root)
        return x->root < y->root ? -1 : 1;
    return x->finished_us > y->finished_us ? -1 : x->finished_us < y->finished_us;
}

/* Rows [from, to) compensate for one failed job: one submission. */
static void s_run(coord_t *c, const store_comp_row_t *rows, size_t from, size_t to)
{
    proto_jobspec_t *specs = NULL;
    size_t n = 0;
    for (size_t i = from; i < to; i++) {
        n = s_specs(&rows[i], &specs, n);
        batch_comp(&c->cur, rows[i].job_id, rows[i].root);
    }
    char actor[160];
    snprintf(actor, sizeof actor, "compensation for job %lld (%s)", (long long)rows[from].root,
             rows[from].root_state[0] ? rows[from].root_state : "gone");
    LOG_INFO("compensation: running compensations=%zu jobs=%zu after_job=%lld", to - from, n,
             (long long)rows[from].root);
    c->compensations_run += to - from;
    if (n)
        coord_submit_quiet(c, specs, n, coord_intern(c, actor)); /* takes specs */
    else
        free(specs);
}

void coord_comp_result(coord_t *c, const store_answer_t *ans)
{
    if (!ans || !ans->ncomps) {
        c->comp_round = false;
        return;
    }
    store_comp_row_t *rows = xcalloc(ans->ncomps, sizeof *rows);
    memcpy(rows, ans->comps, ans->ncomps * sizeof *rows);
    qsort(rows, ans->ncomps, sizeof *rows, s_by_root_then_recent);
    size_t from = 0;
    for (size_t i = 1; i <= ans->ncomps; i++)
        if (i == ans->ncomps || rows[i].root != rows[from].root) {
            s_run(c, rows, from, i);
            from = i;
        }
    free(rows);
    /* comp_round ends when the batch holding the marks commits */
}
