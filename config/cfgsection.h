/* A config section whose keys are declared outside config/: the schema a
 * job handler carries for its `handlers: <type>:` mapping in worker.yaml.
 *
 * The schema is a table of cfgtab_key_t rows (cfgtab_key.h) whose offsets
 * point into a struct the handler defines; the loader allocates that struct,
 * fills it from the defaults, the file and the environment, runs the
 * schema's check hook, and hands it to the handler's init() and to every
 * run() (handler_ctx_t.conf). config/ never names a handler: the worker
 * passes the list of types and their schemas to worker_config_load.
 *
 * Every section also has two keys of its own, which a schema must not
 * declare: `enabled` (default: the schema's `enabled`; a section present in
 * the file enables its type unless it says `enabled: false`) and `slots`
 * (0..1024, jobs of this type run at once; 0: only worker.slots). */
#ifndef CFGSECTION_H
#define CFGSECTION_H

#include "cfgtab_key.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a check hook gets: where the section's keys came from, for messages
 * that point at them. Valid only during the hook. (Declared above.) */

/* A mapping of named entries inside a section, each walked with a table
 * of its own, e.g. the exec handler's
 *   types:
 *     resize_image: {command: /usr/bin/python3, args: [...]}
 * The loader allocates one struct of `size` bytes per entry, fills it from
 * the table's defaults and the file (entries take no environment
 * variables), runs check on it, and stores the result in the
 * cfgsection_entries_t at `off` of the section's struct. Messages name
 * "handlers.<type>.<path>.<entry>.<key>". */
typedef struct cfgsection_ctx cfgsection_ctx_t;

typedef struct {
    size_t n;
    char **names;  /* n entry names, in file order */
    void **confs;  /* n structs of cfgsection_entries_def_t.size bytes */
} cfgsection_entries_t;

typedef struct {
    const char *path;          /* the key of the mapping in the section, e.g. "types" */
    size_t off;                /* offset of the cfgsection_entries_t in the section's struct */
    const cfgtab_key_t *keys;  /* the table of one entry (no CUSTOM rows, no variables) */
    size_t nkeys;
    size_t size;               /* sizeof the struct an entry's keys fill */
    size_t max;                /* at most this many entries */
    /* What an entry's name must be: NULL when fine, else what was expected. */
    const char *(*check_name)(const char *name);
    /* Optional: checks one entry after the file (cx names its keys, and an
     * unset key is blamed on the entry's name). 0 or cfgsection_fail's. */
    int (*check)(cfgsection_ctx_t *cx, const char *name, void *conf);
} cfgsection_entries_def_t;

typedef struct cfgsection {
    /* The section's keys, with paths relative to the section ("url",
     * "poll.max") and offsets into the struct of `size` bytes. No
     * CFGTAB_CUSTOM rows (those see YAML). NULL/0: only enabled and slots. */
    const cfgtab_key_t *keys;
    size_t nkeys;
    size_t size;  /* sizeof the struct the keys fill; 0 when there are no keys */
    bool enabled; /* enabled when the file has no section for the type */
    /* Optional: the checks that span keys (one key requires another, a
     * range between two), and secrets read from files. Runs after the file
     * and the environment are applied, whether or not the type is enabled
     * (cfgsection_enabled tells). conf is the struct; the hook may replace
     * its fields declared in keys (they are freed with the config). Returns
     * 0, or what cfgsection_fail returns. */
    int (*check)(cfgsection_ctx_t *cx, void *conf);
    /* Optional: one mapping of named entries (see cfgsection_entries_def_t). */
    const cfgsection_entries_def_t *entries;
} cfgsection_t;

/* The members .keys, .nkeys and .size of a cfgsection_t for a static
 * array of rows filling a struct of type T:
 *   .config = {CFGSECTION_KEYS(s_keys, hello_config_t), .check = s_check} */
#define CFGSECTION_KEYS(rows, T)                                                                   \
    .keys = (rows), .nkeys = sizeof(rows) / sizeof((rows)[0]), .size = sizeof(T)

/* The section's message prefix, e.g. "handlers.index.", to name one of its
 * keys inside a message. */
const char *cfgsection_prefix(const cfgsection_ctx_t *cx);
/* Whether the section is enabled (after the file). */
bool cfgsection_enabled(const cfgsection_ctx_t *cx);
/* Whether key was set by the file or by its environment variable. */
bool cfgsection_is_set(const cfgsection_ctx_t *cx, const char *key);
/* Whether key was set by the file (even if a variable overrode it). */
bool cfgsection_in_file(const cfgsection_ctx_t *cx, const char *key);
/* Formats an error about key where it was set, e.g.
 *   worker.yaml:4:19: "handlers.index.api_key_file": <fmt...>
 * (or the variable's name, or only the file when the key kept its default)
 * and returns ORCH_ECONFIG. */
int cfgsection_fail(cfgsection_ctx_t *cx, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Durations: the value of key kmin must not exceed that of kmax. Blames
 * kmax unless only kmin came from the config. 0 or ORCH_ECONFIG. */
int cfgsection_check_order(cfgsection_ctx_t *cx, const char *kmin, int64_t vmin, const char *kmax,
                           int64_t vmax);
/* Reads a secret from file (the value of key path_key): whole content,
 * surrounding whitespace trimmed, at most 64 KiB; relative to the config
 * file's directory. Caller owns *out. Errors name path_key and the path,
 * never the content. 0 or ORCH_ECONFIG. */
int cfgsection_read_secret(cfgsection_ctx_t *cx, const char *path_key, const char *file,
                           char **out);

#endif
