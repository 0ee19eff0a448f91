#include "log_json.h"
#include "utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the end of a line needs whatever came before: the closing quote of
 * msg, ,"truncated":true} and the newline. */
#define S_RESERVE 32
#define S_INT_MAX_DIGITS 16 /* 2^53 = 9007199254740992 */

/* The line being written: cap stops before the reserve. Once something
 * did not fit, full stays set and nothing more is added but the end. */
typedef struct {
    char *buf;
    size_t cap;
    size_t len;
    bool full;
} s_out_t;

static void s_put(s_out_t *o, const char *s, size_t n)
{
    if (o->full || n > o->cap - o->len) {
        o->full = true;
        return;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static void s_puts(s_out_t *o, const char *s)
{
    s_put(o, s, strlen(s));
}

/* ---- strings ---------------------------------------------------------- */

/* The escaped form of the character at s into esc; returns how many bytes
 * of s it stands for (>= 1) and sets *esclen. */
static size_t s_escape_one(const unsigned char *s, size_t n, char esc[8], size_t *esclen)
{
    static const char hex[] = "0123456789abcdef";
    unsigned c = s[0];
    const char *named = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
                        : c == '\t' ? "\\t" : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
    if (named) {
        *esclen = strlen(named);
        memcpy(esc, named, *esclen);
        return 1;
    }
    if (c < 0x20) {
        memcpy(esc, "\\u00", 4);
        esc[4] = hex[c >> 4];
        esc[5] = hex[c & 15];
        *esclen = 6;
        return 1;
    }
    size_t u = c < 0x80 ? 1 : utf8_seq(s, n);
    if (u == 0) {
        memcpy(esc, "\\ufffd", 6); /* a byte that is not UTF-8 */
        *esclen = 6;
        return 1;
    }
    memcpy(esc, s, u);
    *esclen = u;
    return u;
}

/* Escapes s[0..n) into the line, whole characters only: a string cut for
 * room stays valid JSON. */
static void s_escape(s_out_t *o, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n && !o->full;) {
        char esc[8];
        size_t esclen;
        i += s_escape_one(p + i, n - i, esc, &esclen);
        s_put(o, esc, esclen);
    }
}

static void s_string(s_out_t *o, const char *s, size_t n)
{
    s_put(o, "\"", 1);
    s_escape(o, s, n);
    s_put(o, "\"", 1);
}

/* ---- the message's fields --------------------------------------------- */

/* Length of the key when s starts with one followed by '=', else 0. */
static size_t s_key_len(const char *s)
{
    const char *first = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_";
    if (!*s || !strchr(first, *s))
        return 0;
    size_t n = 1 + strspn(s + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-");
    return s[n] == '=' ? n : 0;
}

/* The quote that closes a value opened just before s: the first one that
 * ends the line or is followed by a space and another field; else the
 * last one followed by a space (free words follow); else NULL. */
static const char *s_closing(const char *s)
{
    const char *last = NULL;
    for (const char *q = strchr(s, '"'); q; q = strchr(q + 1, '"')) {
        if (q[1] == '\0')
            return q;
        if (q[1] == ' ') {
            const char *next = q + 1 + strspn(q + 1, " ");
            if (!*next || s_key_len(next) > 0)
                return q;
            last = q;
        }
    }
    return last;
}

bool log_json_next(const char *msg, size_t *pos, log_field_t *f)
{
    size_t i = *pos + strspn(msg + *pos, " ");
    memset(f, 0, sizeof *f);
    if (!msg[i]) {
        *pos = i;
        return false;
    }
    size_t k = s_key_len(msg + i);
    if (k) {
        f->key = msg + i;
        f->keylen = k;
        i += k + 1;
    }
    f->val = msg + i;
    if (k && msg[i] == '"') {
        const char *close = s_closing(msg + i + 1);
        f->quoted = true;
        f->val = msg + i + 1;
        f->vallen = close ? (size_t)(close - f->val) : strlen(f->val);
        *pos = (size_t)(f->val - msg) + f->vallen + (close ? 1 : 0);
        return true;
    }
    f->vallen = strcspn(msg + i, " ");
    *pos = i + f->vallen;
    return true;
}

/* -?(0|[1-9][0-9]*) within +-2^53: exact in every JSON reader. */
static bool s_is_int(const char *v, size_t n)
{
    size_t i = n > 0 && v[0] == '-';
    size_t digits = n - i;
    if (digits == 0 || digits > S_INT_MAX_DIGITS || (v[i] == '0' && digits > 1))
        return false;
    for (size_t k = i; k < n; k++) {
        if (v[k] < '0' || v[k] > '9')
            return false;
    }
    char tmp[S_INT_MAX_DIGITS + 2];
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    long long x = strtoll(tmp, NULL, 10);
    return x <= (1LL << 53) && x >= -(1LL << 53);
}

static bool s_reserved(const char *key, size_t n)
{
    static const char *const names[] = {"ts", "level", "program", "pid", "msg", "truncated"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (strlen(names[i]) == n && memcmp(names[i], key, n) == 0)
            return true;
    }
    return false;
}

/* How many fields before position end of msg have key f's key. */
static int s_seen(const char *msg, size_t end, const log_field_t *f)
{
    int n = 0;
    size_t pos = 0;
    log_field_t g;
    while (pos < end && log_json_next(msg, &pos, &g)) {
        if (g.key && g.keylen == f->keylen && memcmp(g.key, f->key, f->keylen) == 0 &&
            g.key != f->key)
            n++;
        if (g.key == f->key)
            break;
    }
    return n;
}

/* ,"key":value, whole or not at all. */
static void s_member(s_out_t *o, const char *msg, const log_field_t *f)
{
    size_t mark = o->len;
    char suffix[16] = "";
    int seen = s_seen(msg, (size_t)(f->key - msg), f);
    if (seen)
        snprintf(suffix, sizeof suffix, "_%d", seen + 1);
    s_puts(o, ",\"");
    if (s_reserved(f->key, f->keylen))
        s_puts(o, "field_");
    s_escape(o, f->key, f->keylen);
    s_puts(o, suffix);
    s_puts(o, "\":");
    if (!f->quoted && s_is_int(f->val, f->vallen))
        s_put(o, f->val, f->vallen);
    else
        s_string(o, f->val, f->vallen);
    if (o->full)
        o->len = mark;
}

/* The free words, joined by one space. */
static void s_msg(s_out_t *o, const char *msg)
{
    s_puts(o, ",\"msg\":\"");
    size_t pos = 0;
    bool first = true;
    log_field_t f;
    while (!o->full && log_json_next(msg, &pos, &f)) {
        if (f.key)
            continue;
        if (!first)
            s_put(o, " ", 1);
        s_escape(o, f.val, f.vallen);
        first = false;
    }
}

size_t log_json_render(char *buf, size_t len, const char *ts, const char *level,
                       const char *program, int pid, const char *msg)
{
    s_out_t o = {.buf = buf, .cap = len - S_RESERVE};
    char num[24];
    s_puts(&o, "{\"ts\":");
    s_string(&o, ts, strlen(ts));
    s_puts(&o, ",\"level\":");
    s_string(&o, level, strlen(level));
    s_puts(&o, ",\"program\":");
    s_string(&o, program, strlen(program));
    snprintf(num, sizeof num, ",\"pid\":%d", pid);
    s_puts(&o, num);
    s_msg(&o, msg);
    bool cut = o.full;
    o.full = false;
    o.cap = len - 1; /* the reserve: msg's closing quote */
    s_put(&o, "\"", 1);
    o.cap = len - S_RESERVE;
    size_t pos = 0;
    log_field_t f;
    while (!cut && log_json_next(msg, &pos, &f)) {
        if (!f.key)
            continue;
        s_member(&o, msg, &f);
        cut = o.full;
    }
    o.full = false;
    o.cap = len;
    s_puts(&o, cut ? ",\"truncated\":true}\n" : "}\n");
    return o.len;
}
