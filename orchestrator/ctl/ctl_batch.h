/* Jobs to submit, validated locally so that a typo fails before anything is
 * sent: read from JSON lines (`orchctl submit --batch FILE`) or added one by
 * one, then cut into SUBMIT bodies that respect the protocol's limits. */
#ifndef CTL_BATCH_H
#define CTL_BATCH_H

#include "proto.h"
#include "strbuf.h"
#include <jansson.h>
#include <stdio.h>

typedef struct ctl_batch ctl_batch_t;

/* lim is copied: it bounds each payload, jobs per request and body size. */
ctl_batch_t *ctl_batch_new(const proto_limits_t *lim);
void ctl_batch_destroy(ctl_batch_t **self);

/* Validates one job object with the coordinator's own rules and appends it.
 * Returns 0, or ORCH_EINVAL with the field named in err. job is borrowed. */
int ctl_batch_add(ctl_batch_t *self, const json_t *job, char *err, size_t errlen);

/* Reads JSON lines from in into an empty batch: one job object per line,
 * blank lines ignored. name says where the lines come from in messages
 * ("batch file 'x.jsonl'"). All or nothing: on the first bad line returns
 * ORCH_EINVAL with "<name> line N: <problem>" in err and leaves the batch
 * empty; ORCH_EIO if the stream could not be read.
 *
 * In-batch dependencies ("depends_on":[-k], the k-th job of the batch)
 * count jobs of the whole input. They must point inside it, and, when the
 * batch needs several requests, at a job that travels in the same request:
 * ctl_batch_body renumbers them for that request. */
int ctl_batch_read(ctl_batch_t *self, FILE *in, const char *name, char *err, size_t errlen);

size_t ctl_batch_count(const ctl_batch_t *self);

/* Input line of job index i (0-based), 0 for jobs not read from lines. */
size_t ctl_batch_line(const ctl_batch_t *self, size_t i);

/* Writes into body (reset first) the SUBMIT body {"jobs":[...]} for the jobs
 * from index start on: as many as fit both the per-request job limit and
 * the body size limit, at least one. Returns how many jobs it holds (0 when
 * start is past the end). Successive calls with start += returned count
 * cut the batch exactly as ctl_batch_read planned it. */
size_t ctl_batch_body(const ctl_batch_t *self, size_t start, strbuf_t *body);

#endif
