#include "ctl_batch.h"
#include "orch_error.h"
#include "xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    proto_jobspec_t spec; /* validated by the codec, encoded by it */
    char *text;           /* spec encoded as the first job of a request */
    size_t len;
    size_t line;          /* 0: not read from a line */
    bool refs;            /* has in-batch references, renumbered per request */
} s_job_t;

struct ctl_batch {
    proto_limits_t lim;
    s_job_t *jobs;
    size_t n;
    size_t cap;
};

ctl_batch_t *ctl_batch_new(const proto_limits_t *lim)
{
    ctl_batch_t *self = xcalloc(1, sizeof *self);
    self->lim = *lim;
    if (self->lim.max_batch_jobs == 0)
        self->lim.max_batch_jobs = 1;
    return self;
}

static void s_clear(ctl_batch_t *self)
{
    for (size_t i = 0; i < self->n; i++) {
        free(self->jobs[i].text);
        proto_jobspec_fini(&self->jobs[i].spec);
    }
    self->n = 0;
}

void ctl_batch_destroy(ctl_batch_t **self)
{
    if (!self || !*self)
        return;
    s_clear(*self);
    free((*self)->jobs);
    free(*self);
    *self = NULL;
}

size_t ctl_batch_count(const ctl_batch_t *self)
{
    return self->n;
}

size_t ctl_batch_line(const ctl_batch_t *self, size_t i)
{
    return i < self->n ? self->jobs[i].line : 0;
}

static bool s_has_batch_refs(const proto_jobspec_t *spec)
{
    for (size_t i = 0; i < spec->ndepends; i++) {
        if (spec->depends_on[i] < 0)
            return true;
    }
    return false;
}

static int s_add(ctl_batch_t *self, const json_t *job, size_t line, char *err, size_t errlen)
{
    /* References count jobs of the whole input, which may be longer than one
     * request: s_check_refs bounds them once the input is complete. */
    proto_limits_t lim = self->lim;
    lim.max_batch_jobs = SIZE_MAX;
    proto_jobspec_t spec;
    if (proto_jobspec_parse(job, &lim, &spec, err, errlen) != 0)
        return ORCH_EINVAL;
    strbuf_t sb;
    strbuf_init(&sb);
    proto_jobspec_encode(&sb, &spec, 0);
    size_t len = sb.len;
    if (self->n == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 64;
        self->jobs = xrealloc(self->jobs, self->cap * sizeof *self->jobs);
    }
    self->jobs[self->n++] = (s_job_t){
        .spec = spec,
        .text = strbuf_detach(&sb),
        .len = len,
        .line = line,
        .refs = s_has_batch_refs(&spec),
    };
    return 0;
}

int ctl_batch_add(ctl_batch_t *self, const json_t *job, char *err, size_t errlen)
{
    return s_add(self, job, 0, err, errlen);
}

/* End (exclusive) of the request that starts at job start. Renumbering
 * only shortens references (-k becomes -(k - start)), so the stored
 * lengths bound the final body size. */
static size_t s_request_end(const ctl_batch_t *self, size_t start)
{
    size_t size = PROTO_JOBS_OVERHEAD;
    size_t end = start;
    while (end < self->n && end - start < self->lim.max_batch_jobs) {
        size_t add = self->jobs[end].len + (end > start ? 1 : 0);
        /* The first job always goes: alone it either fits or the coordinator
         * answers 413, which is the honest error to show. */
        if (end > start && size + add > self->lim.max_body_bytes)
            break;
        size += add;
        end++;
    }
    return end;
}

/* Every in-batch reference of job i must name another job of the request
 * [start, end) that job i travels in. */
static int s_check_job_refs(const ctl_batch_t *self, size_t i, size_t start, size_t end,
                            char *err, size_t errlen)
{
    const proto_jobspec_t *spec = &self->jobs[i].spec;
    for (size_t j = 0; j < spec->ndepends; j++) {
        int64_t v = spec->depends_on[j];
        if (v >= 0)
            continue;
        uint64_t k = (uint64_t)-(v + 1) + 1; /* 1-based job number; no overflow at INT64_MIN */
        if (k > self->n)
            snprintf(err, errlen, "depends_on[%zu]: refers to job %" PRIu64 " of a batch of %zu",
                     j, k, self->n);
        else if (k - 1 == i)
            snprintf(err, errlen, "depends_on[%zu]: a job cannot depend on itself", j);
        else if (k - 1 < start || k - 1 >= end)
            snprintf(err, errlen,
                     "depends_on[%zu]: job %" PRIu64 " goes in another request (one request "
                     "holds jobs %zu..%zu of this batch)",
                     j, k, start + 1, end);
        else
            continue;
        return ORCH_EINVAL;
    }
    return 0;
}

static int s_check_refs(const ctl_batch_t *self, const char *name, char *err, size_t errlen)
{
    for (size_t start = 0, end; start < self->n; start = end) {
        end = s_request_end(self, start);
        for (size_t i = start; i < end; i++) {
            char why[256];
            if (self->jobs[i].refs && s_check_job_refs(self, i, start, end, why, sizeof why)) {
                snprintf(err, errlen, "%s line %zu: %s", name, self->jobs[i].line, why);
                return ORCH_EINVAL;
            }
        }
    }
    return 0;
}

static bool s_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!isspace((unsigned char)s[i]))
            return false;
    }
    return true;
}

static int s_add_line(ctl_batch_t *self, const char *text, size_t len, size_t line, char *err,
                      size_t errlen)
{
    json_error_t jerr;
    json_t *job = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!job) {
        snprintf(err, errlen, "invalid JSON at column %d: %s", jerr.column, jerr.text);
        return ORCH_EINVAL;
    }
    int rc = ORCH_EINVAL;
    if (!json_is_object(job))
        snprintf(err, errlen, "not a JSON object");
    else
        rc = s_add(self, job, line, err, errlen);
    json_decref(job);
    return rc;
}

int ctl_batch_read(ctl_batch_t *self, FILE *in, const char *name, char *err, size_t errlen)
{
    char *text = NULL;
    size_t cap = 0;
    size_t line = 0;
    ssize_t len;
    int rc = 0;
    errno = 0;
    while ((len = getline(&text, &cap, in)) >= 0) {
        line++;
        /* without the line end, jansson's column counts from the line start */
        while (len > 0 && isspace((unsigned char)text[len - 1]))
            len--;
        if (s_blank(text, (size_t)len))
            continue;
        char why[512];
        if (s_add_line(self, text, (size_t)len, line, why, sizeof why) != 0) {
            snprintf(err, errlen, "%s line %zu: %s", name, line, why);
            rc = ORCH_EINVAL;
            break;
        }
    }
    if (rc == 0 && ferror(in)) {
        snprintf(err, errlen, "could not read %s: %s", name, strerror(errno ? errno : EIO));
        rc = ORCH_EIO;
    }
    free(text);
    if (rc == 0)
        rc = s_check_refs(self, name, err, errlen);
    if (rc != 0)
        s_clear(self);
    return rc;
}

size_t ctl_batch_body(const ctl_batch_t *self, size_t start, strbuf_t *body)
{
    strbuf_reset(body);
    if (start >= self->n)
        return 0;
    size_t end = s_request_end(self, start);
    proto_jobs_open(body);
    for (size_t i = start; i < end; i++) {
        const s_job_t *job = &self->jobs[i];
        if (i > start)
            strbuf_putc(body, ',');
        /* references to the k-th job of the input become references to the
         * (k - start)-th job of this request */
        if (job->refs && start > 0)
            proto_jobspec_encode(body, &job->spec, start);
        else
            strbuf_append(body, job->text, job->len);
    }
    proto_jobs_close(body);
    return end - start;
}
