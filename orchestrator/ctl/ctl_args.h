/* Command line of orchctl: one command, its flags and positional argument,
 * and the global flags (--endpoint, --timeout, --json, --help), which may
 * stand before or after the command. Flags take their value as the next
 * word or after '=' (--queue default, --queue=default). Only the syntax is
 * checked here; values are checked by the command that uses them. */
#ifndef CTL_ARGS_H
#define CTL_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#define CTL_ARGS_MAX_OPTS 8

/* A parsed command line. Every string points into argv (borrowed). */
typedef struct {
    const char *command;  /* NULL when none was given */
    const char *endpoint; /* --endpoint; NULL when absent */
    const char *timeout;  /* --timeout, unparsed; NULL when absent */
    bool json;
    bool help;            /* --help or -h, or the command "help" */
    const char *arg;      /* the positional argument (job id, queue); NULL when absent */
    const char *opt_name[CTL_ARGS_MAX_OPTS]; /* command flags given, last value wins */
    const char *opt_value[CTL_ARGS_MAX_OPTS];
    size_t nopts;
} ctl_args_t;

/* Parses argv[1..argc). Returns 0, or ORCH_EINVAL with one line naming the
 * problem in err (unknown command or flag, missing value, extra argument).
 * Stops at the first --help: whatever follows is not looked at. */
int ctl_args_parse(int argc, char **argv, ctl_args_t *out, char *err, size_t errlen);

/* Value of command flag name ("--queue"), or NULL when it was not given. */
const char *ctl_args_opt(const ctl_args_t *a, const char *name);

/* What the command's positional argument is called ("job id"), or NULL if
 * the command takes none. */
const char *ctl_args_arg_name(const char *command);

#endif
