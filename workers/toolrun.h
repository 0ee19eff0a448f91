/* Runs an external program (PostgreSQL client tools for backup_verify, the
 * commands of the exec handler) with fork + execve: an argument vector,
 * never a shell; stdin from /dev/null or from a buffer; stdout and stderr
 * read through non-blocking pipes with poll (a child that fills one pipe
 * never deadlocks on the other), bounded; the child and its own children in
 * a new process group that is killed on timeout, cancel or too much output
 * (SIGTERM, then SIGKILL after a grace period), and once more with SIGKILL
 * when the child ends, so nothing it started in the background outlives it.
 *
 * Needs SIGCHLD not to be ignored in the worker process (waitpid must be
 * able to reap the child), and SIGPIPE ignored when input is given (a child
 * that exits without reading it must not kill the worker). */
#ifndef TOOLRUN_H
#define TOOLRUN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOOLRUN_MAX_CAPTURE (1024 * 1024)
#define TOOLRUN_KILL_GRACE_MS 2000
#define TOOLRUN_LINE_MAX 4096 /* longer stderr lines reach on_err_line in pieces */

enum { TOOLRUN_OVERFLOW_NONE = 0, TOOLRUN_OVERFLOW_STDOUT, TOOLRUN_OVERFLOW_STDERR };

typedef struct {
    const char *path;  /* absolute */
    char *const *argv; /* argv[0] included, NULL-terminated */
    char *const *envp; /* NULL-terminated */
    const char *cwd;   /* working directory; NULL: the worker's */
    const char *input; /* written to stdin, which is then closed; NULL: /dev/null */
    size_t input_len;
    int64_t timeout_ms;      /* <= 0: none */
    int64_t kill_grace_ms;   /* SIGTERM to SIGKILL; <= 0: TOOLRUN_KILL_GRACE_MS */
    atomic_bool *cancelled;  /* polled; NULL: not cancellable */
    size_t max_out, max_err; /* bytes kept of each stream; 0: TOOLRUN_MAX_CAPTURE */
    bool kill_on_overflow;   /* a stream beyond its max kills the group (res->overflow);
                              * false: the excess is read and dropped */
    /* Optional: each stderr line as it arrives (without its '\n', NUL-
     * terminated, at most TOOLRUN_LINE_MAX bytes), on the calling thread.
     * stderr is then counted against max_err but not kept in res->err. */
    void (*on_err_line)(void *arg, const char *line, size_t len);
    void *line_arg;
    /* Optional: the child drops to this user and group (supplementary groups
     * cleared) before exec; needs root. PostgreSQL's pg_ctl refuses root, and
     * pgBackRest's repository must stay owned by the database's user. */
    bool as_user;
    unsigned run_uid, run_gid;
} toolrun_opts_t;

typedef struct {
    int exit_code;   /* valid when exited */
    bool exited;     /* ended by exit(), not by a signal */
    int term_signal; /* the signal that ended it, when !exited */
    bool timed_out;  /* killed because timeout_ms passed */
    bool cancelled;  /* killed because *cancelled became true */
    int overflow;    /* TOOLRUN_OVERFLOW_*: killed for too much output (kill_on_overflow) */
    int64_t duration_ms;
    int pid;   /* the child's pid (and process group), once started */
    char *out; /* captured stdout, NUL-terminated (owned) */
    size_t out_len;
    char *err; /* captured stderr, NUL-terminated (owned) */
} toolrun_result_t;

/* Runs opts->path. Returns 0 when the program ran (whatever its exit code:
 * see res), or ORCH_EIO with msg set when it could not be started
 * (e.g. "could not execute /x/pg_restore: No such file or directory",
 * "could not change to directory /x: ...", "could not switch to uid 5: ..."). toolrun_result_fini afterwards
 * in every case. */
int toolrun_spawn(const toolrun_opts_t *opts, toolrun_result_t *res, char *msg, size_t msglen);

/* toolrun_spawn with stdin from /dev/null and default limits. */
int toolrun_run(const char *path, char *const argv[], char *const envp[], int64_t timeout_ms,
                atomic_bool *cancelled, toolrun_result_t *res, char *msg, size_t msglen);
void toolrun_result_fini(toolrun_result_t *res);

#endif
