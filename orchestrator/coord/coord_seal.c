/* Audit sealing (store migration 013, store_audit.c; docs/operations.md
 * "Audit chain"): every audit row is hashed into a chain,
 * hash_i = SHA-256(hash_(i-1) || content_i) in id order.
 *
 * The leader hashes the rows it commits itself, as they commit: it knows
 * every column of the rows its batch writes (the epoch is its fence's),
 * and the statements that write rows of their own (an operator's cancel or
 * retry of a job not in memory, a schedule firing) answer those rows'
 * columns as PostgreSQL stored them. Every audit.seal_interval it hands
 * the hashes of the rows since the last block to the query thread, which
 * writes them as one audit_seals block, only if the stored chain ends
 * where the block starts. Reading the rows back costs PostgreSQL a read
 * per row and could not keep up with a drain.
 *
 * Rows nobody hashed as they committed (another coordinator's, before
 * this one led; or all of them after a block failed) are read back by the
 * query thread in rounds (READBACK). When a round finds nothing more to
 * read, the next commit hands over: the query thread seals every row
 * below the next event id and answers the head; the rows committed
 * meanwhile wait, serialized, and are hashed onto that head (HANDOFF);
 * from then on the loop hashes (MEMORY). Anything unexpected goes back to
 * READBACK, which starts again from the stored chain. */
#include "clock.h"
#include "coord_internal.h"
#include "log.h"
#include "orch_error.h"
#include "query.h"
#include "audit_hash.h"
#include "store_audit.h"
#include "xalloc.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COORD_SEAL_BUDGET_MS 50   /* one read-back round at most */
#define COORD_SEAL_BLOCK 20000    /* rows per block: sent early beyond this */
#define COORD_SEAL_PENDING 500000 /* rows a hand-over may wait with; beyond: read back */

static const char *const s_modes[] = {"off", "read-back", "hand-over", "in-memory"};

static void s_mode(coord_t *c, int mode, const char *why)
{
    if (c->seal.mode != mode)
        LOG_INFO("audit sealing mode=%s reason=\"%s\"", s_modes[mode], why);
    c->seal.mode = mode;
}

static void s_block_reset(coord_seal_t *s)
{
    strbuf_reset(&s->block_ids);
    strbuf_reset(&s->block_hex);
    s->block_rows = 0;
    s->block_first = s->block_last = 0;
}

void coord_seal_init(coord_t *c)
{
    strbuf_init(&c->seal.block_ids);
    strbuf_init(&c->seal.block_hex);
    strbuf_init(&c->seal.pending);
}

void coord_seal_reset(coord_t *c)
{
    coord_seal_t *s = &c->seal;
    s_block_reset(s);
    strbuf_reset(&s->pending);
    s->npending = 0;
    s->handoff_wanted = false;
    s_mode(c, c->cfg->audit_seal_interval_ms ? COORD_SEAL_READBACK : COORD_SEAL_OFF,
           "recovery: reading the rows not sealed yet");
}

void coord_seal_fini(coord_t *c)
{
    strbuf_fini(&c->seal.block_ids);
    strbuf_fini(&c->seal.block_hex);
    strbuf_fini(&c->seal.pending);
}

/* ---- the rows of a commit ---- */

/* One row's columns as PostgreSQL prints them (AUDIT_NFIELDS). */
typedef struct {
    char num[5][24]; /* id, job_id, at, attempt, epoch */
    const char *f[AUDIT_NFIELDS];
} s_row_t;

static void s_from_event(s_row_t *r, const batch_event_t *e, int64_t epoch)
{
    snprintf(r->num[0], sizeof r->num[0], "%lld", (long long)e->id);
    snprintf(r->num[1], sizeof r->num[1], "%lld", (long long)e->job_id);
    snprintf(r->num[2], sizeof r->num[2], "%lld", (long long)e->at_us);
    snprintf(r->num[3], sizeof r->num[3], "%d", e->attempt);
    snprintf(r->num[4], sizeof r->num[4], "%lld", (long long)epoch);
    r->f[0] = r->num[0];
    r->f[1] = r->num[1];
    r->f[2] = r->num[2];
    r->f[3] = job_event_name(e->event);
    r->f[4] = r->num[3];
    r->f[5] = e->worker;
    r->f[6] = e->state >= 0 ? job_state_name(e->state) : NULL;
    r->f[7] = e->detail;
    r->f[8] = r->num[4];
}

/* A row a statement answered: [id, job_id, at_us, event, attempt, worker,
 * state, detail, epoch], JSON null for NULL. False when malformed. */
static bool s_from_json(s_row_t *r, const json_t *a)
{
    if (!json_is_array(a) || json_array_size(a) != AUDIT_NFIELDS)
        return false;
    int k = 0;
    for (size_t i = 0; i < AUDIT_NFIELDS; i++) {
        const json_t *v = json_array_get(a, i);
        if (json_is_null(v)) {
            r->f[i] = NULL;
        } else if (json_is_integer(v) && k < 5) {
            snprintf(r->num[k], sizeof r->num[k], "%lld", (long long)json_integer_value(v));
            r->f[i] = r->num[k++];
        } else if (json_is_string(v)) {
            r->f[i] = json_string_value(v);
        } else {
            return false;
        }
    }
    return r->f[0] != NULL;
}

static void s_put_row(strbuf_t *sb, const s_row_t *r)
{
    for (int i = 0; i < AUDIT_NFIELDS; i++) {
        strbuf_putc(sb, r->f[i] ? 1 : 0);
        if (r->f[i])
            strbuf_append(sb, r->f[i], strlen(r->f[i]) + 1); /* with its NUL */
    }
}

static size_t s_get_row(const char *p, s_row_t *r)
{
    const char *start = p;
    for (int i = 0; i < AUDIT_NFIELDS; i++) {
        bool set = *p++ != 0;
        r->f[i] = set ? p : NULL;
        if (set)
            p += strlen(p) + 1;
    }
    return (size_t)(p - start);
}

static void s_chain(coord_seal_t *s, const s_row_t *r)
{
    audit_hash(s->head, r->f, s->head);
    int64_t id = atoll(r->f[0]);
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, s->head, 32);
    strbuf_append(&s->block_ids, s->block_rows ? "," : "{", 1);
    strbuf_puts(&s->block_ids, r->f[0]);
    strbuf_append(&s->block_hex, hex, 64);
    if (!s->block_rows++)
        s->block_first = id;
    s->block_last = s->head_id = id;
}

static void s_take(coord_t *c, const s_row_t *r)
{
    if (c->seal.mode == COORD_SEAL_MEMORY) {
        s_chain(&c->seal, r);
    } else if (c->seal.mode == COORD_SEAL_HANDOFF) {
        s_put_row(&c->seal.pending, r);
        c->seal.npending++;
    }
}

static void s_handoff(coord_t *c);

void coord_seal_committed(coord_t *c, const batch_t *b, const op_t *ops)
{
    coord_seal_t *s = &c->seal;
    if (s->mode == COORD_SEAL_MEMORY || s->mode == COORD_SEAL_HANDOFF) {
        s_row_t r;
        /* ids in commit order: the batch's events, then each statement's */
        for (size_t i = 0; i < b->nevents; i++) {
            s_from_event(&r, &b->events[i], c->lease.epoch);
            s_take(c, &r);
        }
        for (const op_t *op = ops; op; op = op->next) {
            if (!op->audit_rows)
                continue;
            json_t *rows = json_loads(op->audit_rows, 0, NULL);
            size_t i;
            json_t *a;
            json_array_foreach (rows, i, a) {
                if (s_from_json(&r, a)) {
                    s_take(c, &r);
                } else {
                    LOG_WARN("audit sealing: an answered row is malformed, reading back");
                    s_block_reset(s);
                    s_mode(c, COORD_SEAL_READBACK, "malformed answered row");
                    break;
                }
            }
            json_decref(rows);
        }
        if (s->npending > COORD_SEAL_PENDING) {
            strbuf_reset(&s->pending);
            s->npending = 0;
            s_mode(c, COORD_SEAL_READBACK, "the hand-over waited too long");
        }
    }
    if (s->mode == COORD_SEAL_READBACK && s->handoff_wanted && !s->round_inflight)
        s_handoff(c);
}

/* ---- the query thread's side ---- */

static bool s_send(coord_t *c, int cmd, json_t *body)
{
    proto_envelope_t env = {.route = cmd == QUERY_CMD_SEAL_WRITE ? COORD_ROUTE_SEAL_WRITE
                                                                 : COORD_ROUTE_SEAL};
    bool ok = query_forward(c->qpipe, &env, cmd, body) == ORCH_OK;
    json_decref(body);
    return ok;
}

/* Right after a commit (no pipeline in flight): every row below the next
 * event id is committed, or never will be. */
static void s_handoff(coord_t *c)
{
    coord_seal_t *s = &c->seal;
    s->handoff_wanted = false;
    if (!s_send(c, QUERY_CMD_SEAL, json_pack("{s:I}", "upto", (json_int_t)c->next_event_id)))
        return;
    s->round_inflight = true;
    strbuf_reset(&s->pending);
    s->npending = 0;
    s_mode(c, COORD_SEAL_HANDOFF, "caught up: sealing the rest below the next event id");
}

static void s_send_block(coord_t *c)
{
    coord_seal_t *s = &c->seal;
    strbuf_puts(&s->block_ids, s->block_rows ? "}" : "{}");
    json_t *body = json_pack("{s:I, s:I, s:I, s:s, s:s}", "prev_last", (json_int_t)s->block_prev,
                             "first", (json_int_t)s->block_first, "last",
                             (json_int_t)s->block_last, "ids", s->block_ids.data, "hashes",
                             s->block_hex.data);
    if (s_send(c, QUERY_CMD_SEAL_WRITE, body)) {
        s->write_inflight = true;
        if (s->block_rows)
            s->block_prev = s->block_last;
    } else {
        s_mode(c, COORD_SEAL_READBACK, "could not reach the query thread");
    }
    s_block_reset(s);
}

void coord_seal_tick(coord_t *c, int64_t now_ms)
{
    coord_seal_t *s = &c->seal;
    if (s->mode == COORD_SEAL_OFF || c->mode != COORD_UP)
        return;
    /* an idle interval sends an empty block: the check that the stored
     * chain still ends where the loop's does (blocks removed by hand are
     * then sealed again from the rows) */
    if (s->mode == COORD_SEAL_MEMORY && !s->write_inflight &&
        (now_ms >= s->next_ms || s->block_rows >= COORD_SEAL_BLOCK)) {
        s_send_block(c);
        s->next_ms = now_ms + c->cfg->audit_seal_interval_ms;
        return;
    }
    if (s->mode != COORD_SEAL_READBACK || s->round_inflight || s->write_inflight ||
        now_ms < s->next_ms)
        return;
    /* A round takes a twentieth of the interval at most (and
     * COORD_SEAL_BUDGET_MS): reading back never takes over the query
     * thread (GET, LIST) or PostgreSQL. */
    int64_t budget = c->cfg->audit_seal_interval_ms / 20;
    if (budget > COORD_SEAL_BUDGET_MS)
        budget = COORD_SEAL_BUDGET_MS;
    if (s_send(c, QUERY_CMD_SEAL, json_pack("{s:I}", "budget_ms", (json_int_t)(budget < 1 ? 1 : budget))))
        s->round_inflight = true;
    s->next_ms = now_ms + c->cfg->audit_seal_interval_ms;
}

int64_t coord_seal_next_ms(const coord_t *c)
{
    const coord_seal_t *s = &c->seal;
    if (s->mode == COORD_SEAL_OFF || s->round_inflight || s->write_inflight)
        return INT64_MAX;
    return s->next_ms;
}

/* The hand-over's round answered the head: the rows that waited are
 * hashed onto it. */
static void s_handed_over(coord_t *c, const json_t *doc)
{
    coord_seal_t *s = &c->seal;
    const char *hex = json_string_value(json_object_get(doc, "head_hash"));
    size_t n = 0;
    if (!hex || sodium_hex2bin(s->head, 32, hex, strlen(hex), NULL, &n, NULL) != 0 || n != 32) {
        s_mode(c, COORD_SEAL_READBACK, "the hand-over answered no head");
        return;
    }
    s->head_id = json_integer_value(json_object_get(doc, "head_id"));
    s->block_prev = s->head_id;
    s_block_reset(s);
    s_mode(c, COORD_SEAL_MEMORY, "hashing rows as they commit");
    s_row_t r;
    for (size_t off = 0; off < s->pending.len;)
        off += s_get_row(s->pending.data + off, &r), s_chain(s, &r);
    strbuf_reset(&s->pending);
    s->npending = 0;
}

void coord_seal_result(coord_t *c, bool write, const char *body, size_t len)
{
    coord_seal_t *s = &c->seal;
    json_t *doc = json_loadb(body, len, 0, NULL);
    bool ok = json_integer_value(json_object_get(doc, "status")) == 200;
    if (!ok) {
        const char *e = json_string_value(json_object_get(doc, "error"));
        LOG_WARN("audit sealing failed error=\"%s\"", e ? e : "malformed answer");
    }
    if (ok) {
        c->audit_sealed += (uint64_t)json_integer_value(json_object_get(doc, "sealed"));
        if (json_integer_value(json_object_get(doc, "sealed")))
            c->audit_sealed_id = json_integer_value(json_object_get(doc, "last_id"));
    }
    if (write) {
        s->write_inflight = false;
        if (!ok && s->mode == COORD_SEAL_MEMORY) {
            s_block_reset(s);
            s_mode(c, COORD_SEAL_READBACK, "a block was not written");
        }
    } else {
        s->round_inflight = false;
        if (s->mode == COORD_SEAL_HANDOFF) {
            if (ok)
                s_handed_over(c, doc);
            else
                s_mode(c, COORD_SEAL_READBACK, "the hand-over failed");
        } else if (ok) {
            c->audit_behind = json_is_true(json_object_get(doc, "more"));
            s->handoff_wanted = s->mode == COORD_SEAL_READBACK && !c->audit_behind;
        }
    }
    json_decref(doc);
}
