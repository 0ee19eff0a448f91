/* The logger: the text line stays as it always was, the JSON line (one
 * object per line, fields from the message's key=value words, escaping of
 * hostile bytes, truncation that keeps the JSON valid), and the log.format
 * key, ORCH_LOG_FORMAT and orch-worker's --log-format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "config.h"
#include "log.h"
#include "log_json.h"
#include "orch_error.h"
#include "worker_args.h"

#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TS "2026-03-01T10:00:00.123Z"
#define HEAD "{\"ts\":\"" TS "\",\"level\":\"warn\",\"program\":\"orchestratord\",\"pid\":42"

static char s_line[LOG_JSON_LINE_MAX];

static const char *s_render(const char *msg)
{
    size_t n = log_json_render(s_line, sizeof s_line, TS, "warn", "orchestratord", 42, msg);
    assert_true(n < sizeof s_line);
    s_line[n] = '\0';
    return s_line;
}

/* The line parsed back, checked to be one object ending in one newline. */
static json_t *s_parse(const char *line)
{
    size_t n = strlen(line);
    assert_true(n > 0 && line[n - 1] == '\n');
    assert_null(memchr(line, '\n', n - 1));
    json_error_t e;
    json_t *v = json_loadb(line, n, 0, &e);
    if (!v)
        fail_msg("not JSON: %s: %s", e.text, line);
    assert_true(json_is_object(v));
    return v;
}

/* ---- field parsing ---- */

static void s_expect_next(const char *msg, size_t *pos, const char *key, const char *val,
                          bool quoted)
{
    log_field_t f;
    assert_true(log_json_next(msg, pos, &f));
    if (key) {
        assert_non_null(f.key);
        assert_int_equal(f.keylen, strlen(key));
        assert_memory_equal(f.key, key, f.keylen);
    } else {
        assert_null(f.key);
    }
    assert_int_equal(f.vallen, strlen(val));
    assert_memory_equal(f.val, val, f.vallen);
    assert_int_equal(f.quoted, quoted);
}

static void test_fields_words_and_values(void **state)
{
    (void)state;
    const char *msg = "worker lost  worker=w-1.a reason=\"heartbeat \\ \"late\" now\" jobs=3 "
                      "empty= q=\"\" =x a.b_c-d=1";
    size_t pos = 0;
    s_expect_next(msg, &pos, NULL, "worker", false);
    s_expect_next(msg, &pos, NULL, "lost", false);
    s_expect_next(msg, &pos, "worker", "w-1.a", false);
    s_expect_next(msg, &pos, "reason", "heartbeat \\ \"late\" now", true);
    s_expect_next(msg, &pos, "jobs", "3", false);
    s_expect_next(msg, &pos, "empty", "", false);
    s_expect_next(msg, &pos, "q", "", true);
    s_expect_next(msg, &pos, NULL, "=x", false);
    s_expect_next(msg, &pos, "a.b_c-d", "1", false);
    log_field_t f;
    assert_false(log_json_next(msg, &pos, &f));
}

static void test_fields_quote_edge_cases(void **state)
{
    (void)state;
    /* free words after a quoted value: it ends at the last quote before a space */
    const char *msg = "error=\"could not \"x\" go\" (retrying in 5 ms)";
    size_t pos = 0;
    s_expect_next(msg, &pos, "error", "could not \"x\" go", true);
    s_expect_next(msg, &pos, NULL, "(retrying", false);
    /* no closing quote: the rest of the line */
    pos = 0;
    s_expect_next("a=\"open to the end", &pos, "a", "open to the end", true);
    /* a quote inside a bare value is part of it */
    pos = 0;
    s_expect_next("a=x\"y b=2", &pos, "a", "x\"y", false);
    s_expect_next("a=x\"y b=2", &pos, "b", "2", false);
    /* keys start with a letter or '_' */
    pos = 0;
    s_expect_next("1a=2 _k=v", &pos, NULL, "1a=2", false);
    s_expect_next("1a=2 _k=v", &pos, "_k", "v", false);
}

/* ---- the JSON line ---- */

static void test_json_line_exact(void **state)
{
    (void)state;
    assert_string_equal(s_render("worker lost worker=w1 reason=\"no heartbeat\" jobs=3"),
                        HEAD ",\"msg\":\"worker lost\",\"worker\":\"w1\","
                             "\"reason\":\"no heartbeat\",\"jobs\":3}\n");
    /* words after the fields join msg; a message without fields */
    assert_string_equal(s_render("db=x: gone away"),
                        HEAD ",\"msg\":\"gone away\",\"db\":\"x:\"}\n");
    assert_string_equal(s_render("shutting down"), HEAD ",\"msg\":\"shutting down\"}\n");
    assert_string_equal(s_render(""), HEAD ",\"msg\":\"\"}\n");
}

static void test_json_numbers_and_strings(void **state)
{
    (void)state;
    json_t *v = s_parse(s_render("n a=0 b=-17 c=007 d=\"42\" e=9007199254740992 "
                                 "f=9007199254740993 g=1.5 h=- i=12ab j=-"));
    assert_int_equal(json_integer_value(json_object_get(v, "a")), 0);
    assert_int_equal(json_integer_value(json_object_get(v, "b")), -17);
    assert_string_equal(json_string_value(json_object_get(v, "c")), "007");
    assert_string_equal(json_string_value(json_object_get(v, "d")), "42");
    assert_int_equal(json_integer_value(json_object_get(v, "e")), 9007199254740992LL);
    assert_string_equal(json_string_value(json_object_get(v, "f")), "9007199254740993");
    assert_string_equal(json_string_value(json_object_get(v, "g")), "1.5");
    assert_string_equal(json_string_value(json_object_get(v, "h")), "-");
    assert_string_equal(json_string_value(json_object_get(v, "i")), "12ab");
    json_decref(v);
}

static void test_json_reserved_and_repeated_keys(void **state)
{
    (void)state;
    assert_string_equal(s_render("exec ended pid=7 msg=x level=y a=1 a=2 a=3"),
                        HEAD ",\"msg\":\"exec ended\",\"field_pid\":7,\"field_msg\":\"x\","
                             "\"field_level\":\"y\",\"a\":1,\"a_2\":2,\"a_3\":3}\n");
}

static void test_json_escaping(void **state)
{
    (void)state;
    /* quotes, backslash, newline, tab, CR, other control bytes, DEL */
    const char *msg = "bad  q\"uote back\\slash error=\"line1\nline2\ttab\r\x01\x1f\x7f\"";
    assert_string_equal(s_render(msg),
                        HEAD ",\"msg\":\"bad q\\\"uote back\\\\slash\","
                             "\"error\":\"line1\\nline2\\ttab\\r\\u0001\\u001f\x7f\"}\n");
    json_t *v = s_parse(s_line);
    assert_string_equal(json_string_value(json_object_get(v, "error")),
                        "line1\nline2\ttab\r\x01\x1f\x7f");
    json_decref(v);
}

static void test_json_utf8(void **state)
{
    (void)state;
    /* valid: é (2 bytes), € (3), 😀 (4) kept as they are */
    assert_string_equal(s_render("ok name=\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\""),
                        HEAD ",\"msg\":\"ok\",\"name\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}\n");
    /* invalid: a lone continuation byte, 0xff, an overlong '/', a surrogate,
     * above U+10FFFF, a sequence cut short: each bad byte is U+FFFD */
    s_render("bad v=\x80|\xff|\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xe2\x82");
    json_t *v = s_parse(s_line);
    const char *got = json_string_value(json_object_get(v, "v"));
    const char *r = "\xef\xbf\xbd";
    char want[128];
    snprintf(want, sizeof want, "%s|%s|%s%s|%s%s%s|%s%s%s%s|%s%s", r, r, r, r, r, r, r, r, r, r,
             r, r, r);
    assert_string_equal(got, want);
    json_decref(v);
    /* the line itself is plain ASCII: the replacement is escaped */
    assert_non_null(strstr(s_line, "\\ufffd|\\ufffd|"));
}

static void test_json_truncation_keeps_json_valid(void **state)
{
    (void)state;
    /* 2 KiB of control characters: msg is cut at a whole escape */
    char msg[2048];
    memset(msg, '\x01', sizeof msg - 1);
    msg[sizeof msg - 1] = '\0';
    char small[512];
    size_t n = log_json_render(small, sizeof small, TS, "info", "orch-worker", 1, msg);
    assert_true(n <= sizeof small);
    char *line = strndup(small, n);
    json_t *v = s_parse(line);
    assert_true(json_is_true(json_object_get(v, "truncated")));
    assert_true(strlen(json_string_value(json_object_get(v, "msg"))) > 0);
    json_decref(v);
    free(line);
    /* many fields: the last ones are dropped whole */
    char fields[2048] = "many";
    for (int i = 0; strlen(fields) < sizeof fields - 16; i++)
        snprintf(fields + strlen(fields), sizeof fields - strlen(fields), " k%d=\"\x01\x02\"", i);
    n = log_json_render(small, sizeof small, TS, "info", "orch-worker", 1, fields);
    line = strndup(small, n);
    v = s_parse(line);
    assert_true(json_is_true(json_object_get(v, "truncated")));
    assert_non_null(json_object_get(v, "k0"));
    assert_string_equal(json_string_value(json_object_get(v, "msg")), "many");
    json_decref(v);
    free(line);
    /* the largest line the logger can make fits its buffer */
    memset(msg, '\x01', sizeof msg - 1);
    n = log_json_render(s_line, sizeof s_line, TS, "info", "orch-worker", 1, msg);
    assert_true(n < sizeof s_line);
    s_line[n] = '\0';
    json_decref(s_parse(s_line));
}

/* ---- log_emit: what reaches stderr ---- */

/* Runs one LOG_WARN with stderr sent to a file; returns what was written. */
static char *s_capture(log_format_t format, const char *text)
{
    char path[] = "/tmp/test_log_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    log_set_format(format);
    LOG_WARN("worker lost worker=%s reason=\"%s\" jobs=%d", "w1", text, 2);
    LOG_DEBUG("not shown at level info");
    log_set_format(LOG_FORMAT_TEXT);
    dup2(saved, STDERR_FILENO);
    close(saved);
    char *buf = calloc(1, 8192);
    ssize_t n = pread(fd, buf, 8191, 0);
    assert_true(n > 0);
    close(fd);
    return buf;
}

static void s_expect_match(const char *text, const char *pattern)
{
    regex_t re;
    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    if (regexec(&re, text, 0, NULL, 0) != 0)
        fail_msg("'%s' does not match '%s'", text, pattern);
    regfree(&re);
}

static void test_emit_text_unchanged(void **state)
{
    (void)state;
    log_init("orchestratord", LOG_LEVEL_INFO);
    char *out = s_capture(LOG_FORMAT_TEXT, "a \"b\"\nc");
    char want[256];
    snprintf(want, sizeof want,
             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
             "orchestratord\\[%d\\] level=warn worker lost worker=w1 reason=\"a \"b\"\nc\" "
             "jobs=2\n$",
             (int)getpid());
    s_expect_match(out, want);
    free(out);
}

static void test_emit_json_line(void **state)
{
    (void)state;
    log_init("orch-worker", LOG_LEVEL_INFO);
    char *out = s_capture(LOG_FORMAT_JSON, "a \"b\"\nc");
    json_t *v = s_parse(out);
    s_expect_match(json_string_value(json_object_get(v, "ts")),
                   "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$");
    assert_string_equal(json_string_value(json_object_get(v, "level")), "warn");
    assert_string_equal(json_string_value(json_object_get(v, "program")), "orch-worker");
    assert_int_equal(json_integer_value(json_object_get(v, "pid")), getpid());
    assert_string_equal(json_string_value(json_object_get(v, "msg")), "worker lost");
    assert_string_equal(json_string_value(json_object_get(v, "worker")), "w1");
    assert_string_equal(json_string_value(json_object_get(v, "reason")), "a \"b\"\nc");
    assert_int_equal(json_integer_value(json_object_get(v, "jobs")), 2);
    assert_int_equal(json_object_size(v), 8);
    json_decref(v);
    free(out);
}

/* ---- configuration and flags ---- */

static void test_parse_format(void **state)
{
    (void)state;
    log_format_t f = LOG_FORMAT_TEXT;
    assert_int_equal(log_parse_format("json", &f), ORCH_OK);
    assert_int_equal(f, LOG_FORMAT_JSON);
    assert_int_equal(log_parse_format("text", &f), ORCH_OK);
    assert_int_equal(f, LOG_FORMAT_TEXT);
    assert_int_equal(log_parse_format("JSON", &f), ORCH_EINVAL);
    assert_int_equal(log_parse_format(NULL, &f), ORCH_EINVAL);
    assert_string_equal(log_format_name(LOG_FORMAT_JSON), "json");
}

static char *s_yaml(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/test_log_cfg_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_config_log_format(void **state)
{
    (void)state;
    char err[512];
    orch_config_t *c = NULL;
    unsetenv("ORCH_LOG_FORMAT");
    assert_int_equal(orch_config_load(NULL, &c, err, sizeof err), 0);
    assert_int_equal(c->log_format, LOG_FORMAT_TEXT);
    orch_config_destroy(&c);
    char *path = s_yaml("log:\n  format: json\n");
    assert_int_equal(orch_config_load(path, &c, err, sizeof err), 0);
    assert_int_equal(c->log_format, LOG_FORMAT_JSON);
    orch_config_destroy(&c);
    setenv("ORCH_LOG_FORMAT", "text", 1);
    assert_int_equal(orch_config_load(path, &c, err, sizeof err), 0);
    assert_int_equal(c->log_format, LOG_FORMAT_TEXT);
    orch_config_destroy(&c);
    unsetenv("ORCH_LOG_FORMAT");
    worker_config_t *w = NULL;
    assert_int_equal(worker_config_load(path, NULL, &w, err, sizeof err), 0);
    assert_int_equal(w->log_format, LOG_FORMAT_JSON);
    worker_config_destroy(&w);
    unlink(path);
    path = s_yaml("log:\n  format: xml\n");
    assert_int_equal(orch_config_load(path, &c, err, sizeof err), ORCH_ECONFIG);
    assert_non_null(strstr(err, "log.format"));
    assert_non_null(strstr(err, "text or json"));
    assert_int_equal(worker_config_load(path, NULL, &w, err, sizeof err), ORCH_ECONFIG);
    assert_non_null(strstr(err, ":2:"));
    unlink(path);
}

static void test_worker_flag(void **state)
{
    (void)state;
    worker_args_t a;
    char err[256];
    char *ok[] = {"orch-worker", "--log-format", "json", NULL};
    assert_int_equal(worker_args_parse(3, ok, &a, err, sizeof err), 0);
    assert_int_equal(a.log_format, LOG_FORMAT_JSON);
    worker_args_fini(&a);
    char *none[] = {"orch-worker", NULL};
    assert_int_equal(worker_args_parse(1, none, &a, err, sizeof err), 0);
    assert_int_equal(a.log_format, -1);
    worker_args_fini(&a);
    char *bad[] = {"orch-worker", "--log-format=yaml", NULL};
    assert_int_equal(worker_args_parse(2, bad, &a, err, sizeof err), ORCH_EINVAL);
    assert_string_equal(err, "--log-format: expected text or json, got \"yaml\"");
    worker_args_fini(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_words_and_values),
        cmocka_unit_test(test_fields_quote_edge_cases),
        cmocka_unit_test(test_json_line_exact),
        cmocka_unit_test(test_json_numbers_and_strings),
        cmocka_unit_test(test_json_reserved_and_repeated_keys),
        cmocka_unit_test(test_json_escaping),
        cmocka_unit_test(test_json_utf8),
        cmocka_unit_test(test_json_truncation_keeps_json_valid),
        cmocka_unit_test(test_emit_text_unchanged),
        cmocka_unit_test(test_emit_json_line),
        cmocka_unit_test(test_parse_format),
        cmocka_unit_test(test_config_log_format),
        cmocka_unit_test(test_worker_flag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
