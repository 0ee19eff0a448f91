/* exec: job types written in any language. Each type is a command named
 * in worker.yaml (`handlers: exec: types: <name>:`), never in a payload:
 * an absolute path and a fixed argument vector, run without a shell in its
 * own process group with the job's payload as JSON on stdin. The last
 * non-empty line of its stdout is the result (JSON); `progress N message`
 * lines on its stderr are progress reports; its other stderr lines (the
 * last few) become the error message. See docs/handlers.md. */
#ifndef HANDLER_EXEC_H
#define HANDLER_EXEC_H

#include "cfgsection.h"
#include "handler.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXEC_MAX_TYPES 256
#define EXEC_TAIL_BYTES 768 /* stderr kept for the error message */

extern const handler_t handler_exec;

/* One type (`handlers: exec: types: <name>:`). */
typedef struct {
    char *command; /* absolute path of an executable file (required) */
    char **args;   /* argv[1..], default none */
    size_t nargs;
    char **env;              /* name, value, name, value... (set after the inherited ones) */
    size_t nenv;             /* pairs */
    bool inherit_env;        /* the worker's whole environment; default false: PATH, HOME,
                              * LANG, TZ only */
    char *cwd;               /* absolute directory; default: the worker's */
    int64_t timeout_ms;      /* 0 (default): only the job's timeout */
    char **retry_exit_codes; /* exit codes that mean "retry", default 75 (EX_TEMPFAIL) */
    size_t nretry_exit_codes;
    size_t max_output;     /* bytes of stdout, and of stderr, default 1MiB */
    int64_t kill_grace_ms; /* SIGTERM to SIGKILL, default 5s */
    /* filled by the check, not keys */
    char name[72];        /* the job type */
    bool retry_code[256]; /* retry_exit_codes as a set */
} exec_type_config_t;

/* Its section: only the types. */
typedef struct {
    cfgsection_entries_t types; /* exec_type_config_t each */
} exec_config_t;

/* ---- pure pieces, unit tested ---- */

/* A stderr line "progress N" or "progress N message" (N an integer
 * 0..100, one space or tab between the parts): true with *percent and
 * *message (the rest of the line, "" when none). Anything else: false. */
bool exec_parse_progress(const char *line, int *percent, const char **message);

/* How a child that ended so is reported: exit 0 HANDLER_OK; an exit code
 * in retry HANDLER_RETRY; any other code HANDLER_PERMANENT; killed by a
 * signal (not ours: OOM killer, operator) HANDLER_RETRY. */
handler_status_t exec_exit_status(const bool retry[256], bool exited, int exit_code);

/* The last line of out[0..len) that holds more than whitespace, trimmed;
 * sets *line and returns its length, or 0 when there is none. */
size_t exec_last_line(const char *out, size_t len, const char **line);

/* Keeps the last EXEC_TAIL_BYTES of lines: tail is a buffer of
 * EXEC_TAIL_BYTES + 1 bytes holding *len bytes; line is appended after a
 * '\n' and whole lines are dropped from the front when it does not fit. */
void exec_tail_add(char *tail, size_t *len, const char *line, size_t line_len);

#endif
