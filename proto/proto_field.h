/* Helpers shared by the proto library's files; not part of its API.
 * Field validation for the typed body parsers. Each getter names the
 * offending field in the error, prefixed with the list and index it
 * belongs to: "jobs[3].priority: must be an integer 0..9". */
#ifndef PROTO_FIELD_H
#define PROTO_FIELD_H

#include "proto.h"
#include "strbuf.h"
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

/* Copies src into dst (always NUL-terminated) with every byte outside
 * printable ASCII written as \xNN: for messages of other parsers (jansson
 * quotes the offending input raw, "near '...'"), so that the text stays
 * valid UTF-8 for a JSON reply and harmless in a log line. */
void proto_printable(char *dst, size_t dstlen, const char *src);

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

/* id >= 1 and attempt 1..INT32_MAX, both required: every per-job message
 * carries them. Returns 0 or the error. */
int proto_fjobref(const proto_fctx_t *c, const json_t *obj, int64_t *id, int *attempt);
/* e is an object with no keys outside allowed ("req" not allowed). */
int proto_fentry(const proto_fctx_t *c, const json_t *e, const char *const *allowed);
/* body is an object with no keys outside allowed (plus "req"). */
int proto_fbody(const proto_fctx_t *c, const json_t *body, const char *const *allowed);

/* Checks body is {"jobs":[...]} (plus "req") with 1..max_batch_jobs
 * entries, the shape shared by SUBMIT, JOB, DONE and FAIL; stores the
 * array. A batch over the limit is ORCH_ETOOBIG. */
int proto_fjobs(const json_t *body, const proto_limits_t *lim, const json_t **arr, char *err,
                size_t errlen);

/* Compact serialisation of v in one pass, aborted as soon as it passes
 * limit bytes. Returns 0 (caller frees *out with free), ORCH_ETOOBIG, or
 * ORCH_EINVAL when jansson cannot serialise v. */
int proto_fdump(const json_t *v, size_t flags, size_t limit, char **out, size_t *outlen);

/* "payload" of obj: an optional JSON object, serialised compactly into
 * *out (caller frees; "{}" when absent) within lim->max_payload_bytes.
 * Returns 0 or the error (ORCH_ETOOBIG over the limit). */
int proto_fpayload(const proto_fctx_t *c, const json_t *obj, const proto_limits_t *lim, char **out,
                   size_t *len);

void proto_fstrv_free(char **v, size_t n);

/* Longest prefix of s (len bytes) not longer than max that does not split
 * a UTF-8 sequence. */
size_t proto_utf8_cut(const char *s, size_t len, size_t max);

/* ---- encoding ---- */

/* Like proto_put_string for the C string s, cut so that the decoded text
 * is at most max bytes (a replaced byte counts as the three of U+FFFD). */
void proto_put_cut(strbuf_t *sb, const char *s, size_t max);

/* A comma unless sb is empty or ends an opening bracket or brace: every
 * member and list entry starts with it. */
void proto_sep(strbuf_t *sb);
/* The separator and "key": (key is a literal of the codec or its caller). */
void proto_key(strbuf_t *sb, const char *key);

#endif
