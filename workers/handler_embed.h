/* embed: turns entity texts into vectors with Ollama's POST /api/embed and
 * stores them in the embeddings table; texts whose SHA-256 is unchanged for
 * the model are skipped, not sent. See docs/handlers.md. */
#ifndef HANDLER_EMBED_H
#define HANDLER_EMBED_H

#include "handler.h"
#include "sha256.h"
#include "strbuf.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define EMBED_MAX_ITEMS 10000
#define EMBED_MAX_ID_BYTES 512
#define EMBED_MAX_MODEL_BYTES 256

extern const handler_t handler_embed;

/* Its section of worker.yaml (`handlers: embed:`). */
typedef struct {
    char *url;          /* Ollama, default http://127.0.0.1:11434; ORCH_OLLAMA_URL */
    char *model;        /* default nomic-embed-text */
    int batch_size;     /* texts per request, default 32 */
    int64_t timeout_ms; /* per HTTP request, default 30000 */
    char *database_url; /* where vectors go; default: ORCH_DATABASE_URL */
} embed_config_t;

/* A validated payload. Strings are borrowed from the payload json. */
typedef struct {
    const char *model;
    size_t n;
    const char **ids;
    const char **texts;
    size_t *text_lens;
    char (*sha)[SHA256_HEX_BYTES]; /* hex SHA-256 of each text */
    size_t *by_id;                 /* item indexes sorted by id, for lookups */
} embed_items_t;

/* Validates payload ({"model"?, "items":[{"id","text"}]}: 1..EMBED_MAX_ITEMS
 * items, unique string ids, string texts) and hashes the texts. Returns 0,
 * or ORCH_EINVAL with err naming the field. embed_items_fini in both cases. */
int embed_parse_payload(const json_t *payload, const char *default_model, embed_items_t *out,
                        handler_error_t *err);
void embed_items_fini(embed_items_t *items);
/* Index of the item with this id, or -1. */
long embed_items_find(const embed_items_t *items, const char *id);

/* Checks an /api/embed response for `expected` inputs: an "embeddings"
 * array of that many non-empty numeric arrays of one dimension. Returns 0
 * and *dim, or ORCH_EPROTO with err. */
int embed_check_response(const json_t *resp, size_t expected, int *dim, handler_error_t *err);

/* Appends vec as a PostgreSQL literal: "[a,b,...]" for pgvector,
 * "{a,b,...}" for real[]. */
void embed_format_vector(strbuf_t *sb, const json_t *vec, bool pgvector);

#endif
