/* The pieces every encoder is made of: JSON strings that are valid whatever
 * bytes they are given, members, list bodies, and the "req" echo. */
#include "orch_error.h"
#include "proto.h"
#include "proto_field.h"
#include "utf8.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char s_hex[] = "0123456789abcdef";

static void s_escape(strbuf_t *sb, unsigned char c, bool flatten)
{
    switch (c) {
    case '"': strbuf_append(sb, "\\\"", 2); return;
    case '\\': strbuf_append(sb, "\\\\", 2); return;
    default: break;
    }
    if (flatten) {
        strbuf_putc(sb, ' ');
        return;
    }
    switch (c) {
    case '\n': strbuf_append(sb, "\\n", 2); return;
    case '\r': strbuf_append(sb, "\\r", 2); return;
    case '\t': strbuf_append(sb, "\\t", 2); return;
    default: break;
    }
    char esc[6] = {'\\', 'u', '0', '0', s_hex[c >> 4], s_hex[c & 15]};
    strbuf_append(sb, esc, sizeof esc);
}

/* Plain bytes are copied in runs; only what needs escaping or replacing
 * breaks a run, so ASCII names cost one memcpy. max bounds the decoded
 * length (what the peer's parser gets back), which a replacement makes
 * longer than its source: the string is cut before the character that
 * would pass it. */
static void s_put(strbuf_t *sb, const char *s, size_t n, bool flatten, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t run = 0, i = 0, out = 0;
    strbuf_reserve(sb, n + 2);
    strbuf_putc(sb, '"');
    size_t start = sb->len;
    while (i < n) {
        unsigned char c = p[i];
        bool plain = c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
        size_t len = plain ? 1 : c >= 0x80 ? utf8_seq(p + i, n - i) : 0;
        size_t dec = len > 0 ? len : c >= 0x80 || c == 0 ? 3 : 1;
        if (out + dec > max)
            break;
        out += dec;
        if (len > 0) {
            i += len;
            continue;
        }
        strbuf_append(sb, s + run, i - run);
        if (c >= 0x80 || c == 0)
            strbuf_append(sb, "\\ufffd", 6); /* not UTF-8, or NUL (parsers refuse \u0000) */
        else
            s_escape(sb, c, flatten);
        run = ++i;
    }
    strbuf_append(sb, s + run, i - run);
    /* an escape never ends in a space: trailing spaces are the text's */
    while (flatten && sb->len > start && sb->data[sb->len - 1] == ' ')
        sb->len--;
    strbuf_putc(sb, '"');
}

void proto_put_string(strbuf_t *sb, const char *s, size_t n)
{
    s_put(sb, s ? s : "", s ? n : 0, false, SIZE_MAX);
}

void proto_put_cut(strbuf_t *sb, const char *s, size_t max)
{
    if (!s)
        s = "";
    s_put(sb, s, strnlen(s, max + 1), false, max);
}

size_t proto_utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t cut = max;
    while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
        cut--;
    return cut;
}

void proto_put_message(strbuf_t *sb, const char *s, size_t max)
{
    if (!s)
        s = "";
    s_put(sb, s, strnlen(s, max + 1), true, max);
}

void proto_sep(strbuf_t *sb)
{
    if (sb->len == 0)
        return;
    char last = sb->data[sb->len - 1];
    if (last != '[' && last != '{')
        strbuf_putc(sb, ',');
}

void proto_key(strbuf_t *sb, const char *key)
{
    proto_sep(sb);
    proto_put_string(sb, key, strlen(key));
    strbuf_putc(sb, ':');
}

void proto_jobs_open(strbuf_t *sb)
{
    strbuf_reset(sb);
    strbuf_append(sb, "{\"jobs\":[", 9);
}

void proto_jobs_close(strbuf_t *sb)
{
    strbuf_append(sb, "]}", 2);
}

char *proto_req_dump(const json_t *body)
{
    const json_t *req = json_is_object(body) ? json_object_get(body, "req") : NULL;
    if (!req)
        return NULL;
    char *text = json_dumps(req, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        abort(); /* only out of memory: a parsed value always serialises */
    return text;
}

void proto_put_req(strbuf_t *sb, const char *req)
{
    if (!req)
        return;
    assert(sb->len >= 2 && sb->data[sb->len - 1] == '}');
    sb->len--;
    proto_key(sb, "req");
    strbuf_puts(sb, req);
    strbuf_putc(sb, '}');
}
