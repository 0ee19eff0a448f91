/* Unit tests of the embed handler's pure parts: SHA-256 (FIPS 180-2 test
 * vectors), payload validation, Ollama answer checks, vector literals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "handler_embed.h"
#include "orch_error.h"
#include "sha256.h"
#include "strbuf.h"

#include <stdlib.h>
#include <string.h>

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        if (!strstr((hay), (needle))) {                                                            \
            print_error("expected \"%s\" in \"%s\"\n", (needle), (hay));                           \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

static void test_sha256_vectors(void **state)
{
    (void)state;
    char hex[SHA256_HEX_BYTES];
    sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_hex(two, strlen(two), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_sha256_million_a_incremental(void **state)
{
    (void)state;
    /* one million 'a', fed in uneven pieces to exercise block boundaries */
    char chunk[997];
    memset(chunk, 'a', sizeof chunk);
    sha256_t s;
    sha256_init(&s);
    size_t left = 1000000;
    while (left > 0) {
        size_t n = left < sizeof chunk ? left : sizeof chunk;
        sha256_update(&s, chunk, n);
        left -= n;
    }
    uint8_t d[SHA256_DIGEST_BYTES];
    sha256_final(&s, d);
    static const uint8_t want[SHA256_DIGEST_BYTES] = {
        0xcd, 0xc7, 0x6e, 0x5c, 0x99, 0x14, 0xfb, 0x92, 0x81, 0xa1, 0xc7, 0xe2, 0x84, 0xd7, 0x3e, 0x67,
        0xf1, 0x80, 0x9a, 0x48, 0xa4, 0x97, 0x20, 0x0e, 0x04, 0x6d, 0x39, 0xcc, 0xc7, 0x11, 0x2c, 0xd0};
    assert_memory_equal(d, want, sizeof want);
}

static void test_sha256_padding_edges(void **state)
{
    (void)state;
    /* 55, 56 and 64 bytes straddle the length field's block */
    char buf[64];
    memset(buf, 'x', sizeof buf);
    char one[SHA256_HEX_BYTES], inc[SHA256_HEX_BYTES];
    for (size_t n = 54; n <= 64; n++) {
        sha256_hex(buf, n, one);
        sha256_t s;
        uint8_t d[SHA256_DIGEST_BYTES];
        sha256_init(&s);
        for (size_t i = 0; i < n; i++)
            sha256_update(&s, buf + i, 1);
        sha256_final(&s, d);
        for (int i = 0; i < SHA256_DIGEST_BYTES; i++)
            snprintf(inc + 2 * i, 3, "%02x", d[i]);
        assert_string_equal(one, inc);
    }
    /* known digests (computed with an independent implementation) */
    static const struct {
        size_t n;
        const char *hex;
    } known[] = {
        {55, "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072"},
        {56, "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e"},
        {63, "75220b47218278e656f2013bb8f0c455a25eaf01e86c64924e9d48d89776d6f2"},
        {64, "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c"},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        sha256_hex(buf, known[i].n, one);
        assert_string_equal(one, known[i].hex);
    }
}

static json_t *s_json(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &e);
    if (!j)
        fail_msg("bad test json: %s", e.text);
    return j;
}

static int s_parse(const char *payload, const char *def, embed_items_t *items, handler_error_t *err)
{
    json_t *p = s_json(payload);
    memset(err, 0, sizeof *err);
    int rc = embed_parse_payload(p, def, items, err);
    json_decref(p); /* strings borrowed: only compare rc and err after this */
    return rc;
}

static void test_payload_valid(void **state)
{
    (void)state;
    json_t *p = s_json("{\"items\":[{\"id\":\"b\",\"text\":\"abc\"},{\"id\":\"a\",\"text\":\"\"}]}");
    embed_items_t items;
    handler_error_t err;
    assert_int_equal(embed_parse_payload(p, "nomic-embed-text", &items, &err), 0);
    assert_string_equal(items.model, "nomic-embed-text");
    assert_int_equal(items.n, 2);
    assert_string_equal(items.sha[0],
                        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_string_equal(items.sha[1],
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_int_equal(embed_items_find(&items, "a"), 1);
    assert_int_equal(embed_items_find(&items, "b"), 0);
    assert_int_equal(embed_items_find(&items, "c"), -1);
    embed_items_fini(&items);
    json_decref(p);

    p = s_json("{\"model\":\"all-minilm\",\"items\":[{\"id\":\"x\",\"text\":\"t\"}]}");
    assert_int_equal(embed_parse_payload(p, "nomic-embed-text", &items, &err), 0);
    assert_string_equal(items.model, "all-minilm");
    embed_items_fini(&items);
    json_decref(p);
}

static void test_payload_invalid(void **state)
{
    (void)state;
    embed_items_t items;
    handler_error_t err;
    struct {
        const char *payload;
        const char *needle;
    } cases[] = {
        {"[]", "json object"},
        {"{}", "\"items\""},
        {"{\"items\":[]}", "\"items\""},
        {"{\"items\":{}}", "\"items\""},
        {"{\"items\":[{\"id\":\"a\"}]}", "items[0]"},
        {"{\"items\":[{\"id\":1,\"text\":\"t\"}]}", "items[0]"},
        {"{\"items\":[{\"id\":\"\",\"text\":\"t\"}]}", "items[0].id"},
        {"{\"items\":[{\"id\":\"a\",\"text\":\"t\"},{\"id\":\"b\",\"text\":3}]}", "items[1]"},
        {"{\"items\":[{\"id\":\"a\",\"text\":\"t\"},{\"id\":\"a\",\"text\":\"u\"}]}",
         "items[1].id duplicates items[0].id"},
        {"{\"model\":7,\"items\":[{\"id\":\"a\",\"text\":\"t\"}]}", "\"model\""},
        {"{\"model\":\"\",\"items\":[{\"id\":\"a\",\"text\":\"t\"}]}", "\"model\""},
        {"{\"items\":[{\"id\":\"a\\u0000b\",\"text\":\"t\"}]}", "NUL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = s_parse(cases[i].payload, "m", &items, &err);
        embed_items_fini(&items);
        assert_int_equal(rc, ORCH_EINVAL);
        assert_contains(err.message, cases[i].needle);
    }
    /* no model anywhere */
    int rc = s_parse("{\"items\":[{\"id\":\"a\",\"text\":\"t\"}]}", NULL, &items, &err);
    embed_items_fini(&items);
    assert_int_equal(rc, ORCH_EINVAL);
    assert_contains(err.message, "embed.model");
}

static void test_payload_item_limit(void **state)
{
    (void)state;
    json_t *arr = json_array();
    for (int i = 0; i <= EMBED_MAX_ITEMS; i++) {
        char id[16];
        snprintf(id, sizeof id, "e%d", i);
        json_array_append_new(arr, json_pack("{s:s, s:s}", "id", id, "text", "t"));
    }
    json_t *p = json_pack("{s:o}", "items", arr);
    embed_items_t items;
    handler_error_t err;
    assert_int_equal(embed_parse_payload(p, "m", &items, &err), ORCH_EINVAL);
    embed_items_fini(&items);
    json_array_remove(arr, 0);
    assert_int_equal(embed_parse_payload(p, "m", &items, &err), 0);
    assert_int_equal(items.n, EMBED_MAX_ITEMS);
    embed_items_fini(&items);
    json_decref(p);
}

static void test_response_checks(void **state)
{
    (void)state;
    handler_error_t err;
    int dim = 0;
    json_t *r = s_json("{\"model\":\"m\",\"embeddings\":[[0.6,0.8],[1,0]]}");
    assert_int_equal(embed_check_response(r, 2, &dim, &err), 0);
    assert_int_equal(dim, 2);
    json_decref(r);

    struct {
        const char *body;
        size_t expected;
        const char *needle;
    } bad[] = {
        {"{\"model\":\"m\"}", 1, "no \"embeddings\""},
        {"{\"embeddings\":[[1.0]]}", 2, "returned 1 embeddings for 2 inputs"},
        {"{\"embeddings\":[[1.0],[0.5,0.5]]}", 2, "embeddings[1] has dimension 2"},
        {"{\"embeddings\":[[]]}", 1, "embeddings[0] is not a non-empty array"},
        {"{\"embeddings\":[[1.0,\"x\"]]}", 1, "embeddings[0][1] is not a number"},
        {"{\"embeddings\":[7]}", 1, "embeddings[0]"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = s_json(bad[i].body);
        assert_int_equal(embed_check_response(r, bad[i].expected, &dim, &err), ORCH_EPROTO);
        assert_contains(err.message, bad[i].needle);
        json_decref(r);
    }
}

static void test_vector_literals(void **state)
{
    (void)state;
    json_t *v = s_json("[0.5,-0.25,1,0.1]");
    strbuf_t sb;
    strbuf_init(&sb);
    embed_format_vector(&sb, v, true);
    assert_string_equal(sb.data, "[0.5,-0.25,1,0.1]");
    strbuf_reset(&sb);
    embed_format_vector(&sb, v, false);
    assert_string_equal(sb.data, "{0.5,-0.25,1,0.1}");
    strbuf_fini(&sb);
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_sha256_million_a_incremental),
        cmocka_unit_test(test_sha256_padding_edges),
        cmocka_unit_test(test_payload_valid),
        cmocka_unit_test(test_payload_invalid),
        cmocka_unit_test(test_payload_item_limit),
        cmocka_unit_test(test_response_checks),
        cmocka_unit_test(test_vector_literals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
