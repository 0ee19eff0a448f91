/* exec handler: one configured command per job type (handler_exec.h).
 *
 * Per run: the environment (a minimal one, or the worker's when the type
 * says inherit_env; then the type's env; then ORCH_JOB_ID, ORCH_JOB_TYPE,
 * ORCH_JOB_ATTEMPT), the payload as one line of JSON on stdin, toolrun
 * supervising the child (timeout, cancel, output limits, process group);
 * then the outcome: the exit status decides success, retry or permanent
 * failure; stdout's last line is the result; stderr's tail is the error. */
#include "handler_exec.h"

#include "handler_kit.h"
#include "log.h"
#include "orch_error.h"
#include "strbuf.h"
#include "toolrun.h"
#include "xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

#define EXEC_MAX_ENV 256
#define EXEC_MAX_ARGS 256

/* Variables a minimal environment takes from the worker's. */
static const char *const s_minimal_env[] = {"PATH", "HOME", "LANG", "TZ", NULL};
#define EXEC_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/* ---- pure pieces ------------------------------------------------------ */

bool exec_parse_progress(const char *line, int *percent, const char **message)
{
    if (strncmp(line, "progress", 8) != 0 || (line[8] != ' ' && line[8] != '\t'))
        return false;
    const char *p = line + 9;
    int v = 0, digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 3) {
        v = v * 10 + (*p++ - '0');
        digits++;
    }
    if (digits == 0 || v > 100 || (*p && *p != ' ' && *p != '\t'))
        return false;
    if (*p)
        p++;
    *percent = v;
    *message = p;
    return true;
}

handler_status_t exec_exit_status(const bool retry[256], bool exited, int exit_code)
{
    if (!exited)
        return HANDLER_RETRY;
    if (exit_code == 0)
        return HANDLER_OK;
    if (exit_code > 0 && exit_code < 256 && retry[exit_code])
        return HANDLER_RETRY;
    return HANDLER_PERMANENT;
}

static bool s_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

size_t exec_last_line(const char *out, size_t len, const char **line)
{
    size_t end = len;
    while (end > 0 && s_space(out[end - 1]))
        end--;
    if (end == 0)
        return 0;
    size_t start = end;
    while (start > 0 && out[start - 1] != '\n')
        start--;
    while (start < end && s_space(out[start]))
        start++;
    *line = out + start;
    return end - start;
}

void exec_tail_add(char *tail, size_t *len, const char *line, size_t line_len)
{
    if (line_len > EXEC_TAIL_BYTES) { /* keep the end of an overlong line */
        line += line_len - EXEC_TAIL_BYTES;
        line_len = EXEC_TAIL_BYTES;
    }
    size_t need = line_len + (*len ? 1 : 0);
    while (*len && *len + need > EXEC_TAIL_BYTES) {
        char *nl = memchr(tail, '\n', *len);
        size_t drop = nl ? (size_t)(nl - tail) + 1 : *len;
        memmove(tail, tail + drop, *len - drop);
        *len -= drop;
        need = line_len + (*len ? 1 : 0);
    }
    if (*len)
        tail[(*len)++] = '\n';
    memcpy(tail + *len, line, line_len);
    *len += line_len;
    tail[*len] = '\0';
}

/* ---- config ----------------------------------------------------------- */

#define OFF(f) offsetof(exec_type_config_t, f)

static const char *s_check_exit_code(const char *s)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    return (*s && !*end && v >= 1 && v <= 255) ? NULL : "an exit code 1..255";
}

static const char *s_check_env_name(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return "a variable name [A-Za-z_][A-Za-z0-9_]*";
    for (const char *p = s; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_' ||
              (*p >= '0' && *p <= '9')))
            return "a variable name [A-Za-z_][A-Za-z0-9_]*";
    return NULL;
}

/* clang-format off */
static const cfgtab_key_t s_type_keys[] = {
    CFGTAB_K_STR("command", OFF(command), NULL, 0, NULL, cfgtab_check_abs_path),
    {.path = "args", .type = CFGTAB_STRLIST, .off = OFF(args), .count_off = OFF(nargs),
     .min = 0, .max = EXEC_MAX_ARGS},
    CFGTAB_K_MAP("env", OFF(env), OFF(nenv), 0, EXEC_MAX_ENV, 0, s_check_env_name),
    CFGTAB_K_BOOL("inherit_env", OFF(inherit_env), "false"),
    CFGTAB_K_STR("cwd", OFF(cwd), NULL, CFGTAB_NULLABLE, NULL, cfgtab_check_abs_path),
    CFGTAB_K_DUR("timeout", OFF(timeout_ms), "0", 0, 7 * CFGTAB_DAY),
    CFGTAB_K_LIST("retry_exit_codes", OFF(retry_exit_codes), OFF(nretry_exit_codes), "75", 0, 255,
                  NULL, s_check_exit_code),
    CFGTAB_K_SIZE("max_output", OFF(max_output), "1MiB", 1, CFGTAB_GIB),
    CFGTAB_K_DUR("kill_grace", OFF(kill_grace_ms), "5s", 0, 10 * CFGTAB_MINUTE),
};
/* clang-format on */

/* An exec type may not shadow a built-in one: which would run? */
static const char *s_check_type_name(const char *name)
{
    const char *bad = cfgtab_check_name(name);
    if (bad)
        return bad;
    return handler_find(name) ? "a name that is not a built-in job type" : NULL;
}

static int s_check_command(cfgsection_ctx_t *cx, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return cfgsection_fail(cx, "command", "cannot use \"%s\": %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return cfgsection_fail(cx, "command", "cannot use \"%s\": not a regular file", path);
    if (access(path, X_OK) != 0)
        return cfgsection_fail(cx, "command", "cannot use \"%s\": not executable (%s)", path,
                               strerror(errno));
    return 0;
}

static int s_check_type(cfgsection_ctx_t *cx, const char *name, void *conf)
{
    exec_type_config_t *t = conf;
    snprintf(t->name, sizeof t->name, "%s", name);
    if (!t->command)
        return cfgsection_fail(cx, "command", "required: the absolute path of the program to run");
    int rc = s_check_command(cx, t->command);
    if (rc < 0)
        return rc;
    struct stat st;
    if (t->cwd && (stat(t->cwd, &st) != 0 || !S_ISDIR(st.st_mode)))
        return cfgsection_fail(cx, "cwd", "cannot use \"%s\": not a directory", t->cwd);
    for (size_t i = 0; i < t->nretry_exit_codes; i++)
        t->retry_code[atoi(t->retry_exit_codes[i])] = true;
    return 0;
}

static const cfgsection_entries_def_t s_types_def = {
    .path = "types",
    .off = offsetof(exec_config_t, types),
    .keys = s_type_keys,
    .nkeys = sizeof s_type_keys / sizeof s_type_keys[0],
    .size = sizeof(exec_type_config_t),
    .max = EXEC_MAX_TYPES,
    .check_name = s_check_type_name,
    .check = s_check_type,
};

static const char *s_types(const void *conf, size_t i, const void **type_conf)
{
    const exec_config_t *c = conf;
    if (!c || i >= c->types.n)
        return NULL;
    *type_conf = c->types.confs[i];
    return c->types.names[i];
}

/* ---- one run ---------------------------------------------------------- */

/* The child's environment: NULL-terminated, strings owned by env. */
typedef struct {
    char **v;
    size_t n, cap;
} s_env_t;

static void s_env_set(s_env_t *e, const char *name, const char *value)
{
    size_t nlen = strlen(name);
    char *kv = xmalloc(nlen + strlen(value) + 2);
    sprintf(kv, "%s=%s", name, value);
    for (size_t i = 0; i < e->n; i++)
        if (strncmp(e->v[i], name, nlen) == 0 && e->v[i][nlen] == '=') {
            free(e->v[i]);
            e->v[i] = kv;
            return;
        }
    if (e->n + 2 > e->cap) {
        e->cap = e->cap ? e->cap * 2 : 32;
        e->v = xrealloc(e->v, e->cap * sizeof *e->v);
    }
    e->v[e->n++] = kv;
    e->v[e->n] = NULL;
}

static void s_env_build(s_env_t *e, const exec_type_config_t *t, const handler_ctx_t *ctx)
{
    memset(e, 0, sizeof *e);
    if (t->inherit_env) {
        for (char **p = environ; p && *p; p++) {
            const char *eq = strchr(*p, '=');
            if (!eq)
                continue;
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)(eq - *p), *p);
            s_env_set(e, name, eq + 1);
        }
    } else {
        for (const char *const *k = s_minimal_env; *k; k++) {
            const char *v = getenv(*k);
            if (v || strcmp(*k, "PATH") == 0)
                s_env_set(e, *k, v ? v : EXEC_DEFAULT_PATH);
        }
    }
    for (size_t i = 0; i < t->nenv; i++)
        s_env_set(e, t->env[2 * i], t->env[2 * i + 1]);
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)ctx->job_id);
    s_env_set(e, "ORCH_JOB_ID", num);
    snprintf(num, sizeof num, "%d", ctx->attempt);
    s_env_set(e, "ORCH_JOB_ATTEMPT", num);
    s_env_set(e, "ORCH_JOB_TYPE", t->name);
    if (!e->v) /* cannot happen: PATH is always set */
        e->v = xcalloc(1, sizeof *e->v);
}

static void s_env_free(s_env_t *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i]);
    free(e->v);
}

/* What the stderr callback sees: progress goes out, the rest to the tail. */
typedef struct {
    handler_ctx_t *ctx;
    char tail[EXEC_TAIL_BYTES + 1];
    size_t tail_len;
} s_run_t;

static void s_on_err_line(void *arg, const char *line, size_t len)
{
    s_run_t *r = arg;
    int percent;
    const char *message;
    if (exec_parse_progress(line, &percent, &message)) {
        handler_progress(r->ctx, percent, message);
        return;
    }
    size_t end = len;
    while (end > 0 && s_space(line[end - 1]))
        end--;
    if (end > 0)
        exec_tail_add(r->tail, &r->tail_len, line, end);
}

static void s_fmt_size(size_t b, char *buf, size_t len)
{
    if (b % (1024 * 1024) == 0)
        snprintf(buf, len, "%zu MiB", b / (1024 * 1024));
    else if (b % 1024 == 0)
        snprintf(buf, len, "%zu KiB", b / 1024);
    else
        snprintf(buf, len, "%zu bytes", b);
}

/* ": <stderr tail>" or "" when there is none. */
static const char *s_tail_sep(const s_run_t *r)
{
    return r->tail_len ? ": " : "";
}

/* The result: the last line of stdout as JSON (no output: null). */
static handler_status_t s_result(const exec_type_config_t *t, const toolrun_result_t *res,
                                 json_t **result, handler_error_t *err)
{
    const char *line = NULL;
    size_t len = exec_last_line(res->out, res->out_len, &line);
    if (len == 0) {
        *result = json_null();
        return HANDLER_OK;
    }
    json_error_t je;
    *result = json_loadb(line, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (*result)
        return HANDLER_OK;
    char shown[96];
    size_t n = len < 60 ? len : 60;
    snprintf(shown, sizeof shown, "%.*s%s", (int)n, line, len > n ? "..." : "");
    for (char *p = shown; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '"' || *p == '\\')
            *p = '?';
    handler_error_set(err, "exec type \"%s\": the last line of stdout is not JSON (%s): \"%s\"",
                      t->name, je.text, shown);
    return HANDLER_PERMANENT;
}

/* Turns how the child ended into the job's outcome. */
static handler_status_t s_outcome(const exec_type_config_t *t, const toolrun_result_t *res,
                                  const s_run_t *r, json_t **result, handler_error_t *err)
{
    char size[32];
    if (res->cancelled) {
        handler_error_set(err, "exec type \"%s\": cancelled, process group %d killed", t->name,
                          res->pid);
        return HANDLER_CANCELLED;
    }
    if (res->timed_out) {
        bool own = t->timeout_ms > 0 && res->duration_ms >= t->timeout_ms;
        handler_error_set(err,
                          "exec type \"%s\": timed out after %lld ms (%s), process group %d "
                          "killed%s%s",
                          t->name, (long long)res->duration_ms,
                          own ? "its timeout" : "the job's deadline", res->pid, s_tail_sep(r),
                          r->tail);
        return HANDLER_RETRY;
    }
    if (res->overflow) {
        s_fmt_size(t->max_output, size, sizeof size);
        handler_error_set(err, "exec type \"%s\": %s exceeded max_output (%s), process killed",
                          t->name, res->overflow == TOOLRUN_OVERFLOW_STDOUT ? "stdout" : "stderr",
                          size);
        return HANDLER_PERMANENT;
    }
    handler_status_t st = exec_exit_status(t->retry_code, res->exited, res->exit_code);
    if (st == HANDLER_OK)
        return s_result(t, res, result, err);
    if (res->exited)
        handler_error_set(err, "exec type \"%s\": exited with code %d%s%s", t->name, res->exit_code,
                          s_tail_sep(r), r->tail);
    else
        handler_error_set(err, "exec type \"%s\": killed by signal %d (SIG%s)%s%s", t->name,
                          res->term_signal, sigabbrev_np(res->term_signal) ?: "?", s_tail_sep(r),
                          r->tail);
    return st;
}

static handler_status_t s_run(handler_ctx_t *ctx, const json_t *payload, json_t **result,
                              handler_error_t *err)
{
    const exec_type_config_t *t = ctx->conf;
    handler_status_t st;
    if (handler_kit_must_stop(ctx, "start", &st, err))
        return st;
    char **argv = xcalloc(t->nargs + 2, sizeof *argv);
    argv[0] = t->command;
    for (size_t i = 0; i < t->nargs; i++)
        argv[i + 1] = t->args[i];
    s_env_t env;
    s_env_build(&env, t, ctx);
    char *input = json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY);
    strbuf_t in;
    strbuf_init(&in);
    strbuf_puts(&in, input ? input : "null");
    strbuf_putc(&in, '\n');
    free(input);
    int64_t left = handler_kit_remaining_ms(ctx);
    int64_t timeout = t->timeout_ms > 0 && t->timeout_ms < left ? t->timeout_ms : left;
    s_run_t r = {.ctx = ctx};
    toolrun_opts_t o = {
        .path = t->command,
        .argv = argv,
        .envp = env.v,
        .cwd = t->cwd,
        .input = in.data,
        .input_len = in.len,
        .timeout_ms = timeout == INT64_MAX ? 0 : (timeout > 0 ? timeout : 1),
        .kill_grace_ms = t->kill_grace_ms > 0 ? t->kill_grace_ms : 1,
        .cancelled = ctx->cancelled,
        .max_out = t->max_output,
        .max_err = t->max_output,
        .kill_on_overflow = true,
        .on_err_line = s_on_err_line,
        .line_arg = &r,
    };
    toolrun_result_t res;
    char msg[512];
    if (toolrun_spawn(&o, &res, msg, sizeof msg) != 0) {
        /* the config checked the command: it changed since, which may be fixed */
        handler_error_set(err, "exec type \"%s\": %s", t->name, msg);
        st = HANDLER_RETRY;
    } else {
        LOG_DEBUG("exec ended type=%s job=%lld pid=%d exit=%d signal=%d ms=%lld", t->name,
                  (long long)ctx->job_id, res.pid, res.exit_code, res.term_signal,
                  (long long)res.duration_ms);
        st = s_outcome(t, &res, &r, result, err);
    }
    toolrun_result_fini(&res);
    strbuf_fini(&in);
    s_env_free(&env);
    free(argv);
    return st;
}

const handler_t handler_exec = {
    .name = "exec",
    .config = {.keys = NULL, .nkeys = 0, .size = sizeof(exec_config_t), .entries = &s_types_def},
    .run = s_run,
    .types = s_types,
};
