/* The audit chain (store migration 013; docs/operations.md "Audit chain").
 *
 * Sealing runs on the query thread's connection, never in the loop's
 * commits: one round reads the job_events rows after the last sealed one,
 * in id order (ids grow in commit order: one leader, one pipeline at a
 * time), computes hash_i = SHA-256(hash_(i-1) || content_i) and inserts
 * one audit_seals row per page (the ids and their hashes, packed), a page
 * per transaction. The chain is a function of the rows alone, so any
 * coordinator may seal: an advisory lock keeps two from sealing at once
 * (a leader and one it deposed), without the leader lease's row lock,
 * which the leader's renewals wait for. Verifying
 * (orchctl audit verify) reads both tables, recomputes, and names the
 * first row that does not match.
 *
 * content_i: the row's fields in S_FIELDS order as PostgreSQL prints them
 * (jobs/audit_hash.c: each a 0 byte when NULL, else a 1 byte, its length
 * and its bytes; so no two different rows share a content). */
#include "store_audit.h"
#include "audit_hash.h"
#include "clock.h"
#include "orch_error.h"
#include "proto.h"
#include "store_int.h"
#include "strbuf.h"
#include "xalloc.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_FIELDS                                                                                   \
    "e.id, e.job_id, (extract(epoch from e.at) * 1000000)::bigint, e.event, e.attempt, e.worker,"  \
    " e.state, e.detail::text, e.epoch"
#define S_PAGE 5000 /* rows per transaction */

/* A block's rows and their places in it (u.id, u.o), for a block b: its
 * ids, or every id from first_id to last_id when ids is NULL (migration
 * 020: the block had no gaps). */
#define S_BLOCK_ROWS                                                                               \
    "LATERAL (SELECT x.id, x.o FROM unnest(b.ids) WITH ORDINALITY AS x(id, o)"                    \
    " UNION ALL SELECT g, g - b.first_id + 1 FROM generate_series(b.first_id, b.last_id) g"       \
    " WHERE b.ids IS NULL) u"

/* The last hash sealed: the last block's last one, else the anchor's. */
#define S_SQL_HEAD                                                                                 \
    "SELECT id, encode(hash, 'hex') FROM (SELECT 0 AS o, last_id AS id,"                          \
    " substring(hashes from octet_length(hashes) - 31) AS hash FROM (SELECT last_id, hashes"      \
    " FROM audit_seals ORDER BY last_id DESC LIMIT 1) b"                                           \
    " UNION ALL SELECT 1, id, hash FROM audit_anchor) h ORDER BY o LIMIT 1"
#define S_SQL_ROWS                                                                                 \
    "SELECT " S_FIELDS " FROM job_events e WHERE e.id > $1::bigint AND e.id < $3::bigint"         \
    " ORDER BY e.id LIMIT $2::int"
#define S_SQL_INSERT                                                                               \
    "INSERT INTO audit_seals (last_id, first_id, ids, hashes)"                                     \
    " VALUES ($1::bigint, $2::bigint, $3::bigint[], decode($4, 'hex'))"
/* The same with the hashes as bytes (a binary parameter): no hex to make
 * and to parse for the loop's blocks. */
#define S_SQL_INSERT_BIN                                                                           \
    "INSERT INTO audit_seals (last_id, first_id, ids, hashes)"                                     \
    " VALUES ($1::bigint, $2::bigint, $3::bigint[], $4::bytea)"
/* The hashes of rows in ($1, $2], one row each, from the blocks. */
#define S_SQL_HASHES                                                                               \
    "SELECT u.id, encode(substring(b.hashes from (u.o::int - 1) * 32 + 1 for 32), 'hex')"          \
    " FROM audit_seals b, " S_BLOCK_ROWS                                                           \
    " WHERE b.last_id > $1::bigint AND b.first_id <= $2::bigint"                                   \
    " AND u.id > $1::bigint AND u.id <= $2::bigint ORDER BY u.id"
/* The newest rows are read by id through each partition's BRIN index on
 * id; page ranges it has not summarized yet match every id, so reading
 * the last second's rows would scan every unsummarized page of the day
 * (measured: 1,715 pages and 25 ms for 2,000 rows at 370,000 rows a day;
 * after this, 51 pages and 5.6 ms). Each round first summarizes the ranges
 * completed since the last. It waits for no lock longer than 100 ms (a
 * vacuum of the partition holds the one it needs); an error or a timeout
 * only costs the speed-up. */
#define S_SQL_SUMMARIZE                                                                            \
    "SELECT count(brin_summarize_new_values(i.indexrelid)) FROM pg_inherits h"                     \
    " JOIN pg_index i ON i.indrelid = h.inhrelid JOIN pg_class c ON c.oid = i.indexrelid"          \
    " JOIN pg_am a ON a.oid = c.relam"                                                             \
    " WHERE h.inhparent = 'job_events'::regclass AND a.amname = 'brin'"
/* Sealers exclude each other for a transaction; one that finds the lock
 * taken skips its round. */
#define S_SQL_LOCK "SELECT pg_try_advisory_xact_lock(hashtext('orch_audit_seal'))"

static void s_hash_row(const unsigned char prev[32], const PGresult *r, int row,
                       unsigned char out[32])
{
    const char *f[AUDIT_NFIELDS];
    for (int i = 0; i < AUDIT_NFIELDS; i++)
        f[i] = PQgetisnull(r, row, i) ? NULL : PQgetvalue(r, row, i);
    audit_hash(prev, f, out);
}

static bool s_unhex(const char *hex, unsigned char out[32])
{
    size_t n = 0;
    return hex && sodium_hex2bin(out, 32, hex, strlen(hex), NULL, &n, NULL) == 0 && n == 32;
}

static bool s_ok(PGresult *r, ExecStatusType want, char *err, size_t errlen, const char *what)
{
    if (PQresultStatus(r) == want)
        return true;
    snprintf(err, errlen, "%s: %s", what, PQresultErrorMessage(r));
    for (char *p = err; *p; p++)
        if (*p == '\n')
            *p = ' ';
    return false;
}

/* ---- sealing (query thread) ---- */

/* A block's rows by id: their list is kept only once an id was skipped (a
 * block without gaps stores NULL: every id from first to last, migration
 * 020). */
typedef struct {
    strbuf_t list; /* "{1,2,...}" once gaps, else empty */
    int64_t first, last;
    long n;
    bool gaps;
} s_ids_t;

static void s_ids_add(s_ids_t *b, int64_t id)
{
    if (b->n && id != b->last + 1 && !b->gaps) { /* the ids so far: first .. last */
        b->gaps = true;
        strbuf_putc(&b->list, '{');
        for (int64_t k = b->first; k <= b->last; k++) {
            if (k > b->first)
                strbuf_putc(&b->list, ',');
            strbuf_put_i64(&b->list, k);
        }
    }
    if (b->gaps) {
        strbuf_putc(&b->list, ',');
        strbuf_put_i64(&b->list, id);
    }
    if (!b->n++)
        b->first = id;
    b->last = id;
}

/* The ids parameter: NULL without gaps. */
static const char *s_ids_param(s_ids_t *b)
{
    if (!b->gaps)
        return NULL;
    strbuf_putc(&b->list, '}');
    return b->list.data;
}

/* One page in one transaction, of rows below upto: *n rows sealed, *last
 * the last id and head its hash (the chain's head before the page when
 * none); *busy when another sealer holds the lock. */
static int s_seal_page(PGconn *conn, int64_t upto, long *n, int64_t *last,
                       unsigned char head[32], bool *busy, char *err, size_t errlen)
{
    *n = 0;
    *busy = false;
    char after[24], limit[16], below[24];
    snprintf(limit, sizeof limit, "%d", S_PAGE);
    snprintf(below, sizeof below, "%lld", (long long)(upto > 0 ? upto : INT64_MAX));
    /* Asynchronous commit: a seal is derived data, recomputed from the rows
     * if a crash loses it (the next round starts from the last durable
     * head), so it need not wait for its own flush, which would compete
     * with the leader's commits for the disk. */
    PGresult *r = PQexec(conn, "BEGIN; SET LOCAL synchronous_commit = off");
    bool ok = s_ok(r, PGRES_COMMAND_OK, err, errlen, "could not begin");
    PQclear(r);
    if (ok) {
        r = PQexec(conn, S_SQL_LOCK);
        ok = s_ok(r, PGRES_TUPLES_OK, err, errlen, "could not take the sealing lock");
        *busy = ok && PQgetvalue(r, 0, 0)[0] != 't';
        PQclear(r);
    }
    if (*busy) {
        PQclear(PQexec(conn, "ROLLBACK"));
        return ORCH_OK;
    }
    unsigned char prev[32];
    if (ok) {
        r = PQexec(conn, S_SQL_HEAD);
        ok = s_ok(r, PGRES_TUPLES_OK, err, errlen, "could not read the chain's head") &&
             PQntuples(r) == 1 && s_unhex(PQgetvalue(r, 0, 1), prev);
        *last = ok ? atoll(PQgetvalue(r, 0, 0)) : 0;
        PQclear(r);
    }
    PGresult *rows = NULL;
    if (ok) {
        snprintf(after, sizeof after, "%lld", (long long)*last);
        const char *v[3] = {after, limit, below};
        rows = PQexecParams(conn, S_SQL_ROWS, 3, NULL, v, NULL, NULL, 0);
        ok = s_ok(rows, PGRES_TUPLES_OK, err, errlen, "could not read job_events");
    }
    if (ok && PQntuples(rows) > 0) {
        int nr = PQntuples(rows);
        s_ids_t ids = {0};
        strbuf_t hashes;
        strbuf_init(&ids.list);
        strbuf_init(&hashes);
        for (int i = 0; i < nr; i++) {
            unsigned char h[32];
            char hex[65];
            s_hash_row(prev, rows, i, h);
            memcpy(prev, h, 32);
            sodium_bin2hex(hex, sizeof hex, h, 32);
            s_ids_add(&ids, atoll(PQgetvalue(rows, i, 0)));
            strbuf_append(&hashes, hex, 64);
        }
        const char *v[4] = {PQgetvalue(rows, nr - 1, 0), PQgetvalue(rows, 0, 0),
                            s_ids_param(&ids), hashes.data};
        r = PQexecParams(conn, S_SQL_INSERT, 4, NULL, v, NULL, NULL, 0);
        ok = s_ok(r, PGRES_COMMAND_OK, err, errlen, "could not write audit_seals");
        PQclear(r);
        strbuf_fini(&ids.list);
        strbuf_fini(&hashes);
        *n = nr;
        *last = atoll(PQgetvalue(rows, nr - 1, 0));
    }
    if (ok)
        memcpy(head, prev, 32);
    PQclear(rows);
    r = PQexec(conn, ok ? "COMMIT" : "ROLLBACK");
    if (ok)
        ok = s_ok(r, PGRES_COMMAND_OK, err, errlen, "could not commit");
    PQclear(r);
    return ok ? ORCH_OK : ORCH_EDB;
}

static void s_summarize(PGconn *conn)
{
    PGresult *r = PQexec(conn, "BEGIN; SET LOCAL lock_timeout = '100ms'; " S_SQL_SUMMARIZE);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    PQclear(PQexec(conn, ok ? "COMMIT" : "ROLLBACK"));
}

char *store_audit_seal(void *pgconn, store_audit_head_t *hd, const json_t *body)
{
    json_int_t budget = json_integer_value(json_object_get(body, "budget_ms"));
    json_int_t upto = json_integer_value(json_object_get(body, "upto"));
    int64_t t0 = clock_mono_ms();
    long total = 0, n = S_PAGE;
    int64_t last = 0, sealed_last = 0;
    unsigned char head[32] = {0};
    char err[600] = "";
    int rc = ORCH_OK;
    bool busy = false;
    s_summarize(pgconn);
    while (rc == ORCH_OK && !busy && n == S_PAGE &&
           (upto > 0 || clock_mono_ms() - t0 < (budget > 0 ? budget : 100))) {
        rc = s_seal_page(pgconn, upto, &n, &last, head, &busy, err, sizeof err);
        if (rc == ORCH_OK)
            total += n;
        if (rc == ORCH_OK && n)
            sealed_last = last;
    }
    if (rc == ORCH_OK && busy && upto > 0) {
        snprintf(err, sizeof err, "another coordinator is sealing");
        rc = ORCH_EAGAIN;
    }
    hd->known = rc == ORCH_OK && upto > 0;
    if (hd->known) {
        hd->id = last;
        memcpy(hd->hash, head, 32);
    }
    json_t *reply = rc == ORCH_OK
                        ? json_pack("{s:i, s:I, s:I, s:b, s:I}", "status", 200, "sealed",
                                    (json_int_t)total, "last_id", (json_int_t)sealed_last,
                                    "more", n == S_PAGE, "head_id", (json_int_t)last)
                        : json_pack("{s:i, s:s}", "status", PROTO_STATUS_UNAVAILABLE, "error", err);
    char *text = json_dumps(reply, JSON_COMPACT);
    json_decref(reply);
    return text;
}

/* The chain's stored end: the last sealed id, else the anchor's. */
#define S_SQL_END                                                                                  \
    "SELECT coalesce((SELECT max(last_id) FROM audit_seals), (SELECT id FROM audit_anchor))"

/* The next row of a SEAL_ROWS body into f (pointers into buf, which is
 * NUL-terminated field by field in place of each length); bytes used, 0
 * when malformed. */
static size_t s_row(char *p, const char *end, char *f[AUDIT_NFIELDS])
{
    const char *start = p;
    for (int i = 0; i < AUDIT_NFIELDS; i++) {
        if (p >= end)
            return 0;
        bool set = *p++ != 0;
        f[i] = NULL;
        if (!set)
            continue;
        uint32_t n;
        if ((size_t)(end - p) < sizeof n)
            return 0;
        memcpy(&n, p, sizeof n);
        if ((size_t)(end - p) < sizeof n + (size_t)n)
            return 0;
        /* the length's last byte becomes nothing, the bytes move up by
         * three and a NUL ends them: f[i] is a C string in place */
        memmove(p, p + sizeof n, n);
        p[n] = '\0';
        f[i] = p;
        p += sizeof n + n;
    }
    return (size_t)(p - start);
}

char *store_audit_seal_rows(void *pgconn, store_audit_head_t *hd, const void *rows, size_t len)
{
    PGconn *conn = pgconn;
    char err[600] = "";
    int status = 200;
    s_ids_t ids = {0};
    strbuf_t hashes;
    strbuf_init(&ids.list);
    strbuf_init(&hashes);
    if (!hd->known) {
        snprintf(err, sizeof err, "no chain head (a hand-over round sets it)");
        status = PROTO_STATUS_CONFLICT;
    }
    unsigned char head[32];
    memcpy(head, hd->hash, 32);
    char *buf = status == 200 ? xmalloc(len + 1) : NULL;
    if (buf) {
        memcpy(buf, rows, len);
        for (char *p = buf, *end = buf + len; p < end;) {
            char *f[AUDIT_NFIELDS];
            size_t used = s_row(p, end, f);
            if (!used || !f[0]) {
                snprintf(err, sizeof err, "malformed rows");
                status = PROTO_STATUS_BAD_REQUEST;
                break;
            }
            p += used;
            audit_hash(head, (const char *const *)f, head);
            s_ids_add(&ids, atoll(f[0]));
            strbuf_append(&hashes, (const char *)head, 32);
        }
        free(buf);
    }
    long n = ids.n;
    int64_t last = n ? ids.last : hd->id;
    /* asynchronous commit, as the rounds that read the rows back (derived
     * data: a block a crash loses is rebuilt from the rows) */
    PGresult *r = status == 200 ? PQexec(conn, "BEGIN; SET LOCAL synchronous_commit = off") : NULL;
    bool open = r != NULL;
    if (r && !s_ok(r, PGRES_COMMAND_OK, err, sizeof err, "could not begin"))
        status = PROTO_STATUS_UNAVAILABLE;
    PQclear(r);
    if (status == 200) {
        r = PQexec(conn, S_SQL_LOCK);
        if (!s_ok(r, PGRES_TUPLES_OK, err, sizeof err, "could not take the sealing lock"))
            status = PROTO_STATUS_UNAVAILABLE;
        else if (PQgetvalue(r, 0, 0)[0] != 't') {
            snprintf(err, sizeof err, "another coordinator is sealing");
            status = PROTO_STATUS_CONFLICT;
        }
        PQclear(r);
    }
    if (status == 200) {
        r = PQexec(conn, S_SQL_END);
        if (!s_ok(r, PGRES_TUPLES_OK, err, sizeof err, "could not read the chain's end"))
            status = PROTO_STATUS_UNAVAILABLE;
        else if (atoll(PQgetvalue(r, 0, 0)) != hd->id) {
            snprintf(err, sizeof err, "the stored chain ends at %s, not at %lld",
                     PQgetvalue(r, 0, 0), (long long)hd->id);
            status = PROTO_STATUS_CONFLICT;
        }
        PQclear(r);
    }
    if (status == 200 && n) {
        char lastv[24], firstv[24];
        snprintf(lastv, sizeof lastv, "%lld", (long long)last);
        snprintf(firstv, sizeof firstv, "%lld", (long long)ids.first);
        const char *v[4] = {lastv, firstv, s_ids_param(&ids), hashes.data};
        const int lens[4] = {0, 0, 0, (int)hashes.len}, formats[4] = {0, 0, 0, 1};
        r = PQexecParams(conn, S_SQL_INSERT_BIN, 4, NULL, v, lens, formats, 0);
        if (!s_ok(r, PGRES_COMMAND_OK, err, sizeof err, "could not write audit_seals"))
            status = PROTO_STATUS_UNAVAILABLE;
        PQclear(r);
    }
    if (open) {
        r = PQexec(conn, status == 200 ? "COMMIT" : "ROLLBACK");
        if (status == 200 && !s_ok(r, PGRES_COMMAND_OK, err, sizeof err, "could not commit"))
            status = PROTO_STATUS_UNAVAILABLE;
        PQclear(r);
    }
    strbuf_fini(&ids.list);
    strbuf_fini(&hashes);
    if (status == 200) {
        hd->id = last;
        memcpy(hd->hash, head, 32);
    } else {
        hd->known = false;
    }
    json_t *reply = status == 200 ? json_pack("{s:i, s:I, s:I}", "status", 200, "sealed",
                                              (json_int_t)n, "last_id", (json_int_t)last)
                                  : json_pack("{s:i, s:s}", "status", status, "error", err);
    char *text = json_dumps(reply, JSON_COMPACT);
    json_decref(reply);
    return text;
}

/* After retention dropped days of job_events: the anchor moves to the last
 * sealed row below the oldest row left (its hash), and the blocks that end
 * at or before it go (a block across the anchor stays: a verify starts
 * inside it). */
#define S_SQL_TRIM                                                                                 \
    "WITH lo AS (SELECT coalesce((SELECT min(id) FROM job_events),"                                \
    "  (SELECT max(last_id) + 1 FROM audit_seals)) AS id),"                                        \
    " a AS (SELECT u.id, substring(b.hashes from (u.o::int - 1) * 32 + 1 for 32) AS hash"          \
    "  FROM audit_seals b, " S_BLOCK_ROWS                                                          \
    "  WHERE b.first_id < (SELECT id FROM lo) AND u.id < (SELECT id FROM lo)"                      \
    "  ORDER BY u.id DESC LIMIT 1),"                                                               \
    " up AS (UPDATE audit_anchor SET id = a.id, hash = a.hash, moved_at = now() FROM a"           \
    "  RETURNING 1),"                                                                              \
    " d AS (DELETE FROM audit_seals WHERE last_id <= (SELECT id FROM a) RETURNING 1)"              \
    " SELECT (SELECT count(*) FROM d)"

int store_audit_trim(void *pgconn, long *trimmed, char *err, size_t errlen)
{
    PGresult *r = PQexec(pgconn, S_SQL_TRIM);
    bool ok = s_ok(r, PGRES_TUPLES_OK, err, errlen, "could not move the audit anchor");
    *trimmed = ok ? atol(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return ok ? ORCH_OK : ORCH_EDB;
}

/* ---- verifying (orchctl audit verify) ---- */

typedef struct s_verify s_verify_t;
static void s_bad(s_verify_t *v, int64_t id, int64_t job, const char *event, const char *what);

struct s_verify {
    PGconn *conn;
    store_audit_report_t *rep;
    unsigned char prev[32];
    int64_t cursor;
    int64_t sealed_upto; /* the last sealed id */
    const store_audit_checkpoint_t *expect;
    bool expect_seen;
    char *err;
    size_t errlen;
};

/* A stored hash read for row id: the recorded checkpoint, and the head. */
static void s_seen(s_verify_t *v, int64_t id, const unsigned char hash[32])
{
    v->rep->head_id = id;
    sodium_bin2hex(v->rep->head_hash, sizeof v->rep->head_hash, hash, 32);
    if (!v->expect || v->expect->id != id)
        return;
    v->expect_seen = true;
    if (sodium_memcmp(hash, v->expect->hash, 32) != 0)
        s_bad(v, id, 0, NULL, "the chain no longer passes through the recorded checkpoint "
                              "(rewritten up to there)");
}

static void s_bad(s_verify_t *v, int64_t id, int64_t job, const char *event, const char *what)
{
    store_audit_report_t *rep = v->rep;
    if (rep->bad++ == 0) {
        rep->first_bad_id = id;
        rep->first_bad_job = job;
        snprintf(rep->first_bad_event, sizeof rep->first_bad_event, "%s", event ? event : "");
        snprintf(rep->first_bad_what, sizeof rep->first_bad_what, "%s", what);
    }
}

/* Chain rows in (from, upto], in id order. */
static PGresult *s_hashes(s_verify_t *v, int64_t from, int64_t upto)
{
    char a[24], b[24];
    snprintf(a, sizeof a, "%lld", (long long)from);
    snprintf(b, sizeof b, "%lld", (long long)upto);
    const char *p[2] = {a, b};
    PGresult *r = PQexecParams(v->conn, S_SQL_HASHES, 2, NULL, p, NULL, NULL, 0);
    if (!s_ok(r, PGRES_TUPLES_OK, v->err, v->errlen, "could not read audit_seals")) {
        PQclear(r);
        return NULL;
    }
    return r;
}

/* Walks one page of rows against the hashes of the same id range. */
static void s_check(s_verify_t *v, const PGresult *rows, const PGresult *hs)
{
    int k = 0, nh = PQntuples(hs);
    for (int i = 0; i < PQntuples(rows); i++) {
        int64_t id = atoll(PQgetvalue(rows, i, 0));
        int64_t job = atoll(PQgetvalue(rows, i, 1));
        const char *event = PQgetvalue(rows, i, 3);
        for (; k < nh && atoll(PQgetvalue(hs, k, 0)) < id; k++) {
            s_bad(v, atoll(PQgetvalue(hs, k, 0)), 0, NULL,
                  "the row is gone but its hash remains (deleted after it was sealed)");
            if (s_unhex(PQgetvalue(hs, k, 1), v->prev))
                s_seen(v, atoll(PQgetvalue(hs, k, 0)), v->prev);
        }
        if (id > v->sealed_upto) {
            v->rep->unsealed++;
            continue;
        }
        v->rep->rows++;
        unsigned char want[32], got[32];
        s_hash_row(v->prev, rows, i, want);
        if (k >= nh || atoll(PQgetvalue(hs, k, 0)) != id) {
            s_bad(v, id, job, event, "the row has no hash (inserted after its successors "
                                     "were sealed, or its hash was deleted)");
            memcpy(v->prev, want, 32);
            continue;
        }
        if (!s_unhex(PQgetvalue(hs, k++, 1), got)) {
            /* a block whose hashes are shorter than its rows (edited) */
            s_bad(v, id, job, event, "its hash is missing from its block (the block was edited)");
            memcpy(v->prev, want, 32);
            continue;
        }
        if (sodium_memcmp(want, got, 32) != 0)
            s_bad(v, id, job, event, "its content does not match its hash (edited after it was "
                                     "sealed, or an earlier row was)");
        memcpy(v->prev, got, 32);
        s_seen(v, id, got);
    }
    for (; k < nh; k++) {
        s_bad(v, atoll(PQgetvalue(hs, k, 0)), 0, NULL,
              "the row is gone but its hash remains (deleted after it was sealed)");
        unsigned char h[32];
        if (s_unhex(PQgetvalue(hs, k, 1), h))
            s_seen(v, atoll(PQgetvalue(hs, k, 0)), h);
    }
}

/* The starting point: the anchor, or with since_us the hash just before the
 * first row at or after it. */
static int s_start(s_verify_t *v, int64_t since_us)
{
    char s[24];
    snprintf(s, sizeof s, "%lld", (long long)since_us);
    const char *p[1] = {s};
    PGresult *r = since_us > 0
                      ? PQexecParams(v->conn,
                                     "WITH f AS (SELECT min(id) AS id FROM job_events WHERE at >="
                                     " to_timestamp($1::bigint / 1000000.0))"
                                     " SELECT u.id, encode(substring(b.hashes from"
                                     "  (u.o::int - 1) * 32 + 1 for 32), 'hex')"
                                     " FROM f, audit_seals b, " S_BLOCK_ROWS
                                     " WHERE b.first_id < f.id AND u.id < f.id"
                                     " ORDER BY u.id DESC LIMIT 1",
                                     1, NULL, p, NULL, NULL, 0)
                      : PQexec(v->conn, "SELECT id, encode(hash, 'hex') FROM audit_anchor");
    bool ok = s_ok(r, PGRES_TUPLES_OK, v->err, v->errlen, "could not find where to start");
    if (ok && PQntuples(r) == 0 && since_us > 0) { /* nothing before: from the anchor */
        PQclear(r);
        return s_start(v, 0);
    }
    ok = ok && PQntuples(r) == 1 && s_unhex(PQgetvalue(r, 0, 1), v->prev);
    if (ok)
        v->cursor = v->rep->from_id = atoll(PQgetvalue(r, 0, 0));
    else if (!v->err[0])
        snprintf(v->err, v->errlen, "the audit anchor is missing or malformed");
    PQclear(r);
    if (!ok)
        return ORCH_EDB;
    r = PQexec(v->conn, "SELECT coalesce(max(last_id), 0) FROM audit_seals");
    ok = s_ok(r, PGRES_TUPLES_OK, v->err, v->errlen, "could not read audit_seals");
    if (ok)
        v->sealed_upto = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return ok ? ORCH_OK : ORCH_EDB;
}

static int s_walk(s_verify_t *v)
{
    char after[24], limit[16];
    snprintf(limit, sizeof limit, "%d", S_PAGE);
    for (;;) {
        snprintf(after, sizeof after, "%lld", (long long)v->cursor);
        const char *p[3] = {after, limit, "9223372036854775807"};
        PGresult *rows = PQexecParams(v->conn, S_SQL_ROWS, 3, NULL, p, NULL, NULL, 0);
        if (!s_ok(rows, PGRES_TUPLES_OK, v->err, v->errlen, "could not read job_events")) {
            PQclear(rows);
            return ORCH_EDB;
        }
        int n = PQntuples(rows);
        /* the last page also takes the hashes of rows deleted at the end */
        int64_t upto = n == S_PAGE ? atoll(PQgetvalue(rows, n - 1, 0)) : INT64_MAX;
        PGresult *hs = s_hashes(v, v->cursor, upto);
        if (!hs) {
            PQclear(rows);
            return ORCH_EDB;
        }
        s_check(v, rows, hs);
        PQclear(hs);
        if (n)
            v->cursor = atoll(PQgetvalue(rows, n - 1, 0));
        PQclear(rows);
        if (n < S_PAGE)
            return ORCH_OK;
    }
}

int store_audit_checkpoint_parse(const char *text, store_audit_checkpoint_t *cp)
{
    const char *colon = text ? strchr(text, ':') : NULL;
    char *end = NULL;
    long long id = colon ? strtoll(text, &end, 10) : 0;
    size_t n = 0;
    if (!colon || end != colon || id <= 0 || strlen(colon + 1) != 64 ||
        sodium_hex2bin(cp->hash, 32, colon + 1, 64, NULL, &n, NULL) != 0 || n != 32)
        return ORCH_EINVAL;
    cp->id = id;
    return ORCH_OK;
}

int store_audit_verify(const char *conninfo, int64_t since_us,
                       const store_audit_checkpoint_t *expect, store_audit_report_t *rep,
                       char *err, size_t errlen)
{
    memset(rep, 0, sizeof *rep);
    err[0] = '\0';
    if (sodium_init() < 0) {
        snprintf(err, errlen, "could not initialise libsodium");
        return ORCH_EIO;
    }
    PGconn *conn = store_pg_connectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(err, errlen, "could not connect to database: %s", PQerrorMessage(conn));
        for (char *p = err; *p; p++)
            if (*p == '\n')
                *p = ' ';
        PQfinish(conn);
        return ORCH_EDB;
    }
    s_verify_t v = {.conn = conn, .rep = rep, .err = err, .errlen = errlen,
                    .expect = expect && expect->id > 0 ? expect : NULL};
    PGresult *r = PQexec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    int rc = s_ok(r, PGRES_COMMAND_OK, err, errlen, "could not begin") ? ORCH_OK : ORCH_EDB;
    PQclear(r);
    if (rc == ORCH_OK)
        rc = s_start(&v, since_us);
    if (rc == ORCH_OK)
        rc = s_walk(&v);
    if (rc == ORCH_OK && v.expect && !v.expect_seen)
        s_bad(&v, v.expect->id, 0, NULL,
              v.expect->id <= rep->from_id
                  ? "the recorded checkpoint is older than where the check started (retention "
                    "dropped it, or --since is later)"
                  : "the recorded checkpoint is not in the chain (its row and hash are gone)");
    PQclear(PQexec(conn, "COMMIT"));
    PQfinish(conn);
    return rc;
}
