/* index: adds, replaces or deletes documents in a Meilisearch index and waits
 * for the resulting tasks. See docs/handlers.md for the payload, the result
 * and how each Meilisearch error is classified. */
#ifndef HANDLER_INDEX_H
#define HANDLER_INDEX_H

#include "handler.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INDEX_UID_MAX 400
#define INDEX_PRIMARY_KEY_MAX 512

extern const handler_t handler_index;

/* Its section of worker.yaml (`handlers: index:`). */
typedef struct {
    char *url;                /* Meilisearch, default http://127.0.0.1:7700; ORCH_MEILI_URL */
    char *api_key;            /* ORCH_MEILI_API_KEY, or read from api_key_file; never logged */
    char *api_key_file;
    size_t max_request_bytes; /* split payloads above this, default 10485760 */
    int64_t timeout_ms;       /* per HTTP request, default 30000 */
    int64_t poll_initial_ms;  /* task polling backoff start, default 50 */
    int64_t poll_max_ms;      /* default 2000 */
} index_config_t;

typedef enum { INDEX_ADD, INDEX_UPDATE, INDEX_DELETE } index_action_t;

/* A validated payload; pointers borrowed from the payload json. */
typedef struct {
    const char *uid;
    index_action_t action;
    const char *primary_key; /* NULL when not given (ignored for delete) */
    const json_t *items;     /* "documents" (objects) or "ids" (strings / integers) */
} index_request_t;

/* One request body: a JSON array of consecutive items. */
typedef struct {
    char *body; /* owned */
    size_t len;
    size_t count;
} index_chunk_t;

/* [A-Za-z0-9_-], 1..INDEX_UID_MAX bytes. */
bool index_uid_valid(const char *uid);

/* Returns 0 or ORCH_EINVAL with err naming the field. */
int index_parse_payload(const json_t *payload, index_request_t *out, handler_error_t *err);

/* Splits items into JSON arrays of at most max_bytes each, in order.
 * Returns 0 with *chunks (caller owns, index_chunks_free), or ORCH_ETOOBIG
 * with err when one item alone does not fit. */
int index_split(const json_t *items, size_t max_bytes, index_chunk_t **chunks, size_t *nchunks,
                handler_error_t *err);
void index_chunks_free(index_chunk_t *chunks, size_t n);

/* Whether a Meilisearch error is worth retrying: by error type (internal and
 * system: yes; invalid_request and auth: no), task_not_found and HTTP 429
 * always yes (Meilisearch Cloud's 429 rate_limited has type invalid_request),
 * and without a type by HTTP status (5xx, 408, 429: yes). http_status is 0
 * for a failed task. */
bool index_error_retryable(const char *code, const char *type, long http_status);

#endif
