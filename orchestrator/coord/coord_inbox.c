/* Transactional enqueue (store migration 012, docs/operations.md "Enqueue
 * from SQL"): an application calls orch.orch_enqueue() inside its own
 * transaction; the row lands in orch.inbox and a NOTIFY wakes us. The
 * leader reads the inbox a page at a time and submits each page like a
 * SUBMIT with nobody to answer (coord_submit_inbox: idempotency keys work
 * as for clients); the batch that creates the jobs deletes their rows in
 * the same transaction (batch_inbox), so each row becomes one job exactly:
 * a commit that fails keeps both, a recovery reads them again.
 *
 * One round at a time: a page is read, then no other read is sent until
 * every row of it was committed as deleted, so a row is never read twice
 * while its job is being created. */
#include "coord_internal.h"
#include "log.h"
#include "xalloc.h"
#include <stdio.h>
#include <string.h>

/* Rows per read. */
#define COORD_INBOX_PAGE 1000

void coord_inbox_wake(coord_t *c)
{
    c->inbox_wanted = true;
}

void coord_inbox_reset(coord_t *c)
{
    c->inbox_wanted = true; /* rows may have come while nobody listened */
    c->inbox_reading = false;
    c->inbox_open = 0;
}

void coord_inbox_tick(coord_t *c)
{
    if (c->mode != COORD_UP || c->stopping || !c->inbox_wanted || c->inbox_reading ||
        c->inbox_open)
        return;
    op_t *op = coord_op_new(STORE_OP_INBOX, NULL, NULL);
    op->sop.in.inbox.limit = COORD_INBOX_PAGE;
    coord_queue_op(c, op);
    c->inbox_wanted = false;
    c->inbox_reading = true;
}

static void s_spec(proto_jobspec_t *s, const store_inbox_row_t *r)
{
    *s = (proto_jobspec_t){
        .queue = xstrdup(r->queue), .type = xstrdup(r->type), .priority = r->priority,
        .max_attempts = r->max_attempts, .payload = xstrdup(r->payload),
        .payload_len = strlen(r->payload),
        .idempotency_key = r->idempotency_key ? xstrdup(r->idempotency_key) : NULL,
        .tenant = r->tenant ? xstrdup(r->tenant) : NULL,
        .run_at_us = r->run_at_us, .delay_ms = -1};
}

/* Rows [from, to) were written by one role: one submission. */
static void s_submit(coord_t *c, const store_inbox_row_t *rows, size_t from, size_t to)
{
    size_t n = to - from;
    proto_jobspec_t *specs = xcalloc(n, sizeof *specs);
    int64_t *ids = xcalloc(n, sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        s_spec(&specs[i], &rows[from + i]);
        ids[i] = rows[from + i].id;
    }
    char actor[160];
    snprintf(actor, sizeof actor, "sql:%s", rows[from].created_by);
    coord_submit_inbox(c, specs, n, ids, coord_intern(c, actor)); /* takes specs */
    free(ids);
}

void coord_inbox_result(coord_t *c, const store_answer_t *ans)
{
    c->inbox_reading = false;
    if (!ans) /* the pipeline failed: going down, recovery reads again */
        return;
    c->inbox_open += ans->ninbox;
    size_t from = 0;
    for (size_t i = 1; i <= ans->ninbox; i++)
        if (i == ans->ninbox || strcmp(ans->inbox[i].created_by, ans->inbox[from].created_by)) {
            s_submit(c, ans->inbox, from, i);
            from = i;
        }
    if (ans->ninbox >= COORD_INBOX_PAGE)
        c->inbox_wanted = true; /* more behind: next round */
    if (ans->ninbox)
        LOG_DEBUG("inbox read rows=%zu", ans->ninbox);
}

void coord_inbox_applied(coord_t *c, const int64_t *rows, size_t n)
{
    batch_inbox(&c->cur, rows, n);
}

void coord_inbox_deleted(coord_t *c)
{
    size_t n = c->inflight.ninbox;
    c->inbox_open = n < c->inbox_open ? c->inbox_open - n : 0;
    c->inbox_jobs += n;
}
