/* compact: folds a CRDT document's operation log (crdt_ops) into a new
 * snapshot (crdt_snapshots) and deletes operations that a snapshot covers
 * and that are older than compact.retention. See docs/handlers.md. */
#ifndef HANDLER_COMPACT_H
#define HANDLER_COMPACT_H

#include "handler.h"

#include <jansson.h>
#include <stdint.h>

#define COMPACT_DOC_ID_MAX 512
#define COMPACT_ALL_LIMIT_DEFAULT 1000
#define COMPACT_ALL_LIMIT_MAX 10000

extern const handler_t handler_compact;

/* Its section of worker.yaml (`handlers: compact:`). */
typedef struct {
    char *database_url;   /* crdt_ops / crdt_snapshots; default: ORCH_DATABASE_URL */
    int64_t retention_ms; /* ops kept after compaction, default 24h */
} compact_config_t;

/* Applies one operation to state (a JSON object), last writer wins:
 * {"set": key, "value": any} stores value under key, {"del": key} removes
 * key (absent keys are fine). Returns 0, or ORCH_EINVAL with err when op
 * has any other shape; state is unchanged then. */
int compact_apply(json_t *state, const json_t *op, handler_error_t *err);

#endif
