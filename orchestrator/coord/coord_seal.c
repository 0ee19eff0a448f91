/* Audit sealing (store migration 013, store_audit.c; docs/operations.md
 * "Audit chain"): every audit row is hashed into a chain,
 * hash_i = SHA-256(hash_(i-1) || content_i) in id order.
 *
 * The leader does not read its own rows back: it knows every column of
 * the rows its batch writes (the epoch is its fence's), and the statements
 * that write rows of their own (an operator's cancel or retry of a job not
 * in memory, a schedule firing) answer those rows' columns as PostgreSQL
 * stored them. It copies each committed row's columns into a buffer, and
 * every audit.seal_interval hands the buffer to the query thread, which
 * hashes the rows onto the chain's end and writes one audit_seals block,
 * only while the stored chain still ends where it left it. Reading the
 * rows back cost PostgreSQL a read per row and could not keep up with a
 * drain; the hashing happens off the loop.
 *
 * Rows nobody hashed as they committed (another coordinator's, before
 * this one led; or every row after a block failed) are read back by the
 * query thread in budgeted rounds (READBACK). When a round finds nothing
 * more (or fewer than COORD_SEAL_HANDOFF_LAG rows are left), the next
 * commit hands over: the query thread seals every row below
 * the next event id and keeps the head, and the rows committed from then
 * on (MEMORY) are shipped; the query thread takes requests in order, so
 * they are hashed after the hand-over's. Any failure goes back to
 * READBACK, which starts again from the stored chain. */
#include "coord_internal.h"
#include "audit_hash.h"
#include "log.h"
#include "orch_error.h"
#include "query.h"
#include "store_audit.h"
#include <string.h>

#define COORD_SEAL_BUDGET_MS 50        /* one read-back round at most */
/* Rows are shipped as soon as this many bytes gathered (about 3,500 rows),
 * whatever the interval: a second's rows under load made one block of
 * megabytes, hashed in one burst and written at once, whose WAL the
 * leader's next commit had to flush before its own. Blocks of a few
 * thousand rows spread both (docs/benchmarks.md, "The audit chain's
 * cost"). */
#define COORD_SEAL_BLOCK_BYTES (256 << 10)
/* Hand over when the rows left to read back are fewer than this (the
 * hand-over's round reads them all at once: a few seconds of the query
 * thread at most), even if the last round did not finish: under a load
 * that commits rows faster than budgeted rounds read them, waiting for a
 * round to find nothing more would never end. */
#define COORD_SEAL_HANDOFF_LAG 1000000

static const char *const s_modes[] = {"off", "read-back", "in-memory"};

static void s_mode(coord_t *c, int mode, const char *why)
{
    if (c->seal.mode != mode)
        LOG_INFO("audit sealing mode=%s reason=\"%s\"", s_modes[mode], why);
    c->seal.mode = mode;
}

void coord_seal_init(coord_t *c)
{
    strbuf_init(&c->seal.rows);
}

void coord_seal_fini(coord_t *c)
{
    strbuf_fini(&c->seal.rows);
}

void coord_seal_reset(coord_t *c)
{
    strbuf_reset(&c->seal.rows);
    c->seal.handoff_wanted = false;
    s_mode(c, c->cfg->audit_seal_interval_ms ? COORD_SEAL_READBACK : COORD_SEAL_OFF,
           "recovery: reading the rows not sealed yet");
}

/* ---- the rows of a commit ---- */

static void s_field(strbuf_t *sb, const char *s, size_t n)
{
    if (!s) {
        strbuf_putc(sb, 0);
        return;
    }
    uint32_t len = (uint32_t)n;
    strbuf_putc(sb, 1);
    strbuf_append(sb, (const char *)&len, sizeof len);
    strbuf_append(sb, s, n);
}

static void s_str(strbuf_t *sb, const char *s)
{
    s_field(sb, s, s ? strlen(s) : 0);
}

/* An integer as PostgreSQL prints it. */
static void s_int(strbuf_t *sb, int64_t v)
{
    char buf[24], *p = buf + sizeof buf;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        *--p = '-';
    s_field(sb, p, (size_t)(buf + sizeof buf - p));
}

static void s_event(coord_t *c, const batch_event_t *e)
{
    strbuf_t *sb = &c->seal.rows;
    s_int(sb, e->id);
    s_int(sb, e->job_id);
    s_int(sb, e->at_us);
    s_str(sb, job_event_name(e->event));
    s_int(sb, e->attempt);
    s_str(sb, e->worker);
    s_str(sb, e->state >= 0 ? job_state_name(e->state) : NULL);
    s_str(sb, e->detail);
    s_int(sb, c->lease.epoch); /* the pipeline's fence set it (store migration 008) */
}

/* A row a statement answered: [id, job_id, at_us, event, attempt, worker,
 * state, detail, epoch], JSON null for NULL. False when malformed. */
static bool s_answered(coord_t *c, const json_t *a)
{
    if (!json_is_array(a) || json_array_size(a) != AUDIT_NFIELDS ||
        !json_is_integer(json_array_get(a, 0)))
        return false;
    strbuf_t *sb = &c->seal.rows;
    for (size_t i = 0; i < AUDIT_NFIELDS; i++) {
        const json_t *v = json_array_get(a, i);
        if (json_is_null(v))
            s_str(sb, NULL);
        else if (json_is_integer(v))
            s_int(sb, json_integer_value(v));
        else if (json_is_string(v))
            s_field(sb, json_string_value(v), json_string_length(v));
        else
            return false;
    }
    return true;
}

static bool s_send_rows(coord_t *c);

/* A block's worth gathered and none on its way: ship it now, whatever the
 * interval (after a commit, and when a block's reply frees the way). */
static void s_ship_if_full(coord_t *c)
{
    coord_seal_t *s = &c->seal;
    if (s->mode == COORD_SEAL_MEMORY && c->mode == COORD_UP && !s->rows_inflight &&
        s->rows.len >= COORD_SEAL_BLOCK_BYTES)
        s_send_rows(c);
}

/* Right after a commit: every row below the next event id is committed,
 * or never will be; with a chained pipeline in flight (coord_chain),
 * every row below its first. */
static void s_handoff(coord_t *c)
{
    coord_seal_t *s = &c->seal;
    s->handoff_wanted = false;
    proto_envelope_t env = {.route = COORD_ROUTE_SEAL};
    int64_t upto = c->chain_active && c->chain.nevents ? c->chain.events[0].id : c->next_event_id;
    json_t *body = json_pack("{s:I}", "upto", (json_int_t)upto);
    bool ok = coord_query(c, &env, QUERY_CMD_SEAL, body) == ORCH_OK;
    json_decref(body);
    if (!ok)
        return;
    s->round_inflight = true;
    strbuf_reset(&s->rows);
    s_mode(c, COORD_SEAL_MEMORY, "caught up: hashing rows as they commit");
}

void coord_seal_committed(coord_t *c, const batch_t *b, const op_t *ops)
{
    coord_seal_t *s = &c->seal;
    if (s->mode == COORD_SEAL_MEMORY) {
        /* ids in commit order: the batch's events, then each statement's */
        for (size_t i = 0; i < b->nevents; i++)
            s_event(c, &b->events[i]);
        for (const op_t *op = ops; op && s->mode == COORD_SEAL_MEMORY; op = op->next) {
            if (!op->audit_rows)
                continue;
            json_t *rows = json_loads(op->audit_rows, 0, NULL);
            size_t i;
            json_t *a;
            json_array_foreach (rows, i, a)
                if (!s_answered(c, a)) {
                    strbuf_reset(&s->rows);
                    s_mode(c, COORD_SEAL_READBACK, "a statement answered a malformed row");
                    break;
                }
            json_decref(rows);
        }
        s_ship_if_full(c);
    }
    if (s->mode == COORD_SEAL_READBACK && s->handoff_wanted && !s->round_inflight)
        s_handoff(c);
}

/* ---- the query thread's side ---- */

/* Ships the rows gathered (none: only the check that the stored chain
 * still ends where the query thread's head is: blocks removed by hand
 * are then sealed again from the rows). */
static bool s_send_rows(coord_t *c)
{
    coord_seal_t *s = &c->seal;
    proto_envelope_t env = {.route = COORD_ROUTE_SEAL_WRITE};
    if (coord_query_raw(c, &env, QUERY_CMD_SEAL_ROWS, s->rows.data, s->rows.len) !=
        ORCH_OK) {
        s_mode(c, COORD_SEAL_READBACK, "could not reach the query thread");
        return false;
    }
    s->rows_inflight = true;
    strbuf_reset(&s->rows);
    return true;
}

void coord_seal_tick(coord_t *c, int64_t now_ms)
{
    coord_seal_t *s = &c->seal;
    if (s->mode == COORD_SEAL_OFF || c->mode != COORD_UP || now_ms < s->next_ms)
        return;
    if (s->mode == COORD_SEAL_MEMORY) {
        if (!s->rows_inflight && !s->round_inflight && s_send_rows(c))
            s->next_ms = now_ms + c->cfg->audit_seal_interval_ms;
        return;
    }
    if (s->round_inflight || s->rows_inflight)
        return;
    /* A round takes a twentieth of the interval at most (and
     * COORD_SEAL_BUDGET_MS): reading back never takes over the query
     * thread (GET, LIST) or PostgreSQL. */
    int64_t budget = c->cfg->audit_seal_interval_ms / 20;
    if (budget > COORD_SEAL_BUDGET_MS)
        budget = COORD_SEAL_BUDGET_MS;
    proto_envelope_t env = {.route = COORD_ROUTE_SEAL};
    json_t *body = json_pack("{s:I}", "budget_ms", (json_int_t)(budget < 1 ? 1 : budget));
    if (coord_query(c, &env, QUERY_CMD_SEAL, body) == ORCH_OK)
        s->round_inflight = true;
    json_decref(body);
    s->next_ms = now_ms + c->cfg->audit_seal_interval_ms;
}

int64_t coord_seal_next_ms(const coord_t *c)
{
    const coord_seal_t *s = &c->seal;
    if (s->mode == COORD_SEAL_OFF || s->round_inflight || s->rows_inflight)
        return INT64_MAX;
    return s->next_ms;
}

void coord_seal_result(coord_t *c, bool rows, const char *body, size_t len)
{
    coord_seal_t *s = &c->seal;
    json_t *doc = json_loadb(body, len, 0, NULL);
    bool ok = json_integer_value(json_object_get(doc, "status")) == 200;
    if (!ok) {
        const char *e = json_string_value(json_object_get(doc, "error"));
        LOG_WARN("audit sealing failed error=\"%s\"", e ? e : "malformed answer");
    } else {
        c->audit_sealed += (uint64_t)json_integer_value(json_object_get(doc, "sealed"));
        if (json_integer_value(json_object_get(doc, "sealed")))
            c->audit_sealed_id = json_integer_value(json_object_get(doc, "last_id"));
    }
    if (rows)
        s->rows_inflight = false;
    else
        s->round_inflight = false;
    if (!ok && s->mode == COORD_SEAL_MEMORY) {
        strbuf_reset(&s->rows);
        s_mode(c, COORD_SEAL_READBACK, rows ? "a block was not written" : "the hand-over failed");
    } else if (ok && rows) {
        s_ship_if_full(c); /* a block's worth may have gathered meanwhile */
    } else if (ok && !rows && s->mode == COORD_SEAL_READBACK) {
        c->audit_behind = json_is_true(json_object_get(doc, "more"));
        int64_t head = json_integer_value(json_object_get(doc, "head_id"));
        s->handoff_wanted = !c->audit_behind || c->next_event_id - head < COORD_SEAL_HANDOFF_LAG;
    }
    json_decref(doc);
}
