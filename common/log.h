/* One logging module: levels, key=value fields, to stderr. The level is
 * checked before any formatting happens. */
#ifndef LOG_H
#define LOG_H

typedef enum { LOG_LEVEL_DEBUG = 0, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR } log_level_t;

extern int log_current_level;

void log_init(const char *program, log_level_t level);
/* Returns 0 and sets *out for "debug", "info", "warn", "error"; else ORCH_EINVAL. */
int log_parse_level(const char *text, log_level_t *out);
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

#endif
