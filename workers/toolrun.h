/* Runs an external program (PostgreSQL client tools for backup_verify) with
 * fork + execve: an argument vector, never a shell; stdin from /dev/null;
 * stdout and stderr captured (first TOOLRUN_MAX_CAPTURE bytes of each); the
 * child and its own children (pg_verifybackup runs pg_waldump) in a new
 * process group that is killed on timeout or cancel (SIGTERM, then SIGKILL
 * after a grace period).
 *
 * Needs SIGCHLD not to be ignored in the worker process (waitpid must be
 * able to reap the child). */
#ifndef TOOLRUN_H
#define TOOLRUN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOOLRUN_MAX_CAPTURE (1024 * 1024)

typedef struct {
    int exit_code;    /* valid when exited */
    bool exited;      /* ended by exit(), not by a signal */
    int term_signal;  /* the signal that ended it, when !exited */
    bool timed_out;   /* killed because timeout_ms passed */
    bool cancelled;   /* killed because *cancelled became true */
    int64_t duration_ms;
    char *out;        /* captured stdout, NUL-terminated (owned) */
    char *err;        /* captured stderr, NUL-terminated (owned) */
} toolrun_result_t;

/* Runs path (absolute) with argv (argv[0] included, NULL-terminated) and
 * envp (NULL-terminated). Returns 0 when the program ran (whatever its exit
 * code: see res), or ORCH_EIO with msg set when it could not be started
 * (e.g. "could not execute /x/pg_restore: No such file or directory").
 * toolrun_result_fini afterwards in every case. */
int toolrun_run(const char *path, char *const argv[], char *const envp[], int64_t timeout_ms,
                atomic_bool *cancelled, toolrun_result_t *res, char *msg, size_t msglen);
void toolrun_result_fini(toolrun_result_t *res);

#endif
