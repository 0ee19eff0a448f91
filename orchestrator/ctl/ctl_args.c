#include "ctl_args.h"
#include "orch_error.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    const char *arg;                           /* positional argument, NULL: none */
    const char *opts[CTL_ARGS_MAX_OPTS + 1];   /* flags taking a value, NULL-terminated */
} s_cmd_t;

static const s_cmd_t s_cmds[] = {
    {"submit", NULL,
     {"--queue", "--type", "--priority", "--payload", "--max-attempts", "--timeout-ms",
      "--batch", NULL}},
    {"get", "job id", {NULL}},
    {"list", NULL, {"--state", "--queue", "--limit", NULL}},
    {"cancel", "job id", {NULL}},
    {"retry", "job id", {NULL}},
    {"pause", "queue name", {NULL}},
    {"resume", "queue name", {NULL}},
    {"workers", NULL, {NULL}},
    {"stats", NULL, {NULL}},
    {"help", NULL, {NULL}},
};

static const s_cmd_t *s_find_cmd(const char *name)
{
    for (size_t i = 0; i < sizeof s_cmds / sizeof *s_cmds; i++) {
        if (strcmp(s_cmds[i].name, name) == 0)
            return &s_cmds[i];
    }
    return NULL;
}

static bool s_cmd_has_opt(const s_cmd_t *cmd, const char *name)
{
    for (size_t i = 0; cmd && cmd->opts[i]; i++) {
        if (strcmp(cmd->opts[i], name) == 0)
            return true;
    }
    return false;
}

static bool s_any_cmd_has_opt(const char *name)
{
    for (size_t i = 0; i < sizeof s_cmds / sizeof *s_cmds; i++) {
        if (s_cmd_has_opt(&s_cmds[i], name))
            return true;
    }
    return false;
}

const char *ctl_args_arg_name(const char *command)
{
    const s_cmd_t *cmd = command ? s_find_cmd(command) : NULL;
    return cmd ? cmd->arg : NULL;
}

const char *ctl_args_opt(const ctl_args_t *a, const char *name)
{
    for (size_t i = 0; i < a->nopts; i++) {
        if (strcmp(a->opt_name[i], name) == 0)
            return a->opt_value[i];
    }
    return NULL;
}

static void s_set_opt(ctl_args_t *a, const char *name, const char *value)
{
    for (size_t i = 0; i < a->nopts; i++) {
        if (strcmp(a->opt_name[i], name) == 0) {
            a->opt_value[i] = value;
            return;
        }
    }
    /* Cannot overflow: a command has at most CTL_ARGS_MAX_OPTS flags. */
    a->opt_name[a->nopts] = name;
    a->opt_value[a->nopts++] = value;
}

/* One parsing step's view of argv. */
typedef struct {
    int argc;
    char **argv;
    int i;
    char name[64]; /* the flag, without "=value" */
    const char *inline_value;
} s_cursor_t;

static int s_take_value(s_cursor_t *c, const char **value, char *err, size_t errlen)
{
    if (c->inline_value) {
        *value = c->inline_value;
        return 0;
    }
    if (c->i + 1 >= c->argc) {
        snprintf(err, errlen, "missing value for %s", c->name);
        return ORCH_EINVAL;
    }
    *value = c->argv[++c->i];
    return 0;
}

static int s_no_value(const s_cursor_t *c, char *err, size_t errlen)
{
    if (!c->inline_value)
        return 0;
    snprintf(err, errlen, "%s takes no value", c->name);
    return ORCH_EINVAL;
}

static int s_flag(s_cursor_t *c, ctl_args_t *out, const s_cmd_t *cmd, char *err, size_t errlen)
{
    const char *word = c->argv[c->i];
    const char *eq = strncmp(word, "--", 2) == 0 ? strchr(word, '=') : NULL;
    size_t len = eq ? (size_t)(eq - word) : strlen(word);
    if (len >= sizeof c->name) {
        snprintf(err, errlen, "unknown flag '%.40s...'", word);
        return ORCH_EINVAL;
    }
    memcpy(c->name, word, len);
    c->name[len] = '\0';
    c->inline_value = eq ? eq + 1 : NULL;
    if (strcmp(c->name, "--help") == 0 || strcmp(c->name, "-h") == 0) {
        out->help = true;
        return s_no_value(c, err, errlen);
    }
    if (strcmp(c->name, "--json") == 0) {
        out->json = true;
        return s_no_value(c, err, errlen);
    }
    if (strcmp(c->name, "--endpoint") == 0)
        return s_take_value(c, &out->endpoint, err, errlen);
    if (strcmp(c->name, "--timeout") == 0)
        return s_take_value(c, &out->timeout, err, errlen);
    if (s_cmd_has_opt(cmd, c->name)) {
        const char *value;
        if (s_take_value(c, &value, err, errlen) != 0)
            return ORCH_EINVAL;
        /* Points at the table's copy: c->name is reused for the next word. */
        for (size_t i = 0; cmd->opts[i]; i++) {
            if (strcmp(cmd->opts[i], c->name) == 0)
                s_set_opt(out, cmd->opts[i], value);
        }
        return 0;
    }
    if (!cmd && s_any_cmd_has_opt(c->name))
        snprintf(err, errlen, "flag %s must follow its command", c->name);
    else if (cmd)
        snprintf(err, errlen, "unknown flag '%s' for '%s'", c->name, cmd->name);
    else
        snprintf(err, errlen, "unknown flag '%s'", c->name);
    return ORCH_EINVAL;
}

static int s_word(const char *word, ctl_args_t *out, const s_cmd_t **cmd, char *err,
                  size_t errlen)
{
    if (!*cmd) {
        *cmd = s_find_cmd(word);
        if (!*cmd) {
            snprintf(err, errlen, "unknown command '%s'", word);
            return ORCH_EINVAL;
        }
        out->command = (*cmd)->name;
        if (strcmp(out->command, "help") == 0)
            out->help = true;
        return 0;
    }
    if ((*cmd)->arg && !out->arg) {
        out->arg = word;
        return 0;
    }
    snprintf(err, errlen, "unexpected argument '%s' for '%s'", word, (*cmd)->name);
    return ORCH_EINVAL;
}

int ctl_args_parse(int argc, char **argv, ctl_args_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const s_cmd_t *cmd = NULL;
    s_cursor_t c = {.argc = argc, .argv = argv};
    for (c.i = 1; c.i < argc && !out->help; c.i++) {
        const char *word = argv[c.i];
        /* "-" alone is a word (stdin), "-5" is not a job id but a typo. */
        int rc = word[0] == '-' && word[1] != '\0' ? s_flag(&c, out, cmd, err, errlen)
                                                   : s_word(word, out, &cmd, err, errlen);
        if (rc != 0)
            return rc;
    }
    return 0;
}
