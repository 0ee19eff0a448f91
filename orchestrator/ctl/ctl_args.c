#include "ctl_args.h"
#include "orch_error.h"

#include <stdio.h>
#include <string.h>

#define S_CMD_FLAGS 13 /* most flags of one command, NULL terminator included */

typedef struct {
    const char *name;
    const char *arg;                /* first positional argument, NULL: none */
    const char *arg2;               /* second positional argument, NULL: none */
    const char *opts[S_CMD_FLAGS];  /* flags taking a value, NULL-terminated */
    const char *switches[4];        /* flags taking none, NULL-terminated */
    const char *repeat[2];          /* flags of opts whose every occurrence is kept */
} s_cmd_t;

/* The value a switch stores: present, but empty. */
static const char s_switch_on[] = "";

static const s_cmd_t s_cmds[] = {
    {"submit", NULL, NULL,
     {"--queue", "--type", "--priority", "--payload", "--max-attempts", "--timeout-ms", "--batch",
      "--run-at", "--delay", "--depends-on", "--idempotency-key", "--tenant", NULL},
     {NULL}, {"--depends-on", NULL}},
    {"get", "job id", NULL, {NULL}, {"--history", NULL}, {NULL}},
    {"list", NULL, NULL, {"--state", "--queue", "--limit", "--tenant", NULL}, {NULL}, {NULL}},
    {"cancel", "job id", NULL,
     {"--queue", "--state", "--type", "--error", "--tenant", "--limit", NULL}, {"--dry-run", NULL},
     {NULL}},
    {"retry", "job id", NULL,
     {"--queue", "--state", "--type", "--error", "--tenant", "--limit", NULL}, {"--dry-run", NULL},
     {NULL}},
    {"purge", NULL, NULL,
     {"--state", "--queue", "--type", "--tenant", "--older-than", "--limit", NULL},
     {"--dry-run", NULL}, {NULL}},
    {"pause", "queue name", NULL, {NULL}, {NULL}, {NULL}},
    {"resume", "queue name", NULL, {NULL}, {NULL}, {NULL}},
    {"queues", "action", "queue name", {"--concurrency", "--rate", "--burst", "--priority", NULL},
     {"--reset", "--force", NULL}, {NULL}},
    {"schedules", "action", "schedule name",
     {"--cron", "--queue", "--type", "--payload", "--priority", "--max-attempts", NULL},
     {NULL}, {NULL}},
    {"watch", NULL, NULL, {"--queue", "--events-endpoint", "--count", "--for", NULL}, {NULL},
     {"--queue", NULL}},
    {"workers", NULL, NULL, {NULL}, {NULL}, {NULL}},
    {"stats", NULL, NULL, {NULL}, {NULL}, {NULL}},
    {"tenants", NULL, NULL, {NULL}, {NULL}, {NULL}},
    {"top", NULL, NULL, {"--interval", "--count", NULL}, {NULL}, {NULL}},
    {"keygen", "file prefix", NULL, {NULL}, {NULL}, {NULL}},
    {"export", NULL, NULL, {"--database", "--file", NULL}, {"--all", NULL}, {NULL}},
    {"import", NULL, NULL, {"--database", "--file", NULL}, {NULL}, {NULL}},
    {"audit", "action", NULL, {"--database", "--since", "--expect", NULL}, {NULL}, {NULL}},
    {"help", NULL, NULL, {NULL}, {NULL}, {NULL}},
};

static const s_cmd_t *s_find_cmd(const char *name)
{
    for (size_t i = 0; i < sizeof s_cmds / sizeof *s_cmds; i++) {
        if (strcmp(s_cmds[i].name, name) == 0)
            return &s_cmds[i];
    }
    return NULL;
}

/* The table's copy of name in list, or NULL. */
static const char *s_in(const char *const *list, const char *name)
{
    for (size_t i = 0; list[i]; i++) {
        if (strcmp(list[i], name) == 0)
            return list[i];
    }
    return NULL;
}

static bool s_cmd_has_opt(const s_cmd_t *cmd, const char *name)
{
    return cmd && (s_in(cmd->opts, name) || s_in(cmd->switches, name));
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
    const char *value = NULL;
    for (size_t i = 0; i < a->nopts; i++) {
        if (strcmp(a->opt_name[i], name) == 0)
            value = a->opt_value[i];
    }
    return value;
}

size_t ctl_args_opt_all(const ctl_args_t *a, const char *name, const char **values, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < a->nopts; i++) {
        if (strcmp(a->opt_name[i], name) != 0)
            continue;
        if (n < max)
            values[n] = a->opt_value[i];
        n++;
    }
    return n;
}

/* name points into the command table, so it outlives the parse. */
static int s_set_opt(ctl_args_t *a, const char *name, const char *value, bool repeat, char *err,
                     size_t errlen)
{
    for (size_t i = 0; !repeat && i < a->nopts; i++) {
        if (a->opt_name[i] == name) {
            a->opt_value[i] = value;
            return 0;
        }
    }
    if (a->nopts == CTL_ARGS_MAX_OPTS) {
        snprintf(err, errlen, "too many flags (at most %d)", CTL_ARGS_MAX_OPTS);
        return ORCH_EINVAL;
    }
    a->opt_name[a->nopts] = name;
    a->opt_value[a->nopts++] = value;
    return 0;
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
    if (strcmp(c->name, "--server-key") == 0)
        return s_take_value(c, &out->server_key, err, errlen);
    if (strcmp(c->name, "--key") == 0)
        return s_take_value(c, &out->key, err, errlen);
    /* The table's copy of the name is kept: c->name is reused for the next word. */
    const char *name = cmd ? s_in(cmd->switches, c->name) : NULL;
    if (name) {
        if (s_no_value(c, err, errlen) != 0)
            return ORCH_EINVAL;
        return s_set_opt(out, name, s_switch_on, false, err, errlen);
    }
    name = cmd ? s_in(cmd->opts, c->name) : NULL;
    if (name) {
        const char *value;
        if (s_take_value(c, &value, err, errlen) != 0)
            return ORCH_EINVAL;
        return s_set_opt(out, name, value, s_in(cmd->repeat, name) != NULL, err, errlen);
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
    if ((*cmd)->arg2 && !out->arg2) {
        out->arg2 = word;
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
