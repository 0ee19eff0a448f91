/* embed handler: Ollama /api/embed -> embeddings table.
 *
 * Per run: validate the payload and hash every text; read the stored hashes
 * of these ids for the model and skip unchanged texts; send the rest in
 * batches of embed.batch_size; check count and dimension of each answer;
 * upsert each batch at once (so a later attempt skips what an earlier one
 * already stored). */
#include "handler_embed.h"

#include "handler_kit.h"
#include "httpc.h"
#include "log.h"
#include "orch_error.h"
#include "pgconn.h"
#include "xalloc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The upsert, in two spellings: pgvector's vector type or real[]. One
 * statement per batch; unnest() keeps it parameterized whatever the size. */
#define EMBED_UPSERT(cast)                                                                         \
    "INSERT INTO embeddings (entity_id, model, dimension, vector, text_sha256, updated_at) "       \
    "SELECT t.e, $1, $2, t.v::" cast ", t.h, now() "                                               \
    "FROM unnest($3::text[], $4::text[], $5::text[]) AS t(e, v, h) "                               \
    "ON CONFLICT (entity_id, model) DO UPDATE SET dimension = EXCLUDED.dimension, "                \
    "vector = EXCLUDED.vector, text_sha256 = EXCLUDED.text_sha256, updated_at = EXCLUDED.updated_at"

static const char *const s_upsert_vector = EMBED_UPSERT("vector");
static const char *const s_upsert_real = EMBED_UPSERT("real[]");

static const char *const s_select_known =
    "SELECT entity_id, text_sha256, dimension FROM embeddings "
    "WHERE model = $1 AND entity_id = ANY($2::text[])";

static const char *const s_vector_type =
    "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
    "WHERE attrelid = 'embeddings'::regclass AND attname = 'vector'";

/* ---- payload ---------------------------------------------------------- */

/* qsort_r (glibc): slot threads sort concurrently, so no global context. */
static int s_cmp_by_id(const void *a, const void *b, void *arg)
{
    const embed_items_t *items = arg;
    return strcmp(items->ids[*(const size_t *)a], items->ids[*(const size_t *)b]);
}

static int s_parse_item(const json_t *item, size_t i, embed_items_t *out, handler_error_t *err)
{
    json_t *id = json_object_get(item, "id");
    json_t *text = json_object_get(item, "text");
    if (!json_is_object(item) || !json_is_string(id) || !json_is_string(text)) {
        handler_error_set(err, "payload items[%zu] must be an object with string \"id\" and \"text\"",
                          i);
        return ORCH_EINVAL;
    }
    size_t idlen = json_string_length(id);
    if (idlen == 0 || idlen > EMBED_MAX_ID_BYTES) {
        handler_error_set(err, "payload items[%zu].id must be 1..%d bytes", i, EMBED_MAX_ID_BYTES);
        return ORCH_EINVAL;
    }
    if (strlen(json_string_value(id)) != idlen) {
        handler_error_set(err, "payload items[%zu].id contains a NUL character", i);
        return ORCH_EINVAL;
    }
    out->ids[i] = json_string_value(id);
    out->texts[i] = json_string_value(text);
    out->text_lens[i] = json_string_length(text);
    sha256_hex(out->texts[i], out->text_lens[i], out->sha[i]);
    out->by_id[i] = i;
    return 0;
}

int embed_parse_payload(const json_t *payload, const char *default_model, embed_items_t *out,
                        handler_error_t *err)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(payload)) {
        handler_error_set(err, "payload must be a json object");
        return ORCH_EINVAL;
    }
    if (!handler_kit_opt_string(payload, "model", EMBED_MAX_MODEL_BYTES, &out->model, err))
        return ORCH_EINVAL;
    if (!out->model)
        out->model = default_model;
    if (!out->model || !*out->model) {
        handler_error_set(err, "payload has no \"model\" and embed.model is not configured");
        return ORCH_EINVAL;
    }
    json_t *items = json_object_get(payload, "items");
    if (!json_is_array(items) || json_array_size(items) == 0 ||
        json_array_size(items) > EMBED_MAX_ITEMS) {
        handler_error_set(err, "payload field \"items\" must be an array of 1..%d items",
                          EMBED_MAX_ITEMS);
        return ORCH_EINVAL;
    }
    size_t n = json_array_size(items);
    out->ids = xcalloc(n, sizeof *out->ids);
    out->texts = xcalloc(n, sizeof *out->texts);
    out->text_lens = xcalloc(n, sizeof *out->text_lens);
    out->sha = xcalloc(n, sizeof *out->sha);
    out->by_id = xcalloc(n, sizeof *out->by_id);
    out->n = n;
    for (size_t i = 0; i < n; i++)
        if (s_parse_item(json_array_get(items, i), i, out, err) != 0)
            return ORCH_EINVAL;
    qsort_r(out->by_id, n, sizeof *out->by_id, s_cmp_by_id, out);
    for (size_t k = 1; k < n; k++) {
        if (strcmp(out->ids[out->by_id[k - 1]], out->ids[out->by_id[k]]) == 0) {
            size_t a = out->by_id[k - 1], b = out->by_id[k];
            handler_error_set(err, "payload items[%zu].id duplicates items[%zu].id",
                              a > b ? a : b, a < b ? a : b);
            return ORCH_EINVAL;
        }
    }
    return 0;
}

void embed_items_fini(embed_items_t *items)
{
    free(items->ids);
    free(items->texts);
    free(items->text_lens);
    free(items->sha);
    free(items->by_id);
    memset(items, 0, sizeof *items);
}

long embed_items_find(const embed_items_t *items, const char *id)
{
    size_t lo = 0, hi = items->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(items->ids[items->by_id[mid]], id);
        if (c == 0)
            return (long)items->by_id[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* ---- response --------------------------------------------------------- */

int embed_check_response(const json_t *resp, size_t expected, int *dim, handler_error_t *err)
{
    json_t *embs = json_object_get(resp, "embeddings");
    if (!json_is_array(embs)) {
        handler_error_set(err, "ollama answer has no \"embeddings\" array");
        return ORCH_EPROTO;
    }
    if (json_array_size(embs) != expected) {
        handler_error_set(err, "ollama returned %zu embeddings for %zu inputs",
                          json_array_size(embs), expected);
        return ORCH_EPROTO;
    }
    size_t d = 0;
    for (size_t i = 0; i < expected; i++) {
        json_t *v = json_array_get(embs, i);
        if (!json_is_array(v) || json_array_size(v) == 0) {
            handler_error_set(err, "ollama embeddings[%zu] is not a non-empty array", i);
            return ORCH_EPROTO;
        }
        if (i == 0)
            d = json_array_size(v);
        if (json_array_size(v) != d) {
            handler_error_set(err, "ollama embeddings[%zu] has dimension %zu, embeddings[0] has %zu",
                              i, json_array_size(v), d);
            return ORCH_EPROTO;
        }
        size_t k;
        json_t *x;
        json_array_foreach(v, k, x)
        {
            if (!json_is_number(x) || !isfinite(json_number_value(x))) {
                handler_error_set(err, "ollama embeddings[%zu][%zu] is not a number", i, k);
                return ORCH_EPROTO;
            }
        }
    }
    if (d > 100000) {
        handler_error_set(err, "ollama embeddings have dimension %zu, more than 100000", d);
        return ORCH_EPROTO;
    }
    *dim = (int)d;
    return 0;
}

void embed_format_vector(strbuf_t *sb, const json_t *vec, bool pgvector)
{
    strbuf_putc(sb, pgvector ? '[' : '{');
    size_t k;
    json_t *x;
    json_array_foreach(vec, k, x)
    {
        if (k > 0)
            strbuf_putc(sb, ',');
        /* float4 keeps 24 bits of mantissa: 9 significant digits round-trip */
        strbuf_printf(sb, "%.9g", json_number_value(x));
    }
    strbuf_putc(sb, pgvector ? ']' : '}');
}

/* ---- the job ---------------------------------------------------------- */

typedef struct {
    handler_ctx_t *ctx;
    const embed_config_t *cfg;
    embed_items_t items;
    bool *skip;         /* per item: stored hash equals */
    size_t nskipped;
    int dim;            /* 0 until known */
    bool pgvector;
    size_t embedded;
} s_job_t;

static handler_status_t s_db_error(PGconn *conn, PGresult *res, const char *what,
                                   handler_error_t *err)
{
    bool retry = pgconn_after_error(conn, res, what, err->message, sizeof err->message);
    PQclear(res);
    return retry ? HANDLER_RETRY : HANDLER_PERMANENT;
}

static handler_status_t s_load_known(s_job_t *job, PGconn *conn, handler_error_t *err)
{
    PGresult *r = PQexec(conn, s_vector_type);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        return s_db_error(conn, r, "could not read the type of embeddings.vector", err);
    job->pgvector = strcmp(PQgetvalue(r, 0, 0), "vector") == 0 ||
                    strncmp(PQgetvalue(r, 0, 0), "vector(", 7) == 0;
    PQclear(r);

    strbuf_t ids;
    strbuf_init(&ids);
    strbuf_putc(&ids, '{');
    for (size_t i = 0; i < job->items.n; i++) {
        if (i > 0)
            strbuf_putc(&ids, ',');
        strbuf_put_pg_array_elem(&ids, job->items.ids[i]);
    }
    strbuf_putc(&ids, '}');
    const char *params[2] = {job->items.model, ids.data};
    r = PQexecParams(conn, s_select_known, 2, NULL, params, NULL, NULL, 0);
    strbuf_fini(&ids);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return s_db_error(conn, r, "could not read stored embeddings", err);
    for (int row = 0; row < PQntuples(r); row++) {
        long i = embed_items_find(&job->items, PQgetvalue(r, row, 0));
        if (i >= 0 && strcmp(PQgetvalue(r, row, 1), job->items.sha[i]) == 0) {
            job->skip[i] = true;
            job->nskipped++;
            job->dim = atoi(PQgetvalue(r, row, 2));
        }
    }
    PQclear(r);
    return HANDLER_OK;
}

/* Turns a non-2xx answer or a transport failure into a status. */
static handler_status_t s_http_failure(int rc, const httpc_response_t *resp, const char *base,
                                       handler_error_t *err)
{
    if (rc == ORCH_ECANCELLED) {
        handler_error_set(err, "cancelled during ollama request");
        return HANDLER_CANCELLED;
    }
    if (rc != 0) {
        handler_error_set(err, "could not reach ollama at %s: %s", base, resp->error);
        return rc == ORCH_ETOOBIG ? HANDLER_PERMANENT : HANDLER_RETRY;
    }
    json_t *body = json_loadb(resp->body, resp->body_len, 0, NULL);
    const char *text = json_string_value(json_object_get(body, "error"));
    handler_error_set(err, "ollama /api/embed answered %ld: %.600s", resp->status,
                      text ? text : (resp->body_len ? resp->body : "(empty body)"));
    json_decref(body);
    return httpc_classify_status(resp->status) == HTTPC_CLASS_RETRY ? HANDLER_RETRY
                                                                     : HANDLER_PERMANENT;
}

static char *s_request_body(const s_job_t *job, const size_t *batch, size_t n)
{
    json_t *input = json_array();
    for (size_t k = 0; k < n; k++)
        json_array_append_new(input, json_stringn(job->items.texts[batch[k]],
                                                  job->items.text_lens[batch[k]]));
    json_t *req = json_pack("{s:s, s:o, s:b}", "model", job->items.model, "input", input,
                            "truncate", 1);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    return body;
}

/* POSTs one batch; on success *out holds the parsed answer (caller owns). */
static handler_status_t s_call_ollama(s_job_t *job, const size_t *batch, size_t n, json_t **out,
                                      handler_error_t *err)
{
    char base[256], url[1024];
    httpc_redact_url(job->cfg->url, base, sizeof base);
    snprintf(url, sizeof url, "%s/api/embed", job->cfg->url);
    char *body = s_request_body(job, batch, n);
    httpc_request_t req = {.method = "POST", .url = url, .content_type = "application/json",
                           .body = body, .body_len = strlen(body),
                           .timeout_ms = handler_kit_budget_ms(job->ctx, job->cfg->timeout_ms),
                           .cancelled = job->ctx->cancelled, .max_response_bytes = 256u << 20};
    httpc_response_t resp;
    int rc = handler_kit_http(job->ctx, WORKER_METRICS_OLLAMA, &req, &resp);
    free(body);
    handler_status_t st = HANDLER_OK;
    if (rc != 0 || httpc_classify_status(resp.status) != HTTPC_CLASS_OK) {
        st = s_http_failure(rc, &resp, base, err);
    } else if (!(*out = json_loadb(resp.body, resp.body_len, 0, NULL))) {
        handler_error_set(err, "ollama /api/embed answered %ld with a body that is not json",
                          resp.status);
        st = HANDLER_RETRY;
    }
    httpc_response_fini(&resp);
    return st;
}

static handler_status_t s_store(s_job_t *job, const size_t *batch, size_t n, const json_t *embs,
                                handler_error_t *err)
{
    strbuf_t ids, vecs, hashes;
    strbuf_init(&ids);
    strbuf_init(&vecs);
    strbuf_init(&hashes);
    strbuf_t vec;
    strbuf_init(&vec);
    for (size_t k = 0; k < n; k++) {
        const char *sep = k ? "," : "{";
        strbuf_puts(&ids, sep);
        strbuf_puts(&vecs, sep);
        strbuf_puts(&hashes, sep);
        strbuf_put_pg_array_elem(&ids, job->items.ids[batch[k]]);
        strbuf_reset(&vec);
        embed_format_vector(&vec, json_array_get(embs, k), job->pgvector);
        strbuf_put_pg_array_elem(&vecs, vec.data);
        strbuf_put_pg_array_elem(&hashes, job->items.sha[batch[k]]);
    }
    strbuf_puts(&ids, "}");
    strbuf_puts(&vecs, "}");
    strbuf_puts(&hashes, "}");
    strbuf_fini(&vec);
    char dim[16];
    snprintf(dim, sizeof dim, "%d", job->dim);
    const char *params[5] = {job->items.model, dim, ids.data, vecs.data, hashes.data};
    char cerr[256];
    PGconn *conn = pgconn_get(job->cfg->database_url, cerr, sizeof cerr);
    handler_status_t st = HANDLER_OK;
    if (!conn) {
        handler_error_set(err, "%s", cerr);
        st = HANDLER_RETRY;
    } else {
        PGresult *r = PQexecParams(conn, job->pgvector ? s_upsert_vector : s_upsert_real, 5, NULL,
                                   params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            st = s_db_error(conn, r, "could not store embeddings", err);
        else
            PQclear(r);
    }
    strbuf_fini(&ids);
    strbuf_fini(&vecs);
    strbuf_fini(&hashes);
    return st;
}

static handler_status_t s_embed_batch(s_job_t *job, const size_t *batch, size_t n,
                                      handler_error_t *err)
{
    json_t *resp = NULL;
    handler_status_t st = s_call_ollama(job, batch, n, &resp, err);
    if (st != HANDLER_OK)
        return st;
    int dim = 0;
    if (embed_check_response(resp, n, &dim, err) != 0) {
        json_decref(resp);
        return HANDLER_PERMANENT;
    }
    if (job->embedded > 0 && dim != job->dim) {
        handler_error_set(err, "ollama changed the dimension from %d to %d within one job",
                          job->dim, dim);
        json_decref(resp);
        return HANDLER_PERMANENT;
    }
    job->dim = dim;
    st = s_store(job, batch, n, json_object_get(resp, "embeddings"), err);
    json_decref(resp);
    if (st == HANDLER_OK)
        job->embedded += n;
    return st;
}

static handler_status_t s_embed_pending(s_job_t *job, handler_error_t *err)
{
    size_t npending = job->items.n - job->nskipped;
    size_t *pending = xcalloc(npending ? npending : 1, sizeof *pending);
    for (size_t i = 0, k = 0; i < job->items.n; i++)
        if (!job->skip[i])
            pending[k++] = i;
    size_t bs = job->cfg->batch_size > 0 ? (size_t)job->cfg->batch_size : 32;
    handler_status_t st = HANDLER_OK;
    for (size_t off = 0; off < npending && st == HANDLER_OK; off += bs) {
        if (handler_kit_must_stop(job->ctx, "embedding", &st, err))
            break;
        size_t n = npending - off < bs ? npending - off : bs;
        st = s_embed_batch(job, pending + off, n, err);
        if (st == HANDLER_OK) {
            char msg[64];
            snprintf(msg, sizeof msg, "embedded %zu/%zu", off + n, npending);
            handler_progress(job->ctx, (int)((off + n) * 100 / npending), msg);
        }
    }
    free(pending);
    return st;
}

static handler_status_t s_run(handler_ctx_t *ctx, const json_t *payload, json_t **result,
                              handler_error_t *err)
{
    s_job_t job = {.ctx = ctx, .cfg = ctx->conf};
    if (!job.cfg || !job.cfg->database_url || !job.cfg->url) {
        handler_error_set(err, "embed.url or embed.database_url is not configured");
        return HANDLER_PERMANENT;
    }
    if (embed_parse_payload(payload, job.cfg->model, &job.items, err) != 0) {
        embed_items_fini(&job.items);
        return HANDLER_PERMANENT;
    }
    job.skip = xcalloc(job.items.n, sizeof *job.skip);
    char cerr[256];
    PGconn *conn = pgconn_get(job.cfg->database_url, cerr, sizeof cerr);
    handler_status_t st = HANDLER_RETRY;
    if (!conn)
        handler_error_set(err, "%s", cerr);
    else
        st = s_load_known(&job, conn, err);
    if (st == HANDLER_OK)
        st = s_embed_pending(&job, err);
    if (st == HANDLER_OK) {
        *result = json_pack("{s:I, s:I, s:i, s:s}", "embedded", (json_int_t)job.embedded,
                            "skipped", (json_int_t)job.nskipped, "dimension", job.dim, "model",
                            job.items.model);
        LOG_INFO("embed done job=%lld model=%s embedded=%zu skipped=%zu dim=%d",
                 (long long)ctx->job_id, job.items.model, job.embedded, job.nskipped, job.dim);
    }
    free(job.skip);
    embed_items_fini(&job.items);
    return st;
}

static int s_init(const void *conf, void **state, handler_error_t *err)
{
    const embed_config_t *cfg = conf;
    *state = NULL;
    if (!cfg->url || !cfg->database_url) {
        handler_error_set(err, "embed needs url and database_url (or ORCH_DATABASE_URL)");
        return ORCH_ECONFIG;
    }
    if (httpc_global_init() != 0) {
        handler_error_set(err, "could not initialise libcurl");
        return ORCH_EIO;
    }
    return 0;
}

#define OFF(field) offsetof(embed_config_t, field)
/* clang-format off */
static const cfgtab_key_t s_keys[] = {
    /* a URL may carry credentials: never echoed */
    CFGTAB_K_STR("url", OFF(url), "http://127.0.0.1:11434", CFGTAB_SECRET, "ORCH_OLLAMA_URL",
                 cfgtab_check_http_url),
    CFGTAB_K_STR("model", OFF(model), "nomic-embed-text", 0, NULL, NULL),
    CFGTAB_K_INT("batch_size", OFF(batch_size), "32", 1, 4096),
    CFGTAB_K_DUR("timeout", OFF(timeout_ms), "30s", 100, CFGTAB_HOUR),
    HANDLER_KIT_DATABASE_URL(OFF(database_url)),
};
/* clang-format on */

static int s_check(cfgsection_ctx_t *cx, void *conf)
{
    const embed_config_t *cfg = conf;
    return handler_kit_require_db(cx, cfg->database_url, "embed");
}

const handler_t handler_embed = {
    .name = "embed",
    .config = {CFGSECTION_KEYS(s_keys, embed_config_t), .check = s_check},
    .init = s_init,
    .run = s_run,
};
