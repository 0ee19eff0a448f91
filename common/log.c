#include "log.h"
#include "log_json.h"
#include "orch_error.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int log_current_level = LOG_LEVEL_INFO;
static char s_program[32] = "orch";
static log_format_t s_format = LOG_FORMAT_TEXT;
static const char *const s_level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *program, log_level_t level)
{
    snprintf(s_program, sizeof s_program, "%s", program ? program : "orch");
    log_current_level = level;
}

void log_set_format(log_format_t format)
{
    s_format = format;
}

int log_parse_format(const char *text, log_format_t *out)
{
    if (text && strcmp(text, "text") == 0)
        *out = LOG_FORMAT_TEXT;
    else if (text && strcmp(text, "json") == 0)
        *out = LOG_FORMAT_JSON;
    else
        return ORCH_EINVAL;
    return ORCH_OK;
}

const char *log_format_name(log_format_t format)
{
    return format == LOG_FORMAT_JSON ? "json" : "text";
}

int log_parse_level(const char *text, log_level_t *out)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (text && strcmp(text, names[i]) == 0) {
            *out = (log_level_t)i;
            return ORCH_OK;
        }
    }
    return ORCH_EINVAL;
}

/* The JSON line (log_json.h) of the message fmt makes; same time, same
 * 2 KiB limit on the message as the text line. */
static void s_emit_json(const struct timeval *tv, log_level_t level, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void s_emit_json(const struct timeval *tv, log_level_t level, const char *fmt, va_list ap)
{
    char msg[2048], ts[80], line[LOG_JSON_LINE_MAX];
    struct tm tm;
    gmtime_r(&tv->tv_sec, &tm);
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (long)(tv->tv_usec / 1000));
    if (vsnprintf(msg, sizeof msg, fmt, ap) < 0)
        return;
    const char *name = s_level_names[level < 0 || level > 3 ? 1 : level];
    size_t len = log_json_render(line, sizeof line, ts, name, s_program, (int)getpid(), msg);
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void log_emit(log_level_t level, const char *fmt, ...)
{
    char line[2048];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    if (s_format == LOG_FORMAT_JSON) {
        va_list ap;
        va_start(ap, fmt);
        s_emit_json(&tv, level, fmt, ap);
        va_end(ap);
        return;
    }
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%d] level=%s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (long)(tv.tv_usec / 1000), s_program, (int)getpid(),
                     s_level_names[level < 0 || level > 3 ? 1 : level]);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line)
        n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof line - 1 ? (size_t)n : sizeof line - 2;
    line[len++] = '\n';
    /* one write() per line so lines from threads never interleave */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
