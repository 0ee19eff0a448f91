/* Results waiting to be reported to the coordinator, one queue per command
 * (DONE or FAIL). Entries are kept as ready-made JSON text so that flushing
 * is one copy per message, and results survive a disconnect: whatever is
 * queued while the worker has no coordinator is sent after the next
 * WELCOME. */
#ifndef RESULTQ_H
#define RESULTQ_H

#include "proto.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct resultq resultq_t;

/* cmd: "DONE" or "FAIL" (borrowed, static). */
resultq_t *resultq_new(const char *cmd);
void resultq_destroy(resultq_t **q);

/* result: compact JSON text of the result (any JSON value). */
void resultq_add_done(resultq_t *q, int64_t id, int attempt, const char *result, size_t len);
/* error: valid UTF-8, truncated to PROTO_ERROR_MAX bytes. */
void resultq_add_fail(resultq_t *q, int64_t id, int attempt, const char *error, bool permanent,
                      bool cancelled);

size_t resultq_count(const resultq_t *q);
/* The jobs queued, in order; borrowed until the next add or flush. */
const proto_jobref_t *resultq_refs(const resultq_t *q);

/* Sends everything queued on sock (a DEALER) as [ORCHW1][cmd][{"jobs":[...]}]
 * messages of at most max_jobs entries and about max_bytes each (an entry
 * larger than that goes alone). Returns the number of messages sent, or
 * ORCH_EIO with the unsent entries still queued. */
int resultq_flush(resultq_t *q, void *sock, size_t max_jobs, size_t max_bytes);

#endif
