#include "log.h"
#include "orch_error.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int log_current_level = LOG_LEVEL_INFO;
static char s_program[32] = "orch";

void log_init(const char *program, log_level_t level)
{
    snprintf(s_program, sizeof s_program, "%s", program ? program : "orch");
    log_current_level = level;
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

void log_emit(log_level_t level, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    char line[2048];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%d] level=%s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (long)(tv.tv_usec / 1000), s_program, (int)getpid(),
                     names[level < 0 || level > 3 ? 1 : level]);
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
