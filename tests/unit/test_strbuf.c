/* Unit tests of the byte buffer (common/strbuf.c): appends and growth,
 * printf, integer formatting, JSON string escaping (exact bytes, and a
 * random round trip through jansson), PostgreSQL array element quoting
 * (exact bytes, and a random round trip through a reference parser of
 * array literals written from PostgreSQL's array_in rules), detach. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "strbuf.h"
#include "pg_array_ref.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static uint64_t s_rng;
static uint64_t s_next(void)
{
    uint64_t z = (s_rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The buffer holds exactly these bytes, NUL-terminated. */
static void s_expect(const strbuf_t *sb, const char *want, size_t n)
{
    if (sb->len != n || memcmp(sb->data, want, n) != 0) {
        print_error("got %zu bytes \"%.*s\", want %zu bytes \"%.*s\"\n", sb->len, (int)sb->len,
                    sb->data, n, (int)n, want);
        fail();
    }
    assert_int_equal(sb->data[sb->len], '\0');
    assert_true(sb->cap > sb->len);
}
#define EXPECT(sb, lit) s_expect((sb), (lit), sizeof(lit) - 1)

/* ---- basics ---- */

static void test_append_and_terminate(void **state)
{
    (void)state;
    strbuf_t sb;
    strbuf_init(&sb);
    EXPECT(&sb, "");
    strbuf_puts(&sb, "abc");
    strbuf_putc(&sb, '-');
    strbuf_append(&sb, "xyz123", 3);
    strbuf_append(&sb, "ignored", 0);
    strbuf_puts(&sb, "");
    EXPECT(&sb, "abc-xyz");
    /* embedded NUL bytes are data */
    strbuf_append(&sb, "p\0q", 3);
    EXPECT(&sb, "abc-xyzp\0q");
    strbuf_reset(&sb);
    EXPECT(&sb, "");
    strbuf_puts(&sb, "again");
    EXPECT(&sb, "again");
    strbuf_fini(&sb);
    assert_null(sb.data);
    assert_int_equal(sb.len, 0);
    strbuf_fini(&sb); /* twice is harmless */
}

static void test_growth(void **state)
{
    (void)state;
    strbuf_t sb;
    strbuf_init(&sb);
    enum { N = 100000 };
    char *want = malloc(N);
    assert_non_null(want);
    for (size_t i = 0; i < N; i++) {
        want[i] = (char)('a' + i % 26);
        strbuf_putc(&sb, want[i]);
        assert_true(sb.cap > sb.len);
    }
    s_expect(&sb, want, N);
    /* one large append crossing several doublings */
    strbuf_reset(&sb);
    size_t cap_before = sb.cap;
    strbuf_append(&sb, want, 700);
    strbuf_append(&sb, want, N);
    assert_true(sb.cap >= cap_before);
    assert_int_equal(sb.len, 700 + N);
    assert_memory_equal(sb.data, want, 700);
    assert_memory_equal(sb.data + 700, want, N);
    assert_int_equal(sb.data[sb.len], '\0');
    /* reserve makes room without changing the content */
    strbuf_reset(&sb);
    strbuf_puts(&sb, "keep");
    strbuf_reserve(&sb, 5 * N);
    assert_true(sb.cap >= sb.len + 5 * N + 1);
    EXPECT(&sb, "keep");
    free(want);
    strbuf_fini(&sb);
}

static void test_printf(void **state)
{
    (void)state;
    strbuf_t sb;
    strbuf_init(&sb);
    strbuf_printf(&sb, "%d-%s-%lld", 42, "x", (long long)INT64_MIN);
    EXPECT(&sb, "42-x--9223372036854775808");
    strbuf_printf(&sb, "%s", "");
    strbuf_printf(&sb, "%s", "");
    EXPECT(&sb, "42-x--9223372036854775808");
    /* a long expansion that must grow the buffer in one call */
    enum { L = 10000 };
    char *big = malloc(L + 1);
    assert_non_null(big);
    memset(big, 'z', L);
    big[L] = '\0';
    strbuf_reset(&sb);
    strbuf_puts(&sb, "<");
    strbuf_printf(&sb, "%s|%05d", big, 7);
    assert_int_equal(sb.len, 1 + L + 6);
    assert_int_equal(sb.data[0], '<');
    assert_memory_equal(sb.data + 1, big, L);
    assert_string_equal(sb.data + 1 + L, "|00007");
    /* many small ones against snprintf into a reference */
    strbuf_reset(&sb);
    char *ref = calloc(1, 200000);
    assert_non_null(ref);
    size_t rlen = 0;
    for (int i = 0; i < 5000; i++) {
        strbuf_printf(&sb, "[%d:%x:%s]", i * 7919, i, i % 3 ? "ab" : "");
        rlen += (size_t)snprintf(ref + rlen, 200000 - rlen, "[%d:%x:%s]", i * 7919, i,
                                 i % 3 ? "ab" : "");
    }
    s_expect(&sb, ref, rlen);
    free(ref);
    free(big);
    strbuf_fini(&sb);
}

static void test_i64(void **state)
{
    (void)state;
    static const struct {
        int64_t v;
        const char *s;
    } cases[] = {
        {0, "0"},
        {1, "1"},
        {-1, "-1"},
        {9, "9"},
        {10, "10"},
        {-10, "-10"},
        {1000000000000000000LL, "1000000000000000000"},
        {INT64_MAX, "9223372036854775807"},
        {INT64_MIN, "-9223372036854775808"},
        {INT64_MIN + 1, "-9223372036854775807"},
    };
    strbuf_t sb;
    strbuf_init(&sb);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        strbuf_reset(&sb);
        strbuf_put_i64(&sb, cases[i].v);
        s_expect(&sb, cases[i].s, strlen(cases[i].s));
    }
    /* appends, does not replace */
    strbuf_reset(&sb);
    strbuf_puts(&sb, "x=");
    strbuf_put_i64(&sb, -5);
    strbuf_putc(&sb, ',');
    strbuf_put_i64(&sb, INT64_MIN);
    EXPECT(&sb, "x=-5,-9223372036854775808");
    /* random values against printf */
    s_rng = 99;
    for (int i = 0; i < 20000; i++) {
        int64_t v = (int64_t)s_next() >> (s_next() % 64);
        char want[32];
        snprintf(want, sizeof want, "%lld", (long long)v);
        strbuf_reset(&sb);
        strbuf_put_i64(&sb, v);
        s_expect(&sb, want, strlen(want));
    }
    strbuf_fini(&sb);
}

static void test_detach(void **state)
{
    (void)state;
    strbuf_t sb;
    strbuf_init(&sb);
    strbuf_puts(&sb, "owned by the caller");
    char *s = strbuf_detach(&sb);
    assert_string_equal(s, "owned by the caller");
    assert_null(sb.data);
    assert_int_equal(sb.len, 0);
    assert_int_equal(sb.cap, 0);
    strbuf_fini(&sb);
    free(s);
    /* an empty buffer detaches to "" */
    strbuf_init(&sb);
    s = strbuf_detach(&sb);
    assert_string_equal(s, "");
    free(s);
}

/* ---- JSON strings ---- */

static void s_json_case(const char *in, size_t n, const char *want, size_t wn)
{
    strbuf_t sb;
    strbuf_init(&sb);
    strbuf_put_json_string(&sb, in, n);
    s_expect(&sb, want, wn);
    strbuf_fini(&sb);
}
#define JSON_CASE(in, want) s_json_case((in), sizeof(in) - 1, (want), sizeof(want) - 1)

static void test_json_exact(void **state)
{
    (void)state;
    JSON_CASE("", "\"\"");
    JSON_CASE("plain text", "\"plain text\"");
    JSON_CASE("a\"b\\c", "\"a\\\"b\\\\c\"");
    JSON_CASE("\"", "\"\\\"\"");
    JSON_CASE("\\\\", "\"\\\\\\\\\"");
    JSON_CASE("l1\nl2\r\n\tx", "\"l1\\nl2\\r\\n\\tx\"");
    JSON_CASE("\b\f", "\"\\u0008\\u000c\"");
    JSON_CASE("\x01\x1f", "\"\\u0001\\u001f\"");
    JSON_CASE("a\0b", "\"a\\u0000b\""); /* length-delimited: the NUL is data */
    JSON_CASE("\x7f/<>'", "\"\x7f/<>'\"");
    /* UTF-8 passes through byte for byte */
    JSON_CASE("h\xc3\xa9llo \xe2\x82\xac \xf0\x9d\x84\x9e", "\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9d\x84\x9e\"");
    /* only the first n bytes */
    s_json_case("abc\"def", 3, "\"abc\"", 5);
    s_json_case("abc\"def", 4, "\"abc\\\"\"", 7);
    /* every control character: the short escapes or \u00xx in lowercase hex */
    for (int c = 0; c < 0x20; c++) {
        char in[3] = {'x', (char)c, 'y'};
        char want[16];
        int wn;
        if (c == '\n')
            wn = snprintf(want, sizeof want, "\"x\\ny\"");
        else if (c == '\r')
            wn = snprintf(want, sizeof want, "\"x\\ry\"");
        else if (c == '\t')
            wn = snprintf(want, sizeof want, "\"x\\ty\"");
        else
            wn = snprintf(want, sizeof want, "\"x\\u%04xy\"", c);
        s_json_case(in, 3, want, (size_t)wn);
    }
    /* appends after existing content */
    strbuf_t sb;
    strbuf_init(&sb);
    strbuf_puts(&sb, "{\"k\":");
    strbuf_put_json_string(&sb, "v\n", 2);
    strbuf_putc(&sb, '}');
    EXPECT(&sb, "{\"k\":\"v\\n\"}");
    strbuf_fini(&sb);
}

/* Appends one random valid UTF-8 character; controls, quotes, backslashes
 * and NUL are frequent on purpose. */
static size_t s_rand_utf8(char *out)
{
    static const char nasty[] = {'"', '\\', '\n', '\r', '\t', '\0', '\x01', '\x1f', '\x7f', '/'};
    uint64_t r = s_next();
    switch (r % 6) {
    case 0: out[0] = nasty[(r >> 8) % sizeof nasty]; return 1;
    case 1: out[0] = (char)((r >> 8) % 0x80); return 1;
    case 2: out[0] = (char)(' ' + (r >> 8) % 95); return 1;
    case 3: { /* U+0080..U+07FF */
        unsigned cp = 0x80 + (unsigned)((r >> 8) % (0x800 - 0x80));
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    case 4: { /* U+0800..U+FFFF without surrogates */
        unsigned cp = 0x800 + (unsigned)((r >> 8) % (0x10000 - 0x800));
        if (cp >= 0xd800 && cp <= 0xdfff)
            cp = 0xe000;
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    default: { /* U+10000..U+10FFFF */
        unsigned cp = 0x10000 + (unsigned)((r >> 8) % (0x110000 - 0x10000));
        out[0] = (char)(0xf0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[3] = (char)(0x80 | (cp & 0x3f));
        return 4;
    }
    }
}

static void test_json_roundtrip_jansson(void **state)
{
    (void)state;
    s_rng = 2024;
    strbuf_t sb;
    strbuf_init(&sb);
    char in[4 * 64];
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = 0, chars = (size_t)(s_next() % 64);
        for (size_t i = 0; i < chars; i++)
            n += s_rand_utf8(in + n);
        strbuf_reset(&sb);
        strbuf_put_json_string(&sb, in, n);
        json_error_t err;
        json_t *v = json_loadb(sb.data, sb.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        if (!v || !json_is_string(v))
            fail_msg("iteration %d: jansson rejects %s: %s", iter, sb.data, err.text);
        if (json_string_length(v) != n || memcmp(json_string_value(v), in, n) != 0)
            fail_msg("iteration %d: round trip differs", iter);
        /* and nothing but printable ASCII or UTF-8 multibyte in the output */
        for (size_t i = 0; i < sb.len; i++)
            assert_true((unsigned char)sb.data[i] >= 0x20);
        json_decref(v);
    }
    strbuf_fini(&sb);
}

/* ---- PostgreSQL array elements ---- */


static void s_free_elems(char **elems, int n)
{
    for (int i = 0; i < n; i++)
        free(elems[i]);
}

static void s_pg_case(const char *in, const char *want)
{
    strbuf_t sb;
    strbuf_init(&sb);
    strbuf_put_pg_array_elem(&sb, in);
    s_expect(&sb, want, strlen(want));
    /* and it reads back as itself inside an array */
    strbuf_reset(&sb);
    strbuf_putc(&sb, '{');
    strbuf_put_pg_array_elem(&sb, in);
    strbuf_putc(&sb, '}');
    char *elems[1];
    int n = s_pg_parse(sb.data, elems, 1);
    assert_int_equal(n, 1);
    if (in)
        assert_string_equal(elems[0], in);
    else
        assert_null(elems[0]);
    s_free_elems(elems, n);
    strbuf_fini(&sb);
}

static void test_pg_elem_exact(void **state)
{
    (void)state;
    s_pg_case(NULL, "NULL");
    s_pg_case("", "\"\"");
    s_pg_case("NULL", "\"NULL\""); /* the word, not the null */
    s_pg_case("null", "\"null\"");
    s_pg_case("plain", "\"plain\"");
    s_pg_case("a,b", "\"a,b\"");
    s_pg_case("{x}", "\"{x}\"");
    s_pg_case("a\"b", "\"a\\\"b\"");
    s_pg_case("a\\b", "\"a\\\\b\"");
    s_pg_case("\\", "\"\\\\\"");
    s_pg_case("\"", "\"\\\"\"");
    s_pg_case("\\\"\\\"", "\"\\\\\\\"\\\\\\\"\"");
    s_pg_case("  padded  ", "\"  padded  \"");
    s_pg_case("tab\tnl\ncr\r", "\"tab\tnl\ncr\r\"");
    s_pg_case("{\"k\":\"v\\n\",\"n\":null}", "\"{\\\"k\\\":\\\"v\\\\n\\\",\\\"n\\\":null}\"");
    s_pg_case("h\xc3\xa9 \xe2\x82\xac", "\"h\xc3\xa9 \xe2\x82\xac\"");
}

static void test_pg_array_roundtrip(void **state)
{
    (void)state;
    static const char alphabet[] = "\"\\,{}() \tNnUuLlx1\n'";
    static const char *const specials[] = {"NULL", "null", "", " ", "{}", "\"\"", "\\", ",", "{NULL}"};
    s_rng = 77;
    strbuf_t sb;
    strbuf_init(&sb);
    enum { MAXE = 12 };
    char *in[MAXE];
    for (int iter = 0; iter < 20000; iter++) {
        int ne = (int)(s_next() % (MAXE + 1));
        for (int i = 0; i < ne; i++) {
            uint64_t r = s_next();
            if (r % 7 == 0) {
                in[i] = NULL;
            } else if (r % 7 == 1) {
                in[i] = strdup(specials[(r >> 8) % (sizeof specials / sizeof specials[0])]);
            } else {
                size_t len = (size_t)((r >> 8) % 10);
                in[i] = malloc(len + 1);
                for (size_t k = 0; k < len; k++)
                    in[i][k] = alphabet[s_next() % (sizeof alphabet - 1)];
                in[i][len] = '\0';
            }
        }
        strbuf_reset(&sb);
        strbuf_putc(&sb, '{');
        for (int i = 0; i < ne; i++) {
            if (i)
                strbuf_putc(&sb, ',');
            strbuf_put_pg_array_elem(&sb, in[i]);
        }
        strbuf_putc(&sb, '}');
        char *out[MAXE];
        int n = s_pg_parse(sb.data, out, MAXE);
        if (n != ne)
            fail_msg("iteration %d: %s parses to %d elements, want %d", iter, sb.data, n, ne);
        for (int i = 0; i < ne; i++) {
            bool same = in[i] ? out[i] && strcmp(in[i], out[i]) == 0 : out[i] == NULL;
            if (!same)
                fail_msg("iteration %d: element %d of %s differs", iter, i, sb.data);
        }
        s_free_elems(out, n);
        s_free_elems(in, ne);
    }
    strbuf_fini(&sb);
}

/* The reference parser itself, on literals PostgreSQL documents. */
static void test_pg_parser_self_check(void **state)
{
    (void)state;
    char *e[4];
    assert_int_equal(s_pg_parse("{}", e, 4), 0);
    assert_int_equal(s_pg_parse("{NULL,\"NULL\",null}", e, 4), 3);
    assert_null(e[0]);
    assert_string_equal(e[1], "NULL");
    assert_null(e[2]);
    s_free_elems(e, 3);
    assert_int_equal(s_pg_parse("{ a b ,\"c,d\"}", e, 4), 2);
    assert_string_equal(e[0], "a b");
    assert_string_equal(e[1], "c,d");
    s_free_elems(e, 2);
    assert_int_equal(s_pg_parse("{\"a\\\"b\\\\\"}", e, 4), 1);
    assert_string_equal(e[0], "a\"b\\");
    s_free_elems(e, 1);
    assert_int_equal(s_pg_parse("{1,-2,30}", e, 4), 3);
    assert_string_equal(e[1], "-2");
    s_free_elems(e, 3);
    assert_int_equal(s_pg_parse("{a,}", e, 4), -1);
    assert_int_equal(s_pg_parse("{\"a}", e, 4), -1);
    assert_int_equal(s_pg_parse("{a\"b}", e, 4), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_terminate),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_i64),
        cmocka_unit_test(test_detach),
        cmocka_unit_test(test_json_exact),
        cmocka_unit_test(test_json_roundtrip_jansson),
        cmocka_unit_test(test_pg_parser_self_check),
        cmocka_unit_test(test_pg_elem_exact),
        cmocka_unit_test(test_pg_array_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
