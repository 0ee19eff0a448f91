/* Results to report to the coordinator, one queue per command (DONE or
 * FAIL). Entries are kept as ready-made JSON text, so sending one is a copy
 * of its bytes into the message.
 *
 * A result must survive a coordinator restart and a database outage
 * (PROTOCOL.md, "Results and acknowledgements"): with retention on (the
 * coordinator announced "acks" in its WELCOME) an entry stays queued after
 * it is sent, until resultq_ack names it; it is sent again after every
 * WELCOME (resultq_unsend_all) and whenever it went unacknowledged for the
 * resend interval. With retention off (a coordinator that sends no ACK)
 * an entry is forgotten once sent. Whatever is queued while the worker has
 * no coordinator is sent after the next WELCOME either way. */
#ifndef RESULTQ_H
#define RESULTQ_H

#include "proto.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct resultq resultq_t;

/* cmd: "DONE" or "FAIL" (borrowed, static). Retention starts off. */
resultq_t *resultq_new(const char *cmd);
void resultq_destroy(resultq_t **q);

/* result: compact JSON text of the result (any JSON value). call: the
 * attempt's external call (PROTOCOL.md, "Downstream calls"), copied; NULL
 * or outcome PROTO_CALL_NONE: none. */
void resultq_add_done(resultq_t *q, int64_t id, int attempt, const char *result, size_t len,
                      const proto_call_t *call);
/* error: valid UTF-8, truncated to PROTO_ERROR_MAX bytes. */
void resultq_add_fail(resultq_t *q, int64_t id, int attempt, const char *error, bool permanent,
                      bool cancelled, const proto_call_t *call);

/* on: keep entries after sending them until acknowledged. Turning it off
 * keeps what is queued (sent or not); resultq_unsend_all then gets it sent
 * once more and forgotten. */
void resultq_set_retain(resultq_t *q, bool on);
bool resultq_retains(const resultq_t *q);

/* Forgets the entry of (id, attempt) (every copy, should there be two).
 * Returns false when there is none: an ACK for a result already forgotten,
 * or held by the other queue, is harmless. */
bool resultq_ack(resultq_t *q, int64_t id, int attempt);

/* Marks every entry unsent, so that the next flush sends all of them: after
 * a WELCOME, whatever was sent before may not have been recorded. */
void resultq_unsend_all(resultq_t *q);

/* Entries not yet acknowledged (without retention: not yet sent), sent or
 * not. */
size_t resultq_count(const resultq_t *q);
/* Of those, the ones not sent since they were added or last unsent. */
size_t resultq_unsent(const resultq_t *q);
/* Copies the (id, attempt) of at most cap entries counted by resultq_count,
 * oldest first, into out; returns how many. */
size_t resultq_refs(const resultq_t *q, proto_jobref_t *out, size_t cap);

/* Sends, on sock (a DEALER), as [ORCHW1][cmd][{"jobs":[...]}] messages of
 * at most max_jobs entries and about max_bytes each (an entry larger than
 * that goes alone): every entry not sent yet, and, with retention, every
 * entry sent at least resend_after_ms before now_ms (resend_after_ms < 0:
 * never again; no entry goes out twice in one call). Without retention the
 * entries sent are forgotten. Returns the number of messages sent, or
 * ORCH_EIO with the entries of the failed message left as they were. */
int resultq_flush(resultq_t *q, void *sock, size_t max_jobs, size_t max_bytes, int64_t now_ms,
                  int64_t resend_after_ms);

/* When the earliest entry sent becomes due again for resending, as of the
 * last flush (an ACK or resultq_unsend_all since can only make the answer
 * early); INT64_MAX when no entry awaits a resend. */
int64_t resultq_next_resend(const resultq_t *q);

#endif
