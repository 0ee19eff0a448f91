#include "worker_args.h"
#include "handler.h"
#include "log.h"
#include "orch_error.h"
#include "proto.h"
#include "proto_curve.h"
#include "xalloc.h"
#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char s_usage[] =
    "usage: orch-worker [options]\n"
    "\n"
    "Runs jobs handed out by orchestratord. Flags override the config file.\n"
    "\n"
    "  -c, --config FILE     worker config (YAML); default: built-in defaults\n"
    "      --name NAME       name announced to the coordinator (default <hostname>-<pid>)\n"
    "      --slots N         jobs run at once, 1..1024 (default 4)\n"
    "      --queues a,b      queues served (default: default)\n"
    "      --types a,b       serve only these of the enabled job types (default: all)\n"
    "      --endpoint E      coordinator endpoint, tcp://host:port or ipc://path; repeat\n"
    "                        for failover, tried in order (default tcp://127.0.0.1:5555)\n"
    "      --server-key F    CURVE: the coordinator's public key file (with --key)\n"
    "      --key F           CURVE: this worker's secret key file (orchctl keygen)\n"
    "      --log-level L     debug, info, warn or error (default info)\n"
    "      --log-format F    text or json lines (default text)\n"
    "  -h, --help            show this help\n"
    "\n"
    "SIGTERM or SIGINT drains: no new jobs, running ones finish (up to\n"
    "worker.drain_timeout), then exit 0. A second signal exits at once.\n";

const char *worker_args_usage(void)
{
    return s_usage;
}

static int s_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Frees a key string, wiped first. */
static void s_free_secret(char **s)
{
    if (*s) {
        sodium_memzero(*s, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

static int s_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return ORCH_EINVAL;
}

static void s_free_list(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

/* Splits "a,b" into names; every element must be a valid protocol name. */
static int s_names(const char *flag, const char *v, char ***out, size_t *n, char *err,
                   size_t errlen)
{
    s_free_list(*out, *n);
    *out = NULL;
    *n = 0;
    size_t cap = 1;
    for (const char *p = v; *p; p++)
        cap += *p == ',';
    char **list = xcalloc(cap, sizeof *list);
    size_t k = 0;
    for (const char *p = v;; p++) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        list[k] = xstrndup(p, len);
        if (!proto_name_valid(list[k++])) {
            s_free_list(list, k);
            return s_fail(err, errlen,
                          "%s: expected comma-separated names of 1..%d characters "
                          "[A-Za-z0-9_.:-], got \"%s\"", flag, PROTO_NAME_MAX, v);
        }
        if (!end)
            break;
        p = end;
    }
    *out = list;
    *n = k;
    return 0;
}

static int s_types(const char *v, worker_args_t *a, char *err, size_t errlen)
{
    int rc = s_names("--types", v, &a->types, &a->ntypes, err, errlen);
    for (size_t i = 0; rc == 0 && i < a->ntypes; i++) {
        if (handler_find(a->types[i]))
            continue;
        char known[512] = "";
        size_t off = 0;
        for (const handler_t *const *h = handler_all(); *h && off < sizeof known; h++)
            off += (size_t)snprintf(known + off, sizeof known - off, "%s%s",
                                    h == handler_all() ? "" : ", ", (*h)->name);
        rc = s_fail(err, errlen, "--types: unknown job type \"%s\" (known: %s)", a->types[i],
                    known);
    }
    return rc;
}

static int s_slots(const char *v, worker_args_t *a, char *err, size_t errlen)
{
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (!*v || *end || errno || n < 1 || n > 1024)
        return s_fail(err, errlen, "--slots: expected an integer 1..1024, got \"%s\"", v);
    a->slots = (int)n;
    return 0;
}

static int s_endpoint(const char *v, worker_args_t *a, char *err, size_t errlen)
{
    bool ok = (strncmp(v, "tcp://", 6) == 0 && v[6]) || (strncmp(v, "ipc://", 6) == 0 && v[6]);
    if (!ok)
        return s_fail(err, errlen,
                      "--endpoint: expected tcp://host:port or ipc://path, got \"%s\"", v);
    a->endpoints = xrealloc(a->endpoints, (a->nendpoints + 1) * sizeof *a->endpoints);
    a->endpoints[a->nendpoints++] = xstrdup(v);
    return 0;
}

/* A CURVE key file, read now: a bad file is a usage error, before anything
 * starts. The content is never echoed. */
static int s_key_file(const char *flag, const char *path, char **out, char *err, size_t errlen)
{
    char key[PROTO_CURVE_KEY_LEN + 1], why[512];
    if (proto_curve_read(path, key, why, sizeof why) != 0)
        return s_fail(err, errlen, "%s: %s", flag, why);
    s_free_secret(out);
    *out = xstrdup(key);
    sodium_memzero(key, sizeof key);
    return 0;
}

static bool s_known(const char *flag)
{
    static const char *const flags[] = {"-c",         "--config", "--name",     "--slots",
                                        "--queues",   "--types",  "--endpoint", "--log-level",
                                        "--log-format", "--server-key", "--key"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        if (strcmp(flag, flags[i]) == 0)
            return true;
    }
    return false;
}

/* One flag that takes a value. */
static int s_value(const char *flag, const char *v, worker_args_t *a, char *err, size_t errlen)
{
    if (strcmp(flag, "-c") == 0 || strcmp(flag, "--config") == 0) {
        a->config_path = v;
    } else if (strcmp(flag, "--name") == 0) {
        if (!proto_name_valid(v))
            return s_fail(err, errlen, "--name: expected 1..%d characters [A-Za-z0-9_.:-], "
                                       "got \"%s\"", PROTO_NAME_MAX, v);
        a->name = v;
    } else if (strcmp(flag, "--slots") == 0) {
        return s_slots(v, a, err, errlen);
    } else if (strcmp(flag, "--queues") == 0) {
        return s_names("--queues", v, &a->queues, &a->nqueues, err, errlen);
    } else if (strcmp(flag, "--types") == 0) {
        return s_types(v, a, err, errlen);
    } else if (strcmp(flag, "--endpoint") == 0) {
        return s_endpoint(v, a, err, errlen);
    } else if (strcmp(flag, "--server-key") == 0) {
        return s_key_file(flag, v, &a->server_key, err, errlen);
    } else if (strcmp(flag, "--key") == 0) {
        return s_key_file(flag, v, &a->secret_key, err, errlen);
    } else if (strcmp(flag, "--log-level") == 0) {
        log_level_t lvl;
        if (log_parse_level(v, &lvl) != 0)
            return s_fail(err, errlen,
                          "--log-level: expected debug, info, warn or error, got \"%s\"", v);
        a->log_level = (int)lvl;
    } else if (strcmp(flag, "--log-format") == 0) {
        log_format_t fmt;
        if (log_parse_format(v, &fmt) != 0)
            return s_fail(err, errlen, "--log-format: expected text or json, got \"%s\"", v);
        a->log_format = (int)fmt;
    } else {
        return s_fail(err, errlen, "unknown option \"%s\" (see --help)", flag);
    }
    return 0;
}

int worker_args_parse(int argc, char **argv, worker_args_t *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    a->log_level = -1;
    a->log_format = -1;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            a->help = true;
            continue;
        }
        if (arg[0] != '-')
            return s_fail(err, errlen, "unexpected argument \"%s\" (see --help)", arg);
        char flag[32];
        const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
        const char *value;
        if (eq) {
            snprintf(flag, sizeof flag, "%.*s", (int)(eq - arg), arg);
            value = eq + 1;
        } else {
            snprintf(flag, sizeof flag, "%s", arg);
            if (i + 1 >= argc)
                return s_known(flag) ? s_fail(err, errlen, "%s: missing value", flag)
                                     : s_fail(err, errlen, "unknown option \"%s\" (see --help)",
                                              flag);
            value = argv[++i];
        }
        int rc = s_value(flag, value, a, err, errlen);
        if (rc != 0)
            return rc;
    }
    return 0;
}

void worker_args_fini(worker_args_t *a)
{
    s_free_list(a->queues, a->nqueues);
    s_free_list(a->types, a->ntypes);
    s_free_list(a->endpoints, a->nendpoints);
    s_free_secret(&a->server_key);
    s_free_secret(&a->secret_key);
    memset(a, 0, sizeof *a);
}

static void s_copy_list(char ***dst, size_t *ndst, char *const *src, size_t n)
{
    s_free_list(*dst, *ndst);
    *dst = xcalloc(n, sizeof **dst);
    for (size_t i = 0; i < n; i++)
        (*dst)[i] = xstrdup(src[i]);
    *ndst = n;
}

void worker_args_apply(const worker_args_t *a, worker_config_t *cfg)
{
    if (a->name) {
        free(cfg->name);
        cfg->name = xstrdup(a->name);
    }
    if (a->slots > 0)
        cfg->slots = a->slots;
    if (a->queues)
        s_copy_list(&cfg->queues, &cfg->nqueues, a->queues, a->nqueues);
    if (a->endpoints)
        s_copy_list(&cfg->endpoints, &cfg->nendpoints, a->endpoints, a->nendpoints);
    if (a->log_level >= 0)
        cfg->log_level = a->log_level;
    if (a->log_format >= 0)
        cfg->log_format = a->log_format;
    if (a->server_key) {
        s_free_secret(&cfg->server_key);
        cfg->server_key = xstrdup(a->server_key);
    }
    if (a->secret_key) {
        s_free_secret(&cfg->secret_key);
        cfg->secret_key = xstrdup(a->secret_key);
    }
}
