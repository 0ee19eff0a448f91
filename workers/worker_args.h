/* orch-worker's command line: parsed into worker_args_t, then applied on
 * top of the loaded config (flags override the file). Kept out of main.c
 * so tests can check every message. */
#ifndef WORKER_ARGS_H
#define WORKER_ARGS_H

#include "config.h"
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *config_path; /* -c / --config; borrowed from argv */
    const char *name;        /* borrowed from argv */
    int slots;               /* 0: not given */
    char **queues;           /* owned; NULL: not given */
    size_t nqueues;
    char **types;            /* owned; NULL: not given */
    size_t ntypes;
    char **endpoints;        /* owned; every --endpoint, in order */
    size_t nendpoints;
    char *server_key;        /* owned: --server-key's file content (Z85); NULL: not given */
    char *secret_key;        /* owned: --key's file content (Z85); never logged */
    int log_level;           /* -1: not given */
    int log_format;          /* log_format_t; -1: not given */
    bool help;
} worker_args_t;

/* Parses argv[1..argc). Returns 0, or ORCH_EINVAL with one line in err such
 * as `--slots: expected an integer 1..1024, got "x"` (without the program
 * name). Fill with worker_args_fini in both cases. */
int worker_args_parse(int argc, char **argv, worker_args_t *out, char *err, size_t errlen);
void worker_args_fini(worker_args_t *a);

/* Overrides cfg's fields with the flags given (cfg's strings are replaced
 * and the old ones freed, as worker_config_destroy expects). */
void worker_args_apply(const worker_args_t *a, worker_config_t *cfg);

/* The --help text. */
const char *worker_args_usage(void);

#endif
