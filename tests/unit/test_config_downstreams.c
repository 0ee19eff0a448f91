/* orchestrator.yaml's `downstreams:` list: defaults, and an error naming
 * the entry's key (file:line:column) for every rule: required keys,
 * unique names, a type bound to one downstream only, min <= initial <= max,
 * 0 < decrease < 1, increase > 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config.h"
#include "orch_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char s_path[64];
static char s_err[512];

static int s_load(const char *yaml, orch_config_t **out)
{
    snprintf(s_path, sizeof s_path, "/tmp/test_config_downstreams.XXXXXX");
    int fd = mkstemp(s_path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(yaml, f);
    fclose(f);
    s_err[0] = '\0';
    int rc = orch_config_load(s_path, out, s_err, sizeof s_err);
    unlink(s_path);
    return rc;
}

static void s_fails(const char *yaml, const char *expect)
{
    orch_config_t *cfg = NULL;
    assert_int_equal(s_load(yaml, &cfg), ORCH_ECONFIG);
    assert_null(cfg);
    if (!strstr(s_err, expect)) {
        print_error("expected \"%s\" in \"%s\"\n", expect, s_err);
        fail();
    }
}

static void test_defaults_and_values(void **state)
{
    (void)state;
    orch_config_t *cfg = NULL;
    assert_int_equal(s_load("log:\n  level: error\n", &cfg), ORCH_OK);
    assert_int_equal(cfg->ndownstreams, 0);
    orch_config_destroy(&cfg);
    assert_int_equal(s_load("downstreams:\n"
                            "  - name: ollama\n    types: [embed]\n"
                            "  - name: meili\n    types: [index, compact]\n    initial: 8\n"
                            "    min: 2\n    max: 16\n    latency_target: 250ms\n"
                            "    decrease: 0.7\n    increase: 2\n    max_pause: 5s\n",
                            &cfg),
                     ORCH_OK);
    assert_int_equal(cfg->ndownstreams, 2);
    const downstream_config_t *d = &cfg->downstreams[0];
    assert_string_equal(d->name, "ollama");
    assert_int_equal(d->ntypes, 1);
    assert_string_equal(d->types[0], "embed");
    assert_int_equal(d->initial, 4);
    assert_int_equal(d->min, 1);
    assert_int_equal(d->max, 64);
    assert_int_equal(d->latency_target_ms, 2000);
    assert_true(d->decrease == 0.5);
    assert_true(d->increase == 1.0);
    assert_int_equal(d->max_pause_ms, 60000);
    d = &cfg->downstreams[1];
    assert_int_equal(d->ntypes, 2);
    assert_string_equal(d->types[1], "compact");
    assert_int_equal(d->initial, 8);
    assert_int_equal(d->min, 2);
    assert_int_equal(d->max, 16);
    assert_int_equal(d->latency_target_ms, 250);
    assert_true(d->decrease == 0.7);
    assert_true(d->increase == 2.0);
    assert_int_equal(d->max_pause_ms, 5000);
    orch_config_destroy(&cfg);
}

static void test_errors_name_the_key(void **state)
{
    (void)state;
    s_fails("downstreams:\n  - types: [embed]\n",
            "2:5: \"downstreams[0]\": missing required key \"name\"");
    s_fails("downstreams:\n  - name: ollama\n",
            "2:5: \"downstreams[0]\": missing required key \"types\"");
    s_fails("downstreams:\n  - name: a\n    types: [x]\n  - name: a\n    types: [y]\n",
            "4:11: \"downstreams[1].name\": downstream \"a\" is already defined");
    s_fails("downstreams:\n  - name: a\n    types: [x]\n  - name: b\n    types: [y, x]\n",
            "5:12: \"downstreams[1].types\": type \"x\" is already bound to downstream \"a\"");
    s_fails("downstreams:\n  - name: a\n    types: [x, x]\n",
            "3:16: \"downstreams[0].types[1]\": repeats an earlier element");
    s_fails("downstreams:\n  - name: a\n    types: [x]\n    initial: 100\n",
            "4:14: \"downstreams[0].initial\": must be within min..max (1..64), got 100");
    s_fails("downstreams:\n  - name: a\n    types: [x]\n    min: 8\n    max: 4\n    initial: 4\n",
            "5:10: \"downstreams[0].max\": min (8) must not exceed max (4)");
    s_fails("downstreams:\n  - name: a\n    types: [x]\n    decrease: 1\n",
            "4:15: \"downstreams[0].decrease\": must be above 0 and below 1");
    s_fails("downstreams:\n  - name: a\n    types: [x]\n    increase: 0\n",
            "4:15: \"downstreams[0].increase\": must be above 0");
    s_fails("downstreams:\n  - name: a\n    types: [x]\n    latency_target: soon\n",
            "\"downstreams[0].latency_target\": expected a duration");
    s_fails("downstreams:\n  - name: a\n    types: [x]\n    limit: 3\n",
            "4:5: unknown key \"downstreams[0].limit\"");
    s_fails("downstreams: {name: a}\n",
            "1:14: \"downstreams\": expected a list of mappings, got a mapping");
    s_fails("downstreams:\n  - ollama\n",
            "2:5: \"downstreams[0]\": expected a mapping with a name and types, got a scalar");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_values),
        cmocka_unit_test(test_errors_name_the_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
