/* One step of the audit chain (jobs/audit_hash.c) against known answers
 * computed independently (Python's hashlib over the documented content:
 * prev, then per field a 0 byte when NULL, else 1, its length as 4 bytes
 * big endian and its bytes): a short row with a NULL field, and a row
 * with a 10 kB detail chained onto it. store_audit.c's verify and the
 * sealer both rely on this function, so a change to it that changed a hash
 * would make every sealed chain "broken". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "audit_hash.h"
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static void s_expect(const unsigned char got[32], const char *hex)
{
    char text[65];
    sodium_bin2hex(text, sizeof text, got, 32);
    assert_string_equal(text, hex);
}

static void test_known_answers(void **state)
{
    (void)state;
    unsigned char prev[32] = {0}, h1[32], h2[32];
    const char *f1[AUDIT_NFIELDS] = {"1",  "2",      "1796546473444344", "submitted", "0",
                                     NULL, "queued", "{}",               "1"};
    audit_hash(prev, f1, h1);
    s_expect(h1, "9d4e2a74e4cdbdb9c2623bcdaa21449769312fea60735d0b90194c7be0b31b9c");

    size_t n = 10000;
    char *big = malloc(n + 16);
    assert_non_null(big);
    strcpy(big, "{\"result\":\"");
    memset(big + 11, 'x', n);
    strcpy(big + 11 + n, "\"}");
    const char *f2[AUDIT_NFIELDS] = {"2",  "2",         "1796546473444999", "succeeded", "1",
                                     "w1", "succeeded", big,                "1"};
    audit_hash(h1, f2, h2);
    s_expect(h2, "913e912561c01f6ee6cfed4ff4b656f0fcdc1d2bf7ca8e1f2870f1c0a58dc417");
    /* out may be prev */
    audit_hash(h1, f2, h1);
    assert_memory_equal(h1, h2, 32);
    free(big);
}

/* A NULL field and an empty one differ, and so do fields split differently. */
static void test_no_two_contents_alike(void **state)
{
    (void)state;
    unsigned char prev[32] = {0}, a[32], b[32], c[32];
    const char *fa[AUDIT_NFIELDS] = {"1", "2", "3", "e", "0", NULL, "queued", "{}", "1"};
    const char *fb[AUDIT_NFIELDS] = {"1", "2", "3", "e", "0", "", "queued", "{}", "1"};
    const char *fc[AUDIT_NFIELDS] = {"1", "2", "3", "e0", "", NULL, "queued", "{}", "1"};
    audit_hash(prev, fa, a);
    audit_hash(prev, fb, b);
    audit_hash(prev, fc, c);
    assert_memory_not_equal(a, b, 32);
    assert_memory_not_equal(a, c, 32);
    assert_memory_not_equal(b, c, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_no_two_contents_alike),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
