/* Helpers shared by the proto library's files; not part of its API.
 * Field validation for the typed body parsers. Each getter names the
 * offending field in the error, prefixed with the list and index it
 * belongs to: "jobs[3].priority: must be an integer 0..9". */
#ifndef PROTO_FIELD_H
#define PROTO_FIELD_H

#include "proto.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest piece of hostile input copied into an error message. */
#define PROTO_QUOTE_MAX 64

/* Formats into err when err is non-NULL and errlen > 0 (callers may pass
 * NULL when they only want the code). */
void proto_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes src as printable ASCII into dst (always NUL-terminated): bytes
 * outside 0x20..0x7e and the quote and backslash are escaped as \xNN, and
 * input past PROTO_QUOTE_MAX bytes is cut with "...". Error messages end
 * up in logs and replies, so they must never carry raw control bytes. */
void proto_quote(char *dst, size_t dstlen, const void *src, size_t len);

/* Size of a dst buffer that proto_quote never truncates further. */
#define PROTO_QUOTE_BUF (PROTO_QUOTE_MAX * 4 + 4)

typedef struct {
    char *err;
    size_t errlen;
    const char *list; /* "jobs", "running" or NULL at the top level */
    size_t idx;
} proto_fctx_t;

/* Writes "<list>[idx].<field>: <msg>" and returns rc. field may be NULL. */
int proto_ffail(const proto_fctx_t *c, int rc, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Rejects any key of obj that is not in allowed (NULL-terminated); with
 * allow_req the key "req" (echoed by client replies) is accepted too. */
int proto_fkeys(const proto_fctx_t *c, const json_t *obj, const char *const *allowed,
                bool allow_req);

/* Getters return 1 when the field was present and valid, 0 when absent and
 * optional, or a negative ORCH_E* after writing the error. */
int proto_fint(const proto_fctx_t *c, const json_t *obj, const char *key, int64_t min,
               int64_t max, bool required, int64_t *out);
int proto_fbool(const proto_fctx_t *c, const json_t *obj, const char *key, bool *out);
int proto_fname(const proto_fctx_t *c, const json_t *obj, const char *key, bool required,
                char **out);
/* String of minlen..maxlen bytes; with truncate, longer strings are cut at
 * a UTF-8 character boundary at or below maxlen instead of rejected. */
int proto_fstr(const proto_fctx_t *c, const json_t *obj, const char *key, size_t minlen,
               size_t maxlen, bool truncate, bool required, char **out);
/* Array of minn..maxn names without duplicates, copied into *out. */
int proto_fnames(const proto_fctx_t *c, const json_t *obj, const char *key, size_t minn,
                 size_t maxn, char ***out, size_t *n);

/* Checks body is {"jobs":[...]} (plus "req") with 1..max_batch_jobs
 * entries, the shape shared by SUBMIT, JOB, DONE and FAIL; stores the
 * array. A batch over the limit is ORCH_ETOOBIG. */
int proto_fjobs(const json_t *body, const proto_limits_t *lim, const json_t **arr, char *err,
                size_t errlen);

/* Compact serialisation of v in one pass, aborted as soon as it passes
 * limit bytes. Returns 0 (caller frees *out with free), ORCH_ETOOBIG, or
 * ORCH_EINVAL when jansson cannot serialise v. */
int proto_fdump(const json_t *v, size_t flags, size_t limit, char **out, size_t *outlen);

void proto_fstrv_free(char **v, size_t n);

#endif
