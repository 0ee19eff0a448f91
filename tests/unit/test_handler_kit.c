/* handler_kit_call: how one HTTP request becomes the call an attempt
 * reports (PROTOCOL.md, "Downstream calls"): the outcome from the
 * transport result and the status, the origin without credentials, and
 * Retry-After; a request the job's cancellation aborted reports nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "handler_kit.h"
#include "orch_error.h"

#include <string.h>

static void test_outcomes(void **state)
{
    (void)state;
    proto_call_t c;
    assert_true(handler_kit_call("http://127.0.0.1:11434/api/embed", 0, 200, 41, -1, &c));
    assert_int_equal(c.outcome, PROTO_CALL_OK);
    assert_int_equal(c.ms, 41);
    assert_int_equal(c.retry_after_ms, 0);
    assert_string_equal(c.downstream, "http://127.0.0.1:11434");
    assert_true(handler_kit_call("http://h/x", 0, 404, 1, -1, &c));
    assert_int_equal(c.outcome, PROTO_CALL_OK); /* it answered: not the service's trouble */
    assert_true(handler_kit_call("http://h/x", 0, 429, 2, 3, &c));
    assert_int_equal(c.outcome, PROTO_CALL_THROTTLED);
    assert_int_equal(c.retry_after_ms, 3000);
    assert_true(handler_kit_call("http://h/x", 0, 503, 2, 1, &c));
    assert_int_equal(c.outcome, PROTO_CALL_ERROR);
    assert_int_equal(c.retry_after_ms, 1000);
    assert_true(handler_kit_call("http://h/x", ORCH_ETIMEOUT, 0, 5000, -1, &c));
    assert_int_equal(c.outcome, PROTO_CALL_TIMEOUT);
    assert_true(handler_kit_call("http://h/x", ORCH_EUNAVAIL, 0, 1, -1, &c));
    assert_int_equal(c.outcome, PROTO_CALL_ERROR);
    assert_true(handler_kit_call("http://h/x", ORCH_ETOOBIG, 200, 1, -1, &c));
    assert_int_equal(c.outcome, PROTO_CALL_OK);
    assert_false(handler_kit_call("http://h/x", ORCH_ECANCELLED, 0, 1, -1, &c));
    assert_int_equal(c.outcome, PROTO_CALL_NONE);
}

static void test_origin(void **state)
{
    (void)state;
    proto_call_t c;
    handler_kit_call("https://user:p@ss@meili.example:7700/indexes/a/documents?x=1", 0, 202, 1, -1,
                     &c);
    assert_string_equal(c.downstream, "https://meili.example:7700");
    handler_kit_call("http://ollama", 0, 200, 1, -1, &c);
    assert_string_equal(c.downstream, "http://ollama");
    handler_kit_call("http://[::1]:8080#frag", 0, 200, 1, -1, &c);
    assert_string_equal(c.downstream, "http://[::1]:8080");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outcomes),
        cmocka_unit_test(test_origin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
