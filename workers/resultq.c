#include "resultq.h"
#include "orch_error.h"
#include "proto_io.h"
#include "strbuf.h"
#include "xalloc.h"
#include <stdlib.h>
#include <string.h>

/* Bytes a message adds around its entries: {"jobs":[ and ]} */
#define RESULTQ_OVERHEAD 11

/* entries holds "e0,e1,e2" (each written by the codec) so any run of
 * consecutive entries is one substring; ends[i] is the offset just past
 * entry i. */
struct resultq {
    const char *cmd;
    strbuf_t entries;
    size_t *ends;
    proto_jobref_t *refs;
    size_t n, cap;
    strbuf_t body; /* scratch for one outgoing message */
};

resultq_t *resultq_new(const char *cmd)
{
    resultq_t *q = xcalloc(1, sizeof *q);
    q->cmd = cmd;
    strbuf_init(&q->entries);
    strbuf_init(&q->body);
    return q;
}

void resultq_destroy(resultq_t **pq)
{
    resultq_t *q = pq ? *pq : NULL;
    if (!q)
        return;
    strbuf_fini(&q->entries);
    strbuf_fini(&q->body);
    free(q->ends);
    free(q->refs);
    free(q);
    *pq = NULL;
}

size_t resultq_count(const resultq_t *q)
{
    return q->n;
}

const proto_jobref_t *resultq_refs(const resultq_t *q)
{
    return q->refs;
}

static void s_grow(resultq_t *q, int64_t id, int attempt)
{
    if (q->n == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 64;
        q->ends = xrealloc(q->ends, q->cap * sizeof *q->ends);
        q->refs = xrealloc(q->refs, q->cap * sizeof *q->refs);
    }
    q->refs[q->n] = (proto_jobref_t){.id = id, .attempt = attempt};
}

/* The codec appends the entry with its separating comma. */
static void s_end(resultq_t *q)
{
    q->ends[q->n++] = q->entries.len;
}

void resultq_add_done(resultq_t *q, int64_t id, int attempt, const char *result, size_t len)
{
    s_grow(q, id, attempt);
    proto_done_add(&q->entries, id, attempt, result, len);
    s_end(q);
}

void resultq_add_fail(resultq_t *q, int64_t id, int attempt, const char *error, bool permanent,
                      bool cancelled)
{
    s_grow(q, id, attempt);
    proto_fail_add(&q->entries, id, attempt, error, permanent, cancelled);
    s_end(q);
}

static size_t s_start(const resultq_t *q, size_t i)
{
    return i == 0 ? 0 : q->ends[i - 1] + 1; /* skip the separating comma */
}

/* Drops entries [0, k) after they were sent. */
static void s_consume(resultq_t *q, size_t k)
{
    if (k == q->n) {
        strbuf_reset(&q->entries);
        q->n = 0;
        return;
    }
    size_t off = s_start(q, k);
    memmove(q->entries.data, q->entries.data + off, q->entries.len - off);
    q->entries.len -= off;
    q->entries.data[q->entries.len] = '\0';
    for (size_t i = k; i < q->n; i++) {
        q->ends[i - k] = q->ends[i] - off;
        q->refs[i - k] = q->refs[i];
    }
    q->n -= k;
}

int resultq_flush(resultq_t *q, void *sock, size_t max_jobs, size_t max_bytes)
{
    int sent = 0;
    size_t i = 0;
    const size_t overhead = RESULTQ_OVERHEAD;
    while (i < q->n) {
        size_t j = i + 1; /* at least one entry per message */
        while (j < q->n && j - i < max_jobs &&
               q->ends[j] - s_start(q, i) + overhead <= max_bytes)
            j++;
        size_t from = s_start(q, i);
        proto_jobs_open(&q->body);
        strbuf_append(&q->body, q->entries.data + from, q->ends[j - 1] - from);
        proto_jobs_close(&q->body);
        if (proto_send(sock, NULL, PROTO_WORKER_V1, q->cmd, q->body.data, q->body.len) != 0) {
            s_consume(q, i);
            return ORCH_EIO;
        }
        sent++;
        i = j;
    }
    s_consume(q, q->n);
    return sent;
}
