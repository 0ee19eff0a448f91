/* Shared by the proto fuzz drivers: the invariant check that aborts (which
 * libFuzzer reports) and the checks every decoder's output must pass. */
#ifndef FUZZ_CHECK_H
#define FUZZ_CHECK_H

#include "orch_error.h"
#include "proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ERRLEN 512

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s: invariant failed at line %d: %s\n", __FILE__, __LINE__, #cond);  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Error text ends up in JSON replies and log lines: it must be non-empty,
 * printable ASCII, and come with a negative code. */
static inline void fuzz_check_err(int rc, const char *err)
{
    CHECK(rc < 0);
    CHECK(err[0] != '\0');
    for (const char *p = err; *p; p++)
        CHECK(*p >= 0x20 && *p < 0x7f);
}

static inline bool fuzz_utf8_ok(const char *s)
{
    json_t *v = json_string(s); /* jansson validates UTF-8 */
    bool ok = v != NULL;
    json_decref(v);
    return ok;
}

static inline bool fuzz_streq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Parses what an encoder wrote; it must be one JSON value (an object when
 * asked), accepted with the flags proto_decode uses. Caller owns. */
static inline json_t *fuzz_load(const strbuf_t *sb, bool object)
{
    json_error_t e;
    json_t *v = json_loadb(sb->data, sb->len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
    if (!v)
        fprintf(stderr, "fuzz: encoder wrote invalid json %.300s: %s\n", sb->data, e.text);
    CHECK(v != NULL);
    CHECK(!object || json_is_object(v));
    return v;
}

/* Checks run on every body proto_decode accepted (fuzz_proto_worker.c,
 * fuzz_proto_client.c): each typed decoder, and for what it accepts, that
 * the encoder gives it back. */
void fuzz_worker_bodies(const json_t *body, const proto_limits_t *lim);
void fuzz_done_scan(const proto_frame_t *f, const json_t *body, const proto_limits_t *lim);
void fuzz_jobs_scan(const proto_frame_t *f, const json_t *body, const proto_limits_t *lim);
void fuzz_client_bodies(const json_t *body, const proto_limits_t *lim);
void fuzz_submit_scan(const proto_frame_t *f, const json_t *body, const proto_limits_t *lim);

#endif
