/* The tree-free decoders (proto_scan.c) against the jansson path they
 * stand in for: SUBMIT's proto_submit_scan against proto_decode,
 * proto_submit_parse and proto_req_dump; DONE's proto_done_scan against
 * proto_decode and proto_results_parse. Whatever body a scan takes must
 * give exactly what that path gives, and it must take every body of its
 * subset that path accepts. Checked on hand-picked bodies and on generated
 * ones (30,000 SUBMITs, 10,000 DONEs: valid and broken, white space
 * anywhere, escapes, UTF-8, integers at the limits, nested values,
 * duplicate keys, truncation, flipped bytes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "orch_error.h"
#include "proto.h"
#include "strbuf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static proto_limits_t s_lim;

/* The jansson path, as the coordinator took it for every SUBMIT. */
static int s_reference(const char *body, size_t len, proto_jobspec_t **specs, size_t *n,
                       char **req)
{
    proto_frame_t f[3] = {{"ORCHC1", 6}, {"SUBMIT", 6}, {body, len}};
    int cmd;
    json_t *b = NULL;
    char err[512];
    *specs = NULL;
    *n = 0;
    *req = NULL;
    int rc = proto_decode(&s_lim, PROTO_KIND_CLIENT, f, 3, &cmd, &b, err, sizeof err);
    if (rc == 0)
        rc = proto_submit_parse(b, &s_lim, specs, n, err, sizeof err);
    if (rc == 0)
        *req = proto_req_dump(b);
    json_decref(b);
    return rc;
}

static bool s_str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Names the first field where the two decodings differ, or NULL. */
static const char *s_diff(const proto_jobspec_t *a, const proto_jobspec_t *b)
{
    if (!s_str_eq(a->queue, b->queue))
        return "queue";
    if (!s_str_eq(a->type, b->type))
        return "type";
    if (!s_str_eq(a->tenant, b->tenant))
        return "tenant";
    if (!s_str_eq(a->idempotency_key, b->idempotency_key))
        return "idempotency_key";
    if (a->priority != b->priority || a->max_attempts != b->max_attempts ||
        a->timeout_ms != b->timeout_ms || a->delay_ms != b->delay_ms)
        return "an integer option";
    /* a delay becomes a time at parse: the two parses are moments apart */
    int64_t d = a->run_at_us - b->run_at_us;
    if (a->delay_ms > 0 ? (d < -2000000 || d > 2000000) : d != 0)
        return "run_at_us";
    if (a->payload_len != b->payload_len || memcmp(a->payload, b->payload, a->payload_len) != 0 ||
        a->payload[a->payload_len] != '\0')
        return "payload";
    if (a->ndepends || b->ndepends || a->reuse_key || b->reuse_key || a->on_failure ||
        b->on_failure)
        return "a field the scan does not read";
    return NULL;
}

/* Decodes body both ways; returns the scan's verdict and the reference's
 * code in *ref. A body the scan takes must match the reference. */
static int s_both(const char *body, size_t len, int *ref)
{
    proto_jobspec_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    char *ra = NULL, *rb = NULL;
    int took = proto_submit_scan(body, len, &s_lim, &a, &na, &ra);
    *ref = s_reference(body, len, &b, &nb, &rb);
    if (took == 1) {
        if (*ref != 0 || na != nb) {
            print_error("scan took a body the reference %s (rc %d, %zu jobs against %zu): %.*s\n",
                        *ref ? "refuses" : "reads otherwise", *ref, na, nb, (int)len, body);
            fail();
        }
        for (size_t i = 0; i < na; i++) {
            const char *what = s_diff(&a[i], &b[i]);
            if (what) {
                print_error("jobs[%zu].%s differs: %.*s\n", i, what, (int)len, body);
                fail();
            }
        }
        if (!s_str_eq(ra, rb)) {
            print_error("req \"%s\" against \"%s\": %.*s\n", ra ? ra : "(none)",
                        rb ? rb : "(none)", (int)len, body);
            fail();
        }
    } else {
        assert_int_equal(took, 0);
        assert_null(a);
        assert_null(ra);
    }
    proto_jobspecs_free(a, na);
    proto_jobspecs_free(b, nb);
    free(ra);
    free(rb);
    return took;
}

static int s_scan(const char *body)
{
    int ref;
    return s_both(body, strlen(body), &ref);
}

static void s_payload_is(const char *body, const char *want)
{
    proto_jobspec_t *s = NULL;
    size_t n = 0;
    char *req = NULL;
    assert_int_equal(proto_submit_scan(body, strlen(body), &s_lim, &s, &n, &req), 1);
    assert_int_equal(n, 1);
    assert_string_equal(s[0].payload, want);
    assert_int_equal(s[0].payload_len, strlen(want));
    proto_jobspecs_free(s, n);
    free(req);
}

static void test_takes_the_common_shapes(void **state)
{
    (void)state;
    assert_int_equal(s_scan("{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\"}]}"), 1);
    assert_int_equal(s_scan(" {\n\"req\" : {\"id\": [1, \"a b\"]},\t\"jobs\" : [ {\"type\":\"t\","
                            "\"queue\":\"default\", \"priority\":9,\"max_attempts\":1000,"
                            "\"timeout_ms\":2147483647,\"tenant\":\"acme\","
                            "\"idempotency_key\":\"k\\\"\\\\\\n\\t\\b\\f\\r\xc3\xa9\","
                            "\"delay_ms\":1500,\"payload\":{}},"
                            "{\"queue\":\"q\",\"type\":\"t\",\"run_at_us\":999999999999999999,"
                            "\"payload\":{\"n\":-12,\"x\":[true,false,null,{}],\"s\":\"\xf0\x9f\x98\x80\"}}"
                            "] }\r\n"),
                     1);
    s_payload_is("{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"payload\": { \"a\" : [1, 2 ,"
                 "{\"b\":\"x y\\\" , z\"}] , \"c\":\"\\\\\" }}]}",
                 "{\"a\":[1,2,{\"b\":\"x y\\\" , z\"}],\"c\":\"\\\\\"}");
    s_payload_is("{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\"}]}", "{}");
}

/* Valid bodies outside the subset: the jansson path decodes them. */
static void test_leaves_the_rest_to_jansson(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"payload\":{\"a\":\"\\u00e9\"}}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"payload\":{\"a\":\"\\/\"}}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"payload\":{\"a\":1.5}}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"payload\":{\"a\":1e3}}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"payload\":{\"a\":-0}}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"payload\":{\"a\":1234567890123456789}}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"depends_on\":[1]}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"reuse\":{\"key\":\"k\",\"ttl_ms\":5}}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"on_failure\":{\"type\":\"u\"}}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"\\u0074\"}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"idempotency_key\":\"\\u0041\"}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\"}],\"req\":0.5}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        int ref;
        assert_int_equal(s_both(bodies[i], strlen(bodies[i]), &ref), 0);
        if (ref != 0) {
            print_error("body %zu should be valid: %s\n", i, bodies[i]);
            fail();
        }
    }
}

static void s_nested(strbuf_t *sb, int depth, int keys)
{
    strbuf_puts(sb, "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"payload\":");
    for (int i = 0; i < depth; i++)
        strbuf_puts(sb, "{\"a\":");
    strbuf_putc(sb, '{');
    for (int i = 0; i < keys; i++)
        strbuf_printf(sb, "%s\"k%d\":%d", i ? "," : "", i, i);
    strbuf_putc(sb, '}');
    for (int i = 0; i < depth; i++)
        strbuf_putc(sb, '}');
    strbuf_puts(sb, "}]}");
}

/* Depth and key counts at the subset's edges, and the limits of the body. */
static void test_limits(void **state)
{
    (void)state;
    strbuf_t sb;
    int ref;
    strbuf_init(&sb);
    /* the payload is depth 1, the innermost object 31, its members 32 */
    s_nested(&sb, 30, 64);
    assert_int_equal(s_both(sb.data, sb.len, &ref), 1);
    strbuf_reset(&sb);
    s_nested(&sb, 31, 1);
    assert_int_equal(s_both(sb.data, sb.len, &ref), 0);
    assert_int_equal(ref, 0);
    strbuf_reset(&sb);
    s_nested(&sb, 0, 65);
    assert_int_equal(s_both(sb.data, sb.len, &ref), 0);
    assert_int_equal(ref, 0);

    proto_limits_t keep = s_lim;
    s_lim.max_batch_jobs = 2;
    const char *three = "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\"},{\"queue\":\"q\",\"type\":\"t\"},"
                        "{\"queue\":\"q\",\"type\":\"t\"}]}";
    assert_int_equal(s_both(three, strlen(three), &ref), 0);
    assert_int_equal(ref, ORCH_ETOOBIG);
    s_lim = keep;
    /* the limit counts the compact text, {"a":123}: 9 bytes */
    const char *p9 = "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"payload\":{\"a\": 123}}]}";
    s_lim.max_payload_bytes = 9;
    assert_int_equal(s_both(p9, strlen(p9), &ref), 1);
    s_lim.max_payload_bytes = 8;
    assert_int_equal(s_both(p9, strlen(p9), &ref), 0);
    assert_int_equal(ref, ORCH_ETOOBIG);
    s_lim = keep;
    strbuf_fini(&sb);
}

/* Broken bodies: the scan gives up and the reference names the error. */
static void test_gives_up_on_errors(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "",
        "[]",
        "{}",
        "{\"jobs\":[]}",
        "{\"jobs\":{}}",
        "{\"jobs\":[{\"queue\":\"q\"}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\"},]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\"}],}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\"}]} x",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\"}]",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"type\":\"t\"}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\"}],\"jobs\":[{\"queue\":\"q\",\"type\":\"t\"}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"payload\":{\"a\":1,\"a\":2}}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"payload\":[1]}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"payload\":{\"a\":01}}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"payload\":{\"a\":tru}}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"payload\":{\"a\":\"\x01\"}}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"payload\":{\"a\":\"\xc0\xaf\"}}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"payload\":{\"a\":\"\xed\xa0\x80\"}}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"payload\":{\"a\":\"\xe0\x80\xaf\"}}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"payload\":{\"a\":\"\xf0\x80\x80\xaf\"}}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"payload\":{\"a\":\"\xf4\x90\x80\x80\"}}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"payload\":{\"a\":\"\xe2\x82\"}}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"payload\":{\"a\":\"\\x\"}}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"priority\":10}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"priority\":\"1\"}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"max_attempts\":0}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"timeout_ms\":2147483648}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"run_at_us\":0}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"delay_ms\":-1}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"delay_ms\":1,\"run_at_us\":5}]}",
        "{\"jobs\":[{\"queue\":\"q w\",\"type\":\"t\"}]}",
        "{\"jobs\":[{\"queue\":\"\",\"type\":\"t\"}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"idempotency_key\":\"\"}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"nope\":1}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"payloadx\":{}}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\",\"tenan\":\"a\"}]}",
        "{\"jobs\":[{\"queue\":\"q\",\"type\":\"t\"}],\"other\":1}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        int ref;
        if (s_both(bodies[i], strlen(bodies[i]), &ref) != 0 || ref == 0) {
            print_error("body %zu: scan or reference took it: %s\n", i, bodies[i]);
            fail();
        }
    }
}

/* ---- generated bodies ---- */

typedef struct {
    uint64_t rng;
    strbuf_t sb;
    bool outside; /* holds something the scan leaves to jansson */
} s_gen_t;

static uint32_t s_rand(s_gen_t *g, uint32_t n)
{
    g->rng = g->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)((g->rng >> 33) % n);
}

static void s_ws(s_gen_t *g)
{
    static const char ws[] = " \n\t\r";
    while (s_rand(g, 6) == 0)
        strbuf_putc(&g->sb, ws[s_rand(g, 4)]);
}

static void s_gen_string(s_gen_t *g, size_t maxlen)
{
    static const char *const pieces[] = {"a", "Z", "0", "_", ".", " ", "\\\"", "\\\\", "\\n",
                                         "\\t", "\\b", "\\f", "\\r", "\xc3\xa9", "\xe2\x82\xac",
                                         "\xf0\x9f\x98\x80", "\x7f", "/"};
    size_t n = s_rand(g, (uint32_t)maxlen + 1);
    strbuf_putc(&g->sb, '"');
    for (size_t i = 0; i < n; i++) {
        uint32_t r = s_rand(g, 200);
        if (r == 0) {
            strbuf_puts(&g->sb, "\\u00e9");
            g->outside = true;
        } else if (r == 1) {
            strbuf_puts(&g->sb, "\\/");
            g->outside = true;
        } else if (r == 2) {
            /* a lead byte at an edge of UTF-8 and random continuations:
             * overlong, surrogate, past U+10FFFF, cut short, or valid */
            static const unsigned char lead[] = {0x80, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xED,
                                                 0xEF, 0xF0, 0xF4, 0xF5, 0xFF};
            strbuf_putc(&g->sb, (char)lead[s_rand(g, sizeof lead)]);
            for (uint32_t k = 0, nk = s_rand(g, 4); k < nk; k++)
                strbuf_putc(&g->sb, (char)(0x80 + s_rand(g, 0x40)));
        } else {
            strbuf_puts(&g->sb, pieces[s_rand(g, sizeof pieces / sizeof pieces[0])]);
        }
    }
    strbuf_putc(&g->sb, '"');
}

static void s_gen_int(s_gen_t *g, int64_t lo, int64_t hi)
{
    uint32_t r = s_rand(g, 40);
    if (r == 0) {
        strbuf_puts(&g->sb, "1.0");
        g->outside = true;
    } else if (r == 1) {
        strbuf_puts(&g->sb, "-0");
        g->outside = true;
    } else if (r == 2) {
        strbuf_puts(&g->sb, s_rand(g, 2) ? "1234567890123456789" : "99999999999999999999");
        g->outside = true;
    } else if (r == 3) {
        strbuf_puts(&g->sb, "\"7\"");
    } else {
        /* at the edges of the range (and past them), or inside it */
        int64_t edge[] = {lo - 1, lo, hi, hi == INT64_MAX ? hi : hi + 1};
        int64_t v = r < 8 ? edge[r - 4] : lo + (int64_t)((uint64_t)(hi - lo) / 40 * (r - 8));
        if (v > 999999999999999999 || v < -999999999999999999)
            g->outside = true;
        strbuf_put_i64(&g->sb, v);
    }
}

static void s_gen_value(s_gen_t *g, int depth);

static void s_gen_object(s_gen_t *g, int depth)
{
    size_t n = s_rand(g, depth > 3 ? 2 : 5);
    strbuf_putc(&g->sb, '{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            strbuf_putc(&g->sb, ',');
        s_ws(g);
        if (s_rand(g, 30) == 0)
            strbuf_puts(&g->sb, "\"k0\""); /* may repeat a key */
        else
            strbuf_printf(&g->sb, "\"k%zu%s\"", i, s_rand(g, 4) ? "" : "\\n");
        s_ws(g);
        strbuf_putc(&g->sb, ':');
        s_ws(g);
        s_gen_value(g, depth + 1);
        s_ws(g);
    }
    strbuf_putc(&g->sb, '}');
}

static void s_gen_value(s_gen_t *g, int depth)
{
    uint32_t r = s_rand(g, depth > 5 ? 6 : 9);
    switch (r) {
    case 0: strbuf_puts(&g->sb, "true"); break;
    case 1: strbuf_puts(&g->sb, s_rand(g, 50) ? "false" : "fals"); break;
    case 2: strbuf_puts(&g->sb, "null"); break;
    case 3: s_gen_int(g, -1000, 1000); break;
    case 4:
    case 5: s_gen_string(g, 8); break;
    case 6:
    case 7: s_gen_object(g, depth); break;
    default:
        strbuf_putc(&g->sb, '[');
        for (uint32_t i = 0, n = s_rand(g, 4); i < n; i++) {
            if (i)
                strbuf_putc(&g->sb, ',');
            s_ws(g);
            s_gen_value(g, depth + 1);
        }
        strbuf_putc(&g->sb, ']');
    }
}

static void s_gen_name(s_gen_t *g)
{
    static const char chars[] = "abcxyzABC019_.:-";
    uint32_t r = s_rand(g, 30);
    if (r == 0) {
        strbuf_puts(&g->sb, "\"\\u0071\"");
        g->outside = true;
        return;
    }
    size_t n = r == 1 ? 65 : r == 2 ? 0 : 1 + s_rand(g, 12);
    strbuf_putc(&g->sb, '"');
    for (size_t i = 0; i < n; i++)
        strbuf_putc(&g->sb, r == 3 && i == 0 ? ' ' : chars[s_rand(g, sizeof chars - 1)]);
    strbuf_putc(&g->sb, '"');
}

static void s_gen_field(s_gen_t *g, int f)
{
    static const char *const names[] = {"queue", "type", "tenant", "priority", "max_attempts",
                                        "timeout_ms", "idempotency_key", "run_at_us", "delay_ms",
                                        "payload", "depends_on", "nope"};
    strbuf_printf(&g->sb, "\"%s\"", names[f]);
    s_ws(g);
    strbuf_putc(&g->sb, ':');
    s_ws(g);
    switch (f) {
    case 0:
    case 1:
    case 2: s_gen_name(g); break;
    case 3: s_gen_int(g, 0, 9); break;
    case 4: s_gen_int(g, 1, 1000); break;
    case 5: s_gen_int(g, 1, INT32_MAX); break;
    case 6: s_gen_string(g, s_rand(g, 10) ? 12 : 300); break;
    case 7: s_gen_int(g, 1, INT64_MAX); break;
    case 8: s_gen_int(g, 0, INT64_C(9007199254740)); break;
    case 9:
        if (s_rand(g, 20))
            s_gen_object(g, 1);
        else
            s_gen_value(g, 1);
        break;
    case 10:
        strbuf_puts(&g->sb, "[1]");
        g->outside = true;
        break;
    default: strbuf_puts(&g->sb, "1"); break;
    }
}

static void s_gen_job(s_gen_t *g)
{
    int order[12];
    int n = 0;
    order[n++] = 0;
    order[n++] = 1;
    for (int f = 2; f < 10; f++)
        if (s_rand(g, 4) == 0)
            order[n++] = f;
    if (s_rand(g, 40) == 0)
        order[n++] = 10 + (int)s_rand(g, 2);
    if (s_rand(g, 40) == 0)
        order[n++] = (int)s_rand(g, 10); /* a field twice */
    for (int i = n - 1; i > 0; i--) {
        int j = (int)s_rand(g, (uint32_t)i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    if (s_rand(g, 60) == 0)
        n--; /* queue or type may go missing */
    strbuf_putc(&g->sb, '{');
    for (int i = 0; i < n; i++) {
        if (i)
            strbuf_putc(&g->sb, ',');
        s_ws(g);
        s_gen_field(g, order[i]);
        s_ws(g);
    }
    strbuf_putc(&g->sb, '}');
}

static void s_gen_body(s_gen_t *g)
{
    strbuf_reset(&g->sb);
    g->outside = false;
    bool req = s_rand(g, 3) == 0, req_first = s_rand(g, 2);
    s_ws(g);
    strbuf_putc(&g->sb, '{');
    s_ws(g);
    if (req && req_first) {
        strbuf_puts(&g->sb, "\"req\":");
        s_gen_value(g, 1);
        strbuf_putc(&g->sb, ',');
    }
    strbuf_puts(&g->sb, "\"jobs\"");
    s_ws(g);
    strbuf_puts(&g->sb, ":[");
    for (uint32_t i = 0, n = 1 + s_rand(g, 3); i < n; i++) {
        if (i)
            strbuf_putc(&g->sb, ',');
        s_ws(g);
        s_gen_job(g);
        s_ws(g);
    }
    strbuf_putc(&g->sb, ']');
    if (req && !req_first) {
        strbuf_putc(&g->sb, ',');
        s_ws(g);
        strbuf_puts(&g->sb, "\"req\":");
        s_gen_value(g, 1);
    }
    strbuf_putc(&g->sb, '}');
    s_ws(g);
}

static void test_generated_bodies(void **state)
{
    (void)state;
    s_gen_t g = {.rng = 20261207};
    int taken = 0, valid = 0, missed = 0;
    strbuf_init(&g.sb);
    for (int i = 0; i < 30000; i++) {
        s_gen_body(&g);
        bool mutated = false;
        uint32_t m = s_rand(&g, 20);
        if (m == 0 && g.sb.len > 1) {
            g.sb.len = s_rand(&g, (uint32_t)g.sb.len); /* truncated */
            mutated = true;
        } else if (m == 1) {
            g.sb.data[s_rand(&g, (uint32_t)g.sb.len)] = (char)s_rand(&g, 256);
            mutated = true;
        }
        int ref;
        int took = s_both(g.sb.data, g.sb.len, &ref);
        taken += took;
        valid += ref == 0;
        if (ref == 0 && !took && !g.outside && !mutated) {
            if (missed++ < 5)
                print_error("valid body of the subset not taken: %.*s\n", (int)g.sb.len,
                            g.sb.data);
        }
    }
    print_message("%d of 30000 bodies valid, %d taken by the scan\n", valid, taken);
    assert_int_equal(missed, 0);
    /* the generator must reach both sides of the line */
    assert_true(taken > 3000);
    assert_true(valid - taken > 1000);
    assert_true(30000 - valid > 3000);
    strbuf_fini(&g.sb);
}

/* ---- DONE ---- */

static int s_done_reference(const char *body, size_t len, proto_result_t **rs, size_t *n)
{
    proto_frame_t f[3] = {{"ORCHW1", 6}, {"DONE", 4}, {body, len}};
    int cmd;
    json_t *b = NULL;
    char err[512];
    *rs = NULL;
    *n = 0;
    int rc = proto_decode(&s_lim, PROTO_KIND_WORKER, f, 3, &cmd, &b, err, sizeof err);
    if (rc == 0)
        rc = proto_results_parse(PROTO_W_DONE, b, &s_lim, rs, n, err, sizeof err);
    json_decref(b);
    return rc;
}

static int s_done_both(const char *body, size_t len, int *ref)
{
    proto_result_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    int took = proto_done_scan(body, len, &s_lim, &a, &na);
    *ref = s_done_reference(body, len, &b, &nb);
    if (took == 1) {
        if (*ref != 0 || na != nb) {
            print_error("DONE scan took a body the reference %s: %.*s\n",
                        *ref ? "refuses" : "reads otherwise", (int)len, body);
            fail();
        }
        for (size_t i = 0; i < na; i++) {
            if (a[i].id != b[i].id || a[i].attempt != b[i].attempt ||
                !s_str_eq(a[i].result, b[i].result) || a[i].error || a[i].permanent ||
                a[i].cancelled || a[i].call.outcome != PROTO_CALL_NONE) {
                print_error("jobs[%zu] differs (result \"%s\" against \"%s\"): %.*s\n", i,
                            a[i].result ? a[i].result : "(null)",
                            b[i].result ? b[i].result : "(null)", (int)len, body);
                fail();
            }
        }
    } else {
        assert_int_equal(took, 0);
        assert_null(a);
    }
    proto_results_free(a, na);
    proto_results_free(b, nb);
    return took;
}

static void s_result_is(const char *body, const char *want)
{
    proto_result_t *r = NULL;
    size_t n = 0;
    int ref;
    assert_int_equal(s_done_both(body, strlen(body), &ref), 1);
    assert_int_equal(proto_done_scan(body, strlen(body), &s_lim, &r, &n), 1);
    if (want)
        assert_string_equal(r[n - 1].result, want);
    else
        assert_null(r[n - 1].result);
    proto_results_free(r, n);
}

static void test_done(void **state)
{
    (void)state;
    s_result_is("{\"jobs\":[{\"id\":1,\"attempt\":1}]}", NULL);
    s_result_is("{\"jobs\":[{\"id\":1,\"attempt\":1,\"result\":null}]}", NULL);
    s_result_is(" { \"req\":5, \"jobs\" : [{\"attempt\":2147483647,\"id\":999999999999999999,"
                "\"result\":{ \"a\" : [1 , \"x\\ty\"] }} , {\"id\":2,\"attempt\":1,"
                "\"result\": \"s\" }]}",
                "\"s\"");
    s_result_is("{\"jobs\":[{\"id\":1,\"attempt\":1,\"result\":[ ]}]}", "[]");
    s_result_is("{\"jobs\":[{\"id\":1,\"attempt\":1,\"result\":-42}]}", "-42");
    static const char *const rest[] = {
        /* valid, left to jansson */
        "{\"jobs\":[{\"id\":1,\"attempt\":1,\"call\":{\"downstream\":\"d\",\"outcome\":"
        "\"ok\",\"ms\":3}}]}",
        "{\"jobs\":[{\"id\":1,\"attempt\":1,\"result\":1.5}]}",
        "{\"jobs\":[{\"id\":1,\"attempt\":1,\"result\":\"\\u00e9\"}]}",
        /* refused */
        "{\"jobs\":[{\"id\":1}]}",
        "{\"jobs\":[{\"id\":0,\"attempt\":1}]}",
        "{\"jobs\":[{\"id\":1,\"attempt\":2147483648}]}",
        "{\"jobs\":[{\"id\":1,\"attempt\":1,\"id\":2}]}",
        "{\"jobs\":[{\"id\":1,\"attempt\":1,\"error\":\"x\"}]}",
        "{\"jobs\":[{\"id\":1,\"attempt\":1,\"result\":{\"a\":1,\"a\":1}}]}",
        "{\"jobs\":[{\"id\":\"1\",\"attempt\":1}]}",
        "{\"jobs\":[]}",
        "{\"jobs\":[{\"id\":1,\"attempt\":1}],\"x\":1}",
    };
    for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++) {
        int ref;
        if (s_done_both(rest[i], strlen(rest[i]), &ref) != 0 || (i < 3) != (ref == 0)) {
            print_error("DONE body %zu: scan took it or the reference %s it: %s\n", i,
                        ref ? "refused" : "took", rest[i]);
            fail();
        }
    }
}

static void s_gen_done(s_gen_t *g)
{
    static const char *const keys[] = {"id", "attempt", "result", "call", "error"};
    strbuf_reset(&g->sb);
    g->outside = false;
    strbuf_puts(&g->sb, "{\"jobs\":[");
    for (uint32_t i = 0, n = 1 + s_rand(g, 3); i < n; i++) {
        int order[4] = {0, 1, 2, (int)(3 + s_rand(g, 2))};
        int k = s_rand(g, 20) == 0 ? 4 : 3; /* now and then call or error */
        if (k == 4 && order[3] == 3)
            g->outside = true;
        for (int x = k - 1; x > 0; x--) {
            int y = (int)s_rand(g, (uint32_t)x + 1), t = order[x];
            order[x] = order[y];
            order[y] = t;
        }
        strbuf_puts(&g->sb, i ? ",{" : "{");
        for (int j = 0; j < k; j++) {
            strbuf_printf(&g->sb, "%s\"%s\"", j ? "," : "", keys[order[j]]);
            s_ws(g);
            strbuf_putc(&g->sb, ':');
            s_ws(g);
            if (order[j] == 0)
                s_gen_int(g, 1, s_rand(g, 5) ? INT64_C(999999999999999999) : INT64_MAX);
            else if (order[j] == 1)
                s_gen_int(g, 1, INT32_MAX);
            else if (order[j] == 3)
                strbuf_puts(&g->sb, "{\"downstream\":\"d\",\"outcome\":\"ok\",\"ms\":1}");
            else
                s_gen_value(g, 1);
            s_ws(g);
        }
        strbuf_putc(&g->sb, '}');
    }
    strbuf_puts(&g->sb, "]}");
}

static void test_generated_done(void **state)
{
    (void)state;
    s_gen_t g = {.rng = 7};
    int taken = 0, valid = 0, missed = 0;
    strbuf_init(&g.sb);
    for (int i = 0; i < 10000; i++) {
        s_gen_done(&g);
        bool mutated = s_rand(&g, 20) == 0;
        if (mutated)
            g.sb.data[s_rand(&g, (uint32_t)g.sb.len)] = (char)s_rand(&g, 256);
        int ref;
        int took = s_done_both(g.sb.data, g.sb.len, &ref);
        taken += took;
        valid += ref == 0;
        if (ref == 0 && !took && !g.outside && !mutated && missed++ < 5)
            print_error("valid DONE of the subset not taken: %.*s\n", (int)g.sb.len, g.sb.data);
    }
    print_message("%d of 10000 DONE bodies valid, %d taken by the scan\n", valid, taken);
    assert_int_equal(missed, 0);
    assert_true(taken > 1000);
    assert_true(valid - taken > 300);
    assert_true(10000 - valid > 1000);
    strbuf_fini(&g.sb);
}

/* ---- JOB ---- */

static int s_job_both(const char *body, size_t len, int *ref)
{
    proto_job_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    int took = proto_jobs_scan(body, len, &s_lim, &a, &na);
    proto_frame_t f[3] = {{"ORCHW1", 6}, {"JOB", 3}, {body, len}};
    int cmd;
    json_t *tree = NULL;
    char err[512];
    *ref = proto_decode(&s_lim, PROTO_KIND_WORKER, f, 3, &cmd, &tree, err, sizeof err);
    if (*ref == 0)
        *ref = proto_jobs_parse(tree, &s_lim, &b, &nb, err, sizeof err);
    json_decref(tree);
    if (took == 1) {
        if (*ref != 0 || na != nb) {
            print_error("JOB scan took a body the reference %s: %.*s\n",
                        *ref ? "refuses" : "reads otherwise", (int)len, body);
            fail();
        }
        for (size_t i = 0; i < na; i++) {
            if (b[i].error || a[i].id != b[i].id || a[i].attempt != b[i].attempt ||
                a[i].timeout_ms != b[i].timeout_ms || !s_str_eq(a[i].queue, b[i].queue) ||
                !s_str_eq(a[i].type, b[i].type) || !json_equal(a[i].payload, b[i].payload)) {
                print_error("jobs[%zu] differs (%s): %.*s\n", i,
                            b[i].error ? b[i].error : "fields", (int)len, body);
                fail();
            }
        }
    } else {
        assert_int_equal(took, 0);
        assert_null(a);
    }
    proto_jobs_free(a, na);
    proto_jobs_free(b, nb);
    return took;
}

static void test_job(void **state)
{
    (void)state;
    static const char *const taken[] = {
        "{\"jobs\":[{\"id\":7,\"attempt\":1,\"type\":\"noop\"}]}",
        "{\"jobs\":[{\"id\":7,\"attempt\":2,\"queue\":\"q\",\"type\":\"t\",\"payload\":{},"
        "\"timeout_ms\":30000},{\"type\":\"t\",\"payload\": { \"a\" : [1, {\"b\":null}] },"
        "\"attempt\":1,\"id\":8}]}",
        "{\"jobs\":[{\"id\":7,\"attempt\":1,\"type\":\"t\",\"payload\":null}]}",
        "{\"jobs\":[{\"id\":7,\"attempt\":1,\"type\":\"t\",\"payload\":{ }}]}",
    };
    static const char *const left[] = {
        /* a bad entry: the jansson path answers it with an error entry */
        "{\"jobs\":[{\"id\":7,\"attempt\":1}]}",
        "{\"jobs\":[{\"id\":7,\"attempt\":1,\"type\":\"t\",\"payload\":[1]}]}",
        "{\"jobs\":[{\"id\":7,\"attempt\":1,\"type\":\"t\",\"x\":1}]}",
        "{\"jobs\":[{\"id\":7,\"attempt\":1,\"type\":\"t\",\"timeout_ms\":0}]}",
        "{\"jobs\":[{\"id\":0,\"attempt\":1,\"type\":\"t\"}]}",
        "{\"jobs\":[{\"id\":7,\"attempt\":1,\"type\":\"t t\"}]}",
        "{\"jobs\":[{\"id\":7,\"attempt\":1,\"type\":\"t\",\"payload\":{\"x\":1.5}}]}",
        "{\"jobs\":[{\"id\":7,\"attempt\":1,\"type\":\"t\",\"payloads\":{}}]}",
        "{\"jobs\":[]}",
    };
    int ref;
    for (size_t i = 0; i < sizeof taken / sizeof taken[0]; i++)
        if (s_job_both(taken[i], strlen(taken[i]), &ref) != 1) {
            print_error("JOB body %zu not taken: %s\n", i, taken[i]);
            fail();
        }
    for (size_t i = 0; i < sizeof left / sizeof left[0]; i++)
        assert_int_equal(s_job_both(left[i], strlen(left[i]), &ref), 0);
}

static void s_gen_job_entry(s_gen_t *g)
{
    static const char *const keys[] = {"id", "attempt", "type", "queue", "payload",
                                       "timeout_ms", "oops"};
    int order[7] = {0, 1, 2, 3, 4, 5, 6};
    int k = 3 + (int)s_rand(g, 4) - (s_rand(g, 30) == 0);
    if (s_rand(g, 30) == 0)
        k = 7; /* with an unknown field */
    for (int x = k - 1; x > 0; x--) {
        int y = (int)s_rand(g, (uint32_t)x + 1), t = order[x];
        order[x] = order[y];
        order[y] = t;
    }
    strbuf_putc(&g->sb, '{');
    for (int j = 0; j < k; j++) {
        strbuf_printf(&g->sb, "%s\"%s\"", j ? "," : "", keys[order[j]]);
        s_ws(g);
        strbuf_putc(&g->sb, ':');
        s_ws(g);
        switch (order[j]) {
        case 0: s_gen_int(g, 1, s_rand(g, 5) ? INT64_C(999999999999999999) : INT64_MAX); break;
        case 1:
        case 5: s_gen_int(g, 1, INT32_MAX); break;
        case 2:
        case 3: s_gen_name(g); break;
        case 4:
            if (s_rand(g, 10))
                s_gen_object(g, 1);
            else
                s_gen_value(g, 1);
            break;
        default: strbuf_puts(&g->sb, "1"); break;
        }
        s_ws(g);
    }
    strbuf_putc(&g->sb, '}');
}

static void test_generated_job(void **state)
{
    (void)state;
    s_gen_t g = {.rng = 11};
    int taken = 0, runnable = 0;
    strbuf_init(&g.sb);
    for (int i = 0; i < 10000; i++) {
        strbuf_reset(&g.sb);
        g.outside = false;
        strbuf_puts(&g.sb, "{\"jobs\":[");
        for (uint32_t e = 0, n = 1 + s_rand(&g, 3); e < n; e++) {
            if (e)
                strbuf_putc(&g.sb, ',');
            s_gen_job_entry(&g);
        }
        strbuf_puts(&g.sb, "]}");
        if (s_rand(&g, 20) == 0)
            g.sb.data[s_rand(&g, (uint32_t)g.sb.len)] = (char)s_rand(&g, 256);
        int ref;
        taken += s_job_both(g.sb.data, g.sb.len, &ref);
        runnable += ref == 0;
    }
    print_message("%d of 10000 JOB bodies well-formed, %d taken by the scan\n", runnable, taken);
    assert_true(taken > 1000);
    assert_true(runnable - taken > 1000);
    strbuf_fini(&g.sb);
}

static int s_setup(void **state)
{
    (void)state;
    proto_limits_default(&s_lim);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_takes_the_common_shapes, s_setup),
        cmocka_unit_test_setup(test_leaves_the_rest_to_jansson, s_setup),
        cmocka_unit_test_setup(test_limits, s_setup),
        cmocka_unit_test_setup(test_gives_up_on_errors, s_setup),
        cmocka_unit_test_setup(test_generated_bodies, s_setup),
        cmocka_unit_test_setup(test_done, s_setup),
        cmocka_unit_test_setup(test_generated_done, s_setup),
        cmocka_unit_test_setup(test_job, s_setup),
        cmocka_unit_test_setup(test_generated_job, s_setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
