/* Private to config/: the generic table-driven YAML loader behind
 * orch_config_load and worker_config_load. A table row (cfgtab_key.h, the
 * public half) names a dotted key path, its type, the offset of the field it
 * fills, its default (as text, run through the same parser as the file), its
 * validator and the environment variable that overrides it. Only this module
 * and its callers in config/ see YAML. */
#ifndef CFGTAB_H
#define CFGTAB_H

#include "cfgtab_key.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

typedef struct cfgtab cfgtab_t;

/* Where a key's value came from, for messages that point at it. */
typedef struct {
    int line, col;   /* 1-based position of the value in the file; 0 when not from the file */
    const char *env; /* the variable when it came from the environment */
} cfgtab_pos_t;

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

/* What a cfgsection check hook sees (cfgsection.h); config_worker.c
 * builds one per section, cfgsection.c answers from it. */
struct cfgsection_ctx {
    cfgtab_t *ct;
    const cfgtab_scope_t *scope;  /* the section's table, prefix "handlers.<type>." */
    const cfgtab_pos_t *file_pos; /* scope->pos as the file left it, before the environment */
    bool enabled;
    const yaml_node_t *entry;     /* a named entry's key node (cfgsection_entries_def_t), or NULL:
                                   * an unset key of the entry is blamed on it */
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
/* The same for any scope (a nested table the root does not list). */
int cfgtab_apply_env_scope(cfgtab_t *ct, const cfgtab_scope_t *scope);
/* A plain empty, "~" or "null" scalar. */
bool cfgtab_is_null(const yaml_node_t *node);
/* "a mapping", "a list" or "a scalar", for messages. */
const char *cfgtab_node_kind(const yaml_node_t *node);
/* Walks mapping node into scope (used by custom hooks for nested tables). */
int cfgtab_walk(cfgtab_t *ct, yaml_node_t *map, const cfgtab_scope_t *scope);
/* Fails ("duplicate key") when pair's key appeared earlier in mapping map;
 * display names the key in the message. For custom hooks that walk a
 * mapping themselves. */
int cfgtab_check_duplicate(cfgtab_t *ct, yaml_node_t *map, yaml_node_pair_t *pair,
                           const char *display);
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
int cfgtab_vfail(cfgtab_t *ct, const cfgtab_scope_t *scope, const char *path, const char *fmt,
                 va_list ap) __attribute__((format(printf, 4, 0)));
/* Durations kmin <= kmax (paths of scope, values vmin and vmax): blames
 * kmax unless only kmin came from the config. 0 or ORCH_ECONFIG. */
int cfgtab_check_order(cfgtab_t *ct, const cfgtab_scope_t *scope, const char *kmin, int64_t vmin,
                       const char *kmax, int64_t vmax);
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

#endif
