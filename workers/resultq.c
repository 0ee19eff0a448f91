#include "resultq.h"
#include "hmap.h"
#include "orch_error.h"
#include "proto_io.h"
#include "strbuf.h"
#include "xalloc.h"
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RESULTQ_UNSENT INT64_MIN
#define RESULTQ_NONE SIZE_MAX

typedef struct {
    proto_jobref_t ref;
    size_t off, len; /* the entry's JSON text in q->text */
    int64_t sent_at; /* RESULTQ_UNSENT, or the now_ms of the flush that last sent it */
    size_t older;    /* index of an older live entry of the same job, or RESULTQ_NONE */
    bool dead;       /* acknowledged, or sent without retention; gone at the next compaction */
} s_entry_t;

/* Entries stay in the order they were added. A forgotten entry is only
 * marked dead, so that indices stay valid during a flush and an ACK of
 * thousands of entries costs one pass; the array and the text are
 * compacted once the dead outweigh the live (each entry is moved a bounded
 * number of times on average). byid finds an entry from its ACK: the
 * newest live entry of a job id, whose older links lead to the others of
 * that id (another attempt, held until acknowledged too). */
struct resultq {
    const char *cmd;
    bool retain;
    strbuf_t text; /* entry texts back to back, in the order added */
    s_entry_t *e;
    size_t n, cap; /* entries, dead ones included */
    size_t live;
    size_t unsent; /* live entries never sent (or marked unsent again) */
    size_t dead_bytes;
    hmap_t *byid;  /* job id -> 1 + index of its newest live entry */
    size_t *pick;  /* scratch: the entries of one outgoing message */
    int64_t next_resend;
    int64_t next_resend_after; /* the resend interval next_resend was computed with */
    strbuf_t body; /* scratch: one outgoing message */
};

resultq_t *resultq_new(const char *cmd)
{
    resultq_t *q = xcalloc(1, sizeof *q);
    q->cmd = cmd;
    strbuf_init(&q->text);
    strbuf_init(&q->body);
    q->byid = hmap_new_i64();
    q->next_resend = INT64_MAX;
    return q;
}

void resultq_destroy(resultq_t **pq)
{
    resultq_t *q = pq ? *pq : NULL;
    if (!q)
        return;
    strbuf_fini(&q->text);
    strbuf_fini(&q->body);
    hmap_destroy(&q->byid);
    free(q->e);
    free(q->pick);
    free(q);
    *pq = NULL;
}

/* ---- the index by job id ---- */

static void *s_val(size_t i)
{
    return (void *)(uintptr_t)(i + 1); /* never NULL: NULL means absent */
}

static size_t s_newest(const resultq_t *q, int64_t id)
{
    void *v = hmap_i64_get(q->byid, id);
    return v ? (size_t)(uintptr_t)v - 1 : RESULTQ_NONE;
}

static void s_index(resultq_t *q, size_t i)
{
    q->e[i].older = s_newest(q, q->e[i].ref.id);
    hmap_i64_put(q->byid, q->e[i].ref.id, s_val(i));
}

/* Marks entry i dead and unlinks it from its job's chain. */
static void s_kill(resultq_t *q, size_t i)
{
    s_entry_t *e = &q->e[i];
    size_t cur = s_newest(q, e->ref.id), newer = RESULTQ_NONE;
    while (cur != i) {
        assert(cur != RESULTQ_NONE); /* every live entry is in its chain */
        newer = cur;
        cur = q->e[cur].older;
    }
    if (newer != RESULTQ_NONE)
        q->e[newer].older = e->older;
    else if (e->older != RESULTQ_NONE)
        hmap_i64_put(q->byid, e->ref.id, s_val(e->older));
    else
        hmap_i64_remove(q->byid, e->ref.id);
    if (e->sent_at == RESULTQ_UNSENT)
        q->unsent--;
    e->dead = true;
    q->live--;
    q->dead_bytes += e->len;
}

static void s_compact(resultq_t *q)
{
    size_t k = 0, pos = 0;
    hmap_clear(q->byid);
    for (size_t i = 0; i < q->n; i++) {
        s_entry_t e = q->e[i];
        if (e.dead)
            continue;
        memmove(q->text.data + pos, q->text.data + e.off, e.len); /* pos <= e.off */
        e.off = pos;
        pos += e.len;
        q->e[k] = e;
        s_index(q, k++);
    }
    q->text.len = pos;
    if (q->text.data)
        q->text.data[pos] = '\0';
    q->n = k;
    q->dead_bytes = 0;
}

static void s_maybe_compact(resultq_t *q)
{
    size_t dead = q->n - q->live;
    if (dead == 0)
        return;
    if (q->live == 0) {
        strbuf_reset(&q->text);
        hmap_clear(q->byid);
        q->n = 0;
        q->dead_bytes = 0;
        q->next_resend = INT64_MAX;
    } else if (dead >= q->live || q->dead_bytes >= q->text.len / 2) {
        s_compact(q);
    }
}

/* ---- adding ---- */

static void s_begin(resultq_t *q, int64_t id, int attempt)
{
    if (q->n == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 64;
        q->e = xrealloc(q->e, q->cap * sizeof *q->e);
        q->pick = xrealloc(q->pick, q->cap * sizeof *q->pick);
    }
    q->e[q->n] = (s_entry_t){.ref = {.id = id, .attempt = attempt},
                             .off = q->text.len,
                             .sent_at = RESULTQ_UNSENT};
}

/* The codec has appended the entry, after a separating comma when the
 * text was not empty: the entry starts past it. */
static void s_end(resultq_t *q)
{
    s_entry_t *e = &q->e[q->n];
    if (e->off < q->text.len && q->text.data[e->off] == ',')
        e->off++;
    e->len = q->text.len - e->off;
    s_index(q, q->n);
    q->n++;
    q->live++;
    q->unsent++;
}

void resultq_add_done(resultq_t *q, int64_t id, int attempt, const char *result, size_t len,
                      const proto_call_t *call)
{
    s_begin(q, id, attempt);
    proto_done_add_call(&q->text, id, attempt, result, len, call);
    s_end(q);
}

void resultq_add_fail(resultq_t *q, int64_t id, int attempt, const char *error, bool permanent,
                      bool cancelled, const proto_call_t *call)
{
    s_begin(q, id, attempt);
    proto_fail_add_call(&q->text, id, attempt, error, permanent, cancelled, call);
    s_end(q);
}

/* ---- retention and acknowledgements ---- */

void resultq_set_retain(resultq_t *q, bool on)
{
    q->retain = on;
    if (!on)
        q->next_resend = INT64_MAX;
}

bool resultq_retains(const resultq_t *q)
{
    return q->retain;
}

bool resultq_ack(resultq_t *q, int64_t id, int attempt)
{
    bool found = false;
    for (size_t i = s_newest(q, id); i != RESULTQ_NONE;) {
        size_t older = q->e[i].older;
        if (q->e[i].ref.attempt == attempt) {
            s_kill(q, i);
            found = true;
        }
        i = older;
    }
    if (found)
        s_maybe_compact(q);
    return found;
}

void resultq_unsend_all(resultq_t *q)
{
    for (size_t i = 0; i < q->n; i++)
        q->e[i].sent_at = RESULTQ_UNSENT;
    q->unsent = q->live;
    q->next_resend = INT64_MAX;
}

size_t resultq_count(const resultq_t *q)
{
    return q->live;
}

size_t resultq_unsent(const resultq_t *q)
{
    return q->unsent;
}

size_t resultq_refs(const resultq_t *q, proto_jobref_t *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < q->n && k < cap; i++) {
        if (!q->e[i].dead)
            out[k++] = q->e[i].ref;
    }
    return k;
}

int64_t resultq_next_resend(const resultq_t *q)
{
    return q->next_resend;
}

/* ---- sending ---- */

static bool s_due(const s_entry_t *e, int64_t now, int64_t resend_after)
{
    if (e->dead)
        return false;
    if (e->sent_at == RESULTQ_UNSENT)
        return true;
    return resend_after >= 0 && now - e->sent_at >= resend_after;
}

/* Picks the due entries of the next message, scanning from *from on (so
 * that an entry just sent is never picked again in the same flush). */
static size_t s_pick(resultq_t *q, size_t *from, size_t max_jobs, size_t max_bytes, int64_t now,
                     int64_t resend_after)
{
    size_t m = 0, bytes = PROTO_JOBS_OVERHEAD, i = *from;
    for (; i < q->n && m < max_jobs; i++) {
        const s_entry_t *e = &q->e[i];
        if (!s_due(e, now, resend_after))
            continue;
        size_t add = e->len + (m > 0); /* the comma */
        if (m > 0 && bytes + add > max_bytes)
            break; /* at least one entry per message */
        q->pick[m++] = i;
        bytes += add;
    }
    *from = i;
    return m;
}

static void s_body(resultq_t *q, size_t m)
{
    proto_jobs_open(&q->body);
    for (size_t k = 0; k < m; k++) {
        const s_entry_t *e = &q->e[q->pick[k]];
        if (k > 0)
            strbuf_putc(&q->body, ',');
        strbuf_append(&q->body, q->text.data + e->off, e->len);
    }
    proto_jobs_close(&q->body);
}

static int64_t s_next_resend(const resultq_t *q, int64_t resend_after)
{
    int64_t next = INT64_MAX;
    if (!q->retain || resend_after < 0)
        return next;
    for (size_t i = 0; i < q->n; i++) {
        const s_entry_t *e = &q->e[i];
        if (!e->dead && e->sent_at != RESULTQ_UNSENT && e->sent_at + resend_after < next)
            next = e->sent_at + resend_after;
    }
    return next;
}

int resultq_flush(resultq_t *q, void *sock, size_t max_jobs, size_t max_bytes, int64_t now_ms,
                  int64_t resend_after_ms)
{
    int sent = 0, rc = 0;
    size_t from = 0, m;
    if (!q->retain)
        resend_after_ms = -1; /* an entry still marked sent was sent while retaining */
    /* The worker flushes every loop turn: with results held for their ACK
     * and none new or due again, skip the scan of every held entry. */
    if (q->unsent == 0 && (resend_after_ms < 0 || (resend_after_ms == q->next_resend_after &&
                                                     now_ms < q->next_resend)))
        return 0;
    if (max_jobs == 0)
        max_jobs = 1;
    while ((m = s_pick(q, &from, max_jobs, max_bytes, now_ms, resend_after_ms)) > 0) {
        s_body(q, m);
        if (proto_send(sock, NULL, PROTO_WORKER_V1, q->cmd, q->body.data, q->body.len) != 0) {
            rc = ORCH_EIO;
            break;
        }
        sent++;
        for (size_t k = 0; k < m; k++) {
            if (q->retain) {
                if (q->e[q->pick[k]].sent_at == RESULTQ_UNSENT)
                    q->unsent--;
                q->e[q->pick[k]].sent_at = now_ms;
            }
            else
                s_kill(q, q->pick[k]);
        }
    }
    s_maybe_compact(q);
    q->next_resend = s_next_resend(q, resend_after_ms);
    q->next_resend_after = resend_after_ms;
    return rc < 0 ? rc : sent;
}
