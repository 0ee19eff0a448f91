/* Private to config/: the generic table-driven YAML loader behind
 * orch_config_load and worker_config_load. A table row names a dotted key
 * path, its type, the offset of the field it fills, its default (as text, run
 * through the same parser as the file), its validator and the environment
 * variable that overrides it. Only this module and its two callers see YAML. */
#ifndef CFGTAB_H
#define CFGTAB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

typedef enum {
    CFGTAB_STRING,   /* char *; NULL when unset */
    CFGTAB_INT,      /* int, range min..max */
    CFGTAB_BOOL,     /* bool */
    CFGTAB_DURATION, /* int64_t milliseconds, range min..max */
    CFGTAB_SIZE,     /* size_t bytes, range min..max */
    CFGTAB_COUNT,    /* size_t plain integer (no unit), range min..max */
    CFGTAB_NUMBER,   /* double, integer or decimal (YAML 1.2 float syntax), range min..max */
    CFGTAB_STRLIST,  /* char ** at off, size_t count at count_off; min..max elements */
    CFGTAB_LOGLEVEL, /* int (log_level_t) */
    CFGTAB_SECTION,  /* a mapping whose presence sets the bool at off */
    CFGTAB_CUSTOM,   /* parsed by the row's custom hook */
} cfgtab_type_t;

enum {
    CFGTAB_SECRET = 1 << 0,      /* never echo the value in a message */
    CFGTAB_NULLABLE = 1 << 1,    /* a YAML null (empty, ~, null) leaves the key unset */
    CFGTAB_ENV_DEFAULT = 1 << 2, /* env only fills the key when the file did not set it */
};

typedef struct cfgtab cfgtab_t;
typedef struct cfgtab_key cfgtab_key_t;

/* Where a key's value came from, for messages that point at it. */
typedef struct {
    int line, col;   /* 1-based position of the value in the file; 0 when not from the file */
    const char *env; /* the variable when it came from the environment */
} cfgtab_pos_t;

struct cfgtab_key {
    const char *path; /* dotted path relative to the scope, e.g. "heartbeat.interval" */
    cfgtab_type_t type;
    size_t off;       /* field offset in the scope's struct */
    size_t count_off; /* CFGTAB_STRLIST: offset of the size_t element count */
    const char *def;  /* default as text (lists: comma separated); NULL: none */
    int64_t min, max; /* range of INT, DURATION, SIZE; element count of STRLIST */
    unsigned flags;
    const char *env; /* overriding environment variable, or NULL */
    /* Extra check of a string (or each list element): NULL when fine, else
     * what was expected, e.g. "a ZeroMQ endpoint (tcp://host:port or ipc://path)". */
    const char *(*check)(const char *s);
    /* CFGTAB_CUSTOM: parses node into base; returns 0 or ORCH_ECONFIG. */
    int (*custom)(cfgtab_t *ct, yaml_node_t *node, const char *display, void *base);
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
#define CFGTAB_K_LIST(p, o, co, d, lo, hi, e, chk)                                                 \
    {                                                                                              \
        .path = (p), .type = CFGTAB_STRLIST, .off = (o), .count_off = (co), .def = (d),            \
        .min = (lo), .max = (hi), .env = (e), .check = (chk)                                       \
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

/* One table applied to one struct. */
typedef struct {
    const cfgtab_key_t *keys;
    size_t nkeys;
    void *base;
    cfgtab_pos_t *pos;  /* nkeys entries, zeroed by the caller */
    const char *prefix; /* display prefix for messages, "" at the top, "queues[0]." below */
} cfgtab_scope_t;

struct cfgtab {
    const char *file; /* display name of the file, NULL when loading defaults only */
    char *dir;        /* the file's directory, for relative *_file paths */
    yaml_document_t doc;
    bool have_doc;
    cfgtab_scope_t root;
    char *err;
    size_t errlen;
    void *user; /* for custom hooks */
    size_t json_total; /* JSON built from YAML so far: bounds alias expansion */
};

/* All JSON values of one file together (aliases can repeat one large
 * mapping many times: without a total a 4 KiB file could expand to GBs). */
#define CFGTAB_JSON_TOTAL_MAX (4u << 20)

/* Sets defaults from the table into base; an unparsable default asserts. */
void cfgtab_init(cfgtab_t *ct, const cfgtab_scope_t *root, char *err, size_t errlen);
void cfgtab_fini(cfgtab_t *ct);
/* Reads and walks path (NULL: nothing to read). 0 or ORCH_ECONFIG. */
int cfgtab_read(cfgtab_t *ct, const char *path);
/* Applies the root table's environment overrides. 0 or ORCH_ECONFIG. */
int cfgtab_apply_env(cfgtab_t *ct);
/* A plain empty, "~" or "null" scalar. */
bool cfgtab_is_null(const yaml_node_t *node);
/* "a mapping", "a list" or "a scalar", for messages. */
const char *cfgtab_node_kind(const yaml_node_t *node);
/* Walks mapping node into scope (used by custom hooks for nested tables). */
int cfgtab_walk(cfgtab_t *ct, yaml_node_t *map, const cfgtab_scope_t *scope);
void cfgtab_defaults(const cfgtab_scope_t *scope);
/* Frees every string and list the table owns in base. */
void cfgtab_free(const cfgtab_key_t *keys, size_t nkeys, void *base);
/* Copies the scalar value of key from src to dst (same struct type). */
void cfgtab_copy(const cfgtab_key_t *key, void *dst, const void *src);

/* Index of path in scope, or -1. */
int cfgtab_find(const cfgtab_scope_t *scope, const char *path);
bool cfgtab_is_set(const cfgtab_scope_t *scope, const char *path);

/* Formats an error about key path of scope at where it was set (the file
 * position, the environment variable, or nothing for a default) and returns
 * ORCH_ECONFIG. */
int cfgtab_fail(cfgtab_t *ct, const cfgtab_scope_t *scope, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Formats an error at a node ("file:line:col: ") and returns ORCH_ECONFIG. */
int cfgtab_fail_at(cfgtab_t *ct, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "5m", "250ms", "1d": the largest unit that divides ms exactly. */
void cfgtab_fmt_duration(int64_t ms, char *buf, size_t len);
/* Reads a secret or URL from a file: whole content, surrounding whitespace
 * trimmed, at most 64 KiB. Caller owns *out. Relative paths are taken from
 * the config file's directory. The content never appears in a message. */
int cfgtab_read_secret(cfgtab_t *ct, const cfgtab_scope_t *scope, const char *path_key,
                       const char *file, char **out);

/* ---- values (cfgtab_value.c) ---- */
/* Sets key in base from text: a scalar, or a comma separated list. On
 * failure returns ORCH_EINVAL, base unchanged, and *bad is the validator's
 * wording of what was expected (NULL: use cfgtab_expect). */
int cfgtab_set_text(const cfgtab_key_t *k, void *base, const char *text, const char **bad);
int cfgtab_set_scalar(const cfgtab_key_t *k, void *base, const char *text, const char **bad);
/* NULL when text suits the string key k, else what was expected. */
const char *cfgtab_check_string(const cfgtab_key_t *k, const char *text);
/* What key k accepts, e.g. "an integer 1..1024". */
void cfgtab_expect(const cfgtab_key_t *k, char *buf, size_t len);
/* A value quoted for a message: printable ASCII, at most 80 bytes kept. */
void cfgtab_quote(const char *text, char *buf, size_t len);
void cfgtab_free_list(const cfgtab_key_t *k, void *base);
/* Index of the first element equal to an earlier one, or -1. */
long cfgtab_list_dup(char *const *list, size_t count);

/* Converts node (any YAML value) to compact JSON text; caller owns *out.
 * Quoted scalars are strings; plain scalars that YAML 1.2's core schema
 * reads as null, true/false, integers (decimal, 0x, 0o) or floats become
 * those JSON values (.inf and .nan stay strings: JSON has no such numbers).
 * Fails with ORCH_ECONFIG and a message at the offending node (named from
 * display) on a non-scalar key, a repeated key, a NUL byte in a string, an
 * integer beyond 64 bits, a float beyond double, nesting deeper than 32
 * levels or output larger than max bytes (aliases can multiply a file). */
int cfgtab_node_json(cfgtab_t *ct, yaml_node_t *node, const char *display, size_t max, char **out);

/* Validators for cfgtab_key_t.check. */
const char *cfgtab_check_endpoint(const char *s);
const char *cfgtab_check_http_url(const char *s);
const char *cfgtab_check_name(const char *s);
const char *cfgtab_check_abs_path(const char *s);
const char *cfgtab_check_nonempty(const char *s);

#endif
