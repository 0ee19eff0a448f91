/* The tree-free JSON reader (proto_scan.h). It validates as it goes and
 * gives up on anything outside its subset; what it accepts, jansson would
 * accept too and dump compactly as the same bytes (the unit test
 * test_proto_scan and the fuzz driver fuzz_proto hold it to that
 * against jansson itself). */
#include "proto_scan.h"
#include "proto_field.h"
#include "utf8.h"
#include "xalloc.h"

#include <string.h>

void proto_scan_init(proto_scan_t *sc, const void *data, size_t len)
{
    sc->p = data;
    sc->end = sc->p + len;
}

static void s_ws(proto_scan_t *sc)
{
    while (sc->p < sc->end &&
           (*sc->p == ' ' || *sc->p == '\n' || *sc->p == '\r' || *sc->p == '\t'))
        sc->p++;
}

bool proto_scan_take(proto_scan_t *sc, char c)
{
    s_ws(sc);
    if (sc->p < sc->end && *sc->p == (unsigned char)c) {
        sc->p++;
        return true;
    }
    return false;
}

bool proto_scan_peek(proto_scan_t *sc, char c)
{
    s_ws(sc);
    return sc->p < sc->end && *sc->p == (unsigned char)c;
}

bool proto_scan_end(proto_scan_t *sc)
{
    s_ws(sc);
    return sc->p == sc->end;
}

/* The escapes whose character jansson writes back as the same escape. */
static bool s_plain_escape(unsigned char e)
{
    return e == '"' || e == '\\' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't';
}

bool proto_scan_string(proto_scan_t *sc, proto_scan_str_t *out)
{
    s_ws(sc);
    if (sc->p >= sc->end || *sc->p != '"')
        return false;
    const unsigned char *q = sc->p + 1;
    bool escaped = false;
    while (q < sc->end) {
        unsigned char c = *q;
        if (c == '"') {
            out->s = (const char *)sc->p + 1;
            out->len = (size_t)(q - sc->p - 1);
            out->escaped = escaped;
            sc->p = q + 1;
            return true;
        }
        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (q + 1 >= sc->end || !s_plain_escape(q[1]))
                return false;
            escaped = true;
            q += 2;
        } else if (c < 0x80) {
            q++;
        } else {
            size_t n = utf8_seq(q, (size_t)(sc->end - q));
            if (n == 0)
                return false;
            q += n;
        }
    }
    return false;
}

static bool s_digit(const unsigned char *q, const unsigned char *end)
{
    return q < end && *q >= '0' && *q <= '9';
}

bool proto_scan_int(proto_scan_t *sc, int64_t min, int64_t max, int64_t *out)
{
    s_ws(sc);
    const unsigned char *q = sc->p;
    bool neg = q < sc->end && *q == '-';
    if (neg)
        q++;
    if (!s_digit(q, sc->end) || (*q == '0' && s_digit(q + 1, sc->end)))
        return false;
    int64_t v = 0;
    for (int n = 0; s_digit(q, sc->end); q++, n++) {
        if (n == 18) /* 18 digits never overflow */
            return false;
        v = v * 10 + (*q - '0');
    }
    /* a fraction or exponent makes a real */
    if ((q < sc->end && (*q == '.' || *q == 'e' || *q == 'E')) || (neg && v == 0))
        return false;
    v = neg ? -v : v;
    if (v < min || v > max)
        return false;
    *out = v;
    sc->p = q;
    return true;
}

bool proto_scan_name(proto_scan_t *sc, char **out)
{
    proto_scan_str_t v;
    if (*out || !proto_scan_string(sc, &v) || v.escaped || v.len > PROTO_NAME_MAX)
        return false;
    *out = xstrndup(v.s, v.len);
    return proto_name_valid(*out);
}

static bool s_word(proto_scan_t *sc, const char *w, size_t n)
{
    if ((size_t)(sc->end - sc->p) < n || memcmp(sc->p, w, n) != 0)
        return false;
    sc->p += n;
    return true;
}

int proto_scan_item(proto_scan_t *sc, bool *first)
{
    if (proto_scan_take(sc, ']'))
        return 0; /* "[1,]" gives up later, at the item that is missing */
    if (*first) {
        *first = false;
        return 1;
    }
    return proto_scan_take(sc, ',') ? 1 : -1;
}

int proto_scan_member(proto_scan_t *sc, bool *first, proto_scan_str_t *key)
{
    if (proto_scan_take(sc, '}'))
        return 0; /* "{}", or the end after a member */
    if (!*first && !proto_scan_take(sc, ','))
        return -1;
    *first = false;
    if (!proto_scan_string(sc, key) || !proto_scan_take(sc, ':'))
        return -1;
    return 1;
}

static bool s_skip(proto_scan_t *sc, int depth);

static bool s_skip_object(proto_scan_t *sc, int depth)
{
    proto_scan_str_t keys[PROTO_SCAN_KEYS + 1];
    size_t n = 0;
    bool first = true;
    int rc;
    while ((rc = proto_scan_member(sc, &first, &keys[n])) == 1) {
        for (size_t i = 0; i < n; i++)
            if (keys[i].len == keys[n].len && memcmp(keys[i].s, keys[n].s, keys[n].len) == 0)
                return false; /* each string has one spelling in the subset */
        if (++n > PROTO_SCAN_KEYS || !s_skip(sc, depth + 1))
            return false;
    }
    return rc == 0;
}

static bool s_skip_array(proto_scan_t *sc, int depth)
{
    bool first = true;
    int rc;
    while ((rc = proto_scan_item(sc, &first)) == 1)
        if (!s_skip(sc, depth + 1))
            return false;
    return rc == 0;
}

/* One value of the subset, validated and passed over. */
static bool s_skip(proto_scan_t *sc, int depth)
{
    proto_scan_str_t str;
    int64_t v;

    s_ws(sc);
    if (sc->p >= sc->end || depth > PROTO_SCAN_DEPTH)
        return false;
    switch (*sc->p) {
    case '{': sc->p++; return s_skip_object(sc, depth);
    case '[': sc->p++; return s_skip_array(sc, depth);
    case '"': return proto_scan_string(sc, &str);
    case 't': return s_word(sc, "true", 4);
    case 'f': return s_word(sc, "false", 5);
    case 'n': return s_word(sc, "null", 4);
    default: return proto_scan_int(sc, INT64_MIN, INT64_MAX, &v);
    }
}

/* Appends text without the white space outside its strings. */
static void s_compact(strbuf_t *out, const unsigned char *s, size_t len)
{
    size_t run = 0;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
            strbuf_append(out, (const char *)s + run, i - run);
            run = i + 1;
        }
    }
    strbuf_append(out, (const char *)s + run, len - run);
}

bool proto_scan_value(proto_scan_t *sc, strbuf_t *out)
{
    const char *text;
    size_t len;
    if (!proto_scan_span(sc, &text, &len))
        return false;
    s_compact(out, (const unsigned char *)text, len);
    return true;
}

bool proto_scan_span(proto_scan_t *sc, const char **start, size_t *len)
{
    s_ws(sc);
    const unsigned char *from = sc->p;
    if (!s_skip(sc, 1))
        return false;
    *start = (const char *)from;
    *len = (size_t)(sc->p - from);
    return true;
}

char *proto_scan_unescape(const proto_scan_str_t *s)
{
    char *out = xmalloc(s->len + 1);
    size_t o = 0;
    for (size_t i = 0; i < s->len; i++) {
        char c = s->s[i];
        if (c == '\\') {
            switch (s->s[++i]) {
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            default: c = s->s[i]; break; /* the quote and the backslash */
            }
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

bool proto_scan_is(const proto_scan_str_t *s, const char *lit)
{
    size_t n = strlen(lit);
    return !s->escaped && s->len == n && memcmp(s->s, lit, n) == 0;
}

static bool s_entries(proto_scan_t *sc, const proto_limits_t *lim, size_t elem,
                      proto_scan_entry_fn fn, void **items, size_t *n)
{
    size_t cap = 0;
    bool first = true;
    int rc;
    if (!proto_scan_take(sc, '['))
        return false;
    while ((rc = proto_scan_item(sc, &first)) == 1) {
        if (*n == lim->max_batch_jobs)
            return false;
        if (*n == cap) {
            cap = cap ? cap * 2 : 1;
            *items = xrealloc(*items, cap * elem);
        }
        void *item = (char *)*items + *n * elem;
        memset(item, 0, elem);
        (*n)++;
        if (!fn(sc, item, lim))
            return false;
    }
    return rc == 0 && *n > 0;
}

bool proto_scan_jobs(const void *body, size_t len, const proto_limits_t *lim, size_t elem,
                     proto_scan_entry_fn fn, void **items, size_t *n, char **req)
{
    proto_scan_t sc;
    strbuf_t rq;
    bool first = true, jobs = false, ok = len <= lim->max_body_bytes;
    proto_scan_str_t key;
    int rc = 0;

    *items = NULL;
    *n = 0;
    strbuf_init(&rq);
    proto_scan_init(&sc, body, len);
    ok = ok && proto_scan_take(&sc, '{');
    while (ok && (rc = proto_scan_member(&sc, &first, &key)) == 1) {
        if (proto_scan_is(&key, "jobs") && !jobs)
            ok = jobs = s_entries(&sc, lim, elem, fn, items, n);
        else if (proto_scan_is(&key, "req") && rq.len == 0)
            ok = proto_scan_value(&sc, &rq);
        else
            ok = false;
    }
    ok = ok && rc == 0 && jobs && proto_scan_end(&sc);
    if (ok && req)
        *req = rq.len ? strbuf_detach(&rq) : NULL;
    strbuf_fini(&rq);
    return ok;
}
