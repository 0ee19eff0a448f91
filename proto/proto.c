/* Frame-level decoding: protocol, command and body of one message, plus the
 * small shared helpers (names, limits, error text). Everything here is a
 * pure function over bytes: the coordinator calls it ~100k times a second on
 * input it cannot trust. */
#include "proto.h"
#include "orch_error.h"
#include "proto_field.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PROTO_FRAME_MAX 16 /* protocol and command frames */
#define PROTO_NFRAMES 3

static const char *const s_wcmds[] = {
    NULL,        "HELLO",  "WELCOME",   "JOB", "PROGRESS", "DONE",
    "FAIL",      "CANCEL", "HEARTBEAT", "BYE", "ERROR",    "ACK",
};
static const char *const s_ccmds[] = {
    NULL,
#define S_NAME(name) #name,
    PROTO_CLIENT_COMMANDS(S_NAME)
#undef S_NAME
};
#define S_NWCMDS (sizeof s_wcmds / sizeof s_wcmds[0])
#define S_NCCMDS (sizeof s_ccmds / sizeof s_ccmds[0])

void proto_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void proto_quote(char *dst, size_t dstlen, const void *src, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = src;
    size_t o = 0;
    size_t n = len > PROTO_QUOTE_MAX ? PROTO_QUOTE_MAX : len;

    if (dstlen == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        bool plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
        if (o + (plain ? 1 : 4) + 1 > dstlen)
            break;
        if (plain) {
            dst[o++] = (char)c;
        } else {
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
        }
    }
    if (len > n && o + 4 <= dstlen) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
}

void proto_limits_default(proto_limits_t *lim)
{
    lim->max_body_bytes = (size_t)16 * 1024 * 1024;
    lim->max_payload_bytes = (size_t)1024 * 1024;
    lim->max_batch_jobs = 10000;
}

const char *proto_wcmd_name(int cmd)
{
    if (cmd <= 0 || (size_t)cmd >= S_NWCMDS)
        return NULL;
    return s_wcmds[cmd];
}

const char *proto_ccmd_name(int cmd)
{
    if (cmd <= 0 || (size_t)cmd >= S_NCCMDS)
        return NULL;
    return s_ccmds[cmd];
}

const char *const proto_states[PROTO_NSTATES] = {
    "waiting", "scheduled", "queued", "running", "succeeded", "dead", "cancelled",
};

int proto_state_index(const char *name)
{
    for (int i = 0; name && i < PROTO_NSTATES; i++)
        if (strcmp(proto_states[i], name) == 0)
            return i;
    return -1;
}

bool proto_name_valid(const char *s)
{
    if (!s)
        return false;
    size_t i = 0;
    for (; s[i]; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == ':' || c == '-';
        if (!ok || i >= PROTO_NAME_MAX)
            return false;
    }
    return i > 0;
}

/* Returns the command number, or 0 when the bytes name no command of the
 * table. Frames are not NUL-terminated, so compare length first. */
static int s_lookup(const char *const *table, size_t n, const proto_frame_t *f)
{
    for (size_t i = 1; i < n; i++) {
        size_t len = strlen(table[i]);
        if (len == f->size && memcmp(table[i], f->data, len) == 0)
            return (int)i;
    }
    return 0;
}

static int s_check_header(proto_kind_t kind, const proto_frame_t *frames, int *cmd, char *err,
                          size_t errlen)
{
    const char *want = kind == PROTO_KIND_WORKER ? PROTO_WORKER_V1 : PROTO_CLIENT_V1;
    char q[PROTO_QUOTE_BUF];

    if (frames[0].size > PROTO_FRAME_MAX) {
        proto_errf(err, errlen, "protocol frame is %zu bytes, limit %d", frames[0].size,
                   PROTO_FRAME_MAX);
        return ORCH_EPROTO;
    }
    if (frames[0].size != strlen(want) || memcmp(frames[0].data, want, frames[0].size) != 0) {
        proto_quote(q, sizeof q, frames[0].data, frames[0].size);
        proto_errf(err, errlen, "unknown protocol \"%s\", expected \"%s\"", q, want);
        return ORCH_EPROTO;
    }
    if (frames[1].size > PROTO_FRAME_MAX) {
        proto_errf(err, errlen, "command frame is %zu bytes, limit %d", frames[1].size,
                   PROTO_FRAME_MAX);
        return ORCH_EPROTO;
    }
    *cmd = kind == PROTO_KIND_WORKER ? s_lookup(s_wcmds, S_NWCMDS, &frames[1])
                                     : s_lookup(s_ccmds, S_NCCMDS, &frames[1]);
    if (*cmd == 0) {
        proto_quote(q, sizeof q, frames[1].data, frames[1].size);
        proto_errf(err, errlen, "unknown command \"%s\"", q);
        return ORCH_EPROTO;
    }
    return 0;
}

static const char *s_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "unknown";
}

static int s_parse_body(const proto_limits_t *lim, const proto_frame_t *f, json_t **body,
                        char *err, size_t errlen)
{
    if (f->size > lim->max_body_bytes) {
        proto_errf(err, errlen, "body is %zu bytes, limit %zu", f->size, lim->max_body_bytes);
        return ORCH_ETOOBIG;
    }
    if (f->size == 0) {
        *body = json_object();
        return 0;
    }
    json_error_t jerr;
    json_t *v = json_loadb(f->data, f->size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!v) {
        char text[sizeof jerr.text * 4];
        proto_printable(text, sizeof text, jerr.text);
        proto_errf(err, errlen, "body is not valid json: %s at line %d column %d", text,
                   jerr.line, jerr.column);
        return ORCH_EPROTO;
    }
    if (!json_is_object(v)) {
        proto_errf(err, errlen, "body must be a json object, not %s", s_type_name(v));
        json_decref(v);
        return ORCH_EPROTO;
    }
    *body = v;
    return 0;
}

int proto_decode_head(proto_kind_t kind, const proto_frame_t *frames, size_t nframes, int *cmd,
                      char *err, size_t errlen)
{
    if (kind != PROTO_KIND_WORKER && kind != PROTO_KIND_CLIENT) {
        proto_errf(err, errlen, "unknown protocol kind %d", (int)kind);
        return ORCH_EINVAL;
    }
    if (!frames)
        nframes = 0;
    if (nframes != PROTO_NFRAMES) {
        proto_errf(err, errlen, "expected %d frames after the envelope, got %zu", PROTO_NFRAMES,
                   nframes);
        return ORCH_EPROTO;
    }
    return s_check_header(kind, frames, cmd, err, errlen);
}

int proto_decode_body(const proto_limits_t *lim, const proto_frame_t *body, json_t **out,
                      char *err, size_t errlen)
{
    proto_limits_t def;
    *out = NULL;
    if (!lim) {
        proto_limits_default(&def);
        lim = &def;
    }
    return s_parse_body(lim, body, out, err, errlen);
}

int proto_decode(const proto_limits_t *lim, proto_kind_t kind, const proto_frame_t *frames,
                 size_t nframes, int *cmd, json_t **body, char *err, size_t errlen)
{
    int c = 0;
    *body = NULL;
    int rc = proto_decode_head(kind, frames, nframes, &c, err, errlen);
    if (rc == 0)
        rc = proto_decode_body(lim, &frames[2], body, err, errlen);
    if (rc == 0)
        *cmd = c;
    return rc;
}
