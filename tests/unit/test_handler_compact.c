/* Unit tests of the compact handler's fold: last writer wins by sequence,
 * deletes, overwrites, values of every JSON type, malformed operations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "handler_compact.h"
#include "orch_error.h"

#include <stdlib.h>
#include <string.h>

static json_t *s_json(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    if (!j)
        fail_msg("bad test json: %s", e.text);
    return j;
}

/* Folds a JSON array of ops into state (ops in seq order). */
static int s_fold(json_t *state, const char *ops_text, handler_error_t *err)
{
    json_t *ops = s_json(ops_text);
    size_t i;
    json_t *op;
    int rc = 0;
    json_array_foreach(ops, i, op)
    {
        if ((rc = compact_apply(state, op, err)) != 0)
            break;
    }
    json_decref(ops);
    return rc;
}

static void s_assert_state(json_t *state, const char *want)
{
    json_t *w = s_json(want);
    if (!json_equal(state, w)) {
        char *got = json_dumps(state, JSON_SORT_KEYS);
        print_error("state %s, want %s\n", got, want);
        free(got);
        json_decref(w);
        fail();
    }
    json_decref(w);
}

static void test_last_writer_wins(void **state)
{
    (void)state;
    handler_error_t err;
    json_t *st = json_object();
    assert_int_equal(s_fold(st, "[{\"set\":\"a\",\"value\":1},{\"set\":\"b\",\"value\":\"x\"},"
                                "{\"set\":\"a\",\"value\":2}]", &err), 0);
    s_assert_state(st, "{\"a\":2,\"b\":\"x\"}");
    json_decref(st);
}

static void test_delete_and_recreate(void **state)
{
    (void)state;
    handler_error_t err;
    json_t *st = s_json("{\"a\":1,\"keep\":true}");
    assert_int_equal(s_fold(st, "[{\"del\":\"a\"},{\"del\":\"never-there\"}]", &err), 0);
    s_assert_state(st, "{\"keep\":true}");
    assert_int_equal(s_fold(st, "[{\"set\":\"a\",\"value\":3},{\"del\":\"a\"},"
                                "{\"set\":\"a\",\"value\":4}]", &err), 0);
    s_assert_state(st, "{\"keep\":true,\"a\":4}");
    json_decref(st);
}

static void test_value_types(void **state)
{
    (void)state;
    handler_error_t err;
    json_t *st = json_object();
    assert_int_equal(s_fold(st, "[{\"set\":\"n\",\"value\":null},{\"set\":\"o\",\"value\":{\"x\":[1,2]}},"
                                "{\"set\":\"f\",\"value\":1.5},{\"set\":\"\",\"value\":\"empty key\"}]",
                            &err), 0);
    s_assert_state(st, "{\"n\":null,\"o\":{\"x\":[1,2]},\"f\":1.5,\"\":\"empty key\"}");
    json_decref(st);
}

static void test_fold_is_deterministic_in_seq_order(void **state)
{
    (void)state;
    /* applying a prefix, then the rest, equals applying all at once: this is
     * what lets a snapshot stand in for the ops it covers */
    const char *all = "[{\"set\":\"a\",\"value\":1},{\"set\":\"b\",\"value\":2},{\"del\":\"a\"},"
                      "{\"set\":\"c\",\"value\":3},{\"set\":\"b\",\"value\":5}]";
    handler_error_t err;
    json_t *one = json_object();
    assert_int_equal(s_fold(one, all, &err), 0);
    json_t *two = json_object();
    assert_int_equal(s_fold(two, "[{\"set\":\"a\",\"value\":1},{\"set\":\"b\",\"value\":2}]", &err), 0);
    assert_int_equal(s_fold(two, "[{\"del\":\"a\"},{\"set\":\"c\",\"value\":3},"
                                 "{\"set\":\"b\",\"value\":5}]", &err), 0);
    assert_true(json_equal(one, two));
    s_assert_state(one, "{\"b\":5,\"c\":3}");
    json_decref(one);
    json_decref(two);
}

static void test_malformed_ops(void **state)
{
    (void)state;
    const char *bad[] = {
        "7",
        "{}",
        "{\"set\":\"a\"}",                        /* no value */
        "{\"set\":1,\"value\":2}",                /* key not a string */
        "{\"del\":3}",
        "{\"del\":\"a\",\"value\":1}",
        "{\"set\":\"a\",\"value\":1,\"extra\":0}",
        "{\"set\":\"a\",\"del\":\"b\",\"value\":1}",
        "{\"put\":\"a\",\"value\":1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *st = s_json("{\"a\":0}");
        json_t *op = s_json(bad[i]);
        handler_error_t err;
        assert_int_equal(compact_apply(st, op, &err), ORCH_EINVAL);
        assert_non_null(strstr(err.message, "operation"));
        s_assert_state(st, "{\"a\":0}"); /* unchanged */
        json_decref(op);
        json_decref(st);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_last_writer_wins),
        cmocka_unit_test(test_delete_and_recreate),
        cmocka_unit_test(test_value_types),
        cmocka_unit_test(test_fold_is_deterministic_in_seq_order),
        cmocka_unit_test(test_malformed_ops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
