/* One logging module: levels, key=value fields, to stderr. The level is
 * checked before any formatting happens.
 *
 * Two line formats (docs/operations.md, "Logs"):
 *   text  2026-03-01T10:00:00.123Z orchestratord[42] level=warn worker lost worker=w1 jobs=2
 *   json  {"ts":"2026-03-01T10:00:00.123Z","level":"warn","program":"orchestratord",
 *          "pid":42,"msg":"worker lost","worker":"w1","jobs":2}
 * The JSON line is made from the same message text (log_json.h). */
#ifndef LOG_H
#define LOG_H

typedef enum { LOG_LEVEL_DEBUG = 0, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR } log_level_t;
typedef enum { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON } log_format_t;

extern int log_current_level;

void log_init(const char *program, log_level_t level);
/* Text (the default) or JSON lines from now on. Set once at start, before
 * threads that log exist. */
void log_set_format(log_format_t format);
/* Returns 0 and sets *out for "debug", "info", "warn", "error"; else ORCH_EINVAL. */
int log_parse_level(const char *text, log_level_t *out);
/* Returns 0 and sets *out for "text", "json"; else ORCH_EINVAL. */
int log_parse_format(const char *text, log_format_t *out);
/* "text" or "json". */
const char *log_format_name(log_format_t format);
void log_emit(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG_AT(lvl, ...)                                                                           \
    do {                                                                                           \
        if ((int)(lvl) >= log_current_level)                                                       \
            log_emit((lvl), __VA_ARGS__);                                                          \
    } while (0)
#define LOG_DEBUG(...) LOG_AT(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define LOG_INFO(...) LOG_AT(LOG_LEVEL_INFO, __VA_ARGS__)
#define LOG_WARN(...) LOG_AT(LOG_LEVEL_WARN, __VA_ARGS__)
#define LOG_ERROR(...) LOG_AT(LOG_LEVEL_ERROR, __VA_ARGS__)

/* A string argument that may be NULL, for a "%s": "-" instead of glibc's
 * "(null)" (the integration harness fails a test whose logs show that). */
#define LOG_STR(s) ((s) ? (s) : "-")

#endif
