/* The rows of a configuration table: a key's path, type, field offset,
 * default (as text), range or validator, and environment variable. Public
 * (unlike cfgtab.h, the loader behind them, which sees YAML): a module
 * outside config/ declares its own keys with these macros, as a job handler
 * does for its `handlers: <type>:` section (cfgsection.h). */
#ifndef CFGTAB_KEY_H
#define CFGTAB_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cfgtab;
struct yaml_node_s;

typedef enum {
    CFGTAB_STRING,   /* char *; NULL when unset */
    CFGTAB_INT,      /* int, range min..max */
    CFGTAB_BOOL,     /* bool */
    CFGTAB_DURATION, /* int64_t milliseconds, range min..max */
    CFGTAB_SIZE,     /* size_t bytes, range min..max */
    CFGTAB_COUNT,    /* size_t plain integer (no unit), range min..max */
    CFGTAB_NUMBER,   /* double, integer or decimal (YAML 1.2 float syntax), range min..max */
    CFGTAB_STRLIST,  /* char ** at off, size_t count at count_off; min..max elements */
    CFGTAB_STRMAP,   /* a mapping of strings: char ** at off holding name, value, name, value...;
                      * size_t count of pairs at count_off; min..max pairs; check applies to
                      * the names; no default, no environment variable */
    CFGTAB_LOGLEVEL, /* int (log_level_t) */
    CFGTAB_LOGFORMAT, /* int (log_format_t): text or json */
    CFGTAB_SECTION,  /* a mapping whose presence sets the bool at off */
    CFGTAB_CUSTOM,   /* parsed by the row's custom hook */
} cfgtab_type_t;

enum {
    CFGTAB_SECRET = 1 << 0,      /* never echo the value in a message */
    CFGTAB_NULLABLE = 1 << 1,    /* a YAML null (empty, ~, null) leaves the key unset */
    CFGTAB_ENV_DEFAULT = 1 << 2, /* env only fills the key when the file did not set it */
};

typedef struct cfgtab_key cfgtab_key_t;

struct cfgtab_key {
    const char *path; /* dotted path relative to the scope, e.g. "heartbeat.interval" */
    cfgtab_type_t type;
    size_t off;       /* field offset in the scope's struct */
    size_t count_off; /* CFGTAB_STRLIST, CFGTAB_STRMAP: offset of the size_t element count */
    const char *def;  /* default as text (lists: comma separated); NULL: none */
    int64_t min, max; /* range of INT, DURATION, SIZE; element count of STRLIST */
    unsigned flags;
    const char *env; /* overriding environment variable, or NULL */
    /* Extra check of a string (or each list element): NULL when fine, else
     * what was expected, e.g. "a ZeroMQ endpoint (tcp://host:port or ipc://path)". */
    const char *(*check)(const char *s);
    /* CFGTAB_CUSTOM: parses node into base; returns 0 or ORCH_ECONFIG. */
    int (*custom)(struct cfgtab *ct, struct yaml_node_s *node, const char *display, void *base);
};

/* Table rows, one macro per type, so a table reads as key, field, default,
 * range or validator, environment variable. */
#define CFGTAB_K_STR(p, o, d, fl, e, chk)                                                          \
    {                                                                                              \
        .path = (p), .type = CFGTAB_STRING, .off = (o), .def = (d), .flags = (fl), .env = (e),     \
        .check = (chk)                                                                             \
    }
#define CFGTAB_K_INT_(p, o, d, lo, hi)                                                             \
    {                                                                                              \
        .path = (p), .type = CFGTAB_INT, .off = (o), .def = (d), .min = (lo), .max = (hi)          \
    }
#define CFGTAB_K_COUNT_(p, o, d, lo, hi)                                                           \
    {                                                                                              \
        .path = (p), .type = CFGTAB_COUNT, .off = (o), .def = (d), .min = (lo), .max = (hi)        \
    }
#define CFGTAB_K_DUR_(p, o, d, lo, hi)                                                             \
    {                                                                                              \
        .path = (p), .type = CFGTAB_DURATION, .off = (o), .def = (d), .min = (lo), .max = (hi)     \
    }
#define CFGTAB_K_SIZE_(p, o, d, lo, hi)                                                            \
    {                                                                                              \
        .path = (p), .type = CFGTAB_SIZE, .off = (o), .def = (d), .min = (lo), .max = (hi)         \
    }
#define CFGTAB_K_NUM_(p, o, d, lo, hi)                                                             \
    {                                                                                              \
        .path = (p), .type = CFGTAB_NUMBER, .off = (o), .def = (d), .min = (lo), .max = (hi)       \
    }
/* The range may be one macro expanding to "lo, hi". */
#define CFGTAB_K_INT(p, o, d, ...) CFGTAB_K_INT_(p, o, d, __VA_ARGS__)
#define CFGTAB_K_COUNT(p, o, d, ...) CFGTAB_K_COUNT_(p, o, d, __VA_ARGS__)
#define CFGTAB_K_DUR(p, o, d, ...) CFGTAB_K_DUR_(p, o, d, __VA_ARGS__)
#define CFGTAB_K_SIZE(p, o, d, ...) CFGTAB_K_SIZE_(p, o, d, __VA_ARGS__)
#define CFGTAB_K_NUM(p, o, d, ...) CFGTAB_K_NUM_(p, o, d, __VA_ARGS__)
#define CFGTAB_K_BOOL(p, o, d)                                                                     \
    {                                                                                              \
        .path = (p), .type = CFGTAB_BOOL, .off = (o), .def = (d)                                   \
    }
#define CFGTAB_K_LEVEL(p, o, d, e)                                                                 \
    {                                                                                              \
        .path = (p), .type = CFGTAB_LOGLEVEL, .off = (o), .def = (d), .env = (e)                   \
    }
#define CFGTAB_K_LOGFMT(p, o, d, e)                                                                \
    {                                                                                              \
        .path = (p), .type = CFGTAB_LOGFORMAT, .off = (o), .def = (d), .env = (e)                  \
    }
#define CFGTAB_K_LIST(p, o, co, d, lo, hi, e, chk)                                                 \
    {                                                                                              \
        .path = (p), .type = CFGTAB_STRLIST, .off = (o), .count_off = (co), .def = (d),            \
        .min = (lo), .max = (hi), .env = (e), .check = (chk)                                       \
    }
#define CFGTAB_K_MAP(p, o, co, lo, hi, fl, chk)                                                    \
    {                                                                                              \
        .path = (p), .type = CFGTAB_STRMAP, .off = (o), .count_off = (co), .min = (lo),            \
        .max = (hi), .flags = (fl), .check = (chk)                                                 \
    }
#define CFGTAB_K_SECTION(p, o)                                                                     \
    {                                                                                              \
        .path = (p), .type = CFGTAB_SECTION, .off = (o)                                            \
    }
#define CFGTAB_K_CUSTOM(p, fn)                                                                     \
    {                                                                                              \
        .path = (p), .type = CFGTAB_CUSTOM, .custom = (fn)                                         \
    }

/* Durations in milliseconds and sizes in bytes, for ranges. */
#define CFGTAB_SEC 1000LL
#define CFGTAB_MINUTE (60 * CFGTAB_SEC)
#define CFGTAB_HOUR (60 * CFGTAB_MINUTE)
#define CFGTAB_DAY (24 * CFGTAB_HOUR)
#define CFGTAB_KIB 1024LL
#define CFGTAB_MIB (1024 * CFGTAB_KIB)
#define CFGTAB_GIB (1024 * CFGTAB_MIB)

/* Validators for cfgtab_key_t.check. */
const char *cfgtab_check_endpoint(const char *s);
const char *cfgtab_check_http_url(const char *s);
const char *cfgtab_check_name(const char *s);
const char *cfgtab_check_abs_path(const char *s);
const char *cfgtab_check_nonempty(const char *s);

#endif
