/* Command line of orchctl: one command, its flags and up to two positional
 * arguments (a job id, a queue, or an action and its object as in
 * `schedules pause nightly`), and the global flags (--endpoint, --timeout,
 * --server-key, --key, --json, --help), which may stand before or after the
 * command. Flags take
 * their value as the next word or after '=' (--queue default,
 * --queue=default); switches (--history) take none. Only the syntax is
 * checked here; values are checked by the command that uses them. */
#ifndef CTL_ARGS_H
#define CTL_ARGS_H

#include <stdbool.h>
#include <stddef.h>

/* Flag values kept for one command line: each distinct flag takes one slot,
 * each occurrence of a repeatable flag (watch --queue) one more. */
#define CTL_ARGS_MAX_OPTS 32

/* A parsed command line. Every string points into argv or into the
 * parser's static tables (borrowed). */
typedef struct {
    const char *command;  /* NULL when none was given */
    const char *endpoint; /* --endpoint; NULL when absent */
    const char *timeout;  /* --timeout, unparsed; NULL when absent */
    const char *server_key; /* --server-key FILE (CURVE: the coordinator's public key) */
    const char *key;        /* --key FILE (CURVE: this client's secret key) */
    bool json;
    bool help;            /* --help or -h, or the command "help" */
    const char *arg;      /* first positional argument (job id, queue, action); NULL when absent */
    const char *arg2;     /* second positional argument (`queues pause Q`); NULL when absent */
    const char *opt_name[CTL_ARGS_MAX_OPTS]; /* command flags given */
    const char *opt_value[CTL_ARGS_MAX_OPTS]; /* a switch has "" */
    size_t nopts;
} ctl_args_t;

/* Parses argv[1..argc). Returns 0, or ORCH_EINVAL with one line naming the
 * problem in err (unknown command or flag, missing value, extra argument).
 * Stops at the first --help: whatever follows is not looked at. */
int ctl_args_parse(int argc, char **argv, ctl_args_t *out, char *err, size_t errlen);

/* Value of command flag name ("--queue"), or NULL when it was not given;
 * for a flag given several times, the last value. A switch given has "". */
const char *ctl_args_opt(const ctl_args_t *a, const char *name);

/* Every value of a repeatable flag, in command line order: stores up to max
 * of them in values and returns how many were given. */
size_t ctl_args_opt_all(const ctl_args_t *a, const char *name, const char **values, size_t max);

/* What the command's first positional argument is called ("job id"), or
 * NULL if the command takes none. */
const char *ctl_args_arg_name(const char *command);

#endif
